// Internal: exceptions inside OpenMP regions. An exception that leaves a
// parallel region's structured block terminates the program, so each region's
// body runs through ParallelErrors::run(), which keeps the first exception and
// lets the other iterations skip their work; after the region, rethrow()
// raises it on the calling thread.
#pragma once

#include <atomic>
#include <exception>
#include <mutex>

namespace dictlearn {

class ParallelErrors {
 public:
  /// Runs `body` unless an earlier iteration failed; captures what it throws.
  template <typename Body>
  void run(Body&& body) noexcept {
    if (failed_.load(std::memory_order_relaxed)) return;
    try {
      body();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
      failed_.store(true, std::memory_order_relaxed);
    }
  }
  /// Whether some iteration threw (the others may stop early).
  bool failed() const { return failed_.load(std::memory_order_relaxed); }
  /// Rethrows the first captured exception, if any. Call after the region.
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::atomic<bool> failed_{false};
  std::mutex mutex_;
  std::exception_ptr error_;
};

}  // namespace dictlearn
