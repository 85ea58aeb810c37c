// The presets of `dictlearn fit`: which one a run gets, the sae rules, flags
// given left alone, and the CLI end to end (plain fit stays the seed's).
#include "dictlearn/presets.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "cli_util.hpp"
#include "dictlearn/encoders.hpp"
#include "dictlearn/error.hpp"
#include "dictlearn/model.hpp"
#include "dictlearn/parameters.hpp"
#include "dictlearn/safetensors.hpp"

namespace dictlearn {
namespace {

using testing::file_bytes;
using testing::run_cli;
using testing::TempDir;

/// Every option's value as text, to compare whole option sets.
std::map<std::string, std::string> values(const FitOptions& options) {
  std::map<std::string, std::string> all;
  for (const auto& parameter : fit_parameters())
    all[parameter.flag] = parameter_value(parameter, options);
  return all;
}

FitOptions topk() {
  FitOptions options;
  options.encoder.kind = EncoderKind::topk;
  return options;
}

TEST(PresetsTest, AutoIsSaeForEveryEncoderButSoftmax) {
  EXPECT_EQ(choose_preset("auto", EncoderKind::softmax), Preset::seed);
  for (const EncoderTraits& traits : encoder_table()) {
    if (traits.kind == EncoderKind::softmax) continue;
    EXPECT_EQ(choose_preset("auto", traits.kind), Preset::sae) << traits.name;
  }
  EXPECT_EQ(choose_preset("seed", EncoderKind::topk), Preset::seed);
  EXPECT_EQ(choose_preset("sae", EncoderKind::softmax), Preset::sae);
  try {
    choose_preset("SAE", EncoderKind::topk);
    FAIL() << "an unknown preset was accepted";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "--preset: must be auto, seed or sae, got 'SAE'");
  }
}

TEST(PresetsTest, SeedChangesNothing) {
  FitOptions options = topk();
  apply_preset(Preset::seed, options, {}, {.rows = 50000, .dim = 64});
  EXPECT_EQ(values(options), values(topk()));
}

TEST(PresetsTest, SaeOnFacePatchesAndDigits) {
  FitOptions face = topk();
  apply_preset(Preset::sae, face, {}, {.rows = 50000, .dim = 64});
  EXPECT_EQ(face.n_atoms, 256);
  EXPECT_EQ(face.encoder.k, 6);
  EXPECT_EQ(face.batch_size, 256);
  EXPECT_EQ(face.epochs, 64);  // 196 batches an epoch: 64 passes are 12,544 steps
  EXPECT_DOUBLE_EQ(face.adam.lr, 1.6e-3);
  EXPECT_EQ(face.lr_decay, 0.2);
  EXPECT_EQ(face.dictionary_init, DictionaryInit::uniform);
  EXPECT_TRUE(face.unit_atoms);
  EXPECT_TRUE(face.tied);
  EXPECT_EQ(face.decoder_bias, DecoderBiasInit::mean);
  EXPECT_EQ(face.auxk, 0.125);
  EXPECT_EQ(face.dead_after, 50000);
  EXPECT_EQ(face.auxk_k, 6);             // k
  EXPECT_EQ(face.resample_every, 1045);  // 12,544 steps / 12
  EXPECT_EQ(face.resample_scale, 1.0);
  // Options no row names keep the seed's values.
  EXPECT_EQ(face.adam.beta2, FitOptions{}.adam.beta2);
  EXPECT_EQ(face.threshold_decay, FitOptions{}.threshold_decay);

  FitOptions digits = topk();
  apply_preset(Preset::sae, digits, {}, {.rows = 1438, .dim = 64});
  EXPECT_EQ(digits.epochs, 1000);  // 6 batches an epoch: 6,000 steps

  FitOptions synth = topk();  // 352 batches an epoch: 56 passes fit in 20,000 steps
  apply_preset(Preset::sae, synth, {}, {.rows = 90000, .dim = 128});
  EXPECT_EQ(synth.epochs, 56);
  EXPECT_EQ(digits.dead_after, 1438);
}

TEST(PresetsTest, SaeOnBigDataIsOnePassAndAtomsFollowTheDimension) {
  FitOptions big = topk();
  apply_preset(Preset::sae, big, {}, {.rows = 4'000'000, .dim = 128});
  EXPECT_EQ(big.n_atoms, 512);
  EXPECT_EQ(big.encoder.k, 13);
  EXPECT_EQ(big.epochs, 1);
  EXPECT_EQ(big.dead_after, 65536);  // AuxK starts within the one pass
  EXPECT_DOUBLE_EQ(big.adam.lr, 2e-4 * std::sqrt(16384.0 / 512));

  FitOptions wide = topk();
  apply_preset(Preset::sae, wide, {}, {.rows = 100000, .dim = 4096});
  EXPECT_EQ(wide.encoder.k, 32);  // sparsify's k is the ceiling

  // Fewer samples than 4 x dim: at most one atom per sample, k at most the atoms.
  FitOptions few = topk();
  apply_preset(Preset::sae, few, {}, {.rows = 3, .dim = 64});
  EXPECT_EQ(few.n_atoms, 3);
  EXPECT_EQ(few.encoder.k, 3);
  EXPECT_EQ(few.epochs, 6000);   // one batch an epoch
  EXPECT_EQ(few.adam.lr, 1e-2);  // the rule's 0.015 capped
}

TEST(PresetsTest, FlagsGivenAreLeftAloneAndTheRestFollowThem) {
  FitOptions options = topk();
  options.n_atoms = 10;
  options.batch_size = 1000;
  options.adam.lr = 0.5;
  options.tied = false;
  apply_preset(Preset::sae, options, {"atoms", "batch-size", "lr", "tied"},
               {.rows = 50000, .dim = 64});
  EXPECT_EQ(options.n_atoms, 10);
  EXPECT_EQ(options.encoder.k, 6);
  EXPECT_EQ(options.batch_size, 1000);
  EXPECT_EQ(options.epochs, 120);  // 50 batches of 1000 an epoch
  EXPECT_EQ(options.adam.lr, 0.5);
  EXPECT_FALSE(options.tied);
  EXPECT_TRUE(options.unit_atoms);
}

TEST(PresetsTest, KIsSetOnlyForEncodersThatReadIt) {
  FitOptions options;
  options.encoder.kind = EncoderKind::relu;
  const std::vector<std::string> applied =
      apply_preset(Preset::sae, options, {}, {.rows = 50000, .dim = 64});
  EXPECT_EQ(options.encoder.k, 0);
  // AuxK is for the encoders that select the top k, as the table says.
  EXPECT_EQ(options.auxk, 0);
  EXPECT_EQ(options.auxk_k, 0);
  for (const char* flag : {"k", "auxk", "auxk-k"})
    EXPECT_EQ(std::count(applied.begin(), applied.end(), flag), 0) << flag;
  EXPECT_EQ(applied.front(), "atoms");
  EXPECT_EQ(options.n_atoms, 256);
}

TEST(PresetsTest, EveryRowNamesAFitOptionAndTheDocsShowTheTable) {
  for (const PresetRow& row : preset_table()) {
    EXPECT_NE(find_parameter(fit_parameters(), row.flag), nullptr) << row.flag;
    EXPECT_NE(presets_markdown().find("| `--" + row.flag + "` |"), std::string::npos) << row.flag;
  }
  EXPECT_NE(options_markdown().find(presets_markdown()), std::string::npos);
}

class PresetsCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = dir_ / "toy.npy";
    ASSERT_EQ(run_cli(dir_, "toy -o " + data_ + " --seed 3").code, 0);
  }
  std::string metadata(const std::string& model, const std::string& key) {
    const auto meta = load_model<float>(model).metadata;
    const auto it = meta.find(key);
    return it == meta.end() ? "" : it->second;
  }
  TempDir dir_;
  std::string data_;
};

TEST_F(PresetsCliTest, PlainFitIsTheSeedsLoopAndTopkIsSae) {
  const std::string plain = dir_ / "plain.safetensors", seed = dir_ / "seed.safetensors";
  ASSERT_EQ(run_cli(dir_, "fit " + data_ + " -o " + plain + " -e 5 -q").code, 0);
  ASSERT_EQ(run_cli(dir_, "fit " + data_ + " -o " + seed + " -e 5 -q --preset seed").code, 0);
  EXPECT_EQ(file_bytes(plain), file_bytes(seed));
  EXPECT_EQ(metadata(plain, "train.preset"), "seed");
  EXPECT_EQ(metadata(plain, "train.atoms"), "2");

  const std::string sae = dir_ / "sae.safetensors";
  const auto run = run_cli(dir_, "fit " + data_ + " -o " + sae + " --encoder topk -e 2");
  ASSERT_EQ(run.code, 0) << run.err;
  // The values chosen are printed, so a run says what it trains with.
  EXPECT_NE(run.err.find("dictlearn: note: preset sae (--preset seed for the seed's defaults): "
                         "--atoms 8 --k 1 --batch-size 256 --lr 0.00905"),
            std::string::npos)
      << run.err;
  EXPECT_EQ(run.err.find("--epochs"), std::string::npos) << run.err;  // given
  EXPECT_EQ(metadata(sae, "train.preset"), "sae");
  EXPECT_EQ(metadata(sae, "train.atoms"), "8");
  EXPECT_EQ(metadata(sae, "train.k"), "1");
  EXPECT_EQ(metadata(sae, "train.init-dict"), "uniform");
  const Model<float> model = load_model<float>(sae);
  EXPECT_EQ(model.n_atoms(), 8);
  EXPECT_EQ(model.decoder_bias.size(), 2);

  // --preset sae applies to softmax as well; a flag given wins over it.
  const std::string named = dir_ / "named.safetensors";
  ASSERT_EQ(run_cli(dir_, "fit " + data_ + " -o " + named + " -e 1 -q --preset sae --atoms 5").code,
            0);
  EXPECT_EQ(metadata(named, "train.atoms"), "5");
  EXPECT_EQ(metadata(named, "train.batch-size"), "256");
  EXPECT_EQ(metadata(named, "train.encoder"), "softmax");
}

TEST_F(PresetsCliTest, BoolsOfThePresetCanBeTurnedOff) {
  const std::string model = dir_ / "m.safetensors";
  ASSERT_EQ(run_cli(dir_, "fit " + data_ + " -o " + model +
                              " --encoder topk -e 1 -q --tied=false --unit-atoms=false")
                .code,
            0);
  EXPECT_EQ(metadata(model, "train.tied"), "");  // false bools are not recorded
  EXPECT_EQ(metadata(model, "train.unit-atoms"), "");
  EXPECT_EQ(metadata(model, "train.decoder-bias"), "mean");
}

TEST_F(PresetsCliTest, ASaeRunResumesToTheUninterruptedRunsFile) {
  const std::string whole = dir_ / "whole.safetensors", part = dir_ / "part.safetensors",
                    resumed = dir_ / "resumed.safetensors", ck = dir_ / "ck.safetensors";
  // --lr-decay 0 --resample-every 0: the decay and the resampling schedule span
  // the run's --epochs, so a 3-epoch run is not the first half of a 6-epoch one
  // (a run killed and resumed with the same --epochs is: ResumedModelFileTest).
  const std::string fit =
      "fit " + data_ + " -q --encoder batchtopk --k 2 --atoms 6 --lr-decay 0 --resample-every 0 ";
  ASSERT_EQ(run_cli(dir_, fit + "-e 6 -o " + whole).code, 0);
  ASSERT_EQ(run_cli(dir_, fit + "-e 3 --checkpoint " + ck + " -o " + part).code, 0);
  const auto run = run_cli(dir_, fit + "-e 6 --resume " + ck + " -o " + resumed);
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(file_bytes(resumed), file_bytes(whole));
  // The same run under the seed's preset is another run: refused, naming a setting.
  const auto other = run_cli(dir_, fit + "-e 6 --preset seed --resume " + ck + " -o " + resumed);
  EXPECT_EQ(other.code, 1) << other.err;
  EXPECT_NE(other.err.find("checkpoint was made with"), std::string::npos) << other.err;
}

TEST_F(PresetsCliTest, InitFollowsTheModelsEncoder) {
  const std::string first = dir_ / "first.safetensors", second = dir_ / "second.safetensors";
  ASSERT_EQ(
      run_cli(dir_, "fit " + data_ + " -o " + first + " -q --encoder topk --k 2 --atoms 5 -e 1")
          .code,
      0);
  // No --encoder: the model's topk makes the preset sae; its atoms and k stay.
  const auto run = run_cli(dir_, "fit " + data_ + " -o " + second + " --init " + first + " -e 1");
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_NE(run.err.find("preset sae"), std::string::npos) << run.err;
  EXPECT_EQ(run.err.find("--atoms"), std::string::npos) << run.err;
  EXPECT_EQ(metadata(second, "train.preset"), "sae");
  EXPECT_EQ(metadata(second, "train.atoms"), "5");
  EXPECT_EQ(metadata(second, "train.k"), "2");
}

}  // namespace
}  // namespace dictlearn
