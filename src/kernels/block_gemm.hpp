// Internal: the matrix products of the fused pass's blocks
// (src/learners/autoencoder/fused_pass.cpp), whose operands stay in the core's caches: a few
// hundred rows against a model of a few hundred atoms. gemm() (Eigen) copies both operands into
// packed panels on every call, a cost that these small products do not
// amortize (docs/PERFORMANCE.md, "History"); block_gemm() reads them where they lie. Its register
// tile is 6 rows of C by 4 vectors (AVX-512: 64 floats or 32 doubles; AVX2: 2 vectors), with B read
// a row of vectors at a time and each entry of A broadcast; so B must be stored k x n (row-major,
// not transposed) and n a whole number of vectors (of AVX2's width at least: on an AVX-512 machine,
// widths that are whole AVX2 vectors only run AVX2's kernel).
//
// Every entry of C is one sum, in the order p = 0, 1, ..., k − 1, of fused
// multiply-adds started from zero (below): the same bits at AVX-512 and
// AVX2, on any thread. Where the CPU has neither, n is not a whole number of
// vectors, or beta is neither 0 nor 1, gemm() computes the product (its own
// order).
#pragma once

#include <cstdint>

#include "kernels/simd_dispatch.hpp"

namespace dictlearn::detail {

/// What block_gemm adds to each sum besides C: nothing (values null), one
/// row of n values added to every row of C (ld 0: a bias), or a matrix
/// (row i at values + i·ld); subtracted instead when negate. Folding it into
/// the product saves a pass that writes it into C first.
template <typename T>
struct BlockAddend {
  const T* values = nullptr;
  int64_t ld = 0;
  bool negate = false;
};

/// C = beta·C + (op(A)·B ± addend), beta 0 or 1, all row-major: op(A) is
/// m x k (stored k x m when trans_a), B k x n, C m x n. Entry (i, j): the
/// sum s of op(A)(i, p)·B(p, j) by fused multiply-adds in the order p = 0,
/// 1, ..., k − 1 from zero, then s ± addend(i, j), then C(i, j) + that when
/// beta is 1. The addend may be C itself (each entry is read before it is
/// written), but A and B must not overlap C. `level`: the CPU's best, as
/// gemm() chooses (DICTLEARN_SIMD does not steer it), or one below it
/// (tests).
template <typename T>
void block_gemm(bool trans_a, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b,
                int64_t ldb, T beta, T* c, int64_t ldc, const BlockAddend<T>& addend = {},
                SimdLevel level = cpu_simd_level());

}  // namespace dictlearn::detail
