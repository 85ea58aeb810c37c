// Shared helpers of the test suite.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "dictlearn/error.hpp"
#include "dictlearn/io.hpp"
#include "dictlearn/model.hpp"
#include "dictlearn/types.hpp"

namespace dictlearn::testing {

/// Per-type tolerances (ensmallen's Tolerances<T>).
template <typename T>
struct Tolerances;
template <>
struct Tolerances<float> {
  static constexpr double relative = 1e-4;
  static constexpr double absolute = 1e-5;
};
template <>
struct Tolerances<double> {
  static constexpr double relative = 1e-10;
  static constexpr double absolute = 1e-12;
};

/// The test suite's one temporary folder: fresh and empty, under the system
/// temp folder, named after the test, the process (two builds' suites may run
/// at once on one machine) and a random number, and removed with its contents
/// at scope exit. `tag` tells apart several folders of one test.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "") {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string("dictlearn_") + (info ? info->test_suite_name() : "x") + "_" +
                       (info ? info->name() : "y") + (tag.empty() ? "" : "_" + tag) + "_" +
                       std::to_string(::getpid()) + "_" + std::to_string(std::random_device{}());
    for (char& c : name) {
      if (c == '/') c = '_';  // typed and parameterized tests are named "Name/0"
    }
    path_ = std::filesystem::temp_directory_path() / name;
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  /// The path of `name` inside the folder (file() and / are the same).
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  std::string file(const std::string& name) const { return *this / name; }
  const std::filesystem::path& path() const { return path_; }

  /// Names of everything in the folder, sorted (to catch leftover temporaries).
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(path_)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  std::filesystem::path path_;
};

/// Whether the suite runs in CI (the environment variable CI is "true"): there
/// scripts/install-deps.sh test has installed every outside tool the tests use,
/// so a test that would skip for a missing one fails instead (DICTLEARN_SKIP).
/// tests/fixtures/FOLDER/NAME.npy as float64 (the scikit-learn reference
/// arrays the coder tests compare against).
inline Matrix<double> fixture_matrix(const std::string& folder, const std::string& name) {
  return read_npy<double>(std::string(DICTLEARN_FIXTURES) + "/" + folder + "/" + name + ".npy");
}

inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

/// rows x cols entries drawn from N(0, 1) in double by a mt19937_64 seeded
/// with `seed`, rounded to T (the same values in float and double up to that).
template <typename T>
Matrix<T> normal_matrix(Eigen::Index rows, Eigen::Index cols, uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::normal_distribution<double> normal;
  Matrix<T> out(rows, cols);
  for (Eigen::Index i = 0; i < out.size(); ++i) out.data()[i] = static_cast<T>(normal(engine));
  return out;
}

/// The larger of `worst` and `value`, NaN when either is NaN: the step of
/// every worst-error loop of the suite. std::max(worst, NaN) keeps `worst` (and
/// Eigen's maxCoeff may skip NaN), so a NaN result would pass a "worst error
/// below tolerance" check.
inline double worst_of(double worst, double value) {
  if (std::isnan(worst) || std::isnan(value)) return std::numeric_limits<double>::quiet_NaN();
  return std::max(worst, value);
}

/// Largest |a − b| over the entries of two matrices (any scalar types, compared
/// in double); NaN when any entry is NaN or the shapes differ, so that
/// EXPECT_LT(max_abs_difference(a, b), tolerance) fails on either.
template <typename A, typename B>
double max_abs_difference(const Eigen::DenseBase<A>& a, const Eigen::DenseBase<B>& b) {
  if (a.rows() != b.rows() || a.cols() != b.cols()) return std::numeric_limits<double>::quiet_NaN();
  double worst = 0;
  for (Eigen::Index i = 0; i < a.rows(); ++i) {
    for (Eigen::Index j = 0; j < a.cols(); ++j) {
      worst =
          worst_of(worst, std::abs(static_cast<double>(a(i, j)) - static_cast<double>(b(i, j))));
    }
  }
  return worst;
}

/// Largest |entry| (NaN-propagating, as max_abs_difference).
template <typename A>
double max_abs(const Eigen::DenseBase<A>& a) {
  double worst = 0;
  for (Eigen::Index i = 0; i < a.rows(); ++i) {
    for (Eigen::Index j = 0; j < a.cols(); ++j) {
      worst = worst_of(worst, std::abs(static_cast<double>(a(i, j))));
    }
  }
  return worst;
}

/// Two models equal bit for bit in every parameter and the learned threshold.
template <typename T>
void expect_same_model(const Model<T>& a, const Model<T>& b) {
  EXPECT_EQ(a.dictionary, b.dictionary);
  EXPECT_EQ(a.encoder_weight, b.encoder_weight);
  EXPECT_EQ(a.encoder_bias, b.encoder_bias);
  EXPECT_EQ(a.decoder_bias, b.decoder_bias);
  EXPECT_EQ(a.encoder.threshold, b.encoder.threshold);
}

}  // namespace dictlearn::testing

/// Expects `statement` to throw dictlearn::Error whose message contains `needle`.
#define EXPECT_ERROR_CONTAINS(statement, needle)                                    \
  do {                                                                              \
    try {                                                                           \
      statement;                                                                    \
      ADD_FAILURE() << "expected dictlearn::Error containing '" << (needle) << "'"; \
    } catch (const ::dictlearn::Error& error__) {                                   \
      EXPECT_NE(std::string(error__.what()).find(needle), std::string::npos)        \
          << "message: " << error__.what();                                         \
    }                                                                               \
  } while (0)

/// Skips the test for a missing outside tool (`reason` says which), except in
/// CI (in_ci()), where the test dependencies provide it: there it fails.
#define DICTLEARN_SKIP(reason)                                                  \
  do {                                                                          \
    if (::dictlearn::testing::in_ci()) {                                        \
      FAIL() << (reason) << " (CI=true: scripts/install-deps.sh test installs " \
             << "it, so this skip is a failure)";                               \
    }                                                                           \
    GTEST_SKIP() << (reason);                                                   \
  } while (0)
