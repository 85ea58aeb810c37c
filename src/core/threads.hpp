// Internal: thread counts. Every parallel region takes its count from the
// options through resolve_threads(); nothing reads OMP_NUM_THREADS implicitly.
#pragma once

#include <thread>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace dictlearn {

/// 0 means all cores.
inline int resolve_threads(int requested) {
  if (requested > 0) return requested;
  const unsigned cores = std::thread::hardware_concurrency();
  return cores > 0 ? static_cast<int>(cores) : 1;
}

/// Threads worth starting for `work` flops: below about a million per
/// thread, waking and joining them costs more than it saves.
inline int threads_for(int threads, double work) {
  const double per_thread = 1e6;
  if (work < 2 * per_thread) return 1;
  const int useful = static_cast<int>(work / per_thread);
  return threads < useful ? threads : useful;
}

/// The calling thread's index inside a parallel region (0 outside).
inline int omp_thread() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

}  // namespace dictlearn
