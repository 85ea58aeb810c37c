// The learning table: LearningOptions as `dictlearn fit --method
// online|alternating|mod|ksvd` takes them, which learners read each row, and
// fit's resolution of --method (set_fit_method): the shared flags, the
// default coder, the refusal of flags the method or the coder does not read.
#include <algorithm>
#include <string_view>

#include "core/check.hpp"
#include "core/parameter_rows.hpp"
#include "dictlearn/parameters.hpp"
#include "dictlearn/workflows.hpp"

namespace dictlearn {
namespace {

using detail::at_least;
using detail::choose;
using detail::either;
using detail::non_negative_finite;

/// --method's names: `gradient` (fit's default, the Trainer) first, then the
/// LearningMethod values in their order.
const std::vector<std::string> kMethodNames = {"gradient", "online", "alternating", "mod", "ksvd"};
const std::vector<std::string> kForgettings = {"spams", "sklearn", "capped"};
const std::vector<std::string> kAtomInits = {"samples", "svd"};

/// A row and the learners that read it (empty: every one).
struct LearningRow {
  Parameter<LearningOptions> parameter;
  std::vector<LearningMethod> methods;
};

constexpr LearningMethod kOnline = LearningMethod::online;
constexpr LearningMethod kAlternating = LearningMethod::alternating;
constexpr LearningMethod kKsvd = LearningMethod::ksvd;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

std::vector<LearningRow> make_rows() {
  using O = LearningOptions;
  std::vector<LearningRow> rows = {
      {{.flag = "method",
        .python = "method",
        .field = ChoiceField<O>{
            [](const O& o) -> std::string { return learning_method_name(o.method); },
            [](O& o, const std::string& name) {
              const size_t index = choose("method", kMethodNames, name);
              DICTLEARN_CHECK(index > 0,
                              "--method gradient: the gradient learner is Trainer's, with "
                              "FitOptions; it is not a LearningOptions method");
              o.method = static_cast<LearningMethod>(index - 1);
            },
            kMethodNames},
        .help = "the learner: gradient (fit's default: the encoder and atoms by Adam), online "
                "(Mairal et al. 2010, mini-batches), alternating (codes of all the data, then "
                "the atoms by coordinate descent), mod (least-squares atoms) or ksvd (atom by "
                "atom SVD updates); see docs/LEARNING.md",
        .recorded = true,
        .resume_must_match = true},
       {}},
      {{.flag = "max-steps",
        .python = "max_steps",
        .field = DICTLEARN_FIELD(O, max_steps),
        .help = "stop after this many mini-batch steps in all (0: no limit; --epochs still "
                "bounds the passes)",
        .range = at_least(0, " (0: no limit)"),
        .recorded = true},
       {kOnline}},
      {{.flag = "max-seconds",
        .python = "max_seconds",
        .field = DICTLEARN_FIELD(O, max_seconds),
        .help = "stop after this much wall time, at the end of a step or iteration (SPAMS's "
                "negative iter; 0: no limit)",
        .range = non_negative_finite(" (0: no limit)"),
        .recorded = true},
       {}},
      {{.flag = "forgetting",
        .python = "forgetting",
        .field = ChoiceField<O>{
            [](const O& o) -> std::string { return forgetting_name(o.forgetting); },
            [](O& o, const std::string& name) {
              o.forgetting = static_cast<Forgetting>(choose("forgetting", kForgettings, name));
            },
            kForgettings},
        .help = "how the past statistics A and B fade: capped (Mairal et al.'s weighting, its "
                "horizon capped at --memory samples), spams (the same uncapped, as trainDL) or "
                "sklearn (MiniBatchDictionaryLearning's)",
        .recorded = true,
        .resume_must_match = true},
       {kOnline}},
      {{.flag = "memory",
        .python = "memory",
        .field = DICTLEARN_FIELD(O, memory),
        .help = "with --forgetting capped: the most samples the statistics' weighting counts "
                "(0: the larger of 5000 and 20 per atom)",
        .range = at_least(0, " (0: the larger of 5000 and 20 per atom)"),
        .recorded = true,
        .resume_must_match = true},
       {kOnline}},
      {{.flag = "no-shuffle",
        .python = "shuffle",
        .field = DICTLEARN_FIELD(O, shuffle),
        .help = "batches in the data's order, every pass the same (default: a new order every "
                "pass)",
        .recorded = true,
        .resume_must_match = true,
        .negated = true},
       {kOnline}},
      {{.flag = "dict-tol",
        .python = "tol",
        .field = DICTLEARN_FIELD(O, dict_tol),
        .help = "stop when a step changes the atoms by at most this, |D_new - D_old|_F / atoms "
                "(scikit-learn's tol; --tol is the gradient learner's; 0: off)",
        .range = non_negative_finite(" (0: off)"),
        .recorded = true,
        .resume_must_match = true},
       {kOnline}},
      {{.flag = "max-no-improvement",
        .python = "max_no_improvement",
        .field = DICTLEARN_FIELD(O, max_no_improvement),
        .help = "stop after this many steps without improvement of the smoothed batch cost "
                "(scikit-learn's; 0: off)",
        .range = at_least(0, " (0: off)"),
        .recorded = true,
        .resume_must_match = true},
       {kOnline}},
      {{.flag = "positive-dict",
        .python = "positive_dict",
        .field = DICTLEARN_FIELD(O, positive_dict),
        .help = "atoms >= 0 (codes >= 0 is the coder's --positive)",
        .recorded = true,
        .resume_must_match = true},
       {}},
      {{.flag = "unit-norm",
        .python = "unit_norm",
        .field = DICTLEARN_FIELD(O, unit_norm),
        .help = "every atom of norm 1 (default: norm at most 1)",
        .recorded = true,
        .resume_must_match = true},
       {}},
      {{.flag = "no-resample-unused",
        .python = "resample_unused",
        .field = DICTLEARN_FIELD(O, resample_unused),
        .help = "leave unused atoms as they are (default: an atom no code uses becomes a random "
                "sample of the batch plus 1% noise, as scikit-learn does)",
        .recorded = true,
        .resume_must_match = true,
        .negated = true},
       {kOnline, kAlternating}},
      {{.flag = "init-atoms",
        .python = "init_atoms",
        .field = ChoiceField<O>{[](const O& o) -> std::string { return atom_init_name(o.init); },
                                [](O& o, const std::string& name) {
                                  o.init =
                                      static_cast<AtomInit>(choose("init-atoms", kAtomInits, name));
                                },
                                kAtomInits},
        .help = "the first atoms when --init gives none: samples (distinct random samples, unit "
                "norm; SPAMS's) or svd (the data's top singular vectors; scikit-learn's)",
        .recorded = true,
        .resume_must_match = true},
       {}},
      {{.flag = "approximate",
        .python = "approximate",
        .field = DICTLEARN_FIELD(O, approximate),
        .help = "approximate K-SVD (Rubinstein et al. 2008): one power step per atom instead "
                "of an SVD",
        .recorded = true,
        .resume_must_match = true},
       {kKsvd}},
      {{.flag = "keep-better-codes",
        .python = "keep_better_codes",
        .field = DICTLEARN_FIELD(O, keep_better_codes),
        .help = "a signal whose new code is worse keeps its previous one, so no iteration "
                "increases the objective",
        .recorded = true,
        .resume_must_match = true},
       {kKsvd}},
  };
  // Each help of a row not every learner reads ends with those that do.
  for (LearningRow& row : rows) {
    if (row.methods.empty()) continue;
    std::string list;
    for (const LearningMethod method : row.methods)
      list += (list.empty() ? "" : ", ") + std::string(learning_method_name(method));
    row.parameter.help += " [" + list + "]";
  }
  return rows;
}

#pragma GCC diagnostic pop
#undef DICTLEARN_FIELD

const std::vector<LearningRow>& learning_rows() {
  static const std::vector<LearningRow> rows = make_rows();
  return rows;
}

const LearningRow& learning_row(const Parameter<LearningOptions>& parameter) {
  for (const LearningRow& row : learning_rows()) {
    if (row.parameter.flag == parameter.flag) return row;
  }
  DICTLEARN_FAIL("--{}: not a learning option", parameter.flag);
}

bool method_reads(const LearningRow& row, LearningMethod method) {
  return row.methods.empty() ||
         std::find(row.methods.begin(), row.methods.end(), method) != row.methods.end();
}

/// The flags of fit_parameters() the classical learners read too (as
/// LearningOptions' n_atoms, epochs, batch_size, seed, threads).
const std::set<std::string> kSharedFlags = {"atoms", "epochs", "batch-size", "seed", "threads"};

}  // namespace

const std::vector<Parameter<LearningOptions>>& learning_parameters() {
  static const std::vector<Parameter<LearningOptions>> table = [] {
    std::vector<Parameter<LearningOptions>> out;
    for (const LearningRow& row : learning_rows()) out.push_back(row.parameter);
    return out;
  }();
  return table;
}

std::vector<LearningMethod> methods_reading(const Parameter<LearningOptions>& parameter) {
  const LearningRow& row = learning_row(parameter);
  std::vector<LearningMethod> methods;
  for (const LearningMethod method : {LearningMethod::online, LearningMethod::alternating,
                                      LearningMethod::mod, LearningMethod::ksvd}) {
    if (method_reads(row, method)) methods.push_back(method);
  }
  return methods;
}

CoderKind default_coder(LearningMethod method) {
  return method == LearningMethod::ksvd || method == LearningMethod::mod ? CoderKind::omp
                                                                         : CoderKind::lasso_lars;
}

void record_learning_parameters(const LearningOptions& options,
                                std::map<std::string, std::string>& metadata) {
  std::map<std::string, std::string> recorded;
  record_parameters(learning_parameters(), options, recorded);
  record_parameters(coding_parameters(), options.coding, recorded);
  // Only what the method and the coder read: a K-SVD model records no
  // forgetting schedule, an OMP coder no alpha.
  for (const LearningRow& row : learning_rows()) {
    if (!method_reads(row, options.method)) recorded.erase("train." + row.parameter.flag);
  }
  for (const auto& row : coding_parameters()) {
    const std::vector<CoderKind> readers = coders_reading(row);
    if (std::find(readers.begin(), readers.end(), options.coding.method) == readers.end())
      recorded.erase("train." + row.flag);
  }
  recorded["train.atoms"] = fmt::format("{}", options.n_atoms);
  recorded["train.epochs"] = fmt::format("{}", options.epochs);
  if (options.method == LearningMethod::online)
    recorded["train.batch-size"] = fmt::format("{}", options.batch_size);
  recorded["train.seed"] = fmt::format("{}", options.seed);
  for (auto& [key, value] : recorded) metadata[key] = std::move(value);
}

void set_fit_method(FitJob& job, const std::string& method, LearningOptions learning) {
  const std::set<std::string>& given = job.given;
  const Parameter<LearningOptions>& method_row = learning_parameters().front();
  if (method == "gradient") {
    job.learning.reset();
    for (const auto& row : learning_parameters()) {
      DICTLEARN_CHECK(row.flag == "method" || given.count(row.flag) == 0,
                      "--{}: --method gradient does not read it", row.flag);
    }
    for (const auto& row : coding_parameters()) {
      DICTLEARN_CHECK(row.flag == "threads" || given.count(row.flag) == 0,
                      "--{}: --method gradient does not read it", row.flag);
    }
    return;
  }
  set_parameter_value(method_row, learning, method);
  const std::string name = learning_method_name(learning.method);
  if (given.count("coder") == 0) learning.coding.method = default_coder(learning.method);
  const FitOptions& shared = job.options;
  if (given.count("atoms") > 0) learning.n_atoms = shared.n_atoms;
  if (given.count("epochs") > 0) learning.epochs = shared.epochs;
  if (given.count("batch-size") > 0) learning.batch_size = shared.batch_size;
  if (given.count("seed") > 0) learning.seed = shared.seed;
  if (given.count("threads") > 0) learning.threads = shared.threads;
  learning.coding.threads = learning.threads;
  // Flags of other learners and coders are refused, not ignored: a run
  // given --lr would otherwise train as if it had not been.
  for (const auto& row : fit_parameters()) {
    DICTLEARN_CHECK(kSharedFlags.count(row.flag) > 0 || given.count(row.flag) == 0,
                    "--{}: --method {} does not read it", row.flag, name);
  }
  DICTLEARN_CHECK(given.count("preset") == 0, "--preset: --method {} does not read it", name);
  for (const LearningRow& row : learning_rows()) {
    DICTLEARN_CHECK(given.count(row.parameter.flag) == 0 || method_reads(row, learning.method),
                    "--{}: --method {} does not read it", row.parameter.flag, name);
  }
  for (const auto& row : coding_parameters()) {
    if (row.flag == "coder" || row.flag == "threads" || given.count(row.flag) == 0) continue;
    const std::vector<CoderKind> readers = coders_reading(row);
    DICTLEARN_CHECK(
        std::find(readers.begin(), readers.end(), learning.coding.method) != readers.end(),
        "--{}: the {} coder does not read it{}", row.flag, coder_flag_name(learning.coding.method),
        given.count("coder") > 0 ? "" : fmt::format(" (--method {}'s default coder)", name));
  }
  DICTLEARN_CHECK(given.count("n-nonzero") == 0 || learning.coding.n_nonzero >= 1,
                  "--n-nonzero: must be >= 1, got {}", learning.coding.n_nonzero);
  validate(learning);
  job.learning = learning;
}

}  // namespace dictlearn
