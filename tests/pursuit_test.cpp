// The Batch-OMP vector passes (src/kernels/pursuit.hpp) at every
// instruction-set level this CPU runs, against scalar references: the argmax
// of |α| (exact: value, atom, and whether another atom ties it, in the same
// lane or another, at every length around the vector widths), and the fused
// step (the new column and α within rounding, its argmax exact on its own α).
#include "kernels/pursuit.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace dictlearn::detail {
namespace {

template <typename T>
class PursuitTest : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(PursuitTest, Types);

std::vector<SimdLevel> supported_levels() {
  std::vector<SimdLevel> levels;
  for (SimdLevel level : {SimdLevel::baseline, SimdLevel::v3, SimdLevel::v4}) {
    if (level <= cpu_simd_level()) levels.push_back(level);
  }
  return levels;
}

/// Lengths around every level's lane counts and group sizes (4 vectors).
const std::vector<int64_t> kLengths = {1,  2,  3,  4,  5,  7,   8,   9,   15,  16,  17, 31,
                                       32, 33, 63, 64, 65, 100, 127, 128, 129, 256, 257};

template <typename T>
std::vector<T> uniform(int64_t n, uint64_t seed) {
  std::mt19937_64 generator(seed);
  std::uniform_real_distribution<double> value(-1, 1);
  std::vector<T> v(n);
  for (T& x : v) x = static_cast<T>(value(generator));
  return v;
}

/// The scalar answer: max |α|, the first atom holding it, and whether it is
/// the only one.
template <typename T>
AbsArgmax<T> reference(const std::vector<T>& alpha) {
  AbsArgmax<T> best{std::abs(alpha[0]), 0, true};
  for (size_t a = 1; a < alpha.size(); ++a) {
    const T value = std::abs(alpha[a]);
    if (value > best.value) {
      best = {value, static_cast<int64_t>(a), true};
    } else if (value == best.value) {
      best.unique = false;
    }
  }
  return best;
}

template <typename T>
void expect_same(const AbsArgmax<T>& got, const AbsArgmax<T>& want, const std::string& what) {
  EXPECT_EQ(got.value, want.value) << what;
  EXPECT_EQ(got.unique, want.unique) << what;
  if (want.unique) {
    EXPECT_EQ(got.index, want.index) << what;
  }
}

TYPED_TEST(PursuitTest, ArgmaxIsExactAndFindsEveryTie) {
  using T = TypeParam;
  for (SimdLevel level : supported_levels()) {
    const PursuitKernels<T> kernels = pursuit_kernels<T>(level);
    for (int64_t n : kLengths) {
      const std::string what = std::string(simd_level_name(level)) + " n=" + std::to_string(n);
      std::vector<T> alpha = uniform<T>(n, 11 + n);
      expect_same(kernels.abs_argmax(alpha.data(), n), reference(alpha), what);
      // The largest at each end, negative: found by its magnitude.
      for (int64_t at : {int64_t(0), n - 1}) {
        std::vector<T> planted = alpha;
        planted[at] = T(-2);
        expect_same(kernels.abs_argmax(planted.data(), n), reference(planted), what + " end");
      }
      if (n < 2) continue;
      // Exact ties at every distance (same lane: a multiple of the width;
      // other lanes; other trackers of a group), one of them negated.
      for (int64_t gap = 1; gap < n; gap += (gap < 20 ? 1 : 13)) {
        std::vector<T> tied = alpha;
        tied[n - 1 - gap] = T(3);
        tied[n - 1] = T(-3);
        const AbsArgmax<T> got = kernels.abs_argmax(tied.data(), n);
        EXPECT_EQ(got.value, T(3)) << what << " gap " << gap;
        EXPECT_FALSE(got.unique) << what << " gap " << gap;
      }
      // NaN (past overflow) never wins; none but NaN: -1.
      std::vector<T> with_nan = alpha;
      with_nan[n - 1] = std::numeric_limits<T>::quiet_NaN();
      expect_same(kernels.abs_argmax(with_nan.data(), n), reference(with_nan), what + " nan");
      const std::vector<T> nans(n, std::numeric_limits<T>::quiet_NaN());
      EXPECT_EQ(kernels.abs_argmax(nans.data(), n).value, T(-1)) << what;
      // All zero: one value held by every atom.
      const std::vector<T> zeros(n, T(0));
      expect_same(kernels.abs_argmax(zeros.data(), n), reference(zeros), what + " zeros");
    }
  }
}

TYPED_TEST(PursuitTest, StepMatchesTheScalarUpdate) {
  using T = TypeParam;
  const double tolerance = std::is_same_v<T, double> ? 1e-13 : 1e-5;
  for (SimdLevel level : supported_levels()) {
    const PursuitKernels<T> kernels = pursuit_kernels<T>(level);
    for (int64_t n : kLengths) {
      for (int64_t k : {0, 1, 3, 9}) {
        const std::string what = std::string(simd_level_name(level)) + " n=" + std::to_string(n) +
                                 " k=" + std::to_string(k);
        const int64_t stride = n + 3;  // rows of A apart by more than n
        const std::vector<T> g = uniform<T>(n, 1),
                             a = uniform<T>(std::max<int64_t>(k, 1) * stride, 2),
                             w = uniform<T>(std::max<int64_t>(k, 1), 3),
                             alpha_in = uniform<T>(n, 4);
        std::vector<T> a_out(n, T(7)), alpha_out(n, T(7));
        const T scale = T(1.25), z = T(-0.375);
        const OmpStep<T> step{.g = g.data(),
                              .a = a.data(),
                              .stride = stride,
                              .w = w.data(),
                              .k = k,
                              .scale = scale,
                              .z = z,
                              .a_out = a_out.data(),
                              .alpha_in = alpha_in.data(),
                              .alpha_out = alpha_out.data(),
                              .n = n};
        const AbsArgmax<T> got = kernels.omp_step(step);
        for (int64_t i = 0; i < n; ++i) {
          double column = g[i];
          for (int64_t j = 0; j < k; ++j) column -= double(w[j]) * double(a[j * stride + i]);
          column *= scale;
          const double updated = double(alpha_in[i]) - double(z) * column;
          EXPECT_NEAR(a_out[i], column, tolerance * (1 + std::abs(column))) << what << " " << i;
          EXPECT_NEAR(alpha_out[i], updated, tolerance * (1 + std::abs(updated)))
              << what << " " << i;
        }
        expect_same(got, reference(alpha_out), what);
      }
    }
  }
}

}  // namespace
}  // namespace dictlearn::detail
