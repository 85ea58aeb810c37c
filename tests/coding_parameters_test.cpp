// The coding table (coding_parameters()): its rows against CodingOptions and
// the coder table, the checks it feeds validate(), the CLI's refusal of flags
// a coder does not read, and the metadata round trip.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <string>

#include "dictlearn/coders.hpp"
#include "dictlearn/parameters.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

const Parameter<CodingOptions>& row(const std::string& flag) {
  const Parameter<CodingOptions>* found = find_parameter(coding_parameters(), flag);
  EXPECT_NE(found, nullptr) << flag;
  return *found;
}

TEST(CodingParameters, TheRowsAreIssue14sFlagsWithUniqueNamesAndHelp) {
  std::vector<std::string> flags;
  std::set<std::string> python;
  for (const auto& p : coding_parameters()) {
    flags.push_back(p.flag);
    EXPECT_TRUE(python.insert(p.python).second) << p.python;
    EXPECT_FALSE(p.help.empty()) << p.flag;
    EXPECT_FALSE(p.positional) << p.flag;
    // Recorded as train.<flag>: none may be one of fit's recorded flags.
    if (p.recorded) {
      EXPECT_EQ(find_parameter(fit_parameters(), p.flag), nullptr) << p.flag;
    }
  }
  const std::vector<std::string> expected = {"coder",    "n-nonzero", "max-error", "alpha",  "l2",
                                             "positive", "max-iter",  "coder-tol", "threads"};
  EXPECT_EQ(flags, expected);
}

TEST(CodingParameters, TheDefaultsAreTheStructsAndEveryRowReachesItsOwnMember) {
  const CodingOptions defaults;
  EXPECT_EQ(parameter_value(row("coder"), defaults), "threshold");
  EXPECT_EQ(parameter_value(row("alpha"), defaults), "1");
  EXPECT_EQ(parameter_value(row("coder-tol"), defaults), "0.0001");
  EXPECT_EQ(parameter_value(row("max-iter"), defaults), "1000");
  const std::map<std::string, std::string> other = {
      {"coder", "omp"},  {"n-nonzero", "3"},     {"max-error", "0.5"},
      {"alpha", "0.25"}, {"l2", "0.125"},        {"positive", "true"},
      {"max-iter", "7"}, {"coder-tol", "0.001"}, {"threads", "2"}};
  for (const auto& p : coding_parameters()) {
    CodingOptions options;
    set_parameter_value(p, options, other.at(p.flag));
    EXPECT_EQ(parameter_value(p, options), other.at(p.flag)) << p.flag;
    for (const auto& q : coding_parameters()) {
      if (&q != &p) {
        EXPECT_EQ(parameter_value(q, options), parameter_value(q, defaults))
            << p.flag << " moved " << q.flag;
      }
    }
  }
}

TEST(CodingParameters, ValidateChecksEveryRowWithTodaysMessages) {
  int checked = 0;
  for (const auto& p : coding_parameters()) {
    if (!p.range.checked) continue;
    ++checked;
    CodingOptions options;
    set_parameter_value(p, options, "-1");
    EXPECT_ERROR_CONTAINS(validate(options),
                          "--" + p.flag + ": must be " + range_requirement(p.range) + ", got -1");
    if (p.range.finite) {
      options = {};
      set_parameter_value(p, options, "inf");
      EXPECT_ERROR_CONTAINS(validate(options), "--" + p.flag + ": must be ");
    }
  }
  EXPECT_EQ(checked, 7);
  // The wording the coders' tests and users match.
  EXPECT_ERROR_CONTAINS(validate(CodingOptions{.n_nonzero = -1}),
                        "--n-nonzero: must be >= 1, or 0 for the default, got -1");
  EXPECT_ERROR_CONTAINS(validate(CodingOptions{.max_error = -0.5}),
                        "--max-error: must be >= 0 and finite (0: not used), got -0.5");
  EXPECT_ERROR_CONTAINS(validate(CodingOptions{.threads = -1}),
                        "--threads: must be >= 0 (0: all cores), got -1");
  EXPECT_ERROR_CONTAINS(validate(CodingOptions{.tol = std::nan("")}),
                        "--coder-tol: must be >= 0 and finite, got nan");
  EXPECT_NO_THROW(validate(CodingOptions{}));
}

TEST(CodingParameters, CoderNamesAreDashedAndEitherSpellingParses) {
  for (const CoderTraits& traits : coder_table()) {
    std::string dashed = traits.name, underscored = traits.name;
    for (char& c : dashed) c = c == '_' ? '-' : c;
    for (char& c : underscored) c = c == '-' ? '_' : c;
    EXPECT_EQ(coder_flag_name(traits.kind), dashed);
    for (const std::string& name : {dashed, underscored}) {
      CodingOptions options;
      options.method = traits.kind == CoderKind::threshold ? CoderKind::omp : CoderKind::threshold;
      set_parameter_value(row("coder"), options, name);
      EXPECT_EQ(options.method, traits.kind) << name;
    }
    EXPECT_EQ(parameter_choices(row("coder")).at(&traits - coder_table().data()), dashed);
  }
  CodingOptions options;
  EXPECT_ERROR_CONTAINS(set_parameter_value(row("coder"), options, "nope"),
                        "--coder: unknown coder 'nope' (expected threshold");
  for (const CoderTraits& traits : coder_table()) {
    EXPECT_ERROR_CONTAINS(set_parameter_value(row("coder"), options, "nope"),
                          coder_flag_name(traits.kind));
  }
}

TEST(CodingParameters, EachCodersParametersHaveExactlyOneRow) {
  // Every member a coder's traits list is read through exactly one row, and
  // the rows list the coders whose traits name their member (the help says so).
  size_t listed = 0, reached = 0;
  for (const CoderTraits& traits : coder_table()) listed += traits.parameters.size();
  for (const auto& p : coding_parameters()) {
    const std::vector<CoderKind> kinds = coders_reading(p);
    if (p.flag == "coder" || p.flag == "threads") {
      EXPECT_EQ(kinds.size(), coder_table().size()) << p.flag;
      continue;
    }
    reached += kinds.size();
    for (const CoderKind kind : kinds) {
      EXPECT_NE(p.help.find(coder_flag_name(kind)), std::string::npos) << p.flag << " " << p.help;
    }
  }
  EXPECT_EQ(reached, listed);
  const std::vector<CoderKind> nonzero = coders_reading(row("n-nonzero"));
  EXPECT_NE(std::find(nonzero.begin(), nonzero.end(), CoderKind::omp), nonzero.end());
  EXPECT_EQ(std::find(nonzero.begin(), nonzero.end(), CoderKind::threshold), nonzero.end());
  const std::vector<CoderKind> alpha = coders_reading(row("alpha"));
  EXPECT_NE(std::find(alpha.begin(), alpha.end(), CoderKind::threshold), alpha.end());
}

TEST(CodingParameters, TheCommandLineRefusesFlagsTheCoderDoesNotRead) {
  EXPECT_NO_THROW(check_coding_flags({}, {}));
  EXPECT_ERROR_CONTAINS(check_coding_flags({}, {"alpha"}),
                        "--alpha: only with --coder; the model's own encoder does not read it");
  EXPECT_ERROR_CONTAINS(check_coding_flags({}, {"threads"}), "--threads: only with --coder");
  EXPECT_NO_THROW(check_coding_flags({.method = CoderKind::omp, .n_nonzero = 2},
                                     {"coder", "n-nonzero", "max-error", "threads"}));
  EXPECT_ERROR_CONTAINS(check_coding_flags({.method = CoderKind::omp}, {"coder", "alpha"}),
                        "--alpha: the omp coder does not read it");
  EXPECT_ERROR_CONTAINS(
      check_coding_flags({.method = CoderKind::threshold}, {"coder", "n-nonzero"}),
      "--n-nonzero: the threshold coder does not read it");
  // 0 is the library's "default"; the command line gets it by leaving the flag out.
  EXPECT_ERROR_CONTAINS(
      check_coding_flags({.method = CoderKind::omp, .n_nonzero = 0}, {"coder", "n-nonzero"}),
      "--n-nonzero: must be >= 1, got 0");
  EXPECT_NO_THROW(check_coding_flags({.method = CoderKind::omp, .n_nonzero = 0}, {"coder"}));
}

TEST(CodingParameters, MetadataReadsBackToTheSameOptions) {
  const CodingOptions options{.method = CoderKind::omp,
                              .alpha = 0.25,
                              .positive = true,
                              .n_nonzero = 3,
                              .max_error = 0.5,
                              .l2 = 0.125,
                              .max_iter = 7,
                              .tol = 1e-6,
                              .threads = 2};
  std::map<std::string, std::string> metadata;
  record_parameters(coding_parameters(), options, metadata);
  EXPECT_EQ(metadata.at("train.coder"), "omp");
  EXPECT_EQ(metadata.at("train.coder-tol"), "1e-06");
  EXPECT_EQ(metadata.count("train.threads"), 0u);  // not a setting of the codes
  CodingOptions back;
  read_parameters(coding_parameters(), metadata, back, "m.safetensors");
  for (const auto& p : coding_parameters()) {
    if (p.recorded) {
      EXPECT_EQ(parameter_value(p, back), parameter_value(p, options)) << p.flag;
    }
  }
  EXPECT_EQ(back.threads, 0);
}

TEST(CodingParameters, TheDocsAndTheHelpListEveryCoderFromItsTable) {
  const std::string markdown = options_markdown(), help = coders_help();
  EXPECT_NE(markdown.find("## Coding options of `dictlearn encode`"), std::string::npos);
  for (const auto& p : coding_parameters())
    EXPECT_NE(markdown.find("| `--" + p.flag + "` |"), std::string::npos) << p.flag;
  for (const CoderTraits& traits : coder_table()) {
    EXPECT_NE(markdown.find("| `" + coder_flag_name(traits.kind) + "` | " + traits.help + " |"),
              std::string::npos)
        << traits.name;
    EXPECT_NE(help.find(coder_flag_name(traits.kind)), std::string::npos) << traits.name;
    EXPECT_NE(help.find(traits.help), std::string::npos) << traits.name;
  }
}

}  // namespace
}  // namespace dictlearn
