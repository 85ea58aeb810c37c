// Fault tests of the CLI's outputs (issue 5, "crash-safe outputs"):
//
//  - `dictlearn fit DATA -o MODEL --log LOG` is killed with SIGKILL many times,
//    at uniformly random moments of a run and at random moments while the
//    model's or the log's temporary file is being written. After every kill,
//    MODEL and LOG must each be absent, byte-identical to the complete file
//    that was there before the run, or a complete new file (the model
//    byte-identical to an uninterrupted run's, the log with every epoch's row
//    and loss) - never a truncated one.
//  - Writes that fail under a file-size limit (RLIMIT_FSIZE, set in the child
//    before exec, as `prlimit --fsize` does) must end with exit code 1, one
//    line "dictlearn: error: <path>: ..." naming the file, and nothing (no
//    partial file, no temporary) under the requested name.
//
// The kill moments come from a fixed seed (DICTLEARN_CRASH_SEED sets another),
// and each configuration must have had runs that really died by SIGKILL
// (waitpid: WIFSIGNALED) before they ended: kills that all came too late
// would pass while testing nothing.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "dictlearn/io.hpp"
#include "dictlearn/model.hpp"
#include "dictlearn/training_log.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

using testing::TempDir;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

std::optional<std::string> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

/// Starts the CLI with `args`; stdin and stdout on /dev/null, stderr into
/// `stderr_path` (or /dev/null). A `file_size_limit` > 0 becomes the child's
/// RLIMIT_FSIZE. Everything the child does between fork and exec is
/// async-signal-safe, as the test process may have threads.
pid_t spawn_cli(const std::vector<std::string>& args, const std::string& stderr_path = "",
                rlim_t file_size_limit = 0) {
  std::vector<std::string> strings = {DICTLEARN_CLI};
  strings.insert(strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  const char* err = stderr_path.empty() ? "/dev/null" : stderr_path.c_str();
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int null = ::open("/dev/null", O_RDWR);
    const int err_fd = ::open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (null < 0 || err_fd < 0) ::_exit(126);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(err_fd, 2);
    if (file_size_limit > 0) {
      const rlimit limit{file_size_limit, file_size_limit};
      if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(126);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

/// A waitpid status as one number: the exit code, or -signal when a signal
/// ended the child (WIFSIGNALED), or -1000 for anything else.
int status_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1000;
}

/// Waits for the child; returns status_code().
int wait_child(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
  }
  return status_code(status);
}

/// Non-blocking wait: status_code() once the child has ended.
std::optional<int> poll_child(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, WNOHANG) != pid) return std::nullopt;
  return status_code(status);
}

/// Whether `folder` holds a temporary file of AtomicFile for `name`
/// (".<name>.tmp.XXXXXX").
bool has_temp_of(const std::string& folder, const std::string& name) {
  const std::string prefix = "." + name + ".tmp.";
  DIR* dir = ::opendir(folder.c_str());
  if (dir == nullptr) return false;
  bool found = false;
  while (const dirent* entry = ::readdir(dir)) {
    if (std::string_view(entry->d_name).starts_with(prefix)) {
      found = true;
      break;
    }
  }
  ::closedir(dir);
  return found;
}

/// Every temporary file AtomicFile may have left in `folder`.
std::vector<std::string> temp_files(const std::string& folder) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(folder)) {
    const std::string name = entry.path().filename().string();
    if (name.find(".tmp.") != std::string::npos) names.push_back(name);
  }
  return names;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// One configuration of `dictlearn fit`, its reference outputs and what the
/// kills found.
class KilledFit {
 public:
  KilledFit(const TempDir& dir, std::string name, int samples, int dim, int atoms, int epochs)
      : folder_(dir.path().string()),
        data_(dir / (name + ".npy")),
        model_(dir / (name + ".safetensors")),
        log_(dir / (name + ".log.csv")),
        epochs_(epochs) {
    std::mt19937 generator(11);
    std::normal_distribution<float> normal;
    Matrix<float> X(samples, dim);
    for (Eigen::Index i = 0; i < X.size(); ++i) X.data()[i] = normal(generator);
    write_npy(data_, X);
    args_ = {"fit",       data_,
             "-o",        model_,
             "--log",     log_,
             "--atoms",   std::to_string(atoms),
             "--epochs",  std::to_string(epochs),
             "--lr",      "0.01",
             "--threads", "1",
             "-q"};
  }

  /// Runs to completion twice: once with another seed, for the "previous"
  /// files the kills must preserve, and once with the test's settings, for the
  /// reference outputs. Measures the run time and when each temporary exists.
  void calibrate() {
    std::vector<std::string> old_args = args_;
    old_args.insert(old_args.end(), {"--seed", "12345"});
    ASSERT_EQ(wait_child(spawn_cli(old_args)), 0);
    old_model_ = *slurp(model_);
    old_log_ = *slurp(log_);
    fs::remove(model_);
    fs::remove(log_);

    const auto start = Clock::now();
    const pid_t pid = spawn_cli(args_);
    std::optional<int> code;
    while (!(code = poll_child(pid))) {
      const double t = seconds_since(start);
      if (has_temp_of(folder_, fs::path(model_).filename())) {
        model_write_begin_ = std::min(model_write_begin_, t);
        model_write_end_ = t;
      }
      if (has_temp_of(folder_, fs::path(log_).filename())) {
        log_write_begin_ = std::min(log_write_begin_, t);
        log_write_end_ = t;
      }
    }
    runtime_ = seconds_since(start);
    ASSERT_EQ(*code, 0);
    new_model_ = *slurp(model_);
    ASSERT_NO_THROW(load_model<float>(model_));
    const TrainingLog log = read_training_log(log_);
    ASSERT_EQ(log.rows.size(), static_cast<size_t>(epochs_));
    for (const auto& row : log.rows) reference_losses_.push_back(row[1]);
    ASSERT_TRUE(old_model_ != new_model_) << "the two seeds gave the same model";
  }

  enum class Moment { uniform, model_write, log_write };

  /// Kills a run at a random moment of the kind asked for, then checks both
  /// outputs. With `previous`, the previous complete files are in place first;
  /// without, there are none.
  void kill_once(std::mt19937& random, Moment moment, bool previous) {
    for (const std::string& name : temp_files(folder_)) fs::remove(fs::path(folder_) / name);
    if (previous) {
      write_bytes(model_, old_model_);
      write_bytes(log_, old_log_);
    } else {
      fs::remove(model_);
      fs::remove(log_);
    }
    const std::string watched =
        fs::path(moment == Moment::log_write ? log_ : model_).filename().string();
    // The window the temporary was seen in during calibration, widened so
    // the kill also lands just before it appears and just after the rename.
    const double begin = moment == Moment::log_write ? log_write_begin_ : model_write_begin_;
    const double end = moment == Moment::log_write ? log_write_end_ : model_write_end_;
    const double window = std::max(end - begin, 0.002);

    const pid_t pid = spawn_cli(args_);
    const auto start = Clock::now();
    // Uniform over the run, as fast as runs have been (a loaded machine
    // varies run times, and a kill after the end tests nothing).
    double delay = std::uniform_real_distribution<double>(0, runtime_)(random);
    if (moment != Moment::uniform) {
      // Wait for the temporary file, then kill within its observed lifetime.
      while (!has_temp_of(folder_, watched) && seconds_since(start) < 4 * runtime_ + 1 &&
             !poll_child_keep(pid)) {
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
      delay =
          seconds_since(start) + std::uniform_real_distribution<double>(-0.1, 1.2)(random) * window;
    }
    bool ended_first = false;
    while (seconds_since(start) < delay) {
      if (poll_child_keep(pid)) {
        ended_first = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    // Never signal a reaped child: its pid may already be another process's.
    if (!reaped_) ::kill(pid, SIGKILL);
    const int code = reaped_ ? *reaped_ : wait_child(pid);
    if (reaped_) runtime_ = std::min(runtime_, seconds_since(start));
    reaped_.reset();
    ++kills_;
    if (code == -SIGKILL && !ended_first) ++killed_;
    // A temporary left behind means the kill landed while a file was written.
    if (!temp_files(folder_).empty()) ++mid_write_;

    check_model(previous);
    check_log(previous);
  }

  void report() const {
    std::printf(
        "  %s: fastest run %.0f ms, model temp seen %.1f-%.1f ms, log temp seen %.1f-%.1f ms; %d "
        "kills, "
        "%d before the run ended, %d while writing: model absent %d / previous %d / new %d, "
        "log absent %d / previous %d / new %d\n",
        fs::path(data_).stem().c_str(), 1e3 * runtime_, 1e3 * model_write_begin_,
        1e3 * model_write_end_, 1e3 * log_write_begin_, 1e3 * log_write_end_, kills_, killed_,
        mid_write_, model_seen_[0], model_seen_[1], model_seen_[2], log_seen_[0], log_seen_[1],
        log_seen_[2]);
  }

  int killed() const { return killed_; }
  int mid_write() const { return mid_write_; }
  /// How often each output was found new: kills that landed after the rename.
  int model_new() const { return model_seen_[2]; }
  int model_previous() const { return model_seen_[1] + model_seen_[0]; }

 private:
  /// poll_child that remembers the exit code for the later wait.
  bool poll_child_keep(pid_t pid) {
    if (!reaped_) reaped_ = poll_child(pid);
    return reaped_.has_value();
  }

  void check_model(bool previous) {
    const std::optional<std::string> bytes = slurp(model_);
    if (!bytes) {
      EXPECT_FALSE(previous) << "the previous complete model was removed";
      ++model_seen_[0];
      return;
    }
    if (previous && *bytes == old_model_) {
      ++model_seen_[1];
      return;
    }
    EXPECT_EQ(bytes->size(), new_model_.size()) << "model neither absent, previous nor complete";
    EXPECT_TRUE(*bytes == new_model_) << "model neither absent, previous nor complete";
    EXPECT_NO_THROW(load_model<float>(model_));
    ++model_seen_[2];
  }

  void check_log(bool previous) {
    const std::optional<std::string> bytes = slurp(log_);
    if (!bytes) {
      EXPECT_FALSE(previous) << "the previous complete log was removed";
      ++log_seen_[0];
      return;
    }
    if (previous && *bytes == old_log_) {
      ++log_seen_[1];
      return;
    }
    // A new log differs from the reference only in its seconds column.
    ASSERT_FALSE(bytes->empty());
    EXPECT_EQ(bytes->back(), '\n') << "log truncated";
    TrainingLog log;
    ASSERT_NO_THROW(log = read_training_log(log_)) << "log truncated";
    ASSERT_EQ(log.rows.size(), reference_losses_.size()) << "log truncated";
    for (size_t i = 0; i < log.rows.size(); ++i) {
      ASSERT_EQ(log.rows[i][0], static_cast<double>(i + 1)) << "row " << i;
      ASSERT_EQ(log.rows[i][1], reference_losses_[i]) << "row " << i;
    }
    ++log_seen_[2];
  }

  std::string folder_, data_, model_, log_;
  int epochs_;
  std::vector<std::string> args_;
  std::string old_model_, old_log_, new_model_;
  std::vector<double> reference_losses_;
  double runtime_ = 0;
  double model_write_begin_ = 1e9, model_write_end_ = 0;
  double log_write_begin_ = 1e9, log_write_end_ = 0;
  std::optional<int> reaped_;
  int kills_ = 0, killed_ = 0, mid_write_ = 0;
  int model_seen_[3] = {0, 0, 0};  // absent, previous, new
  int log_seen_[3] = {0, 0, 0};
};

uint32_t crash_seed() {
  if (const char* text = std::getenv("DICTLEARN_CRASH_SEED")) {
    return static_cast<uint32_t>(std::strtoul(text, nullptr, 10));
  }
  return 20261130;  // fixed: a failure replays with the same moments drawn
}

TEST(CrashSafety, KilledFitLeavesNothingOrACompleteModelAndLog) {
  TempDir dir;
  const uint32_t seed = crash_seed();
  SCOPED_TRACE("DICTLEARN_CRASH_SEED=" + std::to_string(seed));
  std::mt19937 random(seed);
  // Two shapes of run: large outputs from few epochs (2,048 atoms of dimension
  // 64: a 1 MB model and a log with 4,099 columns), where writing takes much of
  // the run, and a long log (20,000 rows) from a small model trained for many
  // cheap epochs.
  KilledFit big_model(dir, "big_model", 32, 64, 2048, 20);
  KilledFit long_log(dir, "long_log", 64, 2, 2, 20000);
  const int kills_each = kSanitized ? 12 : 22;
  int mid_write = 0;
  for (KilledFit* fit : {&big_model, &long_log}) {
    fit->calibrate();
    if (::testing::Test::HasFatalFailure()) return;
    for (int i = 0; i < kills_each; ++i) {
      // Half at uniform moments of the run, half while a file is written (the
      // small model of long_log is written too fast to aim at); every third
      // run starts with no previous files at all.
      const auto moment = i % 2 == 0                        ? KilledFit::Moment::uniform
                          : i % 4 == 1 && fit == &big_model ? KilledFit::Moment::model_write
                                                            : KilledFit::Moment::log_write;
      fit->kill_once(random, moment, i % 3 != 2);
      if (::testing::Test::HasFatalFailure()) return;
    }
    fit->report();
    // The kills did interrupt runs (kills that always came too late would
    // test nothing); timing on a loaded machine varies, hence the margin.
    // killed(): runs whose waitpid status was WIFSIGNALED by SIGKILL before
    // they ended on their own.
    ASSERT_GE(fit->killed(), 1) << "no run died by SIGKILL: every kill came after the end";
    EXPECT_GE(fit->killed(), kills_each / 4);
    EXPECT_GT(fit->model_previous(), 0);
    mid_write += fit->mid_write();
  }
  EXPECT_GT(mid_write, 0) << "no kill landed while a file was being written";
}

// ------------------------------------------------------------ write errors

struct Failure {
  int code = 0;
  std::string err;
};

Failure run_limited(const TempDir& dir, const std::vector<std::string>& args, rlim_t limit) {
  const std::string err_path = dir / "stderr.txt";
  Failure failure;
  failure.code = wait_child(spawn_cli(args, err_path, limit));
  failure.err = *slurp(err_path);
  fs::remove(err_path);
  return failure;
}

/// Exit 1, one line "dictlearn: error: <path>: ...", and at `path` either
/// nothing or `previous`; no temporary files anywhere in the folder.
void expect_write_error(const Failure& failure, const std::string& path,
                        const std::optional<std::string>& previous = std::nullopt) {
  EXPECT_EQ(failure.code, 1) << failure.err;
  EXPECT_EQ(failure.err.rfind("dictlearn: error: " + path + ": ", 0), 0u) << failure.err;
  EXPECT_EQ(std::count(failure.err.begin(), failure.err.end(), '\n'), 1) << failure.err;
  EXPECT_NE(failure.err.find("File too large"), std::string::npos) << failure.err;
  EXPECT_EQ(slurp(path), previous) << path;
  EXPECT_EQ(temp_files(fs::path(path).parent_path()), std::vector<std::string>{});
}

TEST(WriteErrors, FileSizeLimitGivesOneLineErrorAndNoPartialFile) {
  TempDir dir;
  // Data: toy writes 2,000 x 2 float32 = 16 kB, more than the 4 kB limit.
  const std::string data = dir / "data.npy";
  expect_write_error(run_limited(dir, {"toy", "-o", data}, 4096), data);
  const std::string csv = dir / "data.csv";
  expect_write_error(run_limited(dir, {"toy", "-o", csv}, 4096), csv);
  ASSERT_EQ(wait_child(spawn_cli({"toy", "-o", data})), 0);

  // Model: 2 x 512 atoms x 2 x float32 is 8 kB.
  const std::string model = dir / "model.safetensors", log = dir / "log.csv";
  const std::vector<std::string> fit = {"fit",      data, "-o",        model, "--atoms", "512",
                                        "--epochs", "2",  "--threads", "1",   "-q"};
  expect_write_error(run_limited(dir, fit, 4096), model);
  // A previous model survives a failed write untouched.
  std::vector<std::string> small_fit = fit;
  small_fit[5] = "2";
  ASSERT_EQ(wait_child(spawn_cli(small_fit)), 0);
  const std::optional<std::string> previous = slurp(model);
  ASSERT_TRUE(previous.has_value());
  ASSERT_LT(previous->size(), 4096u);
  expect_write_error(run_limited(dir, fit, 4096), model, previous);

  // Log: the small model fits under the limit, 3,000 log rows do not. The
  // model is written first and is complete; the log is absent.
  fs::remove(model);
  std::vector<std::string> with_log = small_fit;
  with_log[7] = "3000";
  with_log.insert(with_log.end(), {"--log", log});
  expect_write_error(run_limited(dir, with_log, 4096), log);
  EXPECT_NO_THROW(load_model<float>(model));

  // Codes: 2,000 x 2 float32 from encode.
  const std::string codes = dir / "codes.npy";
  expect_write_error(run_limited(dir, {"encode", model, data, "-o", codes}, 4096), codes);
}

}  // namespace
}  // namespace dictlearn
