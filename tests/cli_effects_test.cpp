// The effect of every command and flag of the CLI (issue 12's audit: a flag
// that is parsed, recorded and then ignored must fail a test). encode and
// reconstruct are compared with the library's own results, plot with the
// images it writes; each training flag changes the trained model (or, for
// --threads, provably does not), and the flags whose effect can be stated
// exactly (--tied, --unit-atoms, --init-dict, --decoder-bias, the schedule,
// --snapshot-every, --checkpoint-every, --version, toy --points) are checked
// against that statement.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "cli_util.hpp"
#include "dictlearn/io.hpp"
#include "dictlearn/metrics.hpp"
#include "dictlearn/model.hpp"
#include "dictlearn/safetensors.hpp"
#include "dictlearn/sparse_codes.hpp"
#include "dictlearn/trainer.hpp"
#include "dictlearn/training_log.hpp"
#include "dictlearn/workflows.hpp"
#include "reference_objective.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

namespace fs = std::filesystem;
using testing::CliResult;
using testing::file_bytes;
using testing::max_abs_difference;
using testing::run_cli;
using testing::TempDir;

class CliEffectsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = dir_ / "toy.npy";
    ASSERT_EQ(run_cli(dir_, "toy -o " + data_ + " --seed 3").code, 0);
  }
  /// `dictlearn fit` of the toy data with `args` into `name`.safetensors.
  /// Runs fit under the seed's preset: each flag's effect on the seed's settings (under
  /// auto, sparse encoders would bring the sae preset's values as well).
  std::string fit(const std::string& name, const std::string& args) {
    const std::string model = dir_ / (name + ".safetensors");
    const CliResult result =
        run_cli(dir_, "fit " + data_ + " -o " + model + " -q --preset seed " + args);
    EXPECT_EQ(result.code, 0) << args << ": " << result.err;
    return model;
  }
  /// fit() with --log; returns the log.
  TrainingLog fit_log(const std::string& name, const std::string& args) {
    const std::string log = dir_ / (name + ".csv");
    fit(name, args + " --log " + log);
    return read_training_log(log);
  }
  TempDir dir_;
  std::string data_;
};

/// Whether two model files hold the same parameters: every tensor, bit for
/// bit, and the learned threshold.
bool same_parameters(const std::string& a, const std::string& b) {
  const TensorFile x = read_safetensors(a), y = read_safetensors(b);
  if (x.tensors.size() != y.tensors.size()) return false;
  for (const auto& [name, tensor] : x.tensors) {
    const auto other = y.tensors.find(name);
    if (other == y.tensors.end() || other->second.shape != tensor.shape ||
        other->second.values != tensor.values) {
      return false;
    }
  }
  return x.metadata.at("threshold") == y.metadata.at("threshold");
}

/// One column of a log.
std::vector<double> column(const TrainingLog& log, const std::string& name) {
  const int c = log.column(name);
  EXPECT_GE(c, 0) << name;
  std::vector<double> values;
  for (const auto& row : log.rows) values.push_back(c >= 0 ? row[c] : NAN);
  return values;
}

// ------------------------------------------- encode, reconstruct, eval

// The CLI's codes and reconstructions are the library's encode() and
// reconstruct() of the same model and data: bit for bit in .npy and .npz,
// and in .csv up to the text's precision; eval prints the library's metrics.
TEST_F(CliEffectsTest, EncodeReconstructAndEvalGiveTheLibrarysResults) {
  const struct {
    std::string name, args;
  } models[] = {{"softmax", "-e 30 --lr 0.01 --temperature 0.5"},
                {"topk", "-e 5 --encoder topk --k 1 --atoms 3 -b 500 --decoder-bias mean"},
                {"relu64", "-e 5 --encoder relu --atoms 3 --dtype float64"}};
  for (const auto& m : models) {
    SCOPED_TRACE(m.name);
    const std::string model = fit(m.name, m.args);
    auto check = [&]<typename T>() {
      const Model<T> loaded = load_model<T>(model);
      const Matrix<T> X = read_matrix<T>(data_);
      const Matrix<T> codes = encode(loaded, X), out = reconstruct(loaded, X);
      ASSERT_EQ(codes.rows(), 2000);
      EXPECT_GT(testing::max_abs(codes), 0.1);  // not trivially zero
      const std::string base = dir_ / m.name;
      ASSERT_EQ(run_cli(dir_, "encode " + model + " " + data_ + " -o " + base + ".npy").code, 0);
      EXPECT_EQ(read_matrix<T>(base + ".npy"), codes);
      ASSERT_EQ(run_cli(dir_, "encode " + model + " " + data_ + " -o " + base + ".npz").code, 0);
      EXPECT_EQ(to_dense(read_sparse_codes<T>(base + ".npz")), codes);
      ASSERT_EQ(run_cli(dir_, "encode " + model + " " + data_ + " -o " + base + ".csv").code, 0);
      EXPECT_LT(max_abs_difference(read_matrix<double>(base + ".csv"), codes), 1e-6);
      ASSERT_EQ(
          run_cli(dir_, "reconstruct " + model + " " + data_ + " -o " + base + "_out.npy").code, 0);
      EXPECT_EQ(read_matrix<T>(base + "_out.npy"), out);
      ASSERT_EQ(
          run_cli(dir_, "reconstruct " + model + " " + data_ + " -o " + base + "_out.csv").code, 0);
      EXPECT_LT(max_abs_difference(read_matrix<double>(base + "_out.csv"), out), 1e-6);

      const CliResult eval = run_cli(dir_, "eval " + model + " " + data_);
      ASSERT_EQ(eval.code, 0) << eval.err;
      const Metrics metrics = evaluate(loaded, X);
      auto printed = [&](const std::string& label) {
        const size_t at = eval.out.find(label);
        EXPECT_NE(at, std::string::npos) << label << " in " << eval.out;
        return at == std::string::npos ? NAN : std::stod(eval.out.substr(at + label.size()));
      };
      EXPECT_NEAR(printed("MSE"), metrics.mse, 1e-7 * metrics.mse);
      EXPECT_NEAR(printed("FVU"), metrics.fvu, 1e-5 * metrics.fvu);
      EXPECT_NEAR(printed("L0"), metrics.l0, 1e-3 * metrics.l0);
      EXPECT_NEAR(printed("samples"), 2000, 0);
    };
    if (model_dtype(model) == DType::float64) {
      check.template operator()<double>();
    } else {
      check.template operator()<float>();
    }
  }
}

// ------------------------------------------------------------------ plot

/// A PNG whose chunks are whole up to IEND at the very end, and its size.
void expect_whole_png(const std::string& path, uint32_t width, uint32_t height) {
  const std::string bytes = file_bytes(path);
  ASSERT_GT(bytes.size(), 57u) << path;
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << path;
  EXPECT_EQ(bytes.substr(12, 4), "IHDR") << path;
  auto be32 = [&](size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = v << 8 | static_cast<unsigned char>(bytes[at + i]);
    return v;
  };
  EXPECT_EQ(be32(16), width) << path;
  EXPECT_EQ(be32(20), height) << path;
  // Walk the chunks: each length fits, and the last is IEND.
  size_t at = 8;
  std::string type;
  while (at + 12 <= bytes.size()) {
    const uint32_t length = be32(at);
    type = bytes.substr(at + 4, 4);
    at += 12 + static_cast<size_t>(length);
    if (type == "IEND") break;
  }
  EXPECT_EQ(type, "IEND") << path;
  EXPECT_EQ(at, bytes.size()) << path << ": bytes after IEND or a cut chunk";
}

TEST_F(CliEffectsTest, PlotWritesWholeImagesThatDependOnTheInputs) {
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    DICTLEARN_SKIP("gnuplot is not installed");
  }
  const std::string other_data = dir_ / "other.npy";
  ASSERT_EQ(run_cli(dir_, "toy -o " + other_data + " --seed 4").code, 0);
  const std::string a = fit("a", "-e 20 --lr 0.01 --seed 1 --log " + (dir_ / "a.csv")),
                    b = fit("b", "-e 20 --lr 0.01 --seed 2 --log " + (dir_ / "b.csv"));
  auto plot = [&](const std::string& args, const std::string& name) {
    const std::string folder = dir_ / name;
    const CliResult result = run_cli(dir_, "plot " + args + " -o " + folder);
    EXPECT_EQ(result.code, 0) << result.err;
    return folder;
  };
  auto with = [&](const std::string& model) {
    return data_ + " --model " + model + " --log " +
           (dir_ / (fs::path(model).stem().string() + ".csv"));
  };
  const std::string plot_a = plot(with(a), "plot_a"), plot_b = plot(with(b), "plot_b");
  for (const std::string& folder : {plot_a, plot_b}) {
    for (const char* name : {"scatter.png", "loss.png", "atoms.png", "usage.png"}) {
      expect_whole_png(folder + "/" + name, 800, 600);
    }
    const std::string gif = file_bytes(folder + "/atoms.gif");
    ASSERT_GT(gif.size(), 13u);
    EXPECT_EQ(gif.substr(0, 6), "GIF89a");
    EXPECT_EQ(gif.back(), '\x3b') << "the GIF trailer";
    EXPECT_EQ(static_cast<unsigned char>(gif[6]) | static_cast<unsigned char>(gif[7]) << 8, 640);
  }
  // Another model: other atoms, loss and paths; the same data: the same
  // scatter. (Compared with TRUE/FALSE: a failure would print whole images.)
  for (const char* name : {"atoms.png", "loss.png", "atoms.gif"}) {
    EXPECT_TRUE(file_bytes(plot_a + "/" + name) != file_bytes(plot_b + "/" + name)) << name;
  }
  EXPECT_TRUE(file_bytes(plot_a + "/scatter.png") == file_bytes(plot_b + "/scatter.png"));
  // Other data alone: only its scatter, another one.
  const std::string plot_other = plot(other_data, "plot_other");
  expect_whole_png(plot_other + "/scatter.png", 800, 600);
  EXPECT_TRUE(file_bytes(plot_a + "/scatter.png") != file_bytes(plot_other + "/scatter.png"));
  EXPECT_FALSE(fs::exists(plot_other + "/atoms.png"));
}

// -------------------------------------------------- training flags: any effect

// Each training flag changes the trained model (its tensors or threshold);
// --threads does not, by design. A flag parsed and then dropped fails here.
TEST_F(CliEffectsTest, EveryTrainingFlagChangesTheModel) {
  const std::string topk = "-e 4 --encoder topk --k 1 --atoms 8 -b 250 ";
  const struct {
    std::string flag, base, changed;
  } cases[] = {
      {"--atoms", "-e 4", "-e 4 --atoms 3"},
      {"--epochs", "-e 4", "-e 5"},
      {"--batch-size", "-e 4", "-e 4 -b 500"},
      {"--encoder", "-e 4", "-e 4 --encoder relu"},
      {"--k", "-e 4 --encoder topk --atoms 4 --k 2", "-e 4 --encoder topk --atoms 4 --k 1"},
      {"--temperature", "-e 4", "-e 4 --temperature 0.5"},
      {"--threshold-decay", "-e 4 --encoder batchtopk --atoms 4 --k 1 -b 500",
       "-e 4 --encoder batchtopk --atoms 4 --k 1 -b 500 --threshold-decay 0.5"},
      {"--l1", "-e 4 --encoder relu --atoms 4", "-e 4 --encoder relu --atoms 4 --l1 0.5"},
      {"--ortho", "-e 4 --atoms 4", "-e 4 --atoms 4 --ortho 1"},
      {"--unit-atoms", "-e 4", "-e 4 --unit-atoms"},
      {"--init-dict", "-e 4", "-e 4 --init-dict data"},
      {"--tied", "-e 4", "-e 4 --tied"},
      {"--decoder-bias", "-e 4", "-e 4 --decoder-bias zero"},
      {"--warmup-steps", "-e 4", "-e 4 --warmup-steps 2"},
      {"--lr-decay", "-e 4", "-e 4 --lr-decay 0.5"},
      {"--patience", "-e 8 --tol 0.5", "-e 8 --tol 0.5 --patience 1"},
      {"--tol", "-e 8 --patience 1 --tol 0", "-e 8 --patience 1 --tol 0.5"},
      {"--dead-after", topk + "--auxk 0.5 --dead-after 100000",
       topk + "--auxk 0.5 --dead-after 250"},
      {"--auxk", topk + "--dead-after 250", topk + "--dead-after 250 --auxk 0.5"},
      {"--auxk-k", topk + "--dead-after 250 --auxk 0.5",
       topk + "--dead-after 250 --auxk 0.5 --auxk-k 3"},
      {"--resample-every", topk + "--dead-after 250", topk + "--dead-after 250 --resample-every 2"},
      {"--resample-scale", topk + "--dead-after 250 --resample-every 2",
       topk + "--dead-after 250 --resample-every 2 --resample-scale 1"},
      {"--lr", "-e 4", "-e 4 --lr 0.01"},
      {"--beta1", "-e 4", "-e 4 --beta1 0.5"},
      {"--beta2", "-e 4", "-e 4 --beta2 0.9"},
      {"--eps", "-e 4", "-e 4 --eps 0.01"},
      {"--seed", "-e 4", "-e 4 --seed 9"},
      {"--dtype", "-e 4", "-e 4 --dtype float64"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.flag);
    const std::string base = fit("base", c.base), changed = fit("changed", c.changed);
    EXPECT_FALSE(same_parameters(base, changed)) << c.flag << " had no effect";
    // The run is deterministic: the difference is the flag's.
    EXPECT_TRUE(same_parameters(base, fit("again", c.base)));
  }
  EXPECT_TRUE(same_parameters(fit("one", "-e 4 --threads 1"), fit("two", "-e 4 --threads 2")))
      << "results must not depend on --threads";
}

// ------------------------------------------- training flags: the stated effect

TEST_F(CliEffectsTest, TiedStartsTheEncoderWeightsAtTheDictionary) {
  for (const char* init : {"", " --init-dict data"}) {
    SCOPED_TRACE(init);
    const Model<float> tied = load_model<float>(fit("tied", std::string("-e 0 --tied") + init));
    EXPECT_EQ(tied.encoder_weight, tied.dictionary);
    const Model<float> untied = load_model<float>(fit("untied", std::string("-e 0") + init));
    EXPECT_EQ(untied.dictionary, tied.dictionary);  // the same dictionary, another encoder
    EXPECT_GT(max_abs_difference(untied.encoder_weight, untied.dictionary), 0.1);
    EXPECT_EQ(tied.metadata.at("train.tied"), "true");
  }
}

TEST_F(CliEffectsTest, UnitAtomsInitDictAndDecoderBiasDoWhatTheySay) {
  const Matrix<float> X = read_matrix<float>(data_);
  const Model<float> unit =
      load_model<float>(fit("unit", "-e 20 --lr 0.05 --atoms 3 --unit-atoms"));
  const Model<float> free = load_model<float>(fit("free", "-e 20 --lr 0.05 --atoms 3"));
  for (int k = 0; k < 3; ++k) {
    EXPECT_NEAR(unit.dictionary.row(k).norm(), 1.0f, 1e-5f) << "atom " << k;
  }
  EXPECT_GT(std::abs(free.dictionary.row(0).norm() - 1.0f), 1e-3f);

  // --init-dict data: every atom is one of the samples, and no two the same.
  const Model<float> drawn = load_model<float>(fit("drawn", "-e 0 --atoms 5 --init-dict data"));
  std::set<Eigen::Index> rows;
  for (int k = 0; k < 5; ++k) {
    for (Eigen::Index i = 0; i < X.rows(); ++i) {
      if (X.row(i) == drawn.dictionary.row(k)) {
        rows.insert(i);
        break;
      }
    }
  }
  EXPECT_EQ(rows.size(), 5u) << "atoms that are not distinct samples";

  const Model<float> mean = load_model<float>(fit("mean", "-e 0 --decoder-bias mean"));
  ASSERT_EQ(mean.decoder_bias.size(), 2);
  const Eigen::RowVectorXd means = X.cast<double>().colwise().mean();
  EXPECT_NEAR(mean.decoder_bias[0], means[0], 1e-6);
  EXPECT_NEAR(mean.decoder_bias[1], means[1], 1e-6);
  const Model<float> zero = load_model<float>(fit("zero", "-e 0 --decoder-bias zero"));
  EXPECT_EQ(zero.decoder_bias, Vector<float>::Zero(2));
  EXPECT_EQ(load_model<float>(fit("none", "-e 0")).decoder_bias.size(), 0);
}

TEST_F(CliEffectsTest, PenaltiesLowerWhatTheyPenalize) {
  const Matrix<float> X = read_matrix<float>(data_);
  auto l1_of = [&](const std::string& model) {
    return encode(load_model<float>(model), X).cwiseAbs().sum() / X.rows();
  };
  const std::string relu = "-e 150 --lr 0.01 --encoder relu --atoms 4";
  const double plain = l1_of(fit("relu", relu)), sparse = l1_of(fit("l1", relu + " --l1 0.5"));
  EXPECT_LT(sparse, 0.8 * plain) << "--l1 did not shrink the codes";
  auto ortho_of = [&](const std::string& model) {
    return testing::reference::ortho_penalty(load_model<float>(model).dictionary);
  };
  const std::string softmax = "-e 150 --lr 0.01 --atoms 3";
  const double correlated = ortho_of(fit("soft", softmax)),
               spread = ortho_of(fit("ortho", softmax + " --ortho 1"));
  EXPECT_LT(spread, 0.8 * correlated) << "--ortho did not spread the atoms";
}

// The learning rate of each epoch (full batch: one step per epoch), from the
// documented rules: linear warm-up from 0 over --warmup-steps steps; linear
// decay to 0 over the last --lr-decay of the steps.
TEST_F(CliEffectsTest, TheScheduleFlagsSetTheLoggedLearningRate) {
  const TrainingLog log = fit_log("schedule", "-e 6 --lr 0.01 --warmup-steps 3 --lr-decay 0.5");
  const std::vector<double> lr = column(log, "lr");
  const std::vector<double> expected = {0.01 / 3, 0.02 / 3, 0.01, 0.01, 0.02 / 3, 0.01 / 3};
  ASSERT_EQ(lr.size(), expected.size());
  for (size_t e = 0; e < lr.size(); ++e)
    EXPECT_NEAR(lr[e], expected[e], 1e-12) << "epoch " << e + 1;
  for (double value : column(fit_log("constant", "-e 3 --lr 0.02"), "lr")) EXPECT_EQ(value, 0.02);
}

TEST_F(CliEffectsTest, PatienceAndTolStopEarly) {
  EXPECT_EQ(fit_log("all", "-e 40 --tol 0.5").rows.size(), 40u);
  const size_t stopped = fit_log("stopped", "-e 40 --tol 0.5 --patience 2").rows.size();
  EXPECT_LE(stopped, 4u);  // no epoch halves the loss: two epochs without improvement, then stop
  EXPECT_GT(fit_log("tol0", "-e 40 --tol 0 --patience 2 --lr 0.01").rows.size(), stopped);
  const CliResult printed = run_cli(dir_, "fit " + data_ + " -o " + (dir_ / "p.safetensors") +
                                              " -e 40 --tol 0.5 " + "--patience 2");
  EXPECT_NE(printed.out.find("(stopped early)"), std::string::npos) << printed.out;
}

TEST_F(CliEffectsTest, DeadAfterDecidesWhichAtomsAreDead) {
  const std::string topk = "-e 3 --encoder topk --k 1 --atoms 8 -b 250";
  const std::vector<double> soon = column(fit_log("soon", topk + " --dead-after 250"),
                                          "dead_fraction"),
                            never = column(fit_log("never", topk + " --dead-after 100000"),
                                           "dead_fraction");
  EXPECT_GT(soon.back(), 0.0);
  EXPECT_EQ(never.back(), 0.0);
}

TEST_F(CliEffectsTest, QuietSilencesTheSummary) {
  const std::string model = dir_ / "q.safetensors";
  const CliResult loud = run_cli(dir_, "fit " + data_ + " -o " + model + " -e 3");
  EXPECT_NE(loud.out.find("trained 2 softmax atoms on 2000 x 2 for 3 epochs"), std::string::npos)
      << loud.out;
  const CliResult quiet = run_cli(dir_, "fit " + data_ + " -o " + model + " -e 3 -q");
  EXPECT_EQ(quiet.code, 0);
  EXPECT_EQ(quiet.out, "");
  EXPECT_EQ(quiet.err, "");
}

// Atom snapshots in the log: epoch 1, every --snapshot-every epochs and the
// last, each the atoms after that epoch (2-D data: in the data's coordinates).
TEST_F(CliEffectsTest, SnapshotEverySpacesTheAtomColumnsOfTheLog) {
  auto snapshot_epochs = [&](const TrainingLog& log) {
    std::vector<int> epochs;
    const int x = log.column("atom0_x");
    EXPECT_GE(x, 0);
    for (const auto& row : log.rows) {
      if (x >= 0 && !std::isnan(row[x])) epochs.push_back(static_cast<int>(row[0]));
    }
    return epochs;
  };
  const TrainingLog every5 = fit_log("every5", "-e 23 --snapshot-every 5");
  EXPECT_EQ(snapshot_epochs(every5), (std::vector<int>{1, 5, 10, 15, 20, 23}));
  EXPECT_EQ(snapshot_epochs(fit_log("every1", "-e 23 --snapshot-every 1")).size(), 23u);
  // The last snapshot is the final model's atoms.
  const Model<float> model = load_model<float>(dir_ / "every5.safetensors");
  const auto& last = every5.rows.back();
  for (int k = 0; k < 2; ++k) {
    EXPECT_NEAR(last[every5.column("atom" + std::to_string(k) + "_x")], model.dictionary(k, 0),
                1e-6);
    EXPECT_NEAR(last[every5.column("atom" + std::to_string(k) + "_y")], model.dictionary(k, 1),
                1e-6);
  }
}

// --checkpoint-every: a checkpoint after every N-th epoch (and the last);
// seen from the progress callback, which runs after each epoch's checkpoint.
TEST_F(CliEffectsTest, CheckpointEverySpacesTheCheckpoints) {
  const std::string checkpoint = dir_ / "ck.safetensors";
  FitJob job{.data = data_,
             .output = dir_ / "m.safetensors",
             .options = {.epochs = 7},
             .checkpoint = checkpoint,
             .checkpoint_every = 3};
  std::vector<std::string> seen;
  run_fit(job, {.progress = [&](const EpochStats&, int) {
            seen.push_back(fs::exists(checkpoint)
                               ? read_safetensors(checkpoint).metadata.at("checkpoint.epochs_done")
                               : "-");
          }});
  EXPECT_EQ(seen, (std::vector<std::string>{"-", "-", "3", "3", "3", "6", "7"}));
}

// ---------------------------------------------------------- the other commands

TEST_F(CliEffectsTest, VersionNamesTheVersionAndTheKernels) {
  const CliResult version = run_cli(dir_, "--version");
  EXPECT_EQ(version.code, 0);
  EXPECT_EQ(version.out, std::string("dictlearn ") + DICTLEARN_VERSION_STRING +
                             " (matrix products: " + matrix_product_backend() +
                             "; vector kernels: " + vector_kernel_level() + ")\n");
  EXPECT_EQ(version.err, "");
}

TEST_F(CliEffectsTest, ToyPointsAndSeedShapeTheData) {
  const std::string small = dir_ / "small.npy";
  ASSERT_EQ(run_cli(dir_, "toy -o " + small + " --points 7").code, 0);
  const Matrix<double> X = read_matrix<double>(small);
  ASSERT_EQ(X.rows(), 14);  // two clusters of 7
  ASSERT_EQ(X.cols(), 2);
  // The first cluster around (1, 0), the second around (0, 1) (spread 0.1).
  EXPECT_NEAR(X.topRows(7).col(0).mean(), 1.0, 0.15);
  EXPECT_NEAR(X.bottomRows(7).col(1).mean(), 1.0, 0.15);
  const std::string again = dir_ / "again.npy", other = dir_ / "other.npy";
  ASSERT_EQ(run_cli(dir_, "toy -o " + again + " --seed 3").code, 0);
  ASSERT_EQ(run_cli(dir_, "toy -o " + other + " --seed 4").code, 0);
  EXPECT_TRUE(file_bytes(again) == file_bytes(data_));
  EXPECT_TRUE(file_bytes(other) != file_bytes(data_));
  // The default seed is 0.
  ASSERT_EQ(run_cli(dir_, "toy -o " + again).code, 0);
  ASSERT_EQ(run_cli(dir_, "toy -o " + other + " --seed 0").code, 0);
  EXPECT_TRUE(file_bytes(again) == file_bytes(other));
}

TEST_F(CliEffectsTest, DemoTakesTheTrainingFlagsAndItsFolder) {
  const std::string folder = dir_ / "demo";
  const CliResult demo =
      run_cli(dir_, "demo -o " + folder + " --epochs 5 --atoms 3 --encoder relu -q");
  ASSERT_EQ(demo.code, 0) << demo.err;
  const Model<float> model = load_model<float>(folder + "/model.safetensors");
  EXPECT_EQ(model.n_atoms(), 3);
  EXPECT_EQ(model.encoder.kind, EncoderKind::relu);
  EXPECT_EQ(read_training_log(folder + "/log.csv").rows.size(), 5u);
  EXPECT_EQ(read_matrix<float>(folder + "/data.npy").rows(), 2000);
  EXPECT_NE(demo.out.find("atom 2:"), std::string::npos) << demo.out;
}

}  // namespace
}  // namespace dictlearn
