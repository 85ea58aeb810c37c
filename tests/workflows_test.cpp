// The workflows behind the CLI's commands: run_fit gives the CLI's model,
// rescales extreme data, merges --init's model with the encoder flags given,
// resumes to the uninterrupted run's file; the log travels through checkpoints.
#include "dictlearn/workflows.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include "dictlearn/io.hpp"
#include "dictlearn/metrics.hpp"
#include "dictlearn/model.hpp"
#include "dictlearn/safetensors.hpp"
#include "dictlearn/training_log.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

using testing::TempDir;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

/// 200 x 5 samples, reproducible, times `scale`.
Matrix<double> sample_data(double scale = 1.0) {
  Matrix<double> X(200, 5);
  for (Eigen::Index i = 0; i < X.size(); ++i)
    X.data()[i] = scale * std::sin(0.7 * i + 0.1 * (i % 7));
  return X;
}

class WorkflowsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = dir_ / "data.npy";
    write_matrix(data_, Matrix<float>(sample_data().cast<float>()));
  }
  TempDir dir_;
  std::string data_;
};

TEST_F(WorkflowsTest, RunFitWritesTheModelTheCliWrites) {
  const std::string cli_model = dir_ / "cli.safetensors";
  const std::string command = std::string(DICTLEARN_CLI) + " fit " + data_ + " -o " + cli_model +
                              " --atoms 4 -e 7 -b 32 --encoder topk --k 2 --lr 0.01 -q";
  ASSERT_EQ(std::system(command.c_str()), 0);
  FitJob job{.data = data_, .output = dir_ / "lib.safetensors"};
  job.options.n_atoms = 4;
  job.options.epochs = 7;
  job.options.batch_size = 32;
  job.options.encoder = {.kind = EncoderKind::topk, .k = 2};
  job.options.adam.lr = 0.01;
  // The CLI's preset is auto (sae for topk), filling what its flags leave out.
  job.preset = "auto";
  job.given = {"atoms", "epochs", "batch-size", "encoder", "k", "lr"};
  const FitSummary summary = run_fit(job);
  EXPECT_EQ(slurp(job.output), slurp(cli_model));
  EXPECT_EQ(summary.epochs, 7);
  EXPECT_EQ(summary.n_atoms, 4);
  EXPECT_EQ(summary.samples, 200);
  EXPECT_EQ(summary.dim, 5);
  EXPECT_EQ(summary.data_scale, 1.0);
  EXPECT_GT(summary.first_loss, summary.last_loss);
}

TEST_F(WorkflowsTest, CallbacksSeeEveryEpochUnlessQuiet) {
  FitJob job{.data = data_, .output = dir_ / "m.safetensors"};
  job.options.epochs = 5;
  int epochs = 0, total = 0;
  const FitCallbacks callbacks{.progress = [&](const EpochStats& stats, int total_epochs) {
    EXPECT_EQ(stats.epoch, ++epochs);
    total = total_epochs;
  }};
  run_fit(job, callbacks);
  EXPECT_EQ(epochs, 5);
  EXPECT_EQ(total, 5);
  job.quiet = true;
  epochs = 0;
  run_fit(job, callbacks);
  EXPECT_EQ(epochs, 0);
}

TEST_F(WorkflowsTest, ExtremeDataIsTrainedOnDividedByItsRmsAndTheModelScaledBack) {
  // The same data at magnitude 1e20, and divided by its root mean square by hand.
  const Matrix<double> huge = sample_data(1e20);
  const double rms = std::sqrt(huge.squaredNorm() / static_cast<double>(huge.size()));
  write_matrix(dir_ / "huge.npy", huge);
  write_matrix(dir_ / "unit.npy", Matrix<double>(huge / rms));
  std::vector<std::string> notes;
  FitJob job{.data = dir_ / "huge.npy", .output = dir_ / "huge.safetensors", .dtype = "float64"};
  job.options.n_atoms = 3;
  job.options.epochs = 4;
  const FitSummary scaled =
      run_fit(job, {.note = [&](const std::string& note) { notes.push_back(note); }});
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("huge.npy: values of magnitude"), std::string::npos) << notes[0];
  EXPECT_NEAR(scaled.data_scale / rms, 1.0, 1e-12);

  job.data = dir_ / "unit.npy";
  job.output = dir_ / "unit.safetensors";
  notes.clear();
  const FitSummary plain =
      run_fit(job, {.note = [&](const std::string& note) { notes.push_back(note); }});
  EXPECT_TRUE(notes.empty());
  // The losses are reported in the data's units.
  EXPECT_NEAR(scaled.last_loss / (plain.last_loss * rms * rms), 1.0, 1e-6);
  const auto big = load_model<double>(dir_ / "huge.safetensors");
  const auto unit = load_model<double>(dir_ / "unit.safetensors");
  EXPECT_EQ(big.metadata.at("train.data_scale"), fmt::format("{}", scaled.data_scale));
  const double error =
      testing::max_abs_difference(big.dictionary / scaled.data_scale, unit.dictionary);
  EXPECT_LT(error, 1e-9 * testing::max_abs(unit.dictionary));
}

TEST_F(WorkflowsTest, InitKeepsTheModelsSettingsExceptTheEncoderFlagsGiven) {
  FitJob first{.data = data_, .output = dir_ / "sparsemax.safetensors"};
  first.options.n_atoms = 6;
  first.options.epochs = 3;
  first.options.encoder.kind = EncoderKind::sparsemax;
  run_fit(first);

  FitJob kept{.data = data_, .output = dir_ / "kept.safetensors", .init = first.output};
  kept.options.epochs = 2;
  kept.options.encoder = {.kind = EncoderKind::topk,
                          .k = 2};  // not given: the model's encoder stays
  const FitSummary same = run_fit(kept);
  EXPECT_EQ(same.encoder, EncoderKind::sparsemax);
  EXPECT_EQ(same.n_atoms, 6);
  // The record says what this run trained, not the flags' defaults nor the
  // first run's own record.
  const auto refined = load_model<float>(kept.output);
  EXPECT_EQ(refined.metadata.at("train.encoder"), "sparsemax");
  EXPECT_EQ(refined.metadata.at("train.atoms"), "6");
  EXPECT_EQ(refined.metadata.at("train.epochs"), "2");

  FitJob merged = kept;
  merged.output = dir_ / "merged.safetensors";
  merged.given = {"encoder", "k"};
  const FitSummary topk = run_fit(merged);
  EXPECT_EQ(topk.encoder, EncoderKind::topk);
  EXPECT_EQ(topk.n_atoms, 6);
  const auto model = load_model<float>(merged.output);
  EXPECT_EQ(model.encoder.k, 2);
  EXPECT_EQ(model.metadata.at("train.encoder"), "topk");

  // k is checked against the model's 6 atoms, not the default --atoms (2).
  FitJob wider = kept;
  wider.output = dir_ / "wider.safetensors";
  wider.options.encoder = {.kind = EncoderKind::topk, .k = 5};
  wider.given = {"encoder", "k"};
  EXPECT_EQ(run_fit(wider).n_atoms, 6);
  wider.options.encoder.k = 7;
  EXPECT_ERROR_CONTAINS(run_fit(wider), "--k: 7 exceeds the number of atoms (6)");

  FitJob atoms = merged;
  atoms.given.insert("atoms");
  atoms.options.n_atoms = 3;
  EXPECT_ERROR_CONTAINS(run_fit(atoms), "--atoms: 3 differs from the 6 atoms of --init");
  FitJob both = merged;
  both.resume = first.output;
  EXPECT_ERROR_CONTAINS(run_fit(both), "--resume: cannot be combined with --init");
}

TEST_F(WorkflowsTest, AResumedRunWritesTheUninterruptedRunsFiles) {
  FitJob whole{.data = data_, .output = dir_ / "whole.safetensors", .log = dir_ / "whole.csv"};
  whole.options.n_atoms = 3;
  whole.options.epochs = 6;
  whole.options.batch_size = 64;
  run_fit(whole);

  FitJob part = whole;
  part.options.epochs = 4;
  part.output = dir_ / "part.safetensors";
  part.log = dir_ / "part.csv";
  part.checkpoint = dir_ / "part.ckpt";
  part.checkpoint_every = 2;
  run_fit(part);
  const TensorFile checkpoint = read_safetensors(part.checkpoint);
  const auto carried = log_from_tensors(checkpoint, part.checkpoint);
  ASSERT_TRUE(carried.has_value());
  EXPECT_EQ(carried->rows.size(), 4u);

  FitJob rest = whole;
  rest.output = dir_ / "resumed.safetensors";
  rest.log = dir_ / "resumed.csv";
  rest.resume = part.checkpoint;
  const FitSummary resumed = run_fit(rest);
  EXPECT_EQ(resumed.epochs, 6);
  EXPECT_EQ(slurp(rest.output), slurp(whole.output));
  const TrainingLog a = read_training_log(whole.log), b = read_training_log(rest.log);
  ASSERT_EQ(a.rows.size(), b.rows.size());
  const int seconds = a.column("seconds");
  for (size_t r = 0; r < a.rows.size(); ++r) {
    for (size_t c = 0; c < a.columns.size(); ++c) {
      if (static_cast<int>(c) == seconds || (std::isnan(a.rows[r][c]) && std::isnan(b.rows[r][c])))
        continue;
      EXPECT_EQ(a.rows[r][c], b.rows[r][c]) << "row " << r << " column " << a.columns[c];
    }
  }
  // Without the log inside, resuming with --log is refused.
  FitJob no_log = part;
  no_log.log.clear();
  no_log.checkpoint = dir_ / "bare.ckpt";
  run_fit(no_log);
  FitJob refused = rest;
  refused.resume = no_log.checkpoint;
  EXPECT_ERROR_CONTAINS(run_fit(refused), "was written without a log");
}

TEST(TrainingLogTensors, RoundTripWithBlankCells) {
  TrainingLog log;
  log.columns = {"epoch", "loss", "atom0_x"};
  const double blank = std::numeric_limits<double>::quiet_NaN();
  log.rows = {{1, 0.5, blank}, {2, 0.25, 0.125}};
  TensorFile file;
  log_to_tensors(log, file);
  EXPECT_EQ(file.metadata.at("log.columns"), "epoch,loss,atom0_x");
  EXPECT_EQ(file.tensors.at("log.rows").shape, (std::vector<int64_t>{2, 3}));
  const auto back = log_from_tensors(file, "ck");
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->columns, log.columns);
  ASSERT_EQ(back->rows.size(), 2u);
  EXPECT_TRUE(std::isnan(back->rows[0][2]));
  EXPECT_EQ(back->rows[1], log.rows[1]);
  EXPECT_FALSE(log_from_tensors(TensorFile{}, "ck").has_value());
  file.tensors.at("log.rows").values.pop_back();
  EXPECT_ERROR_CONTAINS(log_from_tensors(file, "ck.safetensors"),
                        "ck.safetensors: the log's 5 values");
}

TEST_F(WorkflowsTest, EncodeReconstructAndEvalWorkInTheModelsDtype) {
  FitJob job{.data = data_, .output = dir_ / "m.safetensors", .dtype = "float64"};
  job.options.epochs = 3;
  job.options.n_atoms = 4;
  run_fit(job);
  EXPECT_EQ(model_dtype(job.output), DType::float64);
  run_encode(job.output, data_, dir_ / "codes.npz");
  run_encode(job.output, data_, dir_ / "codes.npy");
  EXPECT_EQ(read_matrix<double>(dir_ / "codes.npy").rows(), 200);
  run_reconstruct(job.output, data_, dir_ / "recon.npy");
  EXPECT_EQ(read_matrix<double>(dir_ / "recon.npy").cols(), 5);
  const EvalSummary eval = run_eval(job.output, data_);
  EXPECT_EQ(eval.samples, 200);
  EXPECT_EQ(eval.n_atoms, 4);
  EXPECT_EQ(eval.metrics.usage.size(), 4u);
  write_matrix(dir_ / "wide.npy", Matrix<float>(Matrix<float>::Zero(3, 7)));
  EXPECT_ERROR_CONTAINS(run_eval(job.output, dir_ / "wide.npy"), "wide.npy");
}

// Numerics at the ends of the range: the root mean square that decides
// rescaling is taken without overflow or underflow, so float64 data at 1e160
// or 1e-200 trains like data near 1 (each on the data divided by its RMS).
TEST_F(WorkflowsTest, Float64DataAtTheEndsOfTheRangeTrainsLikeDataNearOne) {
  const double scales[] = {1e20, 1e160, 1e-200, 1e300, 1e-300};
  std::vector<double> fvu;
  Matrix<double> first_atoms;
  for (size_t i = 0; i < std::size(scales); ++i) {
    SCOPED_TRACE(fmt::format("data times {}", scales[i]));
    const Matrix<double> X = sample_data(scales[i]);
    FitJob job{.data = dir_ / fmt::format("x{}.npy", i),
               .output = dir_ / fmt::format("m{}.safetensors", i),
               .log = dir_ / fmt::format("log{}.csv", i),
               .dtype = "float64"};
    write_matrix(job.data, X);
    job.options.n_atoms = 3;
    job.options.epochs = 30;
    job.options.adam.lr = 0.01;
    job.quiet = true;
    const FitSummary summary = run_fit(job);
    EXPECT_NEAR(summary.data_scale / scales[i], 0.7, 0.1);
    EXPECT_TRUE(std::isfinite(summary.last_loss)) << summary.last_loss;
    EXPECT_GT(summary.last_loss, 0);
    const Model<double> model = load_model<double>(job.output);
    const Matrix<double> atoms = model.dictionary / scales[i];
    if (i == 0) first_atoms = atoms;
    EXPECT_TRUE(atoms.isApprox(first_atoms, 1e-8)) << atoms << "\n" << first_atoms;
    fvu.push_back(evaluate(model, X).fvu);
    EXPECT_NEAR(fvu[i], fvu[0], 1e-8);
    // The log's fvu is the trained one.
    const TrainingLog log = read_training_log(job.log);
    EXPECT_NEAR(log.rows.back()[log.column("fvu")], fvu[0], 0.05);
  }
  EXPECT_GT(fvu[0], 0.01);  // a real fit, not a degenerate 0
  EXPECT_LT(fvu[0], 1.0);
}

TEST_F(WorkflowsTest, SubnormalFloat32DataIsRefusedNamingTheFileAndTrainsAsFloat64) {
  const Matrix<float> tiny = (sample_data() * 1e-41).cast<float>();
  ASSERT_LT(tiny.cwiseAbs().maxCoeff(), std::numeric_limits<float>::min());
  FitJob job{.data = dir_ / "tiny.npy", .output = dir_ / "tiny.safetensors"};
  write_matrix(job.data, tiny);
  job.options.n_atoms = 3;
  job.options.epochs = 30;
  job.options.adam.lr = 0.01;
  job.quiet = true;
  EXPECT_ERROR_CONTAINS(run_fit(job), job.data + ": values of magnitude");
  EXPECT_ERROR_CONTAINS(run_fit(job), "are subnormal in float32 (below 1.18e-38)");
  EXPECT_ERROR_CONTAINS(run_fit(job), "train with --dtype float64");
  EXPECT_FALSE(std::filesystem::exists(job.output));
  job.dtype = "float64";
  run_fit(job);
  const Model<double> model = load_model<double>(job.output);
  EXPECT_TRUE(model.dictionary.allFinite() && model.encoder_weight.allFinite());
  const double fvu = evaluate(model, Matrix<double>(tiny.cast<double>())).fvu;
  EXPECT_GT(fvu, 0.01);
  EXPECT_LT(fvu, 1.0);
}

TEST_F(WorkflowsTest, NonFiniteCodesAreNeverWrittenAndTheirCauseIsNamed) {
  FitJob job{.data = data_, .output = dir_ / "m.safetensors"};
  job.options.n_atoms = 4;
  job.options.epochs = 3;
  job.quiet = true;
  run_fit(job);
  // A temperature whose inverse overflows float32: softmax's codes are NaN.
  Model<float> cold = load_model<float>(job.output);
  cold.encoder.temperature = 1e-40;
  const std::string model = dir_ / "cold.safetensors";
  save_model(model, cold);
  const std::string needle =
      "cold.safetensors: the codes of " + data_ + " are not finite (row 1, atom 1: nan)";
  EXPECT_ERROR_CONTAINS(run_encode(model, data_, dir_ / "codes.npy"), needle);
  EXPECT_ERROR_CONTAINS(run_encode(model, data_, dir_ / "codes.npy"),
                        "the model's temperature 1e-40 is too small for float32");
  EXPECT_ERROR_CONTAINS(run_encode(model, data_, dir_ / "codes.npz"), "temperature 1e-40");
  EXPECT_ERROR_CONTAINS(run_reconstruct(model, data_, dir_ / "recon.npy"), needle);
  EXPECT_ERROR_CONTAINS(run_eval(model, data_), needle);
  EXPECT_ERROR_CONTAINS(run_eval(model, data_), "temperature 1e-40");
  for (const char* name : {"codes.npy", "codes.npz", "recon.npy"})
    EXPECT_FALSE(std::filesystem::exists(dir_ / name)) << name;
  // Encoder weights whose products with the data overflow float32 (row 1 sums to about 2.3).
  Model<float> hot = load_model<float>(job.output);
  hot.encoder_weight.setConstant(3e38f);
  save_model(dir_ / "hot.safetensors", hot);
  EXPECT_ERROR_CONTAINS(run_encode(dir_ / "hot.safetensors", data_, dir_ / "codes.npy"),
                        "pre-activations b + (x - b_dec) W^T overflow float32 there");
  EXPECT_ERROR_CONTAINS(run_eval(dir_ / "hot.safetensors", data_), "overflow float32");
  EXPECT_ERROR_CONTAINS(run_reconstruct(dir_ / "hot.safetensors", data_, dir_ / "recon.npy"),
                        "hot.safetensors: the codes of");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "codes.npy"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "recon.npy"));
}

TEST_F(WorkflowsTest, ANonFiniteLossNamesTheLikelySetting) {
  FitJob job{.data = data_, .output = dir_ / "m.safetensors"};
  job.options.n_atoms = 4;
  job.options.epochs = 50;
  job.quiet = true;
  FitJob cold = job;
  // 1 / 1e-40 overflows float32: the codes are NaN at every SIMD level and in
  // every build. (At 1e-30 the loss on this data is finite at the baseline
  // level and in the sanitizer build, NaN at v3 and v4 of the release build.)
  cold.options.encoder.temperature = 1e-40;
  EXPECT_ERROR_CONTAINS(run_fit(cold), "the likely cause is --temperature 1e-40");
  FitJob fast = job;
  fast.options.adam.lr = 1e30;
  EXPECT_ERROR_CONTAINS(run_fit(fast), "lower the learning rate (--lr)");
  EXPECT_FALSE(std::filesystem::exists(job.output));
}

TEST_F(WorkflowsTest, FvuOfDataWithoutVarianceIsZeroWhenExactElseOne) {
  EXPECT_EQ(fraction_unexplained(0, 0), 0.0);
  EXPECT_EQ(fraction_unexplained(2, 0), 1.0);
  EXPECT_EQ(fraction_unexplained(1, 4), 0.25);
  // Constant float64 data (0.1 is not a sum of 3 x 0.1 divided by 3 in double).
  const Matrix<double> X = Matrix<double>::Constant(3, 2, 0.1);
  Model<double> model;
  model.dictionary = Matrix<double>::Constant(1, 2, 0.1);
  model.encoder_weight = Matrix<double>::Zero(1, 2);
  model.encoder_bias = Vector<double>::Zero(1);
  const Metrics exact = evaluate(model, X);  // one softmax atom: codes 1, X reconstructed exactly
  EXPECT_EQ(exact.mse, 0.0);
  EXPECT_EQ(exact.fvu, 0.0);
  model.dictionary.setConstant(0.3);
  const Metrics off = evaluate(model, X);
  EXPECT_NEAR(off.mse, 0.04, 1e-15);
  EXPECT_EQ(off.fvu, 1.0);
  // Training reports the same in its log.
  FitJob job{.data = dir_ / "constant.npy",
             .output = dir_ / "c.safetensors",
             .log = dir_ / "c.csv",
             .dtype = "float64"};
  write_matrix(job.data, Matrix<double>(Matrix<double>::Constant(50, 3, 0.1)));
  job.options.epochs = 3;
  job.quiet = true;
  run_fit(job);
  const TrainingLog log = read_training_log(job.log);
  for (const auto& row : log.rows) {
    EXPECT_GT(row[log.column("mse")], 0);
    EXPECT_EQ(row[log.column("fvu")], 1.0);
  }
}

}  // namespace
}  // namespace dictlearn
