// The vectorized exp used by the fused kernels, against std::exp.
#include "vector_math.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace dictlearn::detail {
namespace {

TEST(VectorMathTest, FloatExpIsWithinTwoUlpOverItsRange) {
  double worst = 0;
  for (double x = -87.0; x < 88.2; x += 0.0007) {
    float lanes[16];
    for (float& v : lanes) v = static_cast<float>(x);
    exp_lanes<float>(lanes);
    const double reference = std::exp(static_cast<double>(static_cast<float>(x)));
    worst = std::max(worst, std::abs(lanes[7] - reference) / reference);
  }
  EXPECT_LT(worst, 2 * std::numeric_limits<float>::epsilon()) << worst;
}

TEST(VectorMathTest, DoubleExpIsAccurate) {
  double worst = 0;
  for (double x = -700.0; x < 700.0; x += 0.0137) {
    double lanes[8];
    for (double& v : lanes) v = x;
    exp_lanes<double>(lanes);
    worst = std::max(worst, std::abs(lanes[3] - std::exp(x)) / std::exp(x));
  }
  EXPECT_LT(worst, 2e-14) << worst;
}

TEST(VectorMathTest, EdgesUnderflowOverflowAndNaN) {
  float lanes[16] = {-1000.0f, 1000.0f, std::numeric_limits<float>::quiet_NaN(), 0.0f,
                     -std::numeric_limits<float>::infinity()};
  exp_lanes<float>(lanes);
  EXPECT_EQ(lanes[0], 0.0f);
  EXPECT_EQ(lanes[1], std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(lanes[2]));
  EXPECT_EQ(lanes[3], 1.0f);
  EXPECT_EQ(lanes[4], 0.0f);
}

}  // namespace
}  // namespace dictlearn::detail
