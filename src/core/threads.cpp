// Thread counts (core/threads.hpp): the cap, and the check that a count can start.
#include "core/threads.hpp"

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "core/check.hpp"
#include "dictlearn/parameters.hpp"

namespace dictlearn {

int available_cores() {
  static const int cores = [] {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    const unsigned all = std::thread::hardware_concurrency();
    return all > 0 ? static_cast<int>(all) : 1;
  }();
  return cores;
}

int max_threads() { return kThreadsPerCore * available_cores(); }

namespace {

/// The probe's threads wait here until all have started (or one failed).
struct Gate {
  std::mutex mutex;
  std::condition_variable opened;
  bool open = false;
};

void* wait_at(void* argument) {
  auto& gate = *static_cast<Gate*>(argument);
  std::unique_lock lock(gate.mutex);
  gate.opened.wait(lock, [&] { return gate.open; });
  return nullptr;
}

}  // namespace

void detail::ensure_threads(int threads) {
  static std::atomic<int> started{1};  // the largest count known to start
  if (threads <= started.load(std::memory_order_acquire)) return;
  static std::mutex mutex;
  const std::lock_guard lock(mutex);
  if (threads <= started.load(std::memory_order_relaxed)) return;
  // The calling thread is one of the team: start the others, all at once,
  // with the default attributes (as the OpenMP runtime does), then let them go.
  Gate gate;
  std::vector<pthread_t> running;
  int error = 0;
  for (int i = 1; i < threads && error == 0; ++i) {
    pthread_t thread;
    error = pthread_create(&thread, nullptr, wait_at, &gate);
    if (error == 0) running.push_back(thread);
  }
  {
    const std::lock_guard open(gate.mutex);
    gate.open = true;
  }
  gate.opened.notify_all();
  for (const pthread_t thread : running) pthread_join(thread, nullptr);
  DICTLEARN_CHECK(error == 0,
                  "--threads: cannot start {} threads (started {}): {}; use a lower --threads or "
                  "raise the limit",
                  threads, running.size() + 1, std::strerror(error));
  started.store(threads, std::memory_order_release);
}

}  // namespace dictlearn
