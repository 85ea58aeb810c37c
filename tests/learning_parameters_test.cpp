// The learning table (learning_parameters()): its rows against
// LearningOptions, the negated bools, validate(const LearningOptions&)'s
// checks and cross checks, learning_settings, and fit's --method resolution
// (set_fit_method): the shared flags, the default coder and the flags refused.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "dictlearn/learning.hpp"
#include "dictlearn/parameters.hpp"
#include "dictlearn/workflows.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

const Parameter<LearningOptions>& row(const std::string& flag) {
  const Parameter<LearningOptions>* found = find_parameter(learning_parameters(), flag);
  EXPECT_NE(found, nullptr) << flag;
  return *found;
}

TEST(LearningParameters, TheRowsAreTheLearningFlagsAndNoneClashesWithFitsOrTheCoders) {
  std::vector<std::string> flags;
  std::set<std::string> python;
  for (const auto& p : coding_parameters()) python.insert(p.python);
  for (const auto& p : learning_parameters()) {
    flags.push_back(p.flag);
    EXPECT_TRUE(python.insert(p.python).second) << p.python;
    EXPECT_FALSE(p.help.empty()) << p.flag;
    EXPECT_TRUE(p.recorded) << p.flag;
    // fit takes the three tables' flags at once.
    EXPECT_EQ(find_parameter(fit_parameters(), p.flag), nullptr) << p.flag;
    EXPECT_EQ(find_parameter(fit_job_parameters(), p.flag), nullptr) << p.flag;
    EXPECT_EQ(find_parameter(coding_parameters(), p.flag), nullptr) << p.flag;
  }
  const std::vector<std::string> expected = {
      "method",        "max-steps",        "max-seconds",        "forgetting",
      "memory",        "no-shuffle",       "dict-tol",           "max-no-improvement",
      "positive-dict", "unit-norm",        "no-resample-unused", "init-atoms",
      "approximate",   "keep-better-codes"};
  EXPECT_EQ(flags, expected);
  EXPECT_EQ(parameter_choices(row("method")),
            (std::vector<std::string>{"gradient", "online", "alternating", "mod", "ksvd"}));
}

TEST(LearningParameters, TheDefaultsAreTheStructsAndEveryRowReachesItsOwnMember) {
  const LearningOptions defaults;
  EXPECT_EQ(parameter_value(row("method"), defaults), "online");
  EXPECT_EQ(parameter_value(row("forgetting"), defaults), "capped");
  EXPECT_EQ(parameter_value(row("memory"), defaults), "0");
  EXPECT_EQ(parameter_choices(row("forgetting")),
            (std::vector<std::string>{"spams", "sklearn", "capped"}));
  EXPECT_EQ(parameter_value(row("init-atoms"), defaults), "samples");
  // The negated bools read in the flag's sense: not given, false.
  EXPECT_EQ(parameter_value(row("no-shuffle"), defaults), "false");
  EXPECT_EQ(parameter_value(row("no-resample-unused"), defaults), "false");
  const std::map<std::string, std::string> other = {{"method", "ksvd"},
                                                    {"max-steps", "7"},
                                                    {"max-seconds", "2.5"},
                                                    {"forgetting", "sklearn"},
                                                    {"memory", "300"},
                                                    {"no-shuffle", "true"},
                                                    {"dict-tol", "0.001"},
                                                    {"max-no-improvement", "3"},
                                                    {"positive-dict", "true"},
                                                    {"unit-norm", "true"},
                                                    {"no-resample-unused", "true"},
                                                    {"init-atoms", "svd"},
                                                    {"approximate", "true"},
                                                    {"keep-better-codes", "true"}};
  for (const auto& p : learning_parameters()) {
    LearningOptions options;
    set_parameter_value(p, options, other.at(p.flag));
    EXPECT_EQ(parameter_value(p, options), other.at(p.flag)) << p.flag;
    for (const auto& q : learning_parameters()) {
      if (&q != &p) {
        EXPECT_EQ(parameter_value(q, options), parameter_value(q, defaults))
            << p.flag << " moved " << q.flag;
      }
    }
  }
  LearningOptions options;
  set_parameter_value(row("no-shuffle"), options, "true");
  set_parameter_value(row("no-resample-unused"), options, "true");
  EXPECT_FALSE(options.shuffle);
  EXPECT_FALSE(options.resample_unused);
  set_parameter_value(row("method"), options, "alternating");
  EXPECT_EQ(options.method, LearningMethod::alternating);
  EXPECT_ERROR_CONTAINS(set_parameter_value(row("method"), options, "gradient"),
                        "--method gradient: the gradient learner is Trainer's");
  EXPECT_ERROR_CONTAINS(set_parameter_value(row("method"), options, "sgd"),
                        "--method: must be gradient, online, alternating, mod or ksvd, got 'sgd'");
}

TEST(LearningParameters, NamesFollowTheEnums) {
  EXPECT_STREQ(learning_method_name(LearningMethod::online), "online");
  EXPECT_STREQ(learning_method_name(LearningMethod::alternating), "alternating");
  EXPECT_STREQ(learning_method_name(LearningMethod::mod), "mod");
  EXPECT_STREQ(learning_method_name(LearningMethod::ksvd), "ksvd");
  EXPECT_STREQ(forgetting_name(Forgetting::sklearn), "sklearn");
  EXPECT_STREQ(forgetting_name(Forgetting::spams), "spams");
  EXPECT_STREQ(forgetting_name(Forgetting::capped), "capped");
  EXPECT_STREQ(atom_init_name(AtomInit::svd), "svd");
  EXPECT_EQ(default_coder(LearningMethod::ksvd), CoderKind::omp);
  EXPECT_EQ(default_coder(LearningMethod::mod), CoderKind::omp);
  EXPECT_EQ(default_coder(LearningMethod::online), CoderKind::lasso_lars);
  EXPECT_EQ(default_coder(LearningMethod::alternating), CoderKind::lasso_lars);
}

TEST(LearningParameters, MetadataReadsBackToTheSameOptionsNegatedBoolsIncluded) {
  LearningOptions options;
  options.method = LearningMethod::ksvd;
  options.shuffle = false;
  options.approximate = true;
  options.max_seconds = 1.5;
  std::map<std::string, std::string> metadata;
  record_parameters(learning_parameters(), options, metadata);
  EXPECT_EQ(metadata.at("train.method"), "ksvd");
  EXPECT_EQ(metadata.at("train.no-shuffle"), "true");
  // Bools in their flag's sense and false are left out, as everywhere.
  EXPECT_EQ(metadata.count("train.no-resample-unused"), 0u);
  LearningOptions back;
  back.resample_unused = false;  // absent in the metadata: the flag not given, so true
  read_parameters(learning_parameters(), metadata, back, "model.safetensors");
  for (const auto& p : learning_parameters())
    EXPECT_EQ(parameter_value(p, back), parameter_value(p, options)) << p.flag;
  EXPECT_TRUE(back.resample_unused);
  EXPECT_FALSE(back.shuffle);
}

TEST(LearningParameters, ValidateChecksEveryRangeNamingTheFlag) {
  int checked = 0;
  for (const auto& p : learning_parameters()) {
    if (!p.range.checked) continue;
    ++checked;
    LearningOptions options;
    set_parameter_value(p, options, "-1");
    EXPECT_ERROR_CONTAINS(validate(options),
                          "--" + p.flag + ": must be " + range_requirement(p.range) + ", got -1");
  }
  EXPECT_EQ(checked, 5);
  LearningOptions options;
  options.max_steps = -2;
  EXPECT_ERROR_CONTAINS(validate(options), "--max-steps: must be >= 0 (0: no limit), got -2");
  options = {};
  options.coding.alpha = -1;
  EXPECT_ERROR_CONTAINS(validate(options), "--alpha: must be");
  options = {};
  options.batch_size = 0;
  EXPECT_ERROR_CONTAINS(validate(options),
                        "--batch-size: must be >= 1 with --method online, got 0");
  options.method = LearningMethod::ksvd;  // K-SVD does not read the batch size
  options.coding = {.method = CoderKind::omp, .n_nonzero = 3};
  EXPECT_NO_THROW(validate(options));
  options.n_atoms = -1;
  EXPECT_ERROR_CONTAINS(validate(options), "--atoms: must be >= 1");
  options.n_atoms = 2;
  EXPECT_ERROR_CONTAINS(validate(options), "--n-nonzero: 3 is more than the 2 atoms (--atoms)");
}

TEST(LearningParameters, ValidateRefusesWhatTheMethodOrTheCoderDoesNotRead) {
  LearningOptions options;
  options.method = LearningMethod::ksvd;
  options.coding = {.method = CoderKind::omp};
  EXPECT_ERROR_CONTAINS(validate(options),
                        "--method ksvd: the omp coder needs a limit: --n-nonzero or --max-error");
  options.method = LearningMethod::mod;
  options.coding = {.method = CoderKind::lars};
  EXPECT_ERROR_CONTAINS(validate(options),
                        "--method mod: the lars coder needs a limit: --n-nonzero");
  options.coding = {.method = CoderKind::omp, .max_error = 0.1};
  EXPECT_NO_THROW(validate(options));
  options.coding.alpha = 0.5;
  EXPECT_ERROR_CONTAINS(validate(options), "--alpha: the omp coder does not read it");
  options.coding.alpha = 1;
  options.forgetting = Forgetting::sklearn;
  EXPECT_ERROR_CONTAINS(validate(options), "--forgetting: --method mod does not read it");
  options.forgetting = Forgetting::capped;
  options.shuffle = false;
  EXPECT_ERROR_CONTAINS(validate(options), "--no-shuffle: --method mod does not read it");
  options.method = LearningMethod::online;
  options.coding = {.method = CoderKind::lasso_lars, .alpha = 0.5};
  EXPECT_NO_THROW(validate(options));
  options.keep_better_codes = true;
  EXPECT_ERROR_CONTAINS(validate(options), "--keep-better-codes: --method online does not read it");
}

TEST(LearningParameters, SettingsAreTheRowsThatMustMatchWithTheCodersAndSeed) {
  LearningOptions options;
  options.coding.alpha = 0.25;
  options.epochs = 3;
  options.max_steps = 5;
  const Settings settings = learning_settings(options);
  std::map<std::string, std::string> by_flag(settings.begin(), settings.end());
  EXPECT_EQ(by_flag.size(), settings.size());  // no flag twice
  EXPECT_EQ(by_flag.at("method"), "online");
  EXPECT_EQ(by_flag.at("alpha"), "0.25");
  EXPECT_EQ(by_flag.at("coder"), "lasso-lars");
  EXPECT_EQ(by_flag.at("no-shuffle"), "false");
  EXPECT_EQ(by_flag.at("batch-size"), "256");
  EXPECT_EQ(by_flag.at("seed"), "0");
  // Budgets and threads may change on resume, as --epochs may.
  for (const char* flag : {"epochs", "max-steps", "max-seconds", "threads", "atoms"})
    EXPECT_EQ(by_flag.count(flag), 0u) << flag;
}

FitJob job_given(std::set<std::string> given) {
  FitJob job = cli_fit_job();
  job.given = std::move(given);
  return job;
}

TEST(LearningParameters, FitMethodTakesTheSharedFlagsGivenAndTheMethodsCoder) {
  FitJob job = job_given({"atoms", "epochs", "n-nonzero"});
  job.options.n_atoms = 12;
  job.options.epochs = 4;
  job.options.batch_size = 99;  // not given: LearningOptions' 256 stays
  LearningOptions flags;
  flags.coding.n_nonzero = 3;
  set_fit_method(job, "ksvd", flags);
  ASSERT_TRUE(job.learning.has_value());
  EXPECT_EQ(job.learning->method, LearningMethod::ksvd);
  EXPECT_EQ(job.learning->coding.method, CoderKind::omp);
  EXPECT_EQ(job.learning->n_atoms, 12);
  EXPECT_EQ(job.learning->epochs, 4);
  EXPECT_EQ(job.learning->batch_size, 256);
  job = job_given({"atoms"});
  set_fit_method(job, "online", {});
  EXPECT_EQ(job.learning->coding.method, CoderKind::lasso_lars);
  EXPECT_EQ(job.learning->epochs, 10);  // not the gradient learner's 10000
  set_fit_method(job, "gradient", {});
  EXPECT_FALSE(job.learning.has_value());
}

TEST(LearningParameters, FitMethodRefusesTheFlagsOfOtherLearnersAndCoders) {
  FitJob job = job_given({"lr"});
  EXPECT_ERROR_CONTAINS(set_fit_method(job, "online", {}),
                        "--lr: --method online does not read it");
  job = job_given({"preset"});
  EXPECT_ERROR_CONTAINS(set_fit_method(job, "mod", {}), "--preset: --method mod does not read it");
  job = job_given({"alpha"});
  EXPECT_ERROR_CONTAINS(set_fit_method(job, "ksvd", {}),
                        "--alpha: the omp coder does not read it (--method ksvd's default coder)");
  job = job_given({"alpha", "coder"});
  LearningOptions flags;
  flags.coding.method = CoderKind::omp;
  EXPECT_ERROR_CONTAINS(set_fit_method(job, "online", flags),
                        "--alpha: the omp coder does not read it");
  job = job_given({"n-nonzero", "coder"});
  flags.coding.n_nonzero = 0;
  EXPECT_ERROR_CONTAINS(set_fit_method(job, "online", flags), "--n-nonzero: must be >= 1, got 0");
  job = job_given({"forgetting"});
  EXPECT_ERROR_CONTAINS(set_fit_method(job, "alternating", {}),
                        "--forgetting: --method alternating does not read it");
  job = job_given({"alpha"});
  EXPECT_ERROR_CONTAINS(set_fit_method(job, "gradient", {}),
                        "--alpha: --method gradient does not read it");
  job = job_given({"max-steps"});
  EXPECT_ERROR_CONTAINS(set_fit_method(job, "gradient", {}),
                        "--max-steps: --method gradient does not read it");
  job = job_given({});
  EXPECT_ERROR_CONTAINS(set_fit_method(job, "ksvd", {}),
                        "--method ksvd: the omp coder needs a limit: --n-nonzero or --max-error");
  EXPECT_ERROR_CONTAINS(set_fit_method(job, "adam", {}), "--method: must be gradient, online");
  EXPECT_FALSE(job.learning.has_value());
}

}  // namespace
}  // namespace dictlearn
