// Options from flags given as text, the way in of the Python package: the
// rows, checks and "given" sets of the command line's own parsing (cli/), so
// that a run set up this way is the run `dictlearn fit` / `encode` makes of
// the same flags.
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/check.hpp"
#include "dictlearn/parameters.hpp"
#include "dictlearn/workflows.hpp"

namespace dictlearn {

FitJob fit_job_from_flags(const std::vector<std::pair<std::string, std::string>>& flags) {
  FitJob job = cli_fit_job();
  LearningOptions learning;
  std::string method = "gradient";
  for (const auto& [flag, value] : flags) {
    DICTLEARN_CHECK(job.given.insert(flag).second, "--{}: given twice", flag);
    if (flag == "method") {
      method = value;
    } else if (const auto* row = find_parameter(fit_parameters(), flag)) {
      set_parameter_value(*row, job.options, value);
    } else if (const auto* job_row = find_parameter(fit_job_parameters(), flag)) {
      set_parameter_value(*job_row, job, value);
    } else if (const auto* learning_row = find_parameter(learning_parameters(), flag)) {
      set_parameter_value(*learning_row, learning, value);
    } else if (const auto* coding_row = find_parameter(coding_parameters(), flag);
               coding_row != nullptr && flag != "threads") {
      set_parameter_value(*coding_row, learning.coding, value);
    } else {
      DICTLEARN_FAIL("--{}: no such option of `dictlearn fit`", flag);
    }
  }
  set_fit_method(job, method, learning);
  return job;
}

CodingOptions coding_options_from_flags(
    const std::vector<std::pair<std::string, std::string>>& flags) {
  CodingOptions options;
  std::set<std::string> given;
  for (const auto& [flag, value] : flags) {
    DICTLEARN_CHECK(given.insert(flag).second, "--{}: given twice", flag);
    const auto* row = find_parameter(coding_parameters(), flag);
    DICTLEARN_CHECK(row != nullptr, "--{}: no such option of `dictlearn encode`", flag);
    set_parameter_value(*row, options, value);
  }
  // Without --coder the command codes with a model's own encoder: here there is none.
  DICTLEARN_CHECK(given.count("coder") > 0, "--coder: needed (one of {})", coder_choices());
  validate(options);
  check_coding_flags(options, given);
  return options;
}

}  // namespace dictlearn
