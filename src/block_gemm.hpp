// Internal: the matrix products of the fused pass's blocks (src/trainer.cpp),
// whose operands stay in the core's caches: a few hundred rows against a
// model of a few hundred atoms. gemm() (Eigen) copies both operands into
// packed panels on every call, which for these sizes costs about a sixth of
// the product; block_gemm() reads them where they lie. Its register tile is
// 6 rows of C by 4 vectors (AVX-512: 64 floats or 32 doubles; AVX2: 2
// vectors), with B read a row of vectors at a time and each entry of A
// broadcast; so B must be stored k x n (row-major, not transposed) and n a
// whole number of vectors.
//
// Every entry of C is one sum, in the order p = 0, 1, ..., k − 1, of fused
// multiply-adds started from zero, then added to C when beta is 1: the same
// bits at AVX-512 and AVX2, on any thread. Where the CPU has neither, or n
// is not a whole number of vectors, gemm() computes the product (its own
// order).
#pragma once

#include <cstdint>

#include "simd_dispatch.hpp"

namespace dictlearn::detail {

/// C = op(A)·B + beta·C, beta 0 or 1, all row-major: op(A) is m x k (stored
/// k x m when trans_a), B k x n, C m x n.
void block_gemm(bool trans_a, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void block_gemm(bool trans_a, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda,
                const double* b, int64_t ldb, double beta, double* c, int64_t ldc);

/// At `level`, or the CPU's best where it lacks `level` (tests; block_gemm()
/// itself uses the CPU's best, as gemm() does).
void block_gemm(bool trans_a, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                const float* b, int64_t ldb, float beta, float* c, int64_t ldc, SimdLevel level);
void block_gemm(bool trans_a, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda,
                const double* b, int64_t ldb, double beta, double* c, int64_t ldc,
                SimdLevel level);

}  // namespace dictlearn::detail
