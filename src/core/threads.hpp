// Internal: thread counts. Every parallel region takes its count from the
// options through resolve_threads(); nothing reads OMP_NUM_THREADS implicitly.
#pragma once

#ifdef _OPENMP
#include <omp.h>
#endif

namespace dictlearn {

/// The cores this process may run on (its CPU affinity mask), at least 1.
int available_cores();

/// The most threads a region starts (dictlearn/parameters.hpp: max_threads).
int max_threads();

namespace detail {
/// Makes sure `threads` threads can run at once, by starting them once (the
/// first time a larger count is asked for; after that, one atomic load):
/// OpenMP runtimes end the process when they cannot create a thread, so a
/// limit on processes or memory is found here and reported as an Error
/// naming --threads instead. Thread-safe.
void ensure_threads(int threads);
}  // namespace detail

/// The threads a region may use: `requested`, capped at max_threads(); 0
/// means all cores.
inline int resolve_threads(int requested) {
  const int cap = max_threads();
  return requested > 0 ? (requested < cap ? requested : cap) : available_cores();
}

/// Threads worth starting for `work` flops: below about a million per
/// thread, waking and joining them costs more than it saves. The count
/// returned can be started (detail::ensure_threads; throws Error otherwise):
/// regions take their team size from here, so a run too small to start
/// threads never needs them.
inline int threads_for(int threads, double work, double per_thread = 1e6) {
  if (work < 2 * per_thread) return 1;
  const int useful = static_cast<int>(work / per_thread);
  const int used = threads < useful ? threads : useful;
  detail::ensure_threads(used);
  return used;
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
