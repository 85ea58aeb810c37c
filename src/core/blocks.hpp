// Internal: parallel loops over fixed blocks of rows. The blocks do not depend
// on the thread count, and each output row is written by one block, so
// results are the same for every thread count.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "core/check.hpp"
#include "core/parallel.hpp"
#include "core/threads.hpp"

namespace dictlearn::detail {

/// Runs body(begin, count) -- or body(begin, count, thread) when the body
/// takes the calling thread's index, for per-thread buffers -- for the blocks
/// [begin, begin + count) of `block` rows that cover [0, rows), on up to
/// `threads` threads (0: all cores; one when `work`, in flops, is too small
/// to share). An exception thrown by a block is rethrown on the calling
/// thread after the region.
template <typename Body>
void for_row_blocks(int64_t rows, int64_t block, int threads, double work, Body body) {
  DICTLEARN_ASSERT(rows >= 0 && block >= 1);
  const int64_t blocks = (rows + block - 1) / block;
  const int used =
      static_cast<int>(std::min<int64_t>(blocks, threads_for(resolve_threads(threads), work)));
  auto run = [&](int64_t index) {
    const int64_t begin = index * block;
    if constexpr (std::is_invocable_v<Body&, int64_t, int64_t, int>) {
      body(begin, std::min(block, rows - begin), omp_thread());
    } else {
      body(begin, std::min(block, rows - begin));
    }
  };
  if (used <= 1) {
    for (int64_t index = 0; index < blocks; ++index) run(index);
    return;
  }
  ParallelErrors errors;
#pragma omp parallel for num_threads(used) schedule(dynamic, 1)
  for (int64_t index = 0; index < blocks; ++index) errors.run([&] { run(index); });
  errors.rethrow();
}

}  // namespace dictlearn::detail
