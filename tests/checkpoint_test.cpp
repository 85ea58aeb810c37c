// Checkpoints: a run stopped anywhere and resumed ends bit for bit where the
// uninterrupted run ends; checkpoints from other data or settings are refused.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "dictlearn/io.hpp"
#include "dictlearn/trainer.hpp"
#include "dictlearn/training_log.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

using testing::expect_same_model;
using testing::TempDir;

Matrix<float> data(int n = 3000, int dim = 6, uint64_t seed = 3) {
  std::mt19937_64 engine(seed);
  std::normal_distribution<float> normal;
  Matrix<float> X(n, dim);
  for (Eigen::Index i = 0; i < X.size(); ++i) X.data()[i] = normal(engine);
  return X;
}

struct ResumeCase {
  std::string name;
  FitOptions options;
};

class ResumeTest : public ::testing::TestWithParam<ResumeCase> {};

TEST_P(ResumeTest, StoppedAndResumedEqualsUninterrupted) {
  const Matrix<float> X = data();
  FitOptions options = GetParam().options;
  const Model<float> start = initialize(X, options);
  Trainer<float> whole(start, options);
  whole.fit(X);

  TempDir dir;
  for (int stop_after : {1, 7, options.epochs - 1}) {
    Trainer<float> part(start, options);
    part.set_epochs(stop_after);
    part.fit(X);
    part.save_checkpoint(dir / "ck.safetensors", X);

    Trainer<float> resumed(load_model<float>(dir / "ck.safetensors"), options);
    resumed.load_checkpoint(dir / "ck.safetensors", X);
    EXPECT_EQ(resumed.losses().size(), static_cast<size_t>(stop_after));
    resumed.set_epochs(options.epochs - stop_after);
    resumed.fit(X);
    expect_same_model(resumed.model(), whole.model());
    EXPECT_EQ(resumed.losses(), whole.losses()) << "stopped after " << stop_after;
    EXPECT_EQ(resumed.steps(), whole.steps());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Runs, ResumeTest,
    ::testing::Values(ResumeCase{"full_batch_softmax",
                                 FitOptions{.n_atoms = 3, .epochs = 12, .adam = {.lr = 0.01}}},
                      ResumeCase{"mini_batch_topk_auxk",
                                 FitOptions{.n_atoms = 12,
                                            .epochs = 12,
                                            .adam = {.lr = 0.01},
                                            .seed = 2,
                                            .encoder = {.kind = EncoderKind::topk, .k = 2},
                                            .batch_size = 700,
                                            .unit_atoms = true,
                                            .decoder_bias = DecoderBiasInit::mean,
                                            .warmup_steps = 5,
                                            .lr_decay = 0.5,
                                            .dead_after = 500,
                                            .auxk = 0.1}},
                      ResumeCase{"mini_batch_batchtopk_early_stop",
                                 FitOptions{.n_atoms = 10,
                                            .epochs = 12,
                                            .seed = 4,
                                            .encoder = {.kind = EncoderKind::batchtopk, .k = 3},
                                            .batch_size = 1000,
                                            .l1 = 1e-3,
                                            .patience = 100,
                                            .tol = 1e-3}}),
    [](const auto& info) { return info.param.name; });

TEST(CheckpointTest, OtherDataOrSettingsAreRefused) {
  TempDir dir;
  const Matrix<float> X = data();
  const FitOptions options{.n_atoms = 3, .epochs = 2, .batch_size = 500};
  Trainer<float> trainer(initialize(X, options), options);
  trainer.fit(X);
  const std::string path = dir / "ck.safetensors";
  trainer.save_checkpoint(path, X);

  Trainer<float> same(load_model<float>(path), options);
  EXPECT_NO_THROW(same.load_checkpoint(path, X));
  FitOptions other = options;
  other.batch_size = 400;
  Trainer<float> different(load_model<float>(path), other);
  EXPECT_ERROR_CONTAINS(different.load_checkpoint(path, X),
                        "checkpoint was made with --batch-size 500, this run has --batch-size 400");
  Matrix<float> changed = X;
  changed(5, 2) += 1.0f;
  Trainer<float> again(load_model<float>(path), options);
  EXPECT_ERROR_CONTAINS(again.load_checkpoint(path, changed), "checkpoint was made on other data");
  const Matrix<float> wider = data(3000, 7);
  FitOptions wide_options = options;
  Trainer<float> wide(initialize(wider, wide_options), wide_options);
  EXPECT_ERROR_CONTAINS(wide.load_checkpoint(path, wider),
                        "data of shape 3000x6, this data is 3000x7");
  save_model(dir / "model.safetensors", trainer.model());
  EXPECT_ERROR_CONTAINS(same.load_checkpoint(dir / "model.safetensors", X),
                        "not a dictlearn checkpoint");
}

// The CLI, killed (SIGKILL) at a random moment while it checkpoints every
// epoch, then resumed: the model equals an uninterrupted run's, bit for bit.
// The moments come from a fixed seed (DICTLEARN_CHECKPOINT_SEED sets another),
// and at least one resumed run must come from a run that really died by the
// signal (waitpid: WIFSIGNALED), not one that ended before its kill.
int run(const std::string& command) {
  const int status = std::system((command + " >/dev/null 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// Runs `command` (sh execs it, so the pid is the CLI's) and sends it SIGKILL
/// after `seconds` unless it ended before; returns whether it died by that
/// signal.
bool run_killed_after(const std::string& command, double seconds) {
  const std::string line = "exec " + command + " >/dev/null 2>&1";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", line.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);  // not reaped yet: the pid is still the child's
      while (::waitpid(pid, &status, 0) < 0) {
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

TEST(CheckpointCliTest, KilledAtRandomAndResumedEqualsUninterrupted) {
  TempDir dir;
  const Matrix<float> X = data(4000, 8, 5);
  write_npy(dir / "x.npy", X);
  const std::string cli = DICTLEARN_CLI;
  const char* seed_text = std::getenv("DICTLEARN_CHECKPOINT_SEED");
  const unsigned seed = seed_text ? static_cast<unsigned>(std::stoul(seed_text)) : 20261130u;
  SCOPED_TRACE("DICTLEARN_CHECKPOINT_SEED=" + std::to_string(seed));
  std::mt19937 engine(seed);
  for (const std::string& settings :
       {std::string("--atoms 4 --epochs 3000 --lr 0.003"),
        std::string("--atoms 16 --epochs 150 --batch-size 256 --encoder topk "
                    "--k 3 --auxk 0.1 --dead-after 2000 --lr-decay 0.3")}) {
    const std::string common = cli + " fit " + (dir / "x.npy") + " -q --threads 1 " + settings;
    const auto begin = std::chrono::steady_clock::now();
    ASSERT_EQ(run(common + " -o " + (dir / "whole.safetensors")), 0);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    const Model<float> whole = load_model<float>(dir / "whole.safetensors");
    int resumed_runs = 0, resumed_after_kill = 0;
    for (int attempt = 0; attempt < 4; ++attempt) {
      std::filesystem::remove(dir / "ck.safetensors");
      std::filesystem::remove(dir / "killed.safetensors");
      const double kill_at = std::uniform_real_distribution<double>(0.2, 0.9)(engine) * seconds;
      const bool died =
          run_killed_after(fmt::format("{} -o {} --checkpoint {} --checkpoint-every 1", common,
                                       dir / "killed.safetensors", dir / "ck.safetensors"),
                           kill_at);
      // A run that was not killed ended on its own, with its model written.
      if (!died) {
        EXPECT_TRUE(std::filesystem::exists(dir / "killed.safetensors"));
      }
      if (!std::filesystem::exists(dir / "ck.safetensors"))
        continue;  // killed before the first one
      ASSERT_EQ(run(common + " -o " + (dir / "resumed.safetensors") + " --resume " +
                    (dir / "ck.safetensors")),
                0);
      expect_same_model(load_model<float>(dir / "resumed.safetensors"), whole);
      ++resumed_runs;
      resumed_after_kill += died;
    }
    EXPECT_GE(resumed_runs, 1) << settings;
    EXPECT_GE(resumed_after_kill, 1) << settings << ": no resumed run came from a killed one";
  }
}

}  // namespace
}  // namespace dictlearn
