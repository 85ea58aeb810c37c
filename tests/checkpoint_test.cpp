// Checkpoints: a run stopped anywhere and resumed ends bit for bit where the
// uninterrupted run ends; checkpoints from other data or settings are refused.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "dictlearn/io.hpp"
#include "dictlearn/parameters.hpp"
#include "dictlearn/safetensors.hpp"
#include "dictlearn/trainer.hpp"
#include "dictlearn/training_log.hpp"
#include "dictlearn/workflows.hpp"
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
                      ResumeCase{"mini_batch_topk_resample",
                                 FitOptions{.n_atoms = 24,
                                            .epochs = 12,
                                            .adam = {.lr = 0.01},
                                            .seed = 6,
                                            .encoder = {.kind = EncoderKind::topk, .k = 2},
                                            .batch_size = 250,
                                            .unit_atoms = true,
                                            .dictionary_init = DictionaryInit::data,
                                            .decoder_bias = DecoderBiasInit::mean,
                                            .dead_after = 500,
                                            .auxk = 0.1,
                                            .resample_every = 5}},
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

// --resume through run_fit (what `dictlearn fit --resume` does): every setting
// that shapes training is compared with the run's own, before training.
class ResumeWorkflowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = dir_ / "data.npy";
    write_npy(data_, data(240, 5, 9));
    base_ = FitJob{.data = data_, .output = dir_ / "part.safetensors"};
    base_.options.n_atoms = 4;
    base_.options.epochs = 4;
    base_.options.batch_size = 64;
    base_.quiet = true;
    base_.checkpoint = dir_ / "ck.safetensors";
    base_.checkpoint_every = 2;
    run_fit(base_);
  }
  /// The base job resumed to 6 epochs, into resumed.safetensors.
  FitJob resumed() const {
    FitJob job = base_;
    job.options.epochs = 6;
    job.checkpoint.clear();
    job.resume = base_.checkpoint;
    job.output = dir_ / "resumed.safetensors";
    return job;
  }
  TempDir dir_;
  std::string data_;
  FitJob base_;
};

TEST_F(ResumeWorkflowTest, EveryChangedSettingIsRefusedNamingTheFlagAndBothValues) {
  // A changed value for every row a resumed run must match: a new such row
  // fails here until it gets one.
  const std::map<std::string, std::string> changed = {
      {"atoms", "3"},           {"batch-size", "32"},
      {"encoder", "sparsemax"}, {"k", "1"},
      {"temperature", "0.5"},   {"threshold-decay", "0.9"},
      {"l1", "0.01"},           {"ortho", "0.1"},
      {"unit-atoms", "true"},   {"init-dict", "data"},
      {"tied", "true"},         {"decoder-bias", "mean"},
      {"warmup-steps", "5"},    {"lr-decay", "0.5"},
      {"patience", "3"},        {"tol", "0.01"},
      {"dead-after", "100"},    {"auxk", "0.1"},
      {"auxk-k", "2"},          {"lr", "0.1"},
      {"beta1", "0.5"},         {"beta2", "0.9"},
      {"eps", "1e-06"},         {"seed", "7"},
      {"resample-every", "5"},  {"resample-scale", "1"}};
  int compared = 0;
  for (const auto& row : fit_parameters()) {
    if (!row.resume_must_match) continue;
    SCOPED_TRACE(row.flag);
    ASSERT_EQ(changed.count(row.flag), 1u) << "no changed value for --" << row.flag;
    FitJob job = resumed();
    set_parameter_value(row, job.options, changed.at(row.flag));
    const std::string before = parameter_value(row, base_.options);
    const std::string after = parameter_value(row, job.options);
    ASSERT_NE(before, after);
    EXPECT_ERROR_CONTAINS(run_fit(job), fmt::format("ck.safetensors: checkpoint was made with "
                                                    "--{} {}, this run has --{} {}",
                                                    row.flag, before, row.flag, after));
    EXPECT_FALSE(std::filesystem::exists(job.output));
    ++compared;
  }
  EXPECT_EQ(compared, static_cast<int>(changed.size()));
  // The flags not in the table that shape training: the dtype (before the
  // data's hash, which differs when the file is read in float64).
  FitJob wide = resumed();
  wide.dtype = "float64";
  EXPECT_ERROR_CONTAINS(run_fit(wide),
                        "checkpoint was made with --dtype float32, this run has --dtype float64");
  // Two differences: one line naming both.
  FitJob two = resumed();
  two.options.encoder.kind = EncoderKind::sparsemax;
  two.options.adam.lr = 0.5;
  EXPECT_ERROR_CONTAINS(run_fit(two),
                        "checkpoint was made with --encoder softmax --lr 0.001, this run has "
                        "--encoder sparsemax --lr 0.5");
  // What may differ: the number of epochs and threads, the outputs, the cadences.
  FitJob free = resumed();
  free.options.threads = 1;
  free.log.clear();
  free.snapshot_every = 3;
  free.checkpoint = dir_ / "more.ckpt";
  free.checkpoint_every = 1;
  EXPECT_NO_THROW(run_fit(free));
}

TEST_F(ResumeWorkflowTest, OtherSimdLevelsAreRefusedSayingHowToContinue) {
  TensorFile file = read_safetensors(base_.checkpoint);
  const std::string level = file.metadata.at("checkpoint.simd_level");
  const std::string cpu = file.metadata.at("checkpoint.cpu_simd_level");
  EXPECT_EQ(level, vector_kernel_level());
  // A checkpoint from a CPU of another level: its matrix products round
  // differently, nothing here can continue it bit for bit.
  TensorFile other_cpu = file;
  other_cpu.metadata["checkpoint.cpu_simd_level"] = cpu == "v4" ? "v3" : "v4";
  write_safetensors(dir_ / "cpu.ckpt", other_cpu);
  FitJob job = resumed();
  job.resume = dir_ / "cpu.ckpt";
  EXPECT_ERROR_CONTAINS(run_fit(job),
                        fmt::format("cpu.ckpt: checkpoint was made on a CPU whose "
                                    "best SIMD level is {}, this CPU's is {}",
                                    other_cpu.metadata["checkpoint.cpu_simd_level"], cpu));
  EXPECT_ERROR_CONTAINS(run_fit(job), "cannot continue bit for bit here");
  // Another vector level on this CPU: DICTLEARN_SIMD set to it continues the run.
  const std::string other = level != cpu ? cpu : level != "baseline" ? "baseline" : "";
  if (other.empty()) GTEST_SKIP() << "this CPU has no other SIMD level";
  TensorFile other_level = file;
  other_level.metadata["checkpoint.simd_level"] = other;
  write_safetensors(dir_ / "level.ckpt", other_level);
  job.resume = dir_ / "level.ckpt";
  EXPECT_ERROR_CONTAINS(run_fit(job),
                        fmt::format("level.ckpt: checkpoint was made at SIMD level {}, this run is "
                                    "at {} (the levels round differently); set DICTLEARN_SIMD={} "
                                    "to continue it",
                                    other, level, other));
  EXPECT_FALSE(std::filesystem::exists(job.output));
}

TEST_F(ResumeWorkflowTest, ACheckpointOfVersion01IsComparedOnWhatItRecorded) {
  // dictlearn 0.1 recorded the optimizer's settings (checkpoint.setting.*)
  // and its model's encoder, k, temperature and atoms: those are compared.
  const std::string fixtures = std::string(DICTLEARN_FIXTURES) + "/v0_1/";
  FitJob job{.data = fixtures + "data.npy", .output = dir_ / "old.safetensors"};
  job.options.n_atoms = 4;
  job.options.epochs = 6;
  job.options.batch_size = 16;
  job.quiet = true;
  job.resume = fixtures + "checkpoint.safetensors";
  FitJob hotter = job;
  hotter.options.encoder.temperature = 0.5;
  EXPECT_ERROR_CONTAINS(run_fit(hotter),
                        "checkpoint was made with --temperature 1, this run has "
                        "--temperature 0.5");
  FitJob sparse = job;
  sparse.options.encoder.kind = EncoderKind::sparsemax;
  EXPECT_ERROR_CONTAINS(run_fit(sparse),
                        "checkpoint was made with --encoder softmax, this run has "
                        "--encoder sparsemax");
  FitJob fewer = job;
  fewer.options.n_atoms = 3;
  EXPECT_ERROR_CONTAINS(run_fit(fewer),
                        "checkpoint was made with --atoms 4, this run has --atoms 3");
  FitJob biased = job;
  biased.options.decoder_bias = DecoderBiasInit::mean;
  EXPECT_ERROR_CONTAINS(run_fit(biased),
                        "checkpoint was made without a decoder bias, this run has "
                        "--decoder-bias mean");
  FitJob faster = job;
  faster.options.adam.lr = 0.01;
  EXPECT_ERROR_CONTAINS(run_fit(faster),
                        "checkpoint was made with --lr 0.001, this run has --lr "
                        "0.01");
  // What it did not record (--init-dict, --tied, the SIMD levels) is not compared.
  EXPECT_NO_THROW(run_fit(job));
}

TEST_F(ResumeWorkflowTest, ARunStartedFromInitIsComparedWithItsModelsSettings) {
  // A topk model with a decoder bias, then a run from it (no encoder flags:
  // it keeps the model's), checkpointing. Its checkpoint records the model's
  // encoder, k and atoms: resuming is compared with those.
  FitJob first = base_;
  first.output = dir_ / "topk.safetensors";
  first.checkpoint.clear();
  first.options.n_atoms = 6;
  first.options.encoder = {.kind = EncoderKind::topk, .k = 2};
  first.options.decoder_bias = DecoderBiasInit::mean;
  run_fit(first);
  FitJob from_init{.data = data_, .output = dir_ / "init_part.safetensors", .init = first.output};
  from_init.options.epochs = 4;
  from_init.options.batch_size = 64;
  from_init.checkpoint = dir_ / "init.ckpt";
  from_init.quiet = true;
  run_fit(from_init);
  FitJob again = from_init;
  again.init.clear();
  again.checkpoint.clear();
  again.resume = from_init.checkpoint;
  again.options.epochs = 6;
  again.output = dir_ / "init_resumed.safetensors";
  EXPECT_ERROR_CONTAINS(run_fit(again),
                        "init.ckpt: checkpoint was made with --atoms 6 --encoder topk --k 2, this "
                        "run has --atoms 2 --encoder softmax --k 0");
  again.options.n_atoms = 6;
  again.options.encoder = {.kind = EncoderKind::topk, .k = 2};
  run_fit(again);  // its --decoder-bias as given (none), though the model has one
  FitJob whole = from_init;
  whole.checkpoint.clear();
  whole.options.epochs = 6;
  whole.output = dir_ / "init_whole.safetensors";
  run_fit(whole);
  const Model<float> resumed = load_model<float>(again.output);
  expect_same_model(resumed, load_model<float>(whole.output));
  EXPECT_EQ(resumed.metadata.at("train.encoder"), "topk");
}

// A resumed run writes the uninterrupted run's model file, byte for byte:
// the checkpoint's bookkeeping and settings stay in the checkpoint.
struct WholeFileCase {
  std::string name;
  std::string dtype;
  double scale;  // of the data: 1e20 is trained on rescaled
  FitOptions options;
};

class ResumedModelFileTest : public ::testing::TestWithParam<WholeFileCase> {};

TEST_P(ResumedModelFileTest, IsTheUninterruptedRunsFile) {
  TempDir dir;
  const WholeFileCase& c = GetParam();
  const Matrix<double> X = data(300, 6, 21).cast<double>() * c.scale;
  write_npy(dir / "x.npy", X);
  // The whole run checkpoints every epoch; its checkpoint after epoch 3 is
  // kept as an interrupted run would have left it (a shorter run would not
  // do: the learning-rate schedule spans --epochs).
  FitJob whole{.data = dir / "x.npy", .output = dir / "whole.safetensors", .options = c.options};
  whole.dtype = c.dtype;
  whole.log = dir / "whole.csv";
  whole.checkpoint = dir / "ck.safetensors";
  whole.checkpoint_every = 1;
  const FitCallbacks keep_epoch_3{.progress = [&](const EpochStats& stats, int) {
    if (stats.epoch == 3) std::filesystem::copy_file(whole.checkpoint, dir / "ck3.safetensors");
  }};
  run_fit(whole, keep_epoch_3);
  ASSERT_TRUE(std::filesystem::exists(dir / "ck3.safetensors"));
  FitJob rest = whole;
  rest.output = dir / "resumed.safetensors";
  rest.log = dir / "resumed.csv";
  rest.checkpoint.clear();
  rest.resume = dir / "ck3.safetensors";
  rest.quiet = true;
  run_fit(rest);
  auto slurp = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    return bytes.str();
  };
  const std::string a = slurp(whole.output), b = slurp(rest.output);
  ASSERT_FALSE(a.empty());
  EXPECT_TRUE(a == b) << "the resumed model file differs from the uninterrupted run's";
  if (a != b) {
    const TensorFile x = read_safetensors(whole.output), y = read_safetensors(rest.output);
    EXPECT_EQ(x.metadata, y.metadata);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Encoders, ResumedModelFileTest,
    ::testing::Values(
        WholeFileCase{
            "softmax_float32", "", 1,
            FitOptions{.n_atoms = 3, .epochs = 7, .adam = {.lr = 0.01}, .batch_size = 64}},
        WholeFileCase{"topk_auxk_float32", "float32", 1,
                      FitOptions{.n_atoms = 8,
                                 .epochs = 7,
                                 .adam = {.lr = 0.01},
                                 .seed = 3,
                                 .encoder = {.kind = EncoderKind::topk, .k = 2},
                                 .batch_size = 50,
                                 .unit_atoms = true,
                                 .tied = true,
                                 .decoder_bias = DecoderBiasInit::mean,
                                 .lr_decay = 0.5,
                                 .dead_after = 100,
                                 .auxk = 0.1}},
        WholeFileCase{"batchtopk_resample_float64", "float64", 1,
                      FitOptions{.n_atoms = 16,
                                 .epochs = 7,
                                 .adam = {.lr = 0.01},
                                 .seed = 5,
                                 .encoder = {.kind = EncoderKind::batchtopk, .k = 2},
                                 .batch_size = 30,
                                 .unit_atoms = true,
                                 .decoder_bias = DecoderBiasInit::mean,
                                 .dead_after = 60,
                                 .resample_every = 4}},
        WholeFileCase{"batchtopk_float64", "float64", 1,
                      FitOptions{.n_atoms = 6,
                                 .epochs = 7,
                                 .adam = {.lr = 0.01},
                                 .encoder = {.kind = EncoderKind::batchtopk, .k = 2},
                                 .batch_size = 100,
                                 .l1 = 1e-3,
                                 .dictionary_init = DictionaryInit::data,
                                 .warmup_steps = 4}},
        WholeFileCase{"sparsemax_float64_rescaled", "float64", 1e20,
                      FitOptions{.n_atoms = 4,
                                 .epochs = 7,
                                 .encoder = {.kind = EncoderKind::sparsemax, .temperature = 0.5},
                                 .ortho = 0.01,
                                 .decoder_bias = DecoderBiasInit::zero,
                                 .patience = 50}},
        WholeFileCase{"relu_float32", "", 1,
                      FitOptions{.n_atoms = 5,
                                 .epochs = 7,
                                 .encoder = {.kind = EncoderKind::relu},
                                 .batch_size = 64,
                                 .l1 = 0.01}}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace dictlearn
