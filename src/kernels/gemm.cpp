#include "kernels/gemm.hpp"

#include <algorithm>
#include <type_traits>

#include "core/parallel.hpp"
#include "core/threads.hpp"
#include "dictlearn/trainer.hpp"
#include "kernels/simd_dispatch.hpp"

#ifdef DICTLEARN_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace dictlearn::detail {

// The per-instruction-set builds of gemm_isa.cpp.
#define DICTLEARN_DECLARE_GEMM(suffix)                                                            \
  void sgemm_##suffix(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t, const float*, \
                      int64_t, float, float*, int64_t);                                           \
  void dgemm_##suffix(bool, bool, int64_t, int64_t, int64_t, const double*, int64_t,              \
                      const double*, int64_t, double, double*, int64_t);
DICTLEARN_DECLARE_GEMM(baseline)
#ifdef DICTLEARN_GEMM_X86_LEVELS
DICTLEARN_DECLARE_GEMM(v3)
DICTLEARN_DECLARE_GEMM(v4)
#endif

namespace {

using SgemmFunction = decltype(&sgemm_baseline);
using DgemmFunction = decltype(&dgemm_baseline);

struct Kernels {
  SgemmFunction sgemm = &sgemm_baseline;
  DgemmFunction dgemm = &dgemm_baseline;
  const char* name = "Eigen (baseline x86-64)";
};

/// Chosen once, from what the CPU says it supports (not from its model name).
Kernels choose_kernels() {
  Kernels kernels;
#ifdef DICTLEARN_GEMM_X86_LEVELS
  // The CPU's best level (src/simd_dispatch.hpp; not DICTLEARN_SIMD, which
  // only steers the vector kernels).
  switch (cpu_simd_level()) {
    case SimdLevel::v4:
      kernels = {&sgemm_v4, &dgemm_v4, "Eigen (x86-64-v4, AVX-512)"};
      break;
    case SimdLevel::v3:
      kernels = {&sgemm_v3, &dgemm_v3, "Eigen (x86-64-v3, AVX2)"};
      break;
    case SimdLevel::baseline:
      break;
  }
#endif
  return kernels;
}

const Kernels& kernels() {
  static const Kernels chosen = choose_kernels();
  return chosen;
}

#ifdef DICTLEARN_HAVE_OPENBLAS
/// OpenBLAS runs single-threaded inside our fixed partitions.
struct SingleThreadedBlas {
  SingleThreadedBlas() { openblas_set_num_threads(1); }
};
const SingleThreadedBlas single_threaded_blas;

CBLAS_TRANSPOSE op(bool transpose) { return transpose ? CblasTrans : CblasNoTrans; }
#endif

/// One body for both types: the backend's entry point for T.
template <typename T>
void gemm_for(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda,
              const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  constexpr bool single = std::is_same_v<T, float>;
#ifdef DICTLEARN_HAVE_OPENBLAS
  if constexpr (single) {
    cblas_sgemm(CblasRowMajor, op(trans_a), op(trans_b), m, n, k, 1.0f, a, lda, b, ldb, beta, c,
                ldc);
  } else {
    cblas_dgemm(CblasRowMajor, op(trans_a), op(trans_b), m, n, k, 1.0, a, lda, b, ldb, beta, c,
                ldc);
  }
#else
  const Kernels& chosen = kernels();
  if constexpr (single) {
    chosen.sgemm(trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc);
  } else {
    chosen.dgemm(trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc);
  }
#endif
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  gemm_for(trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc);
}

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  gemm_for(trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc);
}

template <typename T>
void parallel_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const T* a,
                   int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc, int threads,
                   int64_t block) {
  const int64_t blocks = (m + block - 1) / block;
  const int used = static_cast<int>(std::min<int64_t>(
      blocks, threads_for(threads, 2.0 * static_cast<double>(m) * static_cast<double>(n) * k)));
  ParallelErrors errors;
#pragma omp parallel for num_threads(used) if (used > 1) schedule(static)
  for (int64_t i = 0; i < blocks; ++i) {
    errors.run([&] {
      const int64_t begin = i * block, rows = std::min(block, m - begin);
      // Row `begin` of op(A): a row of A, or a column of A when transposed.
      const T* a_block = trans_a ? a + begin : a + begin * lda;
      gemm(trans_a, trans_b, rows, n, k, a_block, lda, b, ldb, beta, c + begin * ldc, ldc);
    });
  }
  errors.rethrow();
}

template void parallel_gemm<float>(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t,
                                   const float*, int64_t, float, float*, int64_t, int, int64_t);
template void parallel_gemm<double>(bool, bool, int64_t, int64_t, int64_t, const double*, int64_t,
                                    const double*, int64_t, double, double*, int64_t, int, int64_t);

const char* gemm_backend() {
#ifdef DICTLEARN_HAVE_OPENBLAS
  return "OpenBLAS";
#else
  return kernels().name;
#endif
}

}  // namespace dictlearn::detail

namespace dictlearn {

const char* matrix_product_backend() { return detail::gemm_backend(); }

const char* vector_kernel_level() { return detail::simd_level_name(detail::simd_level()); }

}  // namespace dictlearn
