// The command-line tool's bounds and messages (issue 12): --threads capped
// with a note, thread-creation failure as one error line, text from files
// escaped before it reaches the terminal, a model file's settings named by
// file and key, integer flags range-checked, plot's log epochs checked,
// /dev/zero as CSV refused at the line limit.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>

#include "cli_util.hpp"
#include "dictlearn/io.hpp"
#include "dictlearn/model.hpp"
#include "dictlearn/parameters.hpp"
#include "dictlearn/safetensors.hpp"
#include "dictlearn/toy.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

using Result = testing::CliResult;
using testing::run_cli;

/// Exit 1 and exactly one stderr line "dictlearn: error: ..." holding every needle.
void expect_one_error_line(const Result& result, std::initializer_list<std::string> needles) {
  testing::expect_cli_error(result, needles);
}

std::string toy_data(const TempDir& dir, int points = 100) {
  const std::string path = dir / "toy.npy";
  write_matrix(path, make_toy_data<float>({.points_per_cluster = points}));
  return path;
}

TEST(CliBounds, ThreadsAboveTheCapAreCappedWithANote) {
  TempDir dir;
  const std::string data = toy_data(dir);
  const Result result =
      run_cli(dir, "fit " + data + " -e 2 -o " + (dir / "m.safetensors") + " --threads 100000");
  EXPECT_EQ(result.code, 0) << result.err;
  EXPECT_NE(
      result.err.find(fmt::format("dictlearn: note: --threads 100000: capped at {} ({} per "
                                  "core on {} cores)\n",
                                  max_threads(), kThreadsPerCore, max_threads() / kThreadsPerCore)),
      std::string::npos)
      << result.err;
  // At the cap: no note.
  const Result at_cap = run_cli(dir, "fit " + data + " -e 2 -o " + (dir / "m.safetensors") +
                                         " --threads " + std::to_string(max_threads()));
  EXPECT_EQ(at_cap.err.find("capped"), std::string::npos) << at_cap.err;
}

TEST(CliBounds, ThreadCreationFailureIsOneErrorLineNamingThreads) {
  // A process limit of 1 for a user other than root (root is exempt from
  // RLIMIT_NPROC): the first thread the CLI starts fails. Data large enough
  // that the regions of one epoch use 4 threads.
  TempDir dir;
  fs::permissions(dir.path(), fs::perms::all);
  const std::string data = toy_data(dir, 200000);
  fs::permissions(data, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  const std::string model = dir / "m.safetensors", err = dir / "stderr.txt";
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Drop to nobody first: setting the limit before would make execve fail
    // (the kernel checks a new user's process count at setuid and at exec).
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(90);
    const rlimit one{1, 1};
    if (::setrlimit(RLIMIT_NPROC, &one) != 0) ::_exit(91);
    // Under the sanitizers LeakSanitizer starts a thread at exit, which the
    // limit refuses too ("LeakSanitizer has encountered a fatal error").
    const char* asan = std::getenv("ASAN_OPTIONS");
    const std::string options = std::string(asan != nullptr ? asan : "") + ":detect_leaks=0";
    if (::setenv("ASAN_OPTIONS", options.c_str(), 1) != 0) ::_exit(95);
    if (std::freopen(err.c_str(), "w", stderr) == nullptr) ::_exit(92);
    if (std::freopen("/dev/null", "w", stdout) == nullptr) ::_exit(93);
    ::execl(DICTLEARN_CLI, DICTLEARN_CLI, "fit", data.c_str(), "-o", model.c_str(), "-e", "1", "-q",
            "--threads", "4", static_cast<char*>(nullptr));
    ::_exit(94);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  ASSERT_LT(WEXITSTATUS(status), 90) << "the child could not set up the limit";
  const Result result{WEXITSTATUS(status), "", testing::file_bytes(err)};
  expect_one_error_line(result, {"--threads: cannot start 4 threads",
                                 "Resource temporarily unavailable", "lower --threads"});
  EXPECT_FALSE(fs::exists(model));
}

TEST(CliBounds, TextFromFilesIsEscapedInErrors) {
  TempDir dir;
  const std::string data = toy_data(dir);
  const std::string model = dir / "m.safetensors";
  save_model(model, init_model<float>(2, 2, 1));
  TensorFile file = read_safetensors(model);
  file.metadata["encoder"] = "\x1b]0;owned\x07\x1b[2J";
  write_safetensors(model, file);
  const Result result = run_cli(dir, "eval " + model + " " + data);
  expect_one_error_line(result, {"metadata 'encoder'", "\\x1b]0;owned\\x07\\x1b[2J"});
  EXPECT_EQ(result.err.find('\x1b'), std::string::npos);
  EXPECT_EQ(result.err.find('\x07'), std::string::npos);
  // A file name echoed in an error.
  const Result missing = run_cli(dir, "eval '" + (dir / "a\x1b[31mb.safetensors") + "' " + data);
  expect_one_error_line(missing, {"a\\x1b[31mb.safetensors"});
  EXPECT_EQ(missing.err.find('\x1b'), std::string::npos);
  // CLI11's usage errors echo arguments too.
  const Result usage = run_cli(dir, "eval " + model + " " + data + " extra-\x1b[2J-word");
  EXPECT_EQ(usage.code, 2);
  EXPECT_NE(usage.err.find("\\x1b[2J"), std::string::npos) << usage.err;
  EXPECT_EQ(usage.err.find('\x1b'), std::string::npos);
}

TEST(CliBounds, AModelFilesSettingsAreNamedByFileAndKey) {
  TempDir dir;
  const std::string data = toy_data(dir);
  const std::string model = dir / "m.safetensors";
  Model<float> topk = init_model<float>(2, 2, 1);
  topk.encoder = {.kind = EncoderKind::topk, .k = 1};
  save_model(model, topk);
  TensorFile file = read_safetensors(model);
  file.metadata["k"] = "5";
  write_safetensors(model, file);
  const Result result = run_cli(dir, "eval " + model + " " + data);
  expect_one_error_line(result, {model + ": metadata 'k': 5 exceeds the number of atoms (2)"});
  EXPECT_EQ(result.err.find("--k"), std::string::npos);
}

TEST(CliBounds, IntegerFlagsAreRangeChecked) {
  TempDir dir;
  const std::string data = toy_data(dir);
  const std::string out = dir / "toy2.npy";
  expect_one_error_line(run_cli(dir, "toy -o " + out + " --seed -1"),
                        {"--seed: must be an integer in [0, 18446744073709551615], got '-1'"});
  expect_one_error_line(run_cli(dir, "toy -o " + out + " --seed 18446744073709551616"),
                        {"--seed: must be an integer in [0, 18446744073709551615]"});
  EXPECT_FALSE(fs::exists(out));
  ASSERT_EQ(run_cli(dir, "toy -o " + out + " --seed 18446744073709551615").code, 0);
  // An unused --k was recorded in the model, whose reader then refused it.
  const std::string model = dir / "m.safetensors";
  expect_one_error_line(run_cli(dir, "fit " + data + " -e 1 -o " + model + " --k -5"),
                        {"--k: must be >= 0 (0: not used by softmax), got -5"});
  EXPECT_FALSE(fs::exists(model));
}

TEST(CliBounds, PlotRefusesLogEpochsThatDoNotFitAnInt) {
  TempDir dir;
  const std::string data = toy_data(dir);
  const std::string log = dir / "log.csv";
  std::ofstream(log) << "epoch,loss,atom0_x,atom0_y\n1,0.5,0,1\n1e300,0.25,1,0\n";
  expect_one_error_line(run_cli(dir, "plot " + data + " --log " + log + " -o " + (dir / "figures")),
                        {log + ": line 3: epoch '1e300' is not a whole number in [0, 2147483647]"});
}

TEST(CliBounds, DevZeroAsCsvFailsAtTheLineLimit) {
  TempDir dir;
  fs::create_symlink("/dev/zero", dir / "zero.csv");
  expect_one_error_line(
      run_cli(dir, "fit " + (dir / "zero.csv") + " -o " + (dir / "m.safetensors")),
      {"zero.csv: line 1 is longer than 16777216 bytes, the limit (not a text file?)"});
}

}  // namespace
}  // namespace dictlearn
