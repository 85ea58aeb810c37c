// dictlearn: the parameter tables. One row per option of an options struct
// (as LightGBM's config.h): its flag, short flag, Python name, type, choices,
// default (the struct's own), check, help, and whether it is recorded in a
// model's metadata and must match when a checkpoint is resumed.
//
// Everything that lists options is generated from these rows: the CLI's
// flags (cli/ loops over them), validate(const FitOptions&) and its messages,
// the metadata `train.<flag>` of models and checkpoints (one schema), and
// docs/OPTIONS.md (dictlearn_docgen; a test fails when it is stale). Adding
// an option is one member in the struct and one row here.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "dictlearn/coders.hpp"
#include "dictlearn/learning.hpp"
#include "dictlearn/trainer.hpp"

namespace dictlearn {

struct FitJob;  // dictlearn/workflows.hpp

/// A parameter with named values (an enum, or a file type): read and written as its name.
template <typename Options>
struct ChoiceField {
  std::string (*get)(const Options&);         ///< the current value's name
  void (*set)(Options&, const std::string&);  ///< throws Error naming the flag for an unknown name
  std::vector<std::string> names;             ///< the names it accepts
};

/// Typed access to the member a parameter sets. The alternative is the
/// parameter's type: int, int64, uint64, double, bool, text (a path), choice.
template <typename Options>
using ParameterField =
    std::variant<int& (*)(Options&), int64_t& (*)(Options&), uint64_t& (*)(Options&),
                 double& (*)(Options&), bool& (*)(Options&), std::string& (*)(Options&),
                 ChoiceField<Options>>;

/// The values a number may take; a failed check reads
/// "--<flag>: must be <requirement>, got <value>".
struct Range {
  bool checked = false;  ///< false: any value the type holds
  double min = -std::numeric_limits<double>::infinity();
  bool min_inclusive = true;
  double max = std::numeric_limits<double>::infinity();
  bool max_inclusive = true;
  bool finite = false;    ///< NaN and infinities refused (" and finite")
  std::string note = {};  ///< appended to the requirement, e.g. " (0: all cores)"
  std::string wording =
      {};  ///< replaces the requirement made from the bounds, e.g. "a fraction in [0, 1]"
};

/// One row of a parameter table.
template <typename Options>
struct Parameter {
  std::string flag;        ///< long flag without dashes ("batch-size"); metadata key train.<flag>
  std::string short_flag;  ///< one letter ("b" for -b), or empty
  std::string python;  ///< keyword of the Python estimators (scikit-learn's name where it exists)
  ParameterField<Options> field;   ///< the member it sets
  std::string help;                ///< one line, for --help and docs/OPTIONS.md
  Range range;                     ///< checked by validate()
  bool recorded = false;           ///< written to the model's metadata as train.<flag>
  bool resume_must_match = false;  ///< a resumed checkpoint must have been made with the same value
  bool positional = false;         ///< a positional argument of the command, not a flag
  bool required = false;           ///< the command needs it
  /// A bool whose flag sets its member false (--no-shuffle for
  /// LearningOptions::shuffle): the row's value (metadata, docs, set and
  /// read as text) is the flag's sense, the member's negation; the Python
  /// keyword names the member, with the member's value.
  bool negated = false;
};

/// The options of a training run (FitOptions), in the order of `fit --help`.
const std::vector<Parameter<FitOptions>>& fit_parameters();
/// The fit command's own options (FitJob's files and schedule; its `options` not included).
const std::vector<Parameter<FitJob>>& fit_job_parameters();

/// --threads is capped at this many threads per core: past it threads only
/// add start-up time, memory and contention (--threads 10000 once took 800
/// times longer and 6 GB).
inline constexpr int kThreadsPerCore = 4;
/// The most worker threads a parallel region starts: kThreadsPerCore times
/// the cores this process may run on (its CPU affinity mask). A larger
/// FitOptions::threads is capped at it (the CLI says so); results do not
/// depend on the thread count.
int max_threads();

/// The row with this flag, or nullptr.
template <typename Options>
const Parameter<Options>* find_parameter(const std::vector<Parameter<Options>>& table,
                                         const std::string& flag);

/// The names a choice accepts; empty for other types.
template <typename Options>
std::vector<std::string> parameter_choices(const Parameter<Options>& parameter);

/// "int", "int64", "uint64", "double", "bool", "text" or "choice".
template <typename Options>
const char* parameter_type(const Parameter<Options>& parameter);

/// The value as text: numbers as fmt's "{}" (shortest round trip), bools
/// "true"/"false", choices by name. The same text in metadata, checkpoints and docs.
template <typename Options>
std::string parameter_value(const Parameter<Options>& parameter, const Options& options);

/// Sets the value from its text (as parameter_value writes it); throws Error
/// naming `where` and the flag when the text is not a value of the type.
template <typename Options>
void set_parameter_value(const Parameter<Options>& parameter, Options& options,
                         const std::string& text, const std::string& where = "");

/// Throws Error "--<flag>: must be <requirement>, got <value>" when the value is out of range.
template <typename Options>
void check_parameter(const Parameter<Options>& parameter, const Options& options);

/// "must be" part of the range check ("> 0 and finite"), or "" when unchecked.
std::string range_requirement(const Range& range);

/// Writes train.<flag> = value for the recorded rows; empty values (a text
/// not given) and false bools are left out, as the CLI has always written them.
template <typename Options>
void record_parameters(const std::vector<Parameter<Options>>& table, const Options& options,
                       std::map<std::string, std::string>& metadata);

/// Sets every recorded row found as train.<flag> in `metadata` (a false bool
/// is absent: absent bools are set false); the inverse of record_parameters.
/// Errors name `where` (the file) and the key.
template <typename Options>
void read_parameters(const std::vector<Parameter<Options>>& table,
                     const std::map<std::string, std::string>& metadata, Options& options,
                     const std::string& where);

/// The settings a resumed run must share with the run that wrote a
/// checkpoint, as (flag, value): every row with resume_must_match, bools
/// included -- everything that shapes training except the number of epochs and
/// threads (the dtype and the SIMD level are compared by load_checkpoint).
std::vector<std::pair<std::string, std::string>> resume_settings(const FitOptions& options);

/// The metadata key under which a checkpoint holds a resume setting:
/// "train.<flag>", or "checkpoint.setting.<flag>" in files written before the
/// single schema (dictlearn 0.1: those holding any checkpoint.setting.* key),
/// which keep loading. A setting the file does not hold under this key was not
/// recorded by the version that wrote it and is not compared.
std::string resume_setting_key(const std::map<std::string, std::string>& metadata,
                               const std::string& flag);

/// The FitJob the CLI starts from before its flags: the library's defaults,
/// with --preset auto (the library's own default is seed).
FitJob cli_fit_job();

/// docs/OPTIONS.md: both tables of `dictlearn fit` and the coding table of
/// `dictlearn encode` / `eval` as Markdown.
std::string options_markdown();

/// The coding options (CodingOptions) as `dictlearn encode` and `eval` take
/// them, in the order of `encode --help`: --coder, --n-nonzero, --max-error,
/// --alpha, --l2, --positive, --max-iter, --coder-tol, --threads
/// (src/core/coding_parameters.cpp). validate(const CodingOptions&) checks
/// every row; a row's help ends with the coders that read it, from
/// coder_traits(...).parameters, so a coder added to the table is listed
/// with no change here. Recorded rows (all but --threads) write and read
/// train.<flag> through record_parameters / read_parameters.
const std::vector<Parameter<CodingOptions>>& coding_parameters();

/// A coder's name on the command line: its coder_table() name with '_' as
/// '-' ("lasso-cd" for lasso_cd). --coder accepts either spelling.
std::string coder_flag_name(CoderKind kind);

/// The coders that read a row of coding_parameters(): every coder for
/// --coder and --threads, else those whose traits list the row's member.
std::vector<CoderKind> coders_reading(const Parameter<CodingOptions>& parameter);

/// The command line's checks of the coding flags given (`given`: flags
/// without dashes, as the CLI saw them), after validate(options):
///  - without "coder" in `given`, any other coding flag is refused
///    ("--alpha: only with --coder; the model's own encoder does not read it");
///  - a flag the chosen coder does not read is refused ("--n-nonzero: the
///    lasso-cd coder does not read it") rather than ignored;
///  - --n-nonzero below 1 is refused (the library's 0, "the default", is had
///    by leaving the flag out).
void check_coding_flags(const CodingOptions& options, const std::set<std::string>& given);

/// The classical learners' own options (LearningOptions) as `dictlearn fit`
/// takes them with --method online|alternating|mod|ksvd, in the order of
/// `fit --help` (src/core/learning_parameters.cpp): --method, --max-steps,
/// --max-seconds, --forgetting, --no-shuffle, --dict-tol, --max-no-improvement,
/// --positive-dict, --unit-norm, --no-resample-unused, --init-atoms,
/// --approximate, --keep-better-codes. The coding step's flags are
/// coding_parameters()' (LearningOptions::coding), and the flags fit shares
/// with the gradient learner (--atoms, --epochs, --batch-size, --seed,
/// --threads) are fit_parameters()'. --method also lists `gradient`, fit's
/// default, which is no LearningOptions value (the gradient learner is
/// Trainer, with FitOptions): setting it through the row throws. A row's help
/// ends with the methods that read it.
const std::vector<Parameter<LearningOptions>>& learning_parameters();

/// The learners that read a row of learning_parameters() (every one for
/// --method, --max-seconds, --init-atoms, --positive-dict, --unit-norm).
std::vector<LearningMethod> methods_reading(const Parameter<LearningOptions>& parameter);

/// The coder of the coding step when --coder is not given: omp for ksvd and
/// mod (the methods' papers code with OMP), lasso-lars otherwise (LearningOptions').
CoderKind default_coder(LearningMethod method);

/// fit's --method (`method`: "gradient" or a LearningMethod's name; errors
/// name --method) applied to `job`: "gradient" leaves job.learning empty and
/// refuses the classical learners' flags given; a classical method sets
/// job.learning to `learning` with that method, default_coder() unless
/// "coder" is in job.given, and the flags fit shares with the gradient
/// learner (--atoms, --epochs, --batch-size, --seed, --threads) from
/// job.options where given (the others keep LearningOptions' defaults:
/// --epochs 10, not the gradient's 10000). Then the flags given (job.given,
/// without dashes) are checked against the method and the coder, after
/// validate(*job.learning):
///  - a gradient learner's flag: "--lr: --method online does not read it";
///  - a learning flag the method does not read: "--forgetting: --method ksvd does not read it";
///  - a coding flag the coder does not read: "--alpha: the omp coder does not read it";
///  - a classical flag with gradient: "--alpha: --method gradient does not read it";
///  - --n-nonzero below 1 (leave it out for the coder's default).
void set_fit_method(FitJob& job, const std::string& method, LearningOptions learning);

/// Writes a classical learner's settings as train.<flag> metadata (what
/// fit and learn_dictionary record in the model): the rows of
/// learning_parameters() the method reads and of coding_parameters() the
/// coder reads (record_parameters' rules: false bools left out; --threads
/// not recorded), and the shared train.atoms, train.epochs, train.seed and,
/// for online, train.batch-size. recorded_coding() reads the coder back.
void record_learning_parameters(const LearningOptions& options,
                                std::map<std::string, std::string>& metadata);

/// The section of docs/OPTIONS.md on the learning table.
std::string learning_options_markdown();

/// The coder a model without an encoder (a classical learner's) records in
/// its metadata: train.coder and the coder's settings (record_parameters of
/// coding_parameters(); --threads is not recorded and stays 0). Throws Error
/// naming `where` (the file) when train.coder is absent ("no encoder and no
/// recorded coder") or a recorded value is not valid ("<where>: metadata:
/// --alpha: must be ...").
CodingOptions recorded_coding(const std::map<std::string, std::string>& metadata,
                              const std::string& where);

/// The FitJob `dictlearn fit` makes of these flags (each without dashes, with
/// its value as text as parameter_value writes it; a bool "true" for the flag
/// given, a negated bool's flag in its own sense): cli_fit_job() (--preset
/// auto), the rows of fit_parameters(), fit_job_parameters(),
/// learning_parameters() and coding_parameters() (but --threads, fit's own),
/// the flags recorded in job.given, then set_fit_method() with --method
/// (default gradient). Errors name the flag: one given twice or unknown
/// ("--alpah: no such option of `dictlearn fit`"), a value not of its type,
/// and set_fit_method's refusals. The Python package's way in (src/core/flag_values.cpp).
FitJob fit_job_from_flags(const std::vector<std::pair<std::string, std::string>>& flags);

/// The CodingOptions `dictlearn encode --coder` makes of these flags (rows
/// of coding_parameters(), "coder" among them: a coder is needed):
/// validate() and check_coding_flags() as for the command line.
CodingOptions coding_options_from_flags(
    const std::vector<std::pair<std::string, std::string>>& flags);

/// `dictlearn encode --help`'s list of the coders, one line each, from coder_table().
std::string coders_help();

/// The section of docs/OPTIONS.md on the coding table.
std::string coding_options_markdown();

}  // namespace dictlearn
