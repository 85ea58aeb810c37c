// `dictlearn fit --method online|alternating|mod|ksvd` end to end: the model
// (dictionary only, the coder recorded) and encode's use of its coder, the
// log's columns, checkpoints and --resume bit for bit, --init from a model or
// a plain atoms file, learn_dictionary against the CLI, and every bad input
// refused in one line with nothing left behind.
#include <gtest/gtest.h>

#include <string>

#include "cli_util.hpp"
#include "dictlearn/coders.hpp"
#include "dictlearn/io.hpp"
#include "dictlearn/learning.hpp"
#include "dictlearn/model.hpp"
#include "dictlearn/parameters.hpp"
#include "dictlearn/safetensors.hpp"
#include "dictlearn/training_log.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

using testing::expect_cli_error;
using testing::file_bytes;
using testing::normal_matrix;
using testing::run_cli;
using testing::TempDir;

/// 240 signals of dimension 8, each 2 atoms of a planted dictionary of 10 plus noise.
Matrix<float> planted_data() {
  Matrix<double> D = normal_matrix<double>(10, 8, 11);
  D.rowwise().normalize();
  const Matrix<double> weights = normal_matrix<double>(240, 10, 12);
  Matrix<double> R = Matrix<double>::Zero(240, 10);
  for (Eigen::Index i = 0; i < R.rows(); ++i) {
    R(i, i % 10) = weights(i, 0);
    R(i, (i * 7 + 3) % 10) = weights(i, 1);
  }
  return (R * D + 0.01 * normal_matrix<double>(240, 8, 13)).cast<float>();
}

struct MethodRun {
  std::string method, flags;
};
const MethodRun kRuns[] = {{"online", "--alpha 0.1 --batch-size 32"},
                           {"alternating", "--alpha 0.1"},
                           {"mod", "--n-nonzero 2"},
                           {"ksvd", "--n-nonzero 2"}};

class FitMethods : public ::testing::Test {
 protected:
  void SetUp() override { write_matrix(data, planted_data()); }
  testing::CliResult fit(const std::string& args) {
    return run_cli(dir, "fit " + data + " " + args);
  }
  TempDir dir;
  const std::string data = dir / "x.npy";
};

TEST_F(FitMethods, EachMethodWritesItsDictionaryAndEncodeUsesTheRecordedCoder) {
  for (const MethodRun& run : kRuns) {
    SCOPED_TRACE(run.method);
    const std::string model = dir / (run.method + ".safetensors");
    const auto result = fit("-o " + model + " --method " + run.method + " --atoms 10 --epochs 4 " +
                            run.flags + " --log " + (dir / (run.method + ".csv")));
    ASSERT_EQ(result.code, 0) << result.err;
    EXPECT_NE(result.out.find("trained 10 atoms by " + run.method), std::string::npos)
        << result.out;
    EXPECT_NE(result.out.find(run.method == "online" ? "for 4 epochs" : "for 4 iterations"),
              std::string::npos)
        << result.out;
    const TensorFile file = read_safetensors(model);
    EXPECT_EQ(file.tensors.size(), 1u);
    EXPECT_EQ(file.metadata.at("train.method"), run.method);
    EXPECT_EQ(file.metadata.at("encoder"), "none");
    const Model<float> m = load_model<float>(model);
    const CodingOptions coding = recorded_coding(m.metadata, model);
    const bool omp = run.method == "mod" || run.method == "ksvd";
    EXPECT_EQ(coding.method, omp ? CoderKind::omp : CoderKind::lasso_lars);
    EXPECT_EQ(omp ? coding.n_nonzero : 0, omp ? 2 : 0);
    EXPECT_EQ(omp ? 1.0 : coding.alpha, omp ? 1.0 : 0.1);
    // A coder's settings the coder does not read are not recorded.
    EXPECT_EQ(file.metadata.count(omp ? "train.alpha" : "train.n-nonzero"), 0u);
    EXPECT_EQ(file.metadata.count("train.forgetting"), run.method == "online" ? 1u : 0u);
    const std::string codes = dir / (run.method + "_codes.npy");
    const auto encoded = run_cli(dir, "encode " + model + " " + data + " -o " + codes);
    ASSERT_EQ(encoded.code, 0) << encoded.err;
    EXPECT_EQ(read_matrix<float>(codes), sparse_encode(m, read_matrix<float>(data), coding));
    const TrainingLog log = read_training_log(dir / (run.method + ".csv"));
    const std::vector<std::string> columns = {"epoch", "loss",           "mse",    "fvu",
                                              "l0",    "atoms_replaced", "seconds"};
    EXPECT_EQ(std::vector<std::string>(log.columns.begin(), log.columns.begin() + 7), columns);
    ASSERT_EQ(log.rows.size(), 4u);
    // The objective falls from the first pass to the last (the planted problem is easy).
    EXPECT_LT(log.rows.back()[1], log.rows.front()[1]);
    if (omp) {
      EXPECT_EQ(log.rows.back()[4], 2.0);  // L0: OMP at 2 atoms
    }
  }
}

TEST_F(FitMethods, CheckpointAndResumeContinueBitForBit) {
  for (const MethodRun& run : {kRuns[0], kRuns[3]}) {
    SCOPED_TRACE(run.method);
    const std::string common = "--method " + run.method + " --atoms 10 -q " + run.flags;
    const std::string full = dir / "full.safetensors", part = dir / "part.safetensors",
                      resumed = dir / "resumed.safetensors", checkpoint = dir / "ck.safetensors";
    ASSERT_EQ(fit("-o " + full + " --epochs 5 --log " + (dir / "full.csv") + " " + common).code, 0);
    ASSERT_EQ(fit("-o " + part + " --epochs 2 --checkpoint " + checkpoint + " --log " +
                  (dir / "part.csv") + " " + common)
                  .code,
              0);
    const auto result =
        fit("-o " + resumed + " --epochs 5 --resume " + checkpoint + " --checkpoint " + checkpoint +
            " --log " + (dir / "resumed.csv") + " " + common);
    ASSERT_EQ(result.code, 0) << result.err;
    EXPECT_EQ(file_bytes(resumed), file_bytes(full));
    EXPECT_NE(file_bytes(part), file_bytes(full));
    TrainingLog a = read_training_log(dir / "full.csv"), b = read_training_log(dir / "resumed.csv");
    const int seconds = a.column("seconds");
    for (auto* log : {&a, &b}) {
      for (auto& row : log->rows) row[seconds] = 0;
    }
    EXPECT_EQ(a.rows, b.rows);
    // Other settings are refused, naming them.
    const std::string other =
        run.method == "online" ? "--alpha 0.2 --batch-size 32" : "--n-nonzero 3";
    expect_cli_error(
        fit("-o " + (dir / "other.safetensors") + " --epochs 6 --resume " + checkpoint +
            " --method " + run.method + " --atoms 10 -q " + other),
        {"checkpoint was made with", run.method == "online" ? "--alpha 0.2" : "--n-nonzero 3"},
        dir / "other.safetensors");
  }
}

TEST_F(FitMethods, InitTakesAModelsDictionaryOrAnAtomsFile) {
  const Matrix<float> atoms = read_matrix<float>(data).topRows(10);
  write_matrix(dir / "atoms.npy", atoms);
  ASSERT_EQ(fit("-o " + (dir / "a.safetensors") + " --method ksvd --n-nonzero 2 --epochs 2 " +
                "--init " + (dir / "atoms.npy"))
                .code,
            0);
  // A gradient model's dictionary starts a classical run too.
  ASSERT_EQ(fit("-o " + (dir / "g.safetensors") + " --atoms 4 --epochs 2 -q").code, 0);
  const auto from_model =
      fit("-o " + (dir / "b.safetensors") + " --method online --alpha 0.1 --epochs 1 --init " +
          (dir / "g.safetensors"));
  ASSERT_EQ(from_model.code, 0) << from_model.err;
  EXPECT_EQ(load_model<float>(dir / "b.safetensors").n_atoms(), 4);
  // The same atoms from learn_dictionary: the same dictionary as the CLI's.
  LearningOptions options{.method = LearningMethod::ksvd,
                          .coding = {.method = CoderKind::omp, .n_nonzero = 2},
                          .epochs = 2};
  std::vector<double> losses;
  const Model<float> learned =
      learn_dictionary<float>(read_matrix<float>(data), options, &atoms, &losses);
  EXPECT_EQ(learned.dictionary, load_model<float>(dir / "a.safetensors").dictionary);
  EXPECT_EQ(losses.size(), 2u);
  EXPECT_FALSE(learned.has_encoder());
  EXPECT_EQ(learned.metadata.at("train.method"), "ksvd");
  EXPECT_EQ(recorded_coding(learned.metadata, "learned").n_nonzero, 2);
  // Without atoms, n_atoms of them from initial_atoms(): as fit --atoms does.
  options.n_atoms = 10;
  ASSERT_EQ(fit("-o " + (dir / "c.safetensors") + " --method ksvd --n-nonzero 2 --epochs 2 " +
                "--atoms 10")
                .code,
            0);
  EXPECT_EQ(learn_dictionary<float>(read_matrix<float>(data), options).dictionary,
            load_model<float>(dir / "c.safetensors").dictionary);
  options.n_atoms = 0;
  EXPECT_ERROR_CONTAINS(learn_dictionary<float>(read_matrix<float>(data), options),
                        "--atoms: must be >= 1 when no initial atoms are given");
}

TEST_F(FitMethods, BadInputsAreOneLineNamingTheFlagWithNothingLeftBehind) {
  const std::string out = dir / "bad.safetensors";
  write_matrix(dir / "wide.npy", Matrix<float>(normal_matrix<float>(10, 9, 1)));
  const std::pair<std::string, std::vector<std::string>> cases[] = {
      {"--method ksvd --atoms 10",
       {"--method ksvd: the omp coder needs a limit: --n-nonzero or --max-error"}},
      {"--method mod --atoms 10 --coder omp --n-nonzero 2 --alpha 0.5",
       {"--alpha: the omp coder does not read it"}},
      {"--method online --atoms 10 --lr 0.01", {"--lr: --method online does not read it"}},
      {"--method ksvd --atoms 10 --n-nonzero 2 --encoder topk",
       {"--encoder: --method ksvd does not read it"}},
      {"--method sgd --atoms 10", {"--method: must be gradient, online, alternating, mod or ksvd"}},
      {"--method online", {"--atoms: needed with --method online", "unless --init"}},
      {"--method online --init " + (dir / "wide.npy"),
       {"--init ", "atoms of dimension 9 but the data", "has 8 columns"}},
      {"--method online --atoms 3 --init " + (dir / "wide.npy"), {"dimension 9"}},
      {"--method online --atoms 10 --max-steps -1",
       {"--max-steps: must be >= 0 (0: no limit), got -1"}},
      {"--method online --atoms 10 --max-seconds -2", {"--max-seconds: must be >= 0"}},
      {"--method online --atoms 10 --batch-size 0",
       {"--batch-size: must be >= 1 with --method online, got 0"}},
      {"--method ksvd --atoms 10 --n-nonzero 2 --forgetting sklearn",
       {"--forgetting: --method ksvd does not read it"}},
      {"--method online --atoms 10 --approximate",
       {"--approximate: --method online does not read it"}},
      {"--method online --atoms 10 --forgetting fast",
       {"--forgetting: must be spams, sklearn or capped, got 'fast'"}},
      {"--method online --atoms 10 --forgetting spams --memory 2000",
       {"--memory: only --forgetting capped reads it (this run: --forgetting spams)"}},
      {"--method online --atoms 10 --memory -5", {"--memory: must be >= 0"}},
      {"--method ksvd --atoms 10 --n-nonzero 2 --memory 2000",
       {"--memory: --method ksvd does not read it"}},
      {"--method ksvd --atoms 4 --n-nonzero 5", {"--n-nonzero: 5 is more than the 4 atoms"}},
      {"--alpha 0.5", {"--alpha: --method gradient does not read it"}},
      {"--no-shuffle", {"--no-shuffle: --method gradient does not read it"}},
      {"--method online --atoms 10 --preset sae", {"--preset: --method online does not read it"}},
      {"--method ksvd --atoms 4 --n-nonzero 2 --step-log " + (dir / "s.csv"),
       {"--step-log: only --method online makes steps (this run: --method ksvd)"}},
      {"--epochs 2 --step-log " + (dir / "s.csv"),
       {"--step-log: only --method online makes steps (this run: --method gradient)"}},
      {"--method online --atoms 4 --step-log " + (dir / "s.npy"),
       {"--step-log: ", "s.npy: the name must end in .csv"}},
  };
  for (const auto& [args, needles] : cases) {
    SCOPED_TRACE(args);
    const auto result = fit("-o " + out + " " + args);
    EXPECT_EQ(result.code, 1) << result.err;
    EXPECT_EQ(result.err.rfind("dictlearn: error: ", 0), 0u) << result.err;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
    for (const auto& needle : needles)
      EXPECT_NE(result.err.find(needle), std::string::npos) << result.err;
    EXPECT_FALSE(std::filesystem::exists(out));
    EXPECT_FALSE(std::filesystem::exists(dir / "s.csv"));
    EXPECT_FALSE(std::filesystem::exists(dir / "s.npy"));
  }
  // Extreme data is refused rather than divided by its magnitude behind the coder's back.
  write_matrix(dir / "huge.npy", Matrix<float>(normal_matrix<float>(50, 8, 2) * 1e20f));
  expect_cli_error(
      run_cli(dir, "fit " + (dir / "huge.npy") + " -o " + out + " --method online --atoms 4"),
      {"values of magnitude", "--method online learns on the data as it is"}, out);
}

TEST_F(FitMethods, StepLogHasOneRowPerOnlineStep) {
  // 240 signals in batches of 32: 8 steps a pass (the last one of 16), 3 passes.
  const std::string steps = dir / "steps.csv", log = dir / "log.csv";
  const auto result = fit("-o " + (dir / "m.safetensors") +
                          " --method online --atoms 6 --alpha 0.1 --batch-size 32 --epochs 3 "
                          "--step-log " +
                          steps + " --log " + log + " --quiet");
  ASSERT_EQ(result.code, 0) << result.err;
  const TrainingLog rows = read_training_log(log);
  ASSERT_EQ(rows.rows.size(), 3u);
  // The step log reads as a CSV table: its header and 24 rows.
  const Matrix<double> table = read_matrix<double>(steps);
  ASSERT_EQ(table.rows(), 24);
  ASSERT_EQ(table.cols(), 6);
  const std::string text = file_bytes(steps);
  EXPECT_EQ(text.substr(0, text.find('\n')),
            "step,batch_cost,smoothed_cost,l0,atoms_replaced,seconds");
  double mean_cost = 0;
  for (Eigen::Index i = 0; i < table.rows(); ++i) {
    EXPECT_EQ(table(i, 0), static_cast<double>(i + 1));
    EXPECT_GT(table(i, 1), 0);
    EXPECT_GE(table(i, 5), i > 0 ? table(i - 1, 5) : 0.0);
    if (i >= 16) mean_cost += table(i, 1) / 8;
  }
  // The last pass's steps average to about the last epoch's objective (its
  // batches differ in size, the log weighs signals, not steps).
  EXPECT_NEAR(mean_cost, rows.rows.back()[rows.column("loss")], 0.1 * mean_cost);
}

TEST_F(FitMethods, NegatedFlagsDtypeAndPatchShapeReachTheRunAndItsRecord) {
  const std::string common = " --method online --atoms 10 --alpha 0.1 --epochs 2 -q";
  ASSERT_EQ(fit("-o " + (dir / "a.safetensors") + common).code, 0);
  const auto result = fit("-o " + (dir / "b.safetensors") + common +
                          " --no-shuffle --no-resample-unused --dtype float64 --patch-shape 2x4");
  ASSERT_EQ(result.code, 0) << result.err;
  const TensorFile a = read_safetensors(dir / "a.safetensors");
  const TensorFile b = read_safetensors(dir / "b.safetensors");
  EXPECT_EQ(a.metadata.count("train.no-shuffle"), 0u);
  EXPECT_EQ(b.metadata.at("train.no-shuffle"), "true");
  EXPECT_EQ(b.metadata.at("train.no-resample-unused"), "true");
  EXPECT_EQ(b.metadata.at("train.dtype"), "float64");
  EXPECT_EQ(b.metadata.at("train.patch-shape"), "2x4");
  EXPECT_EQ(b.tensors.at("dictionary").dtype, DType::float64);
  // Batches in file order learn other atoms than shuffled ones.
  EXPECT_NE(a.tensors.at("dictionary").values, b.tensors.at("dictionary").values);
  // The same run twice writes the same file.
  ASSERT_EQ(fit("-o " + (dir / "c.safetensors") + common + " --no-shuffle --seed 5").code, 0);
  ASSERT_EQ(fit("-o " + (dir / "d.safetensors") + common + " --no-shuffle --seed 5").code, 0);
  EXPECT_EQ(file_bytes(dir / "c.safetensors"), file_bytes(dir / "d.safetensors"));
}

TEST_F(FitMethods, GradientIsTheDefaultMethodAndUnchanged) {
  ASSERT_EQ(fit("-o " + (dir / "a.safetensors") + " --atoms 3 --epochs 3 -q").code, 0);
  ASSERT_EQ(
      fit("-o " + (dir / "b.safetensors") + " --atoms 3 --epochs 3 -q --method gradient").code, 0);
  EXPECT_EQ(file_bytes(dir / "a.safetensors"), file_bytes(dir / "b.safetensors"));
  EXPECT_EQ(read_safetensors(dir / "a.safetensors").metadata.count("train.method"), 0u);
  const auto help = run_cli(dir, "fit --help");
  EXPECT_NE(help.out.find("Classical learners (--method)"), std::string::npos);
  EXPECT_NE(help.out.find("--forgetting"), std::string::npos);
  EXPECT_NE(help.out.find("--coder"), std::string::npos);
}

}  // namespace
}  // namespace dictlearn
