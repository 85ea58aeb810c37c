#include "block_gemm.hpp"

#include <cstring>

#include "gemm.hpp"
#include "vector_math.hpp"

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

/// C[0..MR, 0..NR vectors) (+)= A[0..MR, 0..k) · B[0..k, 0..NR vectors) (±
/// the addend): A's entry (i, p) at a[i·row_step + p·k_step].
/// `sum + entry·row` is one fused multiply-add (this file is compiled with
/// -ffp-contract=fast).
template <typename T, int Bytes, int MR, int NR>
DICTLEARN_SIMD_INLINE void tile(int64_t k, const T* a, int64_t row_step, int64_t k_step,
                                const T* b, int64_t ldb, const Output<T>& to) {
  using V = Simd<T, Bytes>;
  constexpr int L = kLanes<V>;
  V sum[MR][NR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) sum[i][j] = V{};
  }
  for (int64_t p = 0; p < k; ++p, a += k_step, b += ldb) {
    V row[NR];
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) std::memcpy(&row[j], b + j * L, sizeof(V));
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const T entry = a[i * row_step];  // broadcast by the product (not V{} + entry: 0 + x is not x)
#pragma GCC unroll 8
      for (int j = 0; j < NR; ++j) sum[i][j] = sum[i][j] + entry * row[j];
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) {
      if (to.addend.values) {
        V addend;
        std::memcpy(&addend, to.addend.values + i * to.addend.ld + j * L, sizeof(V));
        sum[i][j] = to.addend.negate ? sum[i][j] - addend : sum[i][j] + addend;
      }
      T* out = to.c + i * to.ldc + j * L;
      if (to.add_to_c) {
        V old;
        std::memcpy(&old, out, sizeof(V));
        sum[i][j] = old + sum[i][j];
      }
      std::memcpy(out, &sum[i][j], sizeof(V));
    }
  }
}

/// All m rows of C against one panel of NR vectors of B's columns.
template <typename T, int Bytes, int NR>
DICTLEARN_SIMD_INLINE void panel(int64_t m, int64_t k, const T* a, int64_t row_step,
                                 int64_t k_step, const T* b, int64_t ldb, const Output<T>& to) {
  int64_t i = 0;
  for (; i + kTileRows <= m; i += kTileRows) {
    tile<T, Bytes, kTileRows, NR>(k, a + i * row_step, row_step, k_step, b, ldb, to.at(i, 0));
  }
  const T* a_rest = a + i * row_step;
  const Output<T> rest = to.at(i, 0);
  switch (m - i) {
    case 5: return tile<T, Bytes, 5, NR>(k, a_rest, row_step, k_step, b, ldb, rest);
    case 4: return tile<T, Bytes, 4, NR>(k, a_rest, row_step, k_step, b, ldb, rest);
    case 3: return tile<T, Bytes, 3, NR>(k, a_rest, row_step, k_step, b, ldb, rest);
    case 2: return tile<T, Bytes, 2, NR>(k, a_rest, row_step, k_step, b, ldb, rest);
    case 1: return tile<T, Bytes, 1, NR>(k, a_rest, row_step, k_step, b, ldb, rest);
    default: return;
  }
}

/// The whole product, panel after panel (n a whole number of vectors): a
/// panel of B (k rows of NR vectors) stays in cache while A's rows stream
/// past it. NR: AVX-512's 32 registers hold 6 x 4 sums, the 4 vectors of a
/// row of B and a broadcast entry of A; AVX2's 16 hold 6 x 2 + 2 + 1.
template <typename T, int Bytes>
DICTLEARN_SIMD_INLINE void direct_product(bool trans_a, int64_t m, int64_t n, int64_t k,
                                          const T* a, int64_t lda, const T* b, int64_t ldb,
                                          const Output<T>& to) {
  constexpr int NR = Bytes == 64 ? 4 : 2;
  constexpr int64_t L = Bytes / sizeof(T);
  const int64_t row_step = trans_a ? 1 : lda, k_step = trans_a ? lda : 1;
  int64_t j = 0;
  for (; j + NR * L <= n; j += NR * L) {
    panel<T, Bytes, NR>(m, k, a, row_step, k_step, b + j, ldb, to.at(0, j));
  }
  const int64_t rest = (n - j) / L;  // fewer than NR vectors
  if constexpr (NR == 4) {
    if (rest == 3) return panel<T, Bytes, 3>(m, k, a, row_step, k_step, b + j, ldb, to.at(0, j));
    if (rest == 2) return panel<T, Bytes, 2>(m, k, a, row_step, k_step, b + j, ldb, to.at(0, j));
  }
  if (rest == 1) panel<T, Bytes, 1>(m, k, a, row_step, k_step, b + j, ldb, to.at(0, j));
}

template <typename T>
DICTLEARN_TARGET_V4 void direct_product_v4(bool trans_a, int64_t m, int64_t n, int64_t k,
                                           const T* a, int64_t lda, const T* b, int64_t ldb,
                                           const Output<T>& to) {
  direct_product<T, simd_bytes(SimdLevel::v4)>(trans_a, m, n, k, a, lda, b, ldb, to);
}
template <typename T>
DICTLEARN_TARGET_V3 void direct_product_v3(bool trans_a, int64_t m, int64_t n, int64_t k,
                                           const T* a, int64_t lda, const T* b, int64_t ldb,
                                           const Output<T>& to) {
  direct_product<T, simd_bytes(SimdLevel::v3)>(trans_a, m, n, k, a, lda, b, ldb, to);
}
#endif

}  // namespace

template <typename T>
void block_gemm(bool trans_a, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda,
                const T* b, int64_t ldb, T beta, T* c, int64_t ldc, const BlockAddend<T>& addend,
                SimdLevel level) {
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
        break;
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
