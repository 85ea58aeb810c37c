// The command-line tool end to end, and every bad input it must refuse with
// one line on stderr, exit 1 and no output file.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>

#include "cli_util.hpp"
#include "dictlearn/io.hpp"
#include "dictlearn/metrics.hpp"
#include "dictlearn/model.hpp"
#include "dictlearn/parameters.hpp"
#include "dictlearn/presets.hpp"
#include "dictlearn/safetensors.hpp"
#include "dictlearn/sparse_codes.hpp"
#include "dictlearn/trainer.hpp"
#include "dictlearn/training_log.hpp"
#include "dictlearn/workflows.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

using Result = testing::CliResult;
using testing::run_cli;

/// The whole content of a file ("" when it cannot be read).
std::string slurp(const std::string& path) { return testing::file_bytes(path); }

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

/// A hand-made .npy (version 1.0) with the given header fields and payload.
std::string npy_bytes(const std::string& descr, const std::string& shape,
                      const std::string& payload) {
  std::string header =
      "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string bytes = "\x93NUMPY";
  bytes += '\x01';
  bytes += '\x00';
  bytes += static_cast<char>(header.size() & 0xff);
  bytes += static_cast<char>(header.size() >> 8);
  return bytes + header + payload;
}

/// Expects exit 1, exactly one stderr line "dictlearn: error: ..." containing
/// every needle, and `output` absent.
void expect_user_error(const Result& result, std::initializer_list<std::string> needles,
                       const std::string& output) {
  testing::expect_cli_error(result, needles, output);
  // Nothing else was left in the folder either: no temporary files.
  if (!output.empty()) {
    for (const auto& entry : fs::directory_iterator(fs::path(output).parent_path())) {
      EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
    }
  }
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = dir_ / "toy.npy";
    ASSERT_EQ(run_cli(dir_, "toy -o " + data_ + " --seed 3").code, 0);
  }
  TempDir dir_;
  std::string data_;
};

TEST_F(CliTest, ToyWritesTheSeedsTwoClusters) {
  const Matrix<double> X = read_matrix<double>(data_);
  ASSERT_EQ(X.rows(), 2000);
  ASSERT_EQ(X.cols(), 2);
  EXPECT_NEAR(X.topRows(1000).col(0).mean(), 1.0, 0.02);
  EXPECT_NEAR(X.topRows(1000).col(1).mean(), 0.0, 0.02);
  EXPECT_NEAR(X.bottomRows(1000).col(0).mean(), 0.0, 0.02);
  EXPECT_NEAR(X.bottomRows(1000).col(1).mean(), 1.0, 0.02);
  const double variance =
      (X.topRows(1000).col(0).array() - X.topRows(1000).col(0).mean()).square().mean();
  EXPECT_NEAR(variance, 0.01, 0.002);
}

TEST_F(CliTest, FitEncodeReconstructEvalPlotEndToEnd) {
  const std::string model = dir_ / "model.safetensors", log = dir_ / "log.csv";
  Result fit =
      run_cli(dir_, "fit " + data_ + " -o " + model + " --epochs 300 --lr 0.01 --log " + log);
  ASSERT_EQ(fit.code, 0) << fit.err;
  EXPECT_EQ(fit.err, "");  // no progress bar when stderr is not a terminal
  const Model<float> m = load_model<float>(model);
  EXPECT_EQ(m.n_atoms(), 2);
  EXPECT_EQ(m.metadata.at("encoder"), "softmax");
  EXPECT_EQ(m.metadata.at("train.lr"), "0.01");
  EXPECT_EQ(m.metadata.at("train.epochs"), "300");

  const TrainingLog training = read_training_log(log);
  ASSERT_EQ(training.rows.size(), 300u);
  EXPECT_EQ(training.columns[0], "epoch");
  EXPECT_EQ(training.columns[1], "loss");
  EXPECT_EQ(training.rows.front()[0], 1);
  EXPECT_EQ(training.rows.back()[0], 300);
  EXPECT_EQ(training.atom_count(), 2);
  // The loss of epoch 1 is the initial model's, computed before any update.
  const Model<float> initial = init_model<float>(2, 2, 0);
  EXPECT_NEAR(training.rows.front()[1], reconstruction_loss(initial, read_matrix<float>(data_)),
              1e-6);
  EXPECT_LT(training.rows.back()[1], training.rows.front()[1]);

  const std::string codes = dir_ / "codes.csv", recon = dir_ / "recon.npy";
  ASSERT_EQ(run_cli(dir_, "encode " + model + " " + data_ + " -o " + codes).code, 0);
  const Matrix<double> R = read_matrix<double>(codes);
  ASSERT_EQ(R.rows(), 2000);
  ASSERT_EQ(R.cols(), 2);
  EXPECT_NEAR(R.row(0).sum(), 1.0, 1e-6);
  ASSERT_EQ(run_cli(dir_, "reconstruct " + model + " " + data_ + " -o " + recon).code, 0);
  EXPECT_EQ(read_matrix<double>(recon).rows(), 2000);
  const Result eval = run_cli(dir_, "eval " + model + " " + data_);
  ASSERT_EQ(eval.code, 0) << eval.err;
  EXPECT_NE(eval.out.find("MSE              "), std::string::npos) << eval.out;
  EXPECT_NE(eval.out.find("codes below 1e-3"), std::string::npos);

  // --init with zero epochs reproduces the model; with more epochs it continues.
  const std::string again = dir_ / "again.safetensors";
  ASSERT_EQ(run_cli(dir_, "fit " + data_ + " -o " + again + " --epochs 0 --init " + model).code, 0);
  EXPECT_EQ(load_model<float>(again).dictionary, m.dictionary);

  const std::string figures = dir_ / "figures";
  const Result plot =
      run_cli(dir_, "plot " + data_ + " --model " + model + " --log " + log + " -o " + figures);
  ASSERT_EQ(plot.code, 0) << plot.err;
  EXPECT_TRUE(fs::exists(fs::path(figures) / "loss.dat") ||
              fs::exists(fs::path(figures) / "figures.gp"));
}

TEST_F(CliTest, Float64TrainingWritesF64Tensors) {
  const std::string model = dir_ / "model64.safetensors";
  ASSERT_EQ(run_cli(dir_, "fit " + data_ + " -o " + model + " --epochs 5 --dtype float64 -q").code,
            0);
  EXPECT_EQ(model_dtype(model), DType::float64);
  expect_user_error(
      run_cli(dir_, "fit " + data_ + " -o " + (dir_ / "x.safetensors") + " --dtype int8"),
      {"--dtype", "int8"}, dir_ / "x.safetensors");
}

TEST_F(CliTest, DemoWritesDataModelLogFiguresAndASparsitySummary) {
  const std::string out = dir_ / "demo";
  const Result demo = run_cli(dir_, "demo -o " + out + " --epochs 200");
  ASSERT_EQ(demo.code, 0) << demo.err;
  for (const char* name : {"data.npy", "model.safetensors", "log.csv"}) {
    EXPECT_TRUE(fs::exists(fs::path(out) / name)) << name;
  }
  EXPECT_NE(demo.out.find("below 1e-3"), std::string::npos) << demo.out;
  EXPECT_NE(demo.out.find("mean largest entry"), std::string::npos) << demo.out;
}

TEST_F(CliTest, HelpShowsDefaultsAndUsageErrorsExitTwo) {
  const Result help = run_cli(dir_, "fit --help");
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("--epochs"), std::string::npos);
  EXPECT_NE(help.out.find("10000"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("0.001"), std::string::npos) << help.out;
  EXPECT_EQ(run_cli(dir_, "fit " + data_ + " -o x --no-such-flag").code, 2);
  EXPECT_EQ(run_cli(dir_, "").code, 2);
  EXPECT_EQ(run_cli(dir_, "fit").code, 2);
}

/// The flags a help text lists in its option column ("  -e,--epochs INT=10000  ..."), and its
/// positionals, each with the default it shows ("" for none).
std::map<std::string, std::string> help_flags(const std::string& help) {
  std::map<std::string, std::string> flags;
  std::istringstream lines(help);
  bool positionals = false;
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("Presets")) break;  // the footer's table, checked apart
    if (line.starts_with("Positionals:")) positionals = true;
    if (line.starts_with("Options:")) positionals = false;
    if (!line.starts_with("  ")) continue;
    std::istringstream words(line);
    std::string names, type;
    words >> names >> type;
    if (positionals) {
      flags[names] = "";
      continue;
    }
    const size_t dashes = names.rfind("--");
    if (dashes == std::string::npos) continue;
    const size_t equals = type.find('=');
    flags[names.substr(dashes + 2)] = equals == std::string::npos ? "" : type.substr(equals + 1);
  }
  return flags;
}

TEST_F(CliTest, FitHelpListsExactlyTheRowsOfTheParameterTablesWithTheirDefaults) {
  const Result help = run_cli(dir_, "fit --help");
  ASSERT_EQ(help.code, 0);
  std::map<std::string, std::string> listed = help_flags(help.out);
  ASSERT_EQ(listed.erase("help"), 1u) << help.out;
  std::map<std::string, std::string> rows;
  for (const auto& p : fit_parameters()) {
    const std::string value = parameter_value(p, FitOptions{});
    rows[p.flag] = parameter_type(p) == std::string("bool") ? "" : value;
  }
  const FitJob job = cli_fit_job();  // --preset auto
  for (const auto& p : fit_job_parameters()) {
    rows[p.flag] =
        p.required || parameter_type(p) == std::string("bool") ? "" : parameter_value(p, job);
  }
  // The classical learners' rows (--method's default is gradient) and their
  // coding step's (--coder's and --n-nonzero's defaults depend on the method).
  const LearningOptions learning;
  for (const auto& p : learning_parameters()) {
    rows[p.flag] = parameter_type(p) == std::string("bool") ? "" : parameter_value(p, learning);
  }
  rows["method"] = "gradient";
  for (const auto& p : coding_parameters()) {
    if (p.flag == "threads") continue;  // fit's own --threads
    rows[p.flag] =
        parameter_type(p) == std::string("bool") || p.flag == "coder" || p.flag == "n-nonzero"
            ? ""
            : parameter_value(p, learning.coding);
  }
  EXPECT_EQ(listed, rows) << help.out;
  // The presets' table follows, one line per row with both values.
  const size_t table = help.out.find("\nPresets (--preset; auto: sae for an encoder other than");
  ASSERT_NE(table, std::string::npos) << help.out;
  for (const PresetRow& row : preset_table()) {
    const std::string seed = parameter_value(*find_parameter(fit_parameters(), row.flag), {});
    EXPECT_NE(help.out.find(fmt::format("--{:<14} seed: {:<9} sae: {}\n", row.flag, seed, row.sae),
                            table),
              std::string::npos)
        << row.flag;
  }
  // The short flags too.
  for (const auto& p : fit_parameters()) {
    if (!p.short_flag.empty()) {
      EXPECT_NE(help.out.find("-" + p.short_flag + ",--" + p.flag), std::string::npos);
    }
  }
}

TEST_F(CliTest, TheFourAdamAndBatchTopKFlagsAreFlagsAndRecorded) {
  const std::string model = dir_ / "adam.safetensors";
  ASSERT_EQ(run_cli(dir_, "fit " + data_ + " -o " + model +
                              " -e 3 --beta1 0.8 --beta2 0.99 --eps 1e-6 --threshold-decay 0.9 -q")
                .code,
            0);
  const Model<float> trained = load_model<float>(model);
  EXPECT_EQ(trained.metadata.at("train.beta1"), "0.8");
  EXPECT_EQ(trained.metadata.at("train.beta2"), "0.99");
  EXPECT_EQ(trained.metadata.at("train.eps"), "1e-06");
  EXPECT_EQ(trained.metadata.at("train.threshold-decay"), "0.9");
  const std::string fit = "fit " + data_ + " -o " + (dir_ / "x.safetensors") + " -e 1";
  expect_user_error(run_cli(dir_, fit + " --beta1 1"), {"--beta1: must be in [0, 1), got 1"},
                    dir_ / "x.safetensors");
  expect_user_error(run_cli(dir_, fit + " --eps 0"), {"--eps: must be > 0 and finite, got 0"},
                    dir_ / "x.safetensors");
  expect_user_error(run_cli(dir_, fit + " --threshold-decay -0.5"), {"--threshold-decay"},
                    dir_ / "x.safetensors");
}

TEST_F(CliTest, ACheckpointOfVersion01ResumesToTheUninterruptedRun) {
  const std::string fixtures = std::string(DICTLEARN_FIXTURES) + "/v0_1/";
  const std::string model = dir_ / "resumed.safetensors", log = dir_ / "resumed.csv";
  const Result resumed =
      run_cli(dir_, "fit " + fixtures + "data.npy -o " + model + " --atoms 4 -b 16 -e 6 --resume " +
                        fixtures + "checkpoint.safetensors --log " + log + " -q");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  const TensorFile ours = read_safetensors(model),
                   whole = read_safetensors(fixtures + "softmax_whole.safetensors");
  ASSERT_EQ(ours.tensors.size(), whole.tensors.size());
  // Bit for bit at the AVX2/AVX-512 levels the fixtures were written at; the
  // baseline (SSE) level rounds some sums differently.
  const bool exact = std::string(vector_kernel_level()) != "baseline";
  for (const auto& [name, tensor] : whole.tensors) {
    const std::vector<double>& values = ours.tensors.at(name).values;
    if (exact) {
      EXPECT_EQ(values, tensor.values) << name;
      continue;
    }
    ASSERT_EQ(values.size(), tensor.values.size()) << name;
    for (size_t i = 0; i < values.size(); ++i)
      EXPECT_NEAR(values[i], tensor.values[i], 1e-5) << name;
  }
  EXPECT_EQ(read_training_log(log).rows.size(), 6u);  // the checkpoint's 4 rows and 2 more
  // The resumed model records this run's settings, not the checkpoint's bookkeeping.
  for (const auto& [key, value] : ours.metadata) {
    EXPECT_FALSE(key.starts_with("checkpoint.")) << key;
  }
  EXPECT_EQ(ours.metadata.at("train.epochs"), "6");
}

TEST_F(CliTest, BadFitParametersAreRefused) {
  const std::string model = dir_ / "m.safetensors";
  const std::string fit = "fit " + data_ + " -o " + model;
  expect_user_error(run_cli(dir_, fit + " --atoms 0"), {"--atoms: must be >= 1, got 0"}, model);
  expect_user_error(run_cli(dir_, fit + " --seed -1"),
                    {"--seed: must be an integer in [0, 18446744073709551615], got '-1'"}, model);
  expect_user_error(run_cli(dir_, fit + " --seed 18446744073709551616"),
                    {"--seed: must be an integer in [0, 18446744073709551615], got "
                     "'18446744073709551616'"},
                    model);
  expect_user_error(run_cli(dir_, fit + " --seed 1.5"), {"--seed: must be an integer"}, model);
  expect_user_error(run_cli(dir_, fit + " --snapshot-every -1"),
                    {"--snapshot-every: must be >= 0 (0: about 200 per run), got -1"}, model);
  expect_user_error(run_cli(dir_, fit + " --epochs -1"), {"--epochs: must be >= 0, got -1"}, model);
  expect_user_error(run_cli(dir_, fit + " --lr 0"), {"--lr: must be > 0"}, model);
  expect_user_error(run_cli(dir_, fit + " --lr -0.5"), {"--lr", "-0.5"}, model);
  expect_user_error(run_cli(dir_, fit + " --lr nan"), {"--lr", "finite"}, model);
  expect_user_error(run_cli(dir_, fit + " --lr inf"), {"--lr", "finite"}, model);
}

TEST_F(CliTest, BadDataFilesAreRefusedWithTheirNameAndPosition) {
  const std::string model = dir_ / "m.safetensors";
  auto fit = [&](const std::string& data) {
    return run_cli(dir_, "fit " + data + " -o " + model + " -q");
  };

  expect_user_error(fit(dir_ / "missing.npy"), {"missing.npy", "No such file"}, model);
  write_bytes(dir_ / "text.npy", "epoch,loss\n1,2\n");
  expect_user_error(fit(dir_ / "text.npy"), {"text.npy", "not a .npy"}, model);
  const std::string full = slurp(data_);
  write_bytes(dir_ / "short.npy", full.substr(0, full.size() / 2));
  expect_user_error(fit(dir_ / "short.npy"), {"short.npy", "truncated"}, model);
  write_bytes(dir_ / "int.npy", npy_bytes("<i8", "(2, 2)", std::string(32, '\0')));
  expect_user_error(fit(dir_ / "int.npy"), {"int.npy", "'<i8'"}, model);
  write_bytes(dir_ / "cube.npy", npy_bytes("<f4", "(2, 2, 2)", std::string(32, '\0')));
  expect_user_error(fit(dir_ / "cube.npy"), {"cube.npy", "2-D"}, model);

  write_bytes(dir_ / "ragged.csv", "1,2\n3,4\n5\n");
  expect_user_error(fit(dir_ / "ragged.csv"), {"ragged.csv", "line 3"}, model);
  write_bytes(dir_ / "words.csv", "x,y\n1,2\n3,abc\n");
  expect_user_error(fit(dir_ / "words.csv"), {"words.csv", "line 3", "column 2", "abc"}, model);
  write_bytes(dir_ / "inf.csv", "1,2\n3,inf\n");
  expect_user_error(fit(dir_ / "inf.csv"), {"inf.csv", "line 2", "column 2"}, model);
  Matrix<float> with_nan = Matrix<float>::Ones(4, 2);
  with_nan(2, 1) = NAN;
  write_npy(dir_ / "nan.npy", with_nan);
  expect_user_error(fit(dir_ / "nan.npy"), {"nan.npy", "row 2", "column 1"}, model);
  write_bytes(dir_ / "empty.csv", "x,y\n");
  expect_user_error(fit(dir_ / "empty.csv"), {"empty.csv", "no data"}, model);
  write_bytes(dir_ / "data.txt", "1 2\n");
  expect_user_error(fit(dir_ / "data.txt"), {"data.txt"}, model);
}

TEST_F(CliTest, BadModelFilesAndMismatchedDataAreRefused) {
  const std::string model = dir_ / "m.safetensors";
  ASSERT_EQ(run_cli(dir_, "fit " + data_ + " -o " + model + " --epochs 2 -q").code, 0);
  const std::string codes = dir_ / "codes.npy";

  Matrix<float> wide = Matrix<float>::Ones(5, 3);
  write_npy(dir_ / "wide.npy", wide);
  expect_user_error(run_cli(dir_, "encode " + model + " " + (dir_ / "wide.npy") + " -o " + codes),
                    {"wide.npy", "3 columns", "dimension 2"}, codes);
  expect_user_error(run_cli(dir_, "fit " + (dir_ / "wide.npy") + " -o " + (dir_ / "n.safetensors") +
                                      " --init " + model),
                    {"wide.npy", "3 columns"}, dir_ / "n.safetensors");

  write_bytes(dir_ / "garbage.safetensors", "this is not a model at all");
  expect_user_error(
      run_cli(dir_, "encode " + (dir_ / "garbage.safetensors") + " " + data_ + " -o " + codes),
      {"garbage.safetensors"}, codes);
  TensorFile partial;
  partial.tensors["dictionary"] = Tensor{DType::float32, {2, 2}, {1, 2, 3, 4}};
  write_safetensors(dir_ / "partial.safetensors", partial);
  expect_user_error(run_cli(dir_, "eval " + (dir_ / "partial.safetensors") + " " + data_),
                    {"partial.safetensors", "attributor.0.weight"}, "");
  expect_user_error(
      run_cli(dir_, "reconstruct " + (dir_ / "nope.safetensors") + " " + data_ + " -o " + codes),
      {"nope.safetensors"}, codes);
}

TEST_F(CliTest, SparseEncodersTrainAndWriteSparseCodes) {
  const std::string model = dir_ / "topk.safetensors", log = dir_ / "log.csv";
  const Result fit = run_cli(
      dir_, "fit " + data_ + " -o " + model + " --preset seed --encoder topk --k 1 --atoms 3 " +
                "--epochs 4 --batch-size 500 --unit-atoms --decoder-bias mean --log " + log);
  ASSERT_EQ(fit.code, 0) << fit.err;
  const Model<float> m = load_model<float>(model);
  EXPECT_EQ(m.encoder.kind, EncoderKind::topk);
  EXPECT_EQ(m.encoder.k, 1);
  EXPECT_EQ(m.decoder_bias.size(), 2);
  const TrainingLog training = read_training_log(log);
  ASSERT_EQ(training.rows.size(), 4u);
  for (const char* column : {"mse", "fvu", "l0", "dead_fraction", "lr"}) {
    EXPECT_GE(training.column(column), 0) << column;
  }
  EXPECT_EQ(training.rows.back()[training.column("l0")], 1.0);

  const std::string codes = dir_ / "codes.npz";
  ASSERT_EQ(run_cli(dir_, "encode " + model + " " + data_ + " -o " + codes).code, 0);
  const SparseCodes<float> sparse = read_sparse_codes<float>(codes);
  EXPECT_EQ(sparse.rows, 2000);
  EXPECT_EQ(sparse.cols, 3);
  EXPECT_LE(sparse.nnz(), 2000);  // one atom per sample at most
  const Result eval = run_cli(dir_, "eval " + model + " " + data_);
  EXPECT_NE(eval.out.find("L0               1 of 3"), std::string::npos) << eval.out;
  EXPECT_NE(eval.out.find("FVU"), std::string::npos);
}

TEST_F(CliTest, BadValuesOfTheTrainingFlagsAreRefused) {
  const std::string model = dir_ / "m.safetensors";
  const std::string fit = "fit " + data_ + " -o " + model + " -q";
  expect_user_error(run_cli(dir_, fit + " --encoder maxout"), {"--encoder", "maxout"}, model);
  // Under the seed's preset k and the atoms are the seed's (k 0, 2 atoms);
  // under sae (auto for topk) only the values given are checked.
  expect_user_error(run_cli(dir_, fit + " --preset seed --encoder topk"),
                    {"--k: topk needs k >= 1"}, model);
  expect_user_error(run_cli(dir_, fit + " --preset seed --encoder topk --k 5"),
                    {"--k: 5 exceeds the number of atoms (2)"}, model);
  expect_user_error(run_cli(dir_, fit + " --encoder topk --k 5 --atoms 2"),
                    {"--k: 5 exceeds the number of atoms (2)"}, model);
  expect_user_error(run_cli(dir_, fit + " --encoder topk --k 0"), {"--k: topk needs k >= 1"},
                    model);
  expect_user_error(run_cli(dir_, fit + " --preset sea"), {"--preset", "sea"}, model);
  expect_user_error(run_cli(dir_, fit + " --temperature 0"), {"--temperature"}, model);
  expect_user_error(run_cli(dir_, fit + " --batch-size -1"), {"--batch-size"}, model);
  expect_user_error(run_cli(dir_, fit + " --l1 -0.1"), {"--l1"}, model);
  expect_user_error(run_cli(dir_, fit + " --ortho nan"), {"--ortho"}, model);
  expect_user_error(run_cli(dir_, fit + " --init-dict kmeans"), {"--init-dict", "kmeans"}, model);
  expect_user_error(run_cli(dir_, fit + " --decoder-bias median"), {"--decoder-bias", "median"},
                    model);
  expect_user_error(run_cli(dir_, fit + " --warmup-steps -3"), {"--warmup-steps"}, model);
  expect_user_error(run_cli(dir_, fit + " --lr-decay 2"), {"--lr-decay"}, model);
  expect_user_error(run_cli(dir_, fit + " --patience -1"), {"--patience"}, model);
  expect_user_error(run_cli(dir_, fit + " --tol 1.5"), {"--tol"}, model);
  expect_user_error(run_cli(dir_, fit + " --dead-after -1"), {"--dead-after"}, model);
  expect_user_error(run_cli(dir_, fit + " --auxk -1"), {"--auxk"}, model);
  expect_user_error(run_cli(dir_, fit + " --auxk-k -1"), {"--auxk-k"}, model);
  expect_user_error(run_cli(dir_, fit + " --threads -1"), {"--threads"}, model);
  expect_user_error(run_cli(dir_, fit + " --init-dict data --atoms 5000"),
                    {"--init-dict", "5000 atoms"}, model);
}

TEST_F(CliTest, CheckpointFlagsAndRefusedResumes) {
  const std::string model = dir_ / "m.safetensors", ck = dir_ / "ck.safetensors";
  const std::string fit = "fit " + data_ + " -o " + model + " -q --epochs 6";
  expect_user_error(run_cli(dir_, fit + " --checkpoint " + ck + " --checkpoint-every 0"),
                    {"--checkpoint-every: must be >= 1, got 0"}, model);
  ASSERT_EQ(run_cli(dir_, fit + " --checkpoint " + ck + " --checkpoint-every 2 --log " +
                              (dir_ / "log.csv"))
                .code,
            0);
  ASSERT_TRUE(fs::exists(ck));
  expect_user_error(run_cli(dir_, fit + " --resume " + ck + " --init " + model),
                    {"--resume", "--init"}, "");
  expect_user_error(run_cli(dir_, fit + " --resume " + ck + " --lr 0.5"),
                    {"ck.safetensors", "--lr 0.001, this run has --lr 0.5"}, "");
  Matrix<float> other = Matrix<float>::Ones(50, 2);
  write_npy(dir_ / "other.npy", other);
  expect_user_error(run_cli(dir_, "fit " + (dir_ / "other.npy") + " -o " +
                                      (dir_ / "o.safetensors") + " -q --resume " + ck),
                    {"ck.safetensors", "data of shape 2000x2, this data is 50x2"},
                    dir_ / "o.safetensors");
  // A model is not a checkpoint (and -o may not be the file --resume reads).
  expect_user_error(
      run_cli(dir_, "fit " + data_ + " -q -o " + (dir_ / "o.safetensors") + " --resume " + model),
      {"m.safetensors", "not a dictlearn checkpoint"}, dir_ / "o.safetensors");
  expect_user_error(run_cli(dir_, fit + " --resume " + model),
                    {"-o: ", "is also the input --resume"}, "");
  // Resuming a finished run with a longer --epochs continues it, log included.
  const Result more =
      run_cli(dir_, "fit " + data_ + " -o " + (dir_ / "more.safetensors") +
                        " -q --epochs 9 --resume " + ck + " --log " + (dir_ / "more.csv"));
  ASSERT_EQ(more.code, 0) << more.err;
  EXPECT_EQ(read_training_log(dir_ / "more.csv").rows.size(), 9u);
}

TEST_F(CliTest, ExtremeMagnitudesAndConstantColumnsTrainWithoutNaN) {
  const Matrix<float> X = read_matrix<float>(data_);
  Matrix<float> big = (X.cast<double>() * 1e30).cast<float>();
  Matrix<float> tiny = (X.cast<double>() * 1e-30).cast<float>();
  Matrix<float> constant = X;
  constant.col(1).setConstant(7.0f);
  write_npy(dir_ / "big.npy", big);
  write_npy(dir_ / "tiny.npy", tiny);
  write_npy(dir_ / "constant.npy", constant);
  std::vector<double> fvu;
  for (const char* name : {"big", "tiny", "constant"}) {
    const std::string model = dir_ / (std::string(name) + ".safetensors");
    for (const char* encoder : {"softmax", "topk --k 1 --atoms 3"}) {
      const Result fit =
          run_cli(dir_, "fit " + (dir_ / (std::string(name) + ".npy")) + " -o " + model +
                            " --epochs 50 --lr 0.01 --batch-size 500 --encoder " + encoder);
      ASSERT_EQ(fit.code, 0) << name << ": " << fit.err;
      const Model<double> m = load_model<double>(model);
      EXPECT_TRUE(m.dictionary.allFinite() && m.encoder_weight.allFinite()) << name;
      const Result eval =
          run_cli(dir_, "eval " + model + " " + (dir_ / (std::string(name) + ".npy")));
      ASSERT_EQ(eval.code, 0) << eval.err;
      EXPECT_EQ(eval.out.find("nan"), std::string::npos) << eval.out;
      if (std::string(encoder) == "softmax")
        fvu.push_back(evaluate(m, read_matrix<double>(dir_ / (std::string(name) + ".npy"))).fvu);
    }
  }
  // Training on rescaled data is scale-free: 1e30 and 1e-30 give the same fit.
  EXPECT_NEAR(fvu[0], fvu[1], 1e-4);
  EXPECT_LT(fvu[0], 0.2);
}

TEST_F(CliTest, ANonFiniteLossStopsNamingTheEpochAndKeepsTheLastCheckpoint) {
  const std::string ck = dir_ / "ck.safetensors", model = dir_ / "m.safetensors";
  // lr 1e30: the first steps throw the parameters so far that the loss overflows.
  const Result fit =
      run_cli(dir_, "fit " + data_ + " -o " + model + " --epochs 50 --lr 1e30 --dtype float32 " +
                        "--checkpoint " + ck + " --checkpoint-every 1");
  expect_user_error(fit, {"training: loss is", "at epoch", "lower the learning rate"}, model);
  ASSERT_TRUE(fs::exists(ck));
  const Model<float> last_good = load_model<float>(ck);
  EXPECT_TRUE(last_good.dictionary.allFinite());
}

TEST_F(CliTest, AFailedFitKeepsThePreviousModelIntact) {
  const std::string model = dir_ / "m.safetensors";
  ASSERT_EQ(run_cli(dir_, "fit " + data_ + " -o " + model + " --epochs 2 -q").code, 0);
  const std::string before = slurp(model);
  expect_user_error(run_cli(dir_, "fit " + data_ + " -o " + model + " --lr -1"), {"--lr"}, "");
  EXPECT_EQ(slurp(model), before);
}

TEST_F(CliTest, AnUnwritableOutputIsAUserError) {
  expect_user_error(run_cli(dir_, "toy -o " + (dir_ / "no/such/folder/toy.npy")),
                    {"no/such/folder/toy.npy"}, "");
  expect_user_error(run_cli(dir_, "toy -o " + (dir_ / "toy.bin")), {"toy.bin"}, dir_ / "toy.bin");
}

using testing::file_bytes;

// Output paths are checked before any work: a missing folder, a target that is
// not a regular file, or an output that is another output or an input fails at
// once, names the flag, and writes nothing.
TEST_F(CliTest, BadOutputPathsFailBeforeAnyWork) {
  const std::string model = dir_ / "m.safetensors";
  const std::string fit = "fit " + data_ + " -e 5 -q";
  expect_user_error(run_cli(dir_, fit + " -o " + (dir_ / "missing/m.safetensors")),
                    {"-o: ", "missing/m.safetensors: the folder", "does not exist"}, "");
  // A bad --log no longer leaves a new model under -o.
  expect_user_error(run_cli(dir_, fit + " -o " + model + " --log " + (dir_ / "missing/l.csv")),
                    {"--log: ", "does not exist"}, model);
  expect_user_error(run_cli(dir_, fit + " -o /dev/null"),
                    {"-o: /dev/null exists and is not a regular file (a character device)"}, "");
  EXPECT_TRUE(fs::is_character_file("/dev/null"));
  ASSERT_EQ(::mkfifo((dir_ / "fifo").c_str(), 0600), 0);
  expect_user_error(run_cli(dir_, fit + " -o " + (dir_ / "fifo")), {"(a FIFO)"}, "");
  EXPECT_TRUE(fs::is_fifo(dir_ / "fifo"));
  fs::create_directory(dir_ / "folder");
  expect_user_error(run_cli(dir_, fit + " -o " + (dir_ / "folder")), {"(a folder)"}, "");
  // Collisions: with the data (also through another spelling), between outputs.
  const std::string data_bytes = file_bytes(data_);
  expect_user_error(run_cli(dir_, fit + " -o " + data_), {"is also the input data"}, "");
  expect_user_error(run_cli(dir_, fit + " -o " + model + " --checkpoint " + data_),
                    {"--checkpoint: ", "is also the input data"}, model);
  expect_user_error(run_cli(dir_, fit + " -o " + model + " --log " + model),
                    {"--log: ", "is also -o: two outputs cannot be the same file"}, model);
  EXPECT_EQ(file_bytes(data_), data_bytes);
  // --checkpoint equal to --resume is how a long run keeps checkpointing.
  const std::string checkpoint = dir_ / "c.safetensors";
  ASSERT_EQ(run_cli(dir_, fit + " -o " + model + " --checkpoint " + checkpoint).code, 0);
  const Result resumed =
      run_cli(dir_, "fit " + data_ + " -e 8 -q -o " + (dir_ / "m2.safetensors") + " --resume " +
                        checkpoint + " --checkpoint " + checkpoint);
  EXPECT_EQ(resumed.code, 0) << resumed.err;
  // encode and reconstruct: the output may be neither the model nor the data.
  fs::create_symlink(model, dir_ / "link.safetensors");
  expect_user_error(
      run_cli(dir_, "encode " + model + " " + data_ + " -o " + (dir_ / "link.safetensors")),
      {"-o: ", "is also the input model"}, "");
  expect_user_error(run_cli(dir_, "reconstruct " + model + " " + data_ + " -o " + data_),
                    {"is also the input data"}, "");
  EXPECT_EQ(file_bytes(data_), data_bytes);
}

// The writers choose the format by the extension: a name that names another
// format (a model under .npy) is refused before any work, and nothing is written.
TEST_F(CliTest, OutputNamesMustEndInTheirFormatsExtension) {
  const std::string fit = "fit " + data_ + " -e 3 -q";
  const std::string model = dir_ / "m.safetensors";
  expect_user_error(run_cli(dir_, fit + " -o " + (dir_ / "m.npy")),
                    {"-o: ", "m.npy: the name must end in .safetensors"}, "");
  expect_user_error(run_cli(dir_, fit + " -o " + model + " --log " + (dir_ / "log.txt")),
                    {"--log: ", "log.txt: the name must end in .csv"}, model);
  expect_user_error(run_cli(dir_, fit + " -o " + model + " --checkpoint " + (dir_ / "c.npy")),
                    {"--checkpoint: ", "c.npy: the name must end in .safetensors or .ckpt"}, model);
  ASSERT_EQ(run_cli(dir_, fit + " -o " + model + " --checkpoint " + (dir_ / "c.ckpt")).code, 0);
  expect_user_error(run_cli(dir_, "encode " + model + " " + data_ + " -o " + (dir_ / "c.txt")),
                    {"-o: ", "c.txt: the name must end in .npy or .csv or .npz"}, "");
  expect_user_error(run_cli(dir_, "reconstruct " + model + " " + data_ + " -o " + (dir_ / "r.npz")),
                    {"-o: ", "r.npz: the name must end in .npy or .csv"}, "");
  EXPECT_FALSE(fs::exists(dir_ / "m.npy"));
  EXPECT_FALSE(fs::exists(dir_ / "log.txt"));
  EXPECT_FALSE(fs::exists(dir_ / "c.txt"));
  EXPECT_FALSE(fs::exists(dir_ / "r.npz"));
}

// `fit --resume` with a changed training setting: exit 1, one line naming the
// flag and both values, no model; unchanged: the uninterrupted run's file.
TEST_F(CliTest, ResumeRefusesEveryChangedSettingAndOtherwiseWritesTheWholeRunsFile) {
  const std::string ck = dir_ / "ck.safetensors", resumed = dir_ / "m2.safetensors";
  // The seed's preset throughout: under auto, --encoder sparsemax would bring sae's settings too.
  const std::string fit = "fit " + data_ + " -q --preset seed ";
  ASSERT_EQ(
      run_cli(dir_, fit + "--epochs 20 --checkpoint " + ck + " -o " + (dir_ / "m.safetensors"))
          .code,
      0);
  const std::string resume = fit + "--epochs 30 --resume " + ck + " -o " + resumed + " ";
  const std::pair<std::string, std::string> refused[] = {
      {"--encoder sparsemax", "--encoder softmax, this run has --encoder sparsemax"},
      {"--temperature 0.5", "--temperature 1, this run has --temperature 0.5"},
      {"--atoms 3", "--atoms 2, this run has --atoms 3"},
      {"--tied", "--tied false, this run has --tied true"},
      {"--decoder-bias mean", "--decoder-bias none, this run has --decoder-bias mean"},
      {"--init-dict data", "--init-dict uniform, this run has --init-dict data"},
      {"--dtype float64", "--dtype float32, this run has --dtype float64"},
      {"--lr 0.1", "--lr 0.001, this run has --lr 0.1"},
      {"--batch-size 100", "--batch-size 0, this run has --batch-size 100"}};
  for (const auto& [flags, message] : refused) {
    SCOPED_TRACE(flags);
    expect_user_error(run_cli(dir_, resume + flags),
                      {"ck.safetensors: checkpoint was made with " + message}, resumed);
  }
  // Unchanged (epochs, threads and outputs may differ): the uninterrupted run's model file.
  const std::string whole = dir_ / "whole.safetensors";
  ASSERT_EQ(run_cli(dir_, fit + "--epochs 30 --threads 1 -o " + whole).code, 0);
  const Result ok = run_cli(dir_, resume + "--threads 2");
  ASSERT_EQ(ok.code, 0) << ok.err;
  EXPECT_TRUE(file_bytes(resumed) == file_bytes(whole));
  fs::remove(resumed);
  // Another SIMD level than the checkpoint's: the error says how to continue.
  const std::string level = read_safetensors(ck).metadata.at("checkpoint.simd_level");
  const std::string cpu = read_safetensors(ck).metadata.at("checkpoint.cpu_simd_level");
  const std::string other = level != cpu ? cpu : level != "baseline" ? "baseline" : "";
  if (other.empty()) GTEST_SKIP() << "this CPU has no other SIMD level";
  const char* previous = std::getenv("DICTLEARN_SIMD");
  const std::string saved = previous ? previous : "";
  setenv("DICTLEARN_SIMD", other.c_str(), 1);
  const Result simd = run_cli(dir_, resume);
  previous ? setenv("DICTLEARN_SIMD", saved.c_str(), 1) : unsetenv("DICTLEARN_SIMD");
  expect_user_error(simd,
                    {"checkpoint was made at SIMD level " + level + ", this run is at " + other,
                     "set DICTLEARN_SIMD=" + level + " to continue it"},
                    resumed);
}

// fit's summary compares like with like: the MSE of the first and last epochs
// (the log's mse column) and the last FVU; the objective (the log's loss
// column) only when terms beyond the MSE are in it, named.
TEST_F(CliTest, FitSummaryShowsTheMseAndTheObjectiveSeparately) {
  const std::string log = dir_ / "auxk.csv";
  const Result auxk =
      run_cli(dir_, "fit " + data_ +
                        " --preset seed --encoder topk --k 1 --atoms 4 --auxk 0.5 --epochs 30 "
                        "--log " +
                        log + " -o " + (dir_ / "auxk.safetensors"));
  ASSERT_EQ(auxk.code, 0) << auxk.err;
  const TrainingLog rows = read_training_log(log);
  const auto cell = [&](size_t row, const char* column) {
    return fmt::format("{:.6g}", rows.rows.at(row).at(rows.column(column)));
  };
  const size_t last = rows.rows.size() - 1;
  ASSERT_EQ(last, 29u);
  EXPECT_NE(auxk.out.find("for 30 epochs; MSE " + cell(0, "mse") + " -> " + cell(last, "mse") +
                          ", FVU " + fmt::format("{:.4g}", rows.rows[last][rows.column("fvu")]) +
                          "; objective (MSE + AuxK) " + cell(0, "loss") + " -> " +
                          cell(last, "loss") + "; wrote "),
            std::string::npos)
      << auxk.out;
  EXPECT_NE(cell(last, "mse"), cell(last, "loss"));  // else the test shows nothing

  // One epoch (one pass over big data): its MSE, not "MSE a -> a".
  const Result one = run_cli(dir_, "fit " + data_ + " --epochs 1 -b 500 --encoder topk --k 1 -o " +
                                       (dir_ / "one.safetensors"));
  ASSERT_EQ(one.code, 0) << one.err;
  EXPECT_NE(one.out.find("for 1 epochs; MSE "), std::string::npos) << one.out;
  EXPECT_NE(one.out.find(" (mean over the epoch's batches), FVU "), std::string::npos) << one.out;
  EXPECT_EQ(one.out.find("->"), std::string::npos) << one.out;

  const Result plain = run_cli(dir_, "fit " + data_ + " --epochs 5 -o " + (dir_ / "m.safetensors"));
  ASSERT_EQ(plain.code, 0) << plain.err;
  EXPECT_NE(plain.out.find("for 5 epochs; MSE "), std::string::npos) << plain.out;
  EXPECT_EQ(plain.out.find("objective"), std::string::npos) << plain.out;
  EXPECT_EQ(plain.out.find("loss"), std::string::npos) << plain.out;
}

}  // namespace
}  // namespace dictlearn
