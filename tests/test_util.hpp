// Shared helpers of the test suite.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <string>

#include "dictlearn/error.hpp"

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

/// A fresh folder under the system temp folder, removed at scope exit.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    // The process id too: two builds' suites may run at once on one machine.
    std::string name = std::string("dictlearn_") + std::to_string(::getpid()) + "_" +
                       (info ? info->test_suite_name() : "x") + "_" + (info ? info->name() : "y");
    for (char& c : name) {
      if (c == '/') c = '_';
    }
    path_ = std::filesystem::temp_directory_path() / name;
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace dictlearn::testing

/// Expects `statement` to throw dictlearn::Error whose message contains `needle`.
#define EXPECT_ERROR_CONTAINS(statement, needle)                                      \
  do {                                                                                \
    try {                                                                             \
      statement;                                                                      \
      ADD_FAILURE() << "expected dictlearn::Error containing '" << (needle) << "'";  \
    } catch (const ::dictlearn::Error& error__) {                                     \
      EXPECT_NE(std::string(error__.what()).find(needle), std::string::npos)          \
          << "message: " << error__.what();                                           \
    }                                                                                 \
  } while (0)
