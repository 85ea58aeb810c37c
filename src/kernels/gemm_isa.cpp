// Internal: Eigen's matrix product compiled for one instruction set. This file
// is compiled three times (CMake object libraries dictlearn_gemm_*): for
// x86-64-v4 (AVX-512), x86-64-v3 (AVX2 + FMA) and the baseline, with
// DICTLEARN_GEMM_SUFFIX naming the entry points; gemm.cpp picks one at run
// time from the CPU's flags. Eigen's namespace is renamed per build so the
// three sets of template instances never merge at link time.
#define Eigen DICTLEARN_CONCAT(Eigen_, DICTLEARN_GEMM_SUFFIX)
#define DICTLEARN_CONCAT_(a, b) a##b
#define DICTLEARN_CONCAT(a, b) DICTLEARN_CONCAT_(a, b)
// Always Eigen's blocked product, never its coefficient-based one for small
// shapes: that one's vectorized sums start at the first aligned element, so
// their rounding followed where the caller's arrays happened to lie (a
// product of a NumPy array and of a copy of it could differ in the last bit).
// The blocked kernel packs its operands first: its sums depend on the shapes
// alone.
#define EIGEN_GEMM_TO_COEFFBASED_THRESHOLD 0

#include <Eigen/Core>
#include <cstdint>

namespace {

template <typename T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using ConstMap = Eigen::Map<const RowMajor<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <typename T>
using Map = Eigen::Map<RowMajor<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

template <typename T>
void eigen_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const T* a,
                int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  // Parallelism is the caller's, over fixed blocks; set once (this runs on
  // several threads at a time).
  static const bool single_threaded = (Eigen::setNbThreads(1), true);
  (void)single_threaded;
  Map<T> C(c, m, n, Eigen::OuterStride<>(ldc));
  if (beta == T(0)) {
    C.setZero();
  } else if (beta != T(1)) {
    C *= beta;
  }
  const ConstMap<T> A(a, trans_a ? k : m, trans_a ? m : k, Eigen::OuterStride<>(lda));
  const ConstMap<T> B(b, trans_b ? n : k, trans_b ? k : n, Eigen::OuterStride<>(ldb));
  if (trans_a && trans_b) {
    C.noalias() += A.transpose() * B.transpose();
  } else if (trans_a) {
    C.noalias() += A.transpose() * B;
  } else if (trans_b) {
    C.noalias() += A * B.transpose();
  } else {
    C.noalias() += A * B;
  }
}

}  // namespace

namespace dictlearn::detail {

void DICTLEARN_CONCAT(sgemm_, DICTLEARN_GEMM_SUFFIX)(bool trans_a, bool trans_b, int64_t m,
                                                     int64_t n, int64_t k, const float* a,
                                                     int64_t lda, const float* b, int64_t ldb,
                                                     float beta, float* c, int64_t ldc) {
  eigen_gemm(trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc);
}

void DICTLEARN_CONCAT(dgemm_, DICTLEARN_GEMM_SUFFIX)(bool trans_a, bool trans_b, int64_t m,
                                                     int64_t n, int64_t k, const double* a,
                                                     int64_t lda, const double* b, int64_t ldb,
                                                     double beta, double* c, int64_t ldc) {
  eigen_gemm(trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace dictlearn::detail
