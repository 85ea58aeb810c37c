// Internal: finding NaNs and infinities in large arrays in one pass in memory
// order (Eigen's allFinite() walks a row-major matrix column by column).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace dictlearn::detail {

/// Index of the first NaN or infinity in values[0, count), or -1. Blocks
/// without one are passed after a branch-free (vectorizable) test.
template <typename T>
int64_t first_non_finite(const T* values, int64_t count) {
  constexpr int64_t chunk = 4096;
  for (int64_t begin = 0; begin < count; begin += chunk) {
    const int64_t end = std::min(count, begin + chunk);
    int bad = 0;
#pragma omp simd reduction(| : bad)
    for (int64_t i = begin; i < end; ++i) {
      bad |= std::abs(values[i]) <= std::numeric_limits<T>::max() ? 0 : 1;
    }
    if (bad == 0) continue;
    for (int64_t i = begin; i < end; ++i) {
      if (!std::isfinite(values[i])) return i;
    }
  }
  return -1;
}

template <typename T>
bool all_finite(const T* values, int64_t count) {
  return first_non_finite(values, count) < 0;
}

}  // namespace dictlearn::detail
