// Internal: the matrix products of the training loop: Eigen's product built
// for AVX-512, AVX2 and baseline x86-64 and chosen at run time from the CPU's
// flags, so a portable build still runs AVX-512 kernels where they exist
// (optionally OpenBLAS, -DDICTLEARN_USE_OPENBLAS=ON). Parallelism is
// ours: the output's rows are split into fixed blocks, each one
// single-threaded product, so every entry is summed in the same order
// whatever the thread count.
#pragma once

#include <cstdint>

namespace dictlearn::detail {

/// C = op(A)·op(B) + beta·C, all row-major; op(A) is m x k, op(B) k x n, C m x n.
/// trans_a / trans_b: A is stored k x m / B is stored n x k.
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc);

/// gemm() with C's rows split into fixed blocks of `block` rows run on up to
/// `threads` threads (fewer when the product is small).
template <typename T>
void parallel_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const T* a,
                   int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc, int threads,
                   int64_t block);

/// Which implementation runs, e.g. "Eigen (x86-64-v4, AVX-512)".
const char* gemm_backend();

}  // namespace dictlearn::detail
