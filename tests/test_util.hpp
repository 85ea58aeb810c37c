// Shared helpers of the test suite.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "dictlearn/error.hpp"
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
