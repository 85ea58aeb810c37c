#include "kernels/block_gemm.hpp"

#include <cstring>

#ifdef DICTLEARN_SIMD_X86_LEVELS
#include <immintrin.h>
#endif

#include "core/check.hpp"
#include "kernels/gemm.hpp"
#include "kernels/vector_math.hpp"

namespace dictlearn::detail {
namespace {

#ifdef DICTLEARN_SIMD_X86_LEVELS
/// Rows of the register tile.
constexpr int kTileRows = 6;

/// Where the sums go: C (added to it or not) and the addend.
template <typename T>
struct Output {
  T* c;
  int64_t ldc;
  bool add_to_c;
  BlockAddend<T> addend;

  /// The same, from entry (i, j) on.
  Output at(int64_t i, int64_t j) const {
    Output out = *this;
    out.c += i * ldc + j;
    if (addend.values) out.addend.values += i * addend.ld + j;
    return out;
  }
};

// The kernel, compiled once per level: its functions carry the level's
// target attribute (so the FMA intrinsics inline into them), in namespaces
// v4 and v3.
#define DICTLEARN_BLOCK_TARGET DICTLEARN_TARGET_V4
namespace v4 {
#include "kernels/block_gemm_kernel.inc"
}  // namespace v4
#undef DICTLEARN_BLOCK_TARGET
#define DICTLEARN_BLOCK_TARGET DICTLEARN_TARGET_V3
namespace v3 {
#include "kernels/block_gemm_kernel.inc"
}  // namespace v3
#undef DICTLEARN_BLOCK_TARGET

template <typename T>
DICTLEARN_TARGET_V4 void direct_product_v4(bool trans_a, int64_t m, int64_t n, int64_t k,
                                           const T* a, int64_t lda, const T* b, int64_t ldb,
                                           const Output<T>& to) {
  v4::direct_product<T, simd_bytes(SimdLevel::v4)>(trans_a, m, n, k, a, lda, b, ldb, to);
}
template <typename T>
DICTLEARN_TARGET_V3 void direct_product_v3(bool trans_a, int64_t m, int64_t n, int64_t k,
                                           const T* a, int64_t lda, const T* b, int64_t ldb,
                                           const Output<T>& to) {
  v3::direct_product<T, simd_bytes(SimdLevel::v3)>(trans_a, m, n, k, a, lda, b, ldb, to);
}
#endif

}  // namespace

template <typename T>
void block_gemm(bool trans_a, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b,
                int64_t ldb, T beta, T* c, int64_t ldc, const BlockAddend<T>& addend,
                SimdLevel level) {
  DICTLEARN_ASSERT(m >= 0 && n >= 0 && k >= 0);
  DICTLEARN_ASSERT(ldb >= n && ldc >= n && lda >= (trans_a ? m : k));
  // The kernels read A and B while writing C: they must not overlap it.
  DICTLEARN_ASSERT(a + (trans_a ? k * lda : m * lda) <= c || c + m * ldc <= a);
  DICTLEARN_ASSERT(b + k * ldb <= c || c + m * ldc <= b);
  if (m == 0 || n == 0) return;
  const bool add_to_c = beta == T(1);
  if (add_to_c || beta == T(0)) {
#ifdef DICTLEARN_SIMD_X86_LEVELS
    const Output<T> to{c, ldc, add_to_c, addend};
    // Lanes a vector at each level: 64 and 32 bytes.
    constexpr int64_t v4_lanes = 64 / sizeof(T), v3_lanes = 32 / sizeof(T);
    switch (supported_simd_level(level)) {
      case SimdLevel::v4:
        if (n % v4_lanes == 0) return direct_product_v4(trans_a, m, n, k, a, lda, b, ldb, to);
        // A whole number of AVX2 vectors: AVX2's kernel (the same bits as on
        // an AVX2 machine).
        [[fallthrough]];
      case SimdLevel::v3:
        if (n % v3_lanes == 0) return direct_product_v3(trans_a, m, n, k, a, lda, b, ldb, to);
        break;
      case SimdLevel::baseline:
        break;
    }
#endif
  }
  // gemm(): the addend goes into C first, the product is added to it.
  if (addend.values) {
    for (int64_t i = 0; i < m; ++i) {
      const T* add = addend.values + i * addend.ld;
      T* row = c + i * ldc;
      for (int64_t j = 0; j < n; ++j) {
        const T kept = beta == T(0) ? T(0) : beta * row[j];
        row[j] = kept + (addend.negate ? -add[j] : add[j]);
      }
    }
    beta = T(1);
  }
  gemm(trans_a, false, m, n, k, a, lda, b, ldb, beta, c, ldc);
}

template void block_gemm<float>(bool, int64_t, int64_t, int64_t, const float*, int64_t,
                                const float*, int64_t, float, float*, int64_t,
                                const BlockAddend<float>&, SimdLevel);
template void block_gemm<double>(bool, int64_t, int64_t, int64_t, const double*, int64_t,
                                 const double*, int64_t, double, double*, int64_t,
                                 const BlockAddend<double>&, SimdLevel);

}  // namespace dictlearn::detail
