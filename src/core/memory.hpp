// Internal: the memory a process may still take, and the check that a
// full-batch run's workspace fits in it before anything is allocated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <string>
#include <vector>

namespace dictlearn::detail {

/// Bytes of memory available to new allocations: /proc/meminfo's
/// MemAvailable (what the kernel can give without swapping), else
/// sysconf(_SC_AVPHYS_PAGES) pages; -1 when neither tells.
int64_t available_memory();

/// "3.8 GiB", "512 MiB", "900 B": a size as the messages print it.
std::string format_bytes(double bytes);

/// Throws Error naming --batch-size, `workspace` and `available` when one
/// batch of all `rows` samples needs a workspace of `workspace` bytes and
/// more than `available` bytes of memory cannot hold it. `available` < 0
/// (unknown) passes.
void check_full_batch_fits(int64_t rows, int64_t workspace, int64_t available);

/// Bytes of a cache line (x86-64 and most ARM cores).
constexpr std::size_t kCacheLine = 64;

/// Requests the cache lines of `bytes` bytes at `address` (a row about to be
/// read at a random place), all at once rather than one miss at a time.
inline void prefetch_lines(const void* address, int64_t bytes) {
  const char* first = static_cast<const char*>(address);
  for (int64_t byte = 0; byte < bytes; byte += static_cast<int64_t>(kCacheLine))
    __builtin_prefetch(first + byte);
}

/// An allocator on cache-line boundaries: per-signal outputs that threads
/// write by fixed blocks (a multiple of kCacheLine bytes each) then share no
/// line between threads (a line written by two cores moves between them on
/// every write).
template <typename T>
struct CacheLineAllocator {
  using value_type = T;
  /// n values' bytes rounded up to whole lines: the block's last line holds
  /// nothing of the next one (the allocator's own bookkeeping included).
  static std::size_t whole_lines(std::size_t n) {
    return (n * sizeof(T) + kCacheLine - 1) / kCacheLine * kCacheLine;
  }
  CacheLineAllocator() = default;
  template <typename U>
  CacheLineAllocator(const CacheLineAllocator<U>&) noexcept {}  // NOLINT: rebinding
  T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new (whole_lines(n), std::align_val_t{kCacheLine}));
  }
  void deallocate(T* p, std::size_t) noexcept {
    // Unsized: clang builds without sized deallocation unless asked.
    ::operator delete (p, std::align_val_t{kCacheLine});
  }
  template <typename U>
  bool operator==(const CacheLineAllocator<U>&) const noexcept {
    return true;
  }
  template <typename U>
  bool operator!=(const CacheLineAllocator<U>&) const noexcept {
    return false;
  }
};

/// A vector on cache-line boundaries.
template <typename T>
using LineVector = std::vector<T, CacheLineAllocator<T>>;

}  // namespace dictlearn::detail
