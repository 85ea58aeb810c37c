// The classical learners' shared settings (learning.hpp): names, the checks
// of validate(const LearningOptions&) and the settings a resumed run must
// share, all from the rows of learning_parameters() and coding_parameters().
#include "dictlearn/learning.hpp"

#include <algorithm>

#include "core/check.hpp"
#include "dictlearn/parameters.hpp"

namespace dictlearn {

const char* learning_method_name(LearningMethod method) {
  // In LearningMethod's order.
  static constexpr const char* kNames[] = {"online", "alternating", "mod", "ksvd"};
  return kNames[static_cast<int>(method)];
}

const char* forgetting_name(Forgetting forgetting) {
  switch (forgetting) {
    case Forgetting::spams:
      return "spams";
    case Forgetting::sklearn:
      return "sklearn";
    case Forgetting::capped:
      return "capped";
  }
  return "?";
}

int64_t capped_memory(const LearningOptions& options, int64_t n_atoms) {
  return options.memory > 0 ? options.memory : std::max<int64_t>(5000, 20 * n_atoms);
}

const char* atom_init_name(AtomInit init) { return init == AtomInit::samples ? "samples" : "svd"; }

namespace {

bool coder_reads(CoderKind kind, const Parameter<CodingOptions>& row) {
  const std::vector<CoderKind> readers = coders_reading(row);
  return std::find(readers.begin(), readers.end(), kind) != readers.end();
}

}  // namespace

void validate(const LearningOptions& options) {
  for (const auto& row : learning_parameters()) check_parameter(row, options);
  validate(options.coding);
  const std::string method = learning_method_name(options.method);
  DICTLEARN_CHECK(options.n_atoms >= 0,
                  "--atoms: must be >= 1 (or 0: as many as the initial atoms), got {}",
                  options.n_atoms);
  DICTLEARN_CHECK(options.epochs >= 0, "--epochs: must be >= 0, got {}", options.epochs);
  DICTLEARN_CHECK(options.threads >= 0, "--threads: must be >= 0 (0: all cores), got {}",
                  options.threads);
  if (options.method == LearningMethod::online) {
    DICTLEARN_CHECK(options.batch_size >= 1,
                    "--batch-size: must be >= 1 with --method online, got {}", options.batch_size);
    DICTLEARN_CHECK(options.memory == 0 || options.forgetting == Forgetting::capped,
                    "--memory: only --forgetting capped reads it (this run: --forgetting {})",
                    forgetting_name(options.forgetting));
  }
  // A setting the learner or the coder would not read is refused rather than
  // ignored: a run asked for --forgetting sklearn must not train as spams.
  const LearningOptions defaults;
  for (const auto& row : learning_parameters()) {
    const std::vector<LearningMethod> readers = methods_reading(row);
    if (std::find(readers.begin(), readers.end(), options.method) != readers.end()) continue;
    DICTLEARN_CHECK(parameter_value(row, options) == parameter_value(row, defaults),
                    "--{}: --method {} does not read it", row.flag, method);
  }
  for (const auto& row : coding_parameters()) {
    if (row.flag == "coder" || row.flag == "threads" || coder_reads(options.coding.method, row))
      continue;
    DICTLEARN_CHECK(parameter_value(row, options.coding) == parameter_value(row, defaults.coding),
                    "--{}: the {} coder does not read it", row.flag,
                    coder_flag_name(options.coding.method));
  }
  // K-SVD and MOD fit atoms to codes of a chosen sparsity: the L0 coders'
  // default limit (dim / 10) is no choice of the user's, so one is required.
  const Parameter<CodingOptions>& n_nonzero = *find_parameter(coding_parameters(), "n-nonzero");
  const Parameter<CodingOptions>& max_error = *find_parameter(coding_parameters(), "max-error");
  if ((options.method == LearningMethod::ksvd || options.method == LearningMethod::mod) &&
      coder_reads(options.coding.method, n_nonzero)) {
    const bool error_limit = coder_reads(options.coding.method, max_error);
    DICTLEARN_CHECK(options.coding.n_nonzero > 0 || (error_limit && options.coding.max_error > 0),
                    "--method {}: the {} coder needs a limit: --n-nonzero{}", method,
                    coder_flag_name(options.coding.method), error_limit ? " or --max-error" : "");
  }
  DICTLEARN_CHECK(options.n_atoms == 0 || !coder_reads(options.coding.method, n_nonzero) ||
                      options.coding.n_nonzero <= options.n_atoms,
                  "--n-nonzero: {} is more than the {} atoms (--atoms)", options.coding.n_nonzero,
                  options.n_atoms);
}

Settings learning_settings(const LearningOptions& options) {
  // The atoms' count is not among them: 0 means the initial dictionary's, and
  // the checkpoint's dictionary fixes it (load_state checks its shape).
  Settings settings = {{"batch-size", fmt::format("{}", options.batch_size)},
                       {"seed", fmt::format("{}", options.seed)}};
  for (const auto& row : learning_parameters()) {
    if (row.resume_must_match) settings.emplace_back(row.flag, parameter_value(row, options));
  }
  for (const auto& row : coding_parameters()) {
    if (row.resume_must_match)
      settings.emplace_back(row.flag, parameter_value(row, options.coding));
  }
  return settings;
}

}  // namespace dictlearn
