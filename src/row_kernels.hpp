// Internal: vectorized row passes of the matrix-product path (softmax and its
// backward over the atoms of each row), dispatched at run time to AVX-512,
// AVX2 or baseline code like the small kernel.
#pragma once

#include <cstdint>

namespace dictlearn::detail {

/// In place: each of `rows` rows of `z` (row-major, `cols` wide) becomes
/// softmax(row · inverse_temperature), PyTorch's arrangement.
void softmax_rows_simd(float* z, int64_t rows, int cols, float inverse_temperature);
void softmax_rows_simd(double* z, int64_t rows, int cols, double inverse_temperature);

/// In place: grad ← r ⊙ (grad − rowsum(grad ⊙ r)) · inverse_temperature.
void softmax_backward_simd(const float* r, float* grad, int64_t rows, int cols,
                           float inverse_temperature);
void softmax_backward_simd(const double* r, double* grad, int64_t rows, int cols,
                           double inverse_temperature);

}  // namespace dictlearn::detail
