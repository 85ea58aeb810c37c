// Internal: vectorized row passes of the matrix-product path (softmax and its
// backward over the atoms of each row) at the instruction-set level chosen at
// run time, with its vector width, like the small kernel (simd_dispatch.hpp);
// and plain loops the compiler vectorizes, in per-level clones.
#pragma once

#include <cstdint>

#include "kernels/simd_dispatch.hpp"

namespace dictlearn::detail {

/// In place: each of `rows` rows of `z` (row-major, `cols` wide) becomes
/// softmax(row · inverse_temperature), PyTorch's arrangement.
void softmax_rows_simd(float* z, int64_t rows, int cols, float inverse_temperature);
void softmax_rows_simd(double* z, int64_t rows, int cols, double inverse_temperature);
/// At `level`, or at the CPU's best where it lacks `level` (tests).
void softmax_rows_simd(float* z, int64_t rows, int cols, float inverse_temperature,
                       SimdLevel level);
void softmax_rows_simd(double* z, int64_t rows, int cols, double inverse_temperature,
                       SimdLevel level);

/// In place: grad ← r ⊙ (grad − rowsum(grad ⊙ r)) · inverse_temperature.
void softmax_backward_simd(const float* r, float* grad, int64_t rows, int cols,
                           float inverse_temperature);
void softmax_backward_simd(const double* r, double* grad, int64_t rows, int cols,
                           double inverse_temperature);
/// At `level`, or at the CPU's best where it lacks `level` (tests).
void softmax_backward_simd(const float* r, float* grad, int64_t rows, int cols,
                           float inverse_temperature, SimdLevel level);
void softmax_backward_simd(const double* r, double* grad, int64_t rows, int cols,
                           double inverse_temperature, SimdLevel level);

/// In place: e ← e·scale over `rows` rows of `cols`; returns Σe² in double
/// (the squared error before scaling).
double square_and_scale(float* e, int64_t rows, int cols, float scale);
double square_and_scale(double* e, int64_t rows, int cols, double scale);

/// sums[j] += Σ_i m(i, j), in double, rows added in order.
void add_column_sums(const float* m, int64_t rows, int cols, double* sums);
void add_column_sums(const double* m, int64_t rows, int cols, double* sums);

/// counts[j] += number of rows i with m(i, j) ≠ 0.
void count_column_nonzeros(const float* m, int64_t rows, int cols, double* counts);
void count_column_nonzeros(const double* m, int64_t rows, int cols, double* counts);

/// Σ a[j]·b[j] over n entries (the sparse codes' gradients).
float dot_product(const float* a, const float* b, int n);
double dot_product(const double* a, const double* b, int n);

/// y += alpha·x over n entries (the sparse decoder and gradients).
void add_scaled(float alpha, const float* x, float* y, int n);
void add_scaled(double alpha, const double* x, double* y, int n);

}  // namespace dictlearn::detail
