// The parameter tables: every check names its flag, every row reaches its own
// member, metadata written from the table reads back to the same options, and
// files written before the single schema (tests/fixtures/v0_1) still load and resume.
#include "dictlearn/parameters.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>

#include "dictlearn/io.hpp"
#include "dictlearn/model.hpp"
#include "dictlearn/safetensors.hpp"
#include "dictlearn/trainer.hpp"
#include "dictlearn/workflows.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

const std::string kFixtures = std::string(DICTLEARN_FIXTURES) + "/v0_1/";

/// A value the row's check refuses, as text; empty when the row is unchecked.
template <typename Options>
std::string bad_value(const Parameter<Options>& parameter) {
  const Range& range = parameter.range;
  if (!range.checked) return "";
  if (std::isfinite(range.min))
    return fmt::format("{}", range.min_inclusive ? range.min - 1 : range.min);
  return fmt::format("{}", range.max_inclusive ? range.max + 1 : range.max);
}

/// A valid value other than the default, as text.
template <typename Options>
std::string other_value(const Parameter<Options>& parameter, const Options& defaults) {
  const std::string type = parameter_type(parameter);
  const std::string current = parameter_value(parameter, defaults);
  if (type == "bool") return current == "true" ? "false" : "true";
  if (type == "choice")
    return parameter_choices(parameter).back() == current ? parameter_choices(parameter).front()
                                                          : parameter_choices(parameter).back();
  if (type == "text") return "some/file.npy";
  if (type == "double") {
    // Inside every range of the table ([0, 1), > 0, ...) and not a default.
    return current == "0.375" ? "0.25" : "0.375";
  }
  return current == "3" ? "4" : "3";
}

TEST(Parameters, FlagsAndPythonNamesAreUniqueAndWellFormed) {
  std::set<std::string> flags, python, shorts;
  auto add = [&](const auto& table) {
    for (const auto& p : table) {
      EXPECT_TRUE(flags.insert(p.flag).second) << p.flag;
      EXPECT_TRUE(python.insert(p.python).second) << p.python;
      if (!p.short_flag.empty()) {
        EXPECT_TRUE(shorts.insert(p.short_flag).second) << p.short_flag;
      }
      EXPECT_FALSE(p.help.empty()) << p.flag;
      for (char c : p.flag) EXPECT_TRUE(std::islower(c) || std::isdigit(c) || c == '-') << p.flag;
      for (char c : p.python) EXPECT_TRUE(std::isalnum(c) || c == '_') << p.python;
    }
  };
  add(fit_parameters());
  add(fit_job_parameters());
  // The four that were documented or named in errors without being flags.
  for (const char* flag : {"beta1", "beta2", "eps", "threshold-decay"})
    EXPECT_EQ(flags.count(flag), 1u);
}

TEST(Parameters, EveryCheckNamesItsFlag) {
  int checked = 0;
  // Each checked row alone out of range, in a struct of defaults.
  auto check_table = [&]<typename Options>(const std::vector<Parameter<Options>>& table) {
    for (const auto& p : table) {
      const std::string bad = bad_value(p);
      if (bad.empty()) continue;
      ++checked;
      Options options;
      set_parameter_value(p, options, bad);
      EXPECT_ERROR_CONTAINS(validate(options),
                            "--" + p.flag + ": must be " + range_requirement(p.range) + ", got ");
    }
  };
  check_table(fit_parameters());
  check_table(fit_job_parameters());
  EXPECT_GE(checked, 20);
  // The wording of today's messages, which scripts and users match.
  FitOptions options;
  options.adam.lr = -1;
  EXPECT_ERROR_CONTAINS(validate(options), "--lr: must be > 0 and finite, got -1");
  options = {};
  options.lr_decay = 2;
  EXPECT_ERROR_CONTAINS(validate(options), "--lr-decay: must be a fraction in [0, 1], got 2");
  options = {};
  options.threads = -1;
  EXPECT_ERROR_CONTAINS(validate(options), "--threads: must be >= 0 (0: all cores), got -1");
  options = {};
  options.adam.beta2 = 1;
  EXPECT_ERROR_CONTAINS(validate(options), "--beta2: must be in [0, 1), got 1");
  options = {};
  options.adam.eps = std::nan("");
  EXPECT_ERROR_CONTAINS(validate(options), "--eps: must be > 0 and finite, got nan");
  FitJob job;
  job.dtype = "int8";
  EXPECT_ERROR_CONTAINS(validate(job), "--dtype: must be float32 or float64, got 'int8'");
  FitOptions bad_choice;
  EXPECT_ERROR_CONTAINS(
      set_parameter_value(*find_parameter(fit_parameters(), "init-dict"), bad_choice, "kmeans"),
      "--init-dict: must be uniform or data, got 'kmeans'");
  EXPECT_ERROR_CONTAINS(set_parameter_value(*find_parameter(fit_parameters(), "atoms"), bad_choice,
                                            "2.5", "model.safetensors"),
                        "model.safetensors: --atoms: '2.5' is not an integer");
}

TEST(Parameters, TheDefaultsAreTheStructsAndEveryRowReachesItsOwnMember) {
  const FitOptions defaults;
  EXPECT_NO_THROW(validate(defaults));
  EXPECT_NO_THROW(validate(FitJob{}));
  EXPECT_EQ(parameter_value(*find_parameter(fit_parameters(), "lr"), defaults), "0.001");
  EXPECT_EQ(parameter_value(*find_parameter(fit_parameters(), "eps"), defaults), "1e-08");
  EXPECT_EQ(parameter_value(*find_parameter(fit_parameters(), "encoder"), defaults), "softmax");
  // Setting one row changes that row's value only: no two rows share a member.
  for (const auto& p : fit_parameters()) {
    FitOptions options;
    const std::string value = other_value(p, defaults);
    set_parameter_value(p, options, value);
    EXPECT_EQ(parameter_value(p, options), value) << p.flag;
    for (const auto& q : fit_parameters()) {
      if (&q != &p) {
        EXPECT_EQ(parameter_value(q, options), parameter_value(q, defaults))
            << p.flag << " moved " << q.flag;
      }
    }
  }
}

TEST(Parameters, MetadataReadsBackToTheSameOptions) {
  FitOptions options;
  for (const auto& p : fit_parameters())
    set_parameter_value(p, options, other_value(p, FitOptions{}));
  std::map<std::string, std::string> metadata;
  record_parameters(fit_parameters(), options, metadata);
  FitOptions back;
  read_parameters(fit_parameters(), metadata, back, "model.safetensors");
  for (const auto& p : fit_parameters()) {
    if (p.recorded) {
      EXPECT_EQ(parameter_value(p, back), parameter_value(p, options)) << p.flag;
    }
    EXPECT_EQ(metadata.count("train." + p.flag), p.recorded ? 1u : 0u) << p.flag;
  }
  // A false bool is not written (as the CLI always did), and reads back false.
  FitOptions plain;
  metadata.clear();
  record_parameters(fit_parameters(), plain, metadata);
  EXPECT_EQ(metadata.count("train.unit-atoms"), 0u);
  EXPECT_EQ(metadata.at("train.tol"), "0.0001");
  back.unit_atoms = true;
  read_parameters(fit_parameters(), metadata, back, "m");
  EXPECT_FALSE(back.unit_atoms);
  // An empty --dtype (not given) is not written either.
  FitJob job;
  metadata.clear();
  record_parameters(fit_job_parameters(), job, metadata);
  EXPECT_EQ(metadata.count("train.dtype"), 0u);
  EXPECT_EQ(metadata.at("train.snapshot-every"), "0");
  metadata["train.lr"] = "fast";
  EXPECT_ERROR_CONTAINS(read_parameters(fit_parameters(), metadata, back, "m.safetensors"),
                        "m.safetensors: --lr: 'fast' is not a number");
}

TEST(Parameters, CheckpointsHoldTheResumeSettingsUnderTheModelsKeys) {
  testing::TempDir dir;
  const auto X = read_matrix<float>(kFixtures + "data.npy");
  FitOptions options{.n_atoms = 4, .epochs = 2, .seed = 5, .batch_size = 16};
  Trainer<float> trainer(initialize(X, options), options);
  trainer.fit(X);
  trainer.save_checkpoint(dir / "ck.safetensors", X);
  const TensorFile file = read_safetensors(dir / "ck.safetensors");
  for (const auto& [flag, value] : resume_settings(options)) {
    EXPECT_EQ(file.metadata.at("train." + flag), value) << flag;
  }
  EXPECT_EQ(file.metadata.at("train.unit-atoms"), "false");
  for (const auto& [key, value] : file.metadata)
    EXPECT_FALSE(key.starts_with("checkpoint.setting.")) << key;
  // A run with another setting is refused, naming the flag and both values.
  FitOptions other = options;
  other.adam.beta1 = 0.5;
  Trainer<float> resumed(load_model<float>(dir / "ck.safetensors"), other);
  EXPECT_ERROR_CONTAINS(resumed.load_checkpoint(dir / "ck.safetensors", X),
                        "checkpoint was made with --beta1 0.9, this run has --beta1 0.5");
}

TEST(Parameters, FilesWrittenBeforeTheSingleSchemaLoadAndResume) {
  // A model of dictlearn 0.1: its settings as the CLI recorded them.
  const Model<float> topk = load_model<float>(kFixtures + "topk_model.safetensors");
  EXPECT_EQ(topk.encoder.kind, EncoderKind::topk);
  EXPECT_EQ(topk.encoder.k, 2);
  EXPECT_EQ(topk.decoder_bias.size(), 6);
  FitOptions recorded;
  read_parameters(fit_parameters(), topk.metadata, recorded, "topk_model.safetensors");
  EXPECT_EQ(recorded.n_atoms, 8);
  EXPECT_EQ(recorded.batch_size, 16);
  EXPECT_EQ(recorded.epochs, 4);
  EXPECT_TRUE(recorded.unit_atoms);
  EXPECT_TRUE(recorded.tied);
  EXPECT_EQ(recorded.decoder_bias, DecoderBiasInit::mean);
  EXPECT_EQ(recorded.auxk, 0.03);

  // A checkpoint of dictlearn 0.1 (settings under checkpoint.setting.*), resumed
  // to 6 epochs: the uninterrupted run's tensors, bit for bit.
  const auto X = read_matrix<float>(kFixtures + "data.npy");
  const std::string checkpoint = kFixtures + "checkpoint.safetensors";
  ASSERT_GT(read_safetensors(checkpoint).metadata.count("checkpoint.setting.lr"), 0u);
  FitOptions options{.n_atoms = 4, .epochs = 6, .batch_size = 16};
  Trainer<float> trainer(load_model<float>(checkpoint), options);
  trainer.load_checkpoint(checkpoint, X);
  trainer.set_epochs(options.epochs - static_cast<int>(trainer.losses().size()));
  trainer.fit(X);
  const Model<float> whole = load_model<float>(kFixtures + "softmax_whole.safetensors");
  const Model<float>& resumed = trainer.model();
  EXPECT_EQ(trainer.losses().size(), 6u);
  // The fixtures were written by the AVX2/AVX-512 kernels, which give the
  // same bits; the baseline (SSE) level rounds some sums differently.
  if (std::string(vector_kernel_level()) != "baseline") {
    EXPECT_TRUE(resumed.dictionary == whole.dictionary);
    EXPECT_TRUE(resumed.encoder_weight == whole.encoder_weight);
    EXPECT_TRUE(resumed.encoder_bias == whole.encoder_bias);
  } else {
    EXPECT_TRUE(resumed.dictionary.isApprox(whole.dictionary, 1e-5f));
    EXPECT_TRUE(resumed.encoder_weight.isApprox(whole.encoder_weight, 1e-5f));
    EXPECT_TRUE(resumed.encoder_bias.isApprox(whole.encoder_bias, 1e-5f));
  }
  // The old keys are compared too: another learning rate is refused.
  FitOptions other = options;
  other.adam.lr = 0.01;
  Trainer<float> refused(load_model<float>(checkpoint), other);
  EXPECT_ERROR_CONTAINS(refused.load_checkpoint(checkpoint, X),
                        "checkpoint was made with --lr 0.001, this run has --lr 0.01");
}

}  // namespace
}  // namespace dictlearn
