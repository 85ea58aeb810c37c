// The vectorized exp used by the fused kernels, against std::exp, at each
// vector width (16, 32 and 64 bytes: the baseline, x86-64-v3 and x86-64-v4
// levels' registers).
#include "kernels/vector_math.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "test_util.hpp"

namespace dictlearn::detail {
namespace {

template <int Bytes>
struct Width {
  static constexpr int bytes = Bytes;
};

template <typename W>
class VectorMathTest : public ::testing::Test {};
using Widths = ::testing::Types<Width<16>, Width<32>, Width<64>>;
TYPED_TEST_SUITE(VectorMathTest, Widths);

/// Every lane gets x; the test reads them all.
template <typename T, int Bytes>
double worst_relative_error(double low, double high, double step) {
  constexpr int lanes = Bytes / static_cast<int>(sizeof(T));
  double worst = 0;
  for (double x = low; x < high; x += step) {
    T values[lanes];
    for (T& v : values) v = static_cast<T>(x);
    exp_lanes<T, Bytes>(values);
    const double reference = std::exp(static_cast<double>(static_cast<T>(x)));
    for (T v : values) worst = testing::worst_of(worst, std::abs(v - reference) / reference);
  }
  return worst;
}

TYPED_TEST(VectorMathTest, FloatExpIsWithinTwoUlpOverItsRange) {
  const double worst = worst_relative_error<float, TypeParam::bytes>(-87.0, 88.2, 0.0007);
  EXPECT_LT(worst, 2 * std::numeric_limits<float>::epsilon()) << worst;
}

TYPED_TEST(VectorMathTest, DoubleExpIsAccurate) {
  const double worst = worst_relative_error<double, TypeParam::bytes>(-700.0, 700.0, 0.0137);
  EXPECT_LT(worst, 2e-14) << worst;
}

TYPED_TEST(VectorMathTest, EdgesUnderflowOverflowAndNaNInEveryLane) {
  constexpr int lanes = TypeParam::bytes / 4;
  const float infinity = std::numeric_limits<float>::infinity();
  const float edges[5] = {-1000.0f, 1000.0f, std::numeric_limits<float>::quiet_NaN(), 0.0f,
                          -infinity};
  const float expected[5] = {0.0f, infinity, std::numeric_limits<float>::quiet_NaN(), 1.0f, 0.0f};
  for (int e = 0; e < 5; ++e) {
    for (int lane = 0; lane < lanes; ++lane) {
      float values[lanes];
      for (float& v : values) v = -1.0f;
      values[lane] = edges[e];
      exp_lanes<float, TypeParam::bytes>(values);
      for (int l = 0; l < lanes; ++l) {
        if (l != lane) {
          EXPECT_NEAR(values[l], std::exp(-1.0f), 1e-7f)
              << "edge " << edges[e] << " in lane " << lane;
        } else if (std::isnan(expected[e])) {
          EXPECT_TRUE(std::isnan(values[l])) << "lane " << lane;
        } else {
          EXPECT_EQ(values[l], expected[e]) << "edge " << edges[e] << " in lane " << lane;
        }
      }
    }
  }
}

/// The variant for lanes known to be <= 0 (softmax's z - max) gives the same
/// bits as the general one there, NaN, -0 and -inf included.
template <typename T, int Bytes>
void expect_nonpositive_variant_identical(double low) {
  constexpr int lanes = Bytes / static_cast<int>(sizeof(T));
  std::vector<T> inputs = {T(0),
                           T(-0.0),
                           -std::numeric_limits<T>::infinity(),
                           std::numeric_limits<T>::quiet_NaN(),
                           -std::numeric_limits<T>::min(),
                           -std::numeric_limits<T>::denorm_min(),
                           std::numeric_limits<T>::lowest()};
  for (double x = low; x <= 0; x += 0.0371) inputs.push_back(static_cast<T>(x));
  for (size_t i = 0; i < inputs.size(); i += lanes) {
    T general[lanes], nonpositive[lanes];
    for (int l = 0; l < lanes; ++l) {
      general[l] = nonpositive[l] = inputs[std::min(inputs.size() - 1, i + l)];
    }
    exp_lanes<T, Bytes>(general);
    exp_lanes<T, Bytes, true>(nonpositive);
    EXPECT_EQ(std::memcmp(general, nonpositive, sizeof(general)), 0) << "inputs from " << inputs[i];
  }
}

TYPED_TEST(VectorMathTest, NonPositiveVariantGivesTheSameBits) {
  expect_nonpositive_variant_identical<float, TypeParam::bytes>(-120.0);
  expect_nonpositive_variant_identical<double, TypeParam::bytes>(-800.0);
}

}  // namespace
}  // namespace dictlearn::detail
