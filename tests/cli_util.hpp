// Helpers of the tests that run the command-line tool (DICTLEARN_CLI).
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>

#include "test_util.hpp"

namespace dictlearn::testing {

/// What a run of the CLI did: its exit code (-1 when a signal ended it) and
/// its two streams.
struct CliResult {
  int code = -1;
  std::string out;
  std::string err;
};

/// The whole content of a file ("" when it cannot be read).
inline std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

/// Runs `dictlearn <args>` through the shell, stdin from /dev/null, the
/// streams captured through files in `dir`.
inline CliResult run_cli(const TempDir& dir, const std::string& args) {
  const std::string out = dir / "stdout.txt", err = dir / "stderr.txt";
  const std::string command =
      std::string(DICTLEARN_CLI) + " " + args + " >" + out + " 2>" + err + " </dev/null";
  const int status = std::system(command.c_str());
  CliResult result;
  result.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = file_bytes(out);
  result.err = file_bytes(err);
  return result;
}

/// Expects exit 1, exactly one stderr line "dictlearn: error: ..." holding
/// every needle, and `output` (when not empty) absent.
inline void expect_cli_error(const CliResult& result, std::initializer_list<std::string> needles,
                             const std::string& output = "") {
  EXPECT_EQ(result.code, 1) << result.err;
  EXPECT_EQ(result.err.rfind("dictlearn: error: ", 0), 0u) << result.err;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  for (const auto& needle : needles) {
    EXPECT_NE(result.err.find(needle), std::string::npos)
        << "missing '" << needle << "' in " << result.err;
  }
  if (!output.empty()) {
    EXPECT_FALSE(std::filesystem::exists(output)) << output;
  }
}

}  // namespace dictlearn::testing
