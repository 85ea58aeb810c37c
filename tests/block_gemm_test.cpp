// The fused pass's block products (src/kernels/block_gemm.cpp) at the AVX-512 and
// AVX2 levels: each entry bit for bit the documented sum (fused
// multiply-adds in order p = 0 .. k − 1 from zero, ± the addend, then added
// to C when beta is 1), over row and column tails, both layouts of A,
// strided operands, each kind of addend; C's padding untouched; the fallback
// to gemm() (widths that are not whole vectors, other betas, CPUs without
// the level) within rounding.
#include "kernels/block_gemm.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include "test_util.hpp"

namespace dictlearn::detail {
namespace {

template <typename T>
class BlockGemmTest : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(BlockGemmTest, Types);

template <typename T>
std::vector<T> random_values(int64_t n, uint32_t seed) {
  std::mt19937 engine(seed);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  std::vector<T> values(n);
  for (T& v : values) v = static_cast<T>(uniform(engine));
  return values;
}

struct Shape {
  int64_t m, n, k;
  bool trans_a;
  int pad;  // extra entries at the end of every row of A, B and C
};

/// No addend, a row added to every row, a matrix subtracted.
enum class AddendKind { none, row, minus_matrix };

/// The product as block_gemm documents it, entry by entry.
template <typename T>
std::vector<T> documented(const Shape& s, const std::vector<T>& a, int64_t lda,
                          const std::vector<T>& b, int64_t ldb, T beta,
                          const BlockAddend<T>& addend, std::vector<T> c, int64_t ldc) {
  for (int64_t i = 0; i < s.m; ++i) {
    for (int64_t j = 0; j < s.n; ++j) {
      T sum = 0;
      for (int64_t p = 0; p < s.k; ++p) {
        const T entry = s.trans_a ? a[p * lda + i] : a[i * lda + p];
        sum = std::fma(entry, b[p * ldb + j], sum);
      }
      if (addend.values) {
        const T add = addend.values[i * addend.ld + j];
        sum = addend.negate ? sum - add : sum + add;
      }
      T& out = c[i * ldc + j];
      out = beta == T(1) ? out + sum : sum;
    }
  }
  return c;
}

/// Runs one product at `level`; returns the maximum difference from the
/// documented sum relative to the scale of the terms, and whether every
/// entry (padding included) matches bit for bit.
template <typename T>
std::pair<double, bool> compare(const Shape& s, T beta, AddendKind kind, SimdLevel level) {
  const int64_t lda = (s.trans_a ? s.m : s.k) + s.pad, ldb = s.n + s.pad, ldc = s.n + s.pad;
  const auto a = random_values<T>((s.trans_a ? s.k : s.m) * lda, 1);
  const auto b = random_values<T>(s.k * ldb, 2);
  auto c = random_values<T>(s.m * ldc, 3);
  const auto addend_values = random_values<T>(s.m * ldc, 4);
  BlockAddend<T> addend;
  if (kind != AddendKind::none) addend.values = addend_values.data();
  if (kind == AddendKind::minus_matrix) addend = {addend_values.data(), ldc, true};
  const auto expected = documented(s, a, lda, b, ldb, beta, addend, c, ldc);
  block_gemm(s.trans_a, s.m, s.n, s.k, a.data(), lda, b.data(), ldb, beta, c.data(), ldc, addend,
             level);
  double worst = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    worst = testing::worst_of(worst, std::abs(static_cast<double>(c[i]) - expected[i]) /
                                         (1.0 + std::sqrt(static_cast<double>(s.k))));
  }
  return {worst, std::memcmp(c.data(), expected.data(), c.size() * sizeof(T)) == 0};
}

TYPED_TEST(BlockGemmTest, VectorLevelsGiveTheDocumentedSumBitForBit) {
  using T = TypeParam;
  constexpr int64_t v3_lanes = 32 / sizeof(T);
  // Rows: below, at and past the 6-row tile; columns: 1 to 10 AVX2 vectors,
  // so at AVX-512 4-vector panels, their 1-3-vector remainders and widths
  // that are whole AVX2 vectors only (AVX2's kernel), at AVX2 2-vector
  // panels and a 1-vector remainder; k from 1 to past a block.
  for (const int64_t m : {1, 5, 6, 7, 13, 64}) {
    for (const int64_t vectors : {1, 2, 3, 4, 5, 6, 8, 10}) {
      for (const int64_t k : {1, 3, 64, 257}) {
        for (const bool trans_a : {false, true}) {
          for (const T beta : {T(0), T(1)}) {
            for (const SimdLevel level : {SimdLevel::v4, SimdLevel::v3}) {
              const Shape shape{m, vectors * v3_lanes, k, trans_a, (m + k) % 3 == 0 ? 0 : 5};
              const auto kind = static_cast<AddendKind>((m + vectors + k) % 3);
              const auto [worst, identical] = compare<T>(shape, beta, kind, level);
              SCOPED_TRACE(::testing::Message()
                           << "m " << m << " n " << shape.n << " k " << k << " trans_a " << trans_a
                           << " beta " << beta << " addend " << static_cast<int>(kind) << " level "
                           << simd_level_name(level));
              if (supported_simd_level(level) == level) {
                EXPECT_TRUE(identical) << worst;
              } else {  // this CPU lacks the level: gemm() ran
                EXPECT_LT(worst, 50 * std::numeric_limits<T>::epsilon());
              }
            }
          }
        }
      }
    }
  }
}

TYPED_TEST(BlockGemmTest, OtherWidthsAndBetasFallBackToGemm) {
  using T = TypeParam;
  // 10 and 3 columns are no whole number of vectors at any level; beta 0.5
  // is neither 0 nor 1. The results are gemm()'s, the addend included:
  // right within rounding.
  for (const Shape shape :
       {Shape{7, 10, 33, false, 2}, Shape{9, 3, 64, true, 0}, Shape{6, 16, 20, false, 1}}) {
    for (const T beta : {T(0), T(1), T(0.5)}) {
      if (shape.n == 16 && beta != T(0.5)) continue;  // the vector path, tested above
      for (const AddendKind kind : {AddendKind::none, AddendKind::row, AddendKind::minus_matrix}) {
        const int64_t lda = (shape.trans_a ? shape.m : shape.k) + shape.pad;
        const int64_t ldb = shape.n + shape.pad, ldc = shape.n + shape.pad;
        const auto a = random_values<T>((shape.trans_a ? shape.k : shape.m) * lda, 4);
        const auto b = random_values<T>(shape.k * ldb, 5);
        auto c = random_values<T>(shape.m * ldc, 6);
        const auto addend_values = random_values<T>(shape.m * ldc, 7);
        const int64_t addend_ld = kind == AddendKind::row ? 0 : ldc;
        const double sign = kind == AddendKind::minus_matrix ? -1 : 1;
        std::vector<double> expected(c.begin(), c.end());
        for (int64_t i = 0; i < shape.m; ++i) {
          for (int64_t j = 0; j < shape.n; ++j) {
            double sum = 0;
            for (int64_t p = 0; p < shape.k; ++p) {
              sum += static_cast<double>(shape.trans_a ? a[p * lda + i] : a[i * lda + p]) *
                     b[p * ldb + j];
            }
            if (kind != AddendKind::none) sum += sign * addend_values[i * addend_ld + j];
            expected[i * ldc + j] = beta * expected[i * ldc + j] + sum;
          }
        }
        BlockAddend<T> addend;
        if (kind != AddendKind::none) {
          addend = {addend_values.data(), addend_ld, kind == AddendKind::minus_matrix};
        }
        block_gemm(shape.trans_a, shape.m, shape.n, shape.k, a.data(), lda, b.data(), ldb, beta,
                   c.data(), ldc, addend);
        for (size_t i = 0; i < c.size(); ++i) {
          EXPECT_NEAR(c[i], expected[i], 50 * std::numeric_limits<T>::epsilon() * shape.k)
              << "entry " << i << ", n " << shape.n << ", beta " << beta << ", addend "
              << static_cast<int>(kind);
        }
      }
    }
  }
}

TYPED_TEST(BlockGemmTest, EmptyProductsLeaveCAlone) {
  using T = TypeParam;
  std::vector<T> a(64, T(1)), b(64, T(1)), c(64, T(7));
  block_gemm(false, 0, 16, 4, a.data(), 4, b.data(), 16, T(0), c.data(), 16);
  block_gemm(false, 4, 0, 4, a.data(), 4, b.data(), 16, T(0), c.data(), 16);
  for (T v : c) EXPECT_EQ(v, T(7));
  // k = 0: C = beta·C (+ an empty sum).
  block_gemm(false, 2, 16, 0, a.data(), 4, b.data(), 16, T(0), c.data(), 16);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(c[i], T(0)) << i;
  for (int i = 32; i < 64; ++i) EXPECT_EQ(c[i], T(7)) << i;
}

}  // namespace
}  // namespace dictlearn::detail
