// Internal: the soft threshold, the threshold coder's map and the proximal
// step of ℓ1 (the lasso coders reuse it).
#pragma once

#include <cstdint>

namespace dictlearn::detail {

/// In place on values[0, count): v ← sign(v)·max(|v| − alpha, 0), or
/// max(v − alpha, 0) when `positive`. Zeros come out as +0.
template <typename T>
void soft_threshold(T* values, int64_t count, T alpha, bool positive);

}  // namespace dictlearn::detail
