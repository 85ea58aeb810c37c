// The suite's own helpers: the worst-error helpers propagate NaN, so a NaN
// result fails a tolerance check instead of passing it.
#include "test_util.hpp"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

namespace dictlearn {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(TestUtilTest, WorstErrorHelpersPropagateNaN) {
  // What the loops did before: std::max keeps the worst so far.
  EXPECT_EQ(std::max(0.1, kNaN), 0.1);
  EXPECT_TRUE(std::isnan(testing::worst_of(0.1, kNaN)));
  EXPECT_TRUE(std::isnan(testing::worst_of(kNaN, 0.1)));
  EXPECT_EQ(testing::worst_of(0.1, 0.3), 0.3);

  Matrix<float> got = Matrix<float>::Zero(3, 4);
  const Matrix<double> want = Matrix<double>::Zero(3, 4);
  EXPECT_EQ(testing::max_abs_difference(got, want), 0.0);
  got(1, 2) = 0.5f;
  EXPECT_EQ(testing::max_abs_difference(got, want), 0.5);
  got(2, 3) = std::numeric_limits<float>::quiet_NaN();  // after a larger entry, and before
  EXPECT_TRUE(std::isnan(testing::max_abs_difference(got, want)));
  EXPECT_TRUE(std::isnan(testing::max_abs(got)));
  got(2, 3) = 0;
  got(0, 0) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(testing::max_abs_difference(got, want)));
  EXPECT_TRUE(std::isnan(testing::max_abs_difference(Matrix<double>::Zero(2, 2), want)))
      << "shapes differ";
  // And the check a test writes with it fails on NaN.
  EXPECT_NONFATAL_FAILURE(EXPECT_LT(testing::max_abs_difference(got, want), 1e-3), "");
}

void skip_for_a_missing_tool() { DICTLEARN_SKIP("no-such-tool is not installed"); }

// With CI=true a skip for a missing tool is a failure (the test dependencies
// install every tool the suite uses).
TEST(TestUtilTest, ASkipIsAFailureInCI) {
  const char* before = std::getenv("CI");
  const std::string saved = before ? before : "";
  ::setenv("CI", "true", 1);
  EXPECT_FATAL_FAILURE(skip_for_a_missing_tool(), "CI=true");
  if (before) {
    ::setenv("CI", saved.c_str(), 1);
  } else {
    ::unsetenv("CI");
  }
}

}  // namespace
}  // namespace dictlearn
