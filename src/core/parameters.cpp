// The parameter tables of `dictlearn fit` and what is generated from them:
// validation, metadata, resume settings and docs/OPTIONS.md.
#include "dictlearn/parameters.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "core/check.hpp"
#include "core/parameter_rows.hpp"
#include "dictlearn/encoders.hpp"
#include "dictlearn/presets.hpp"
#include "dictlearn/workflows.hpp"

namespace dictlearn {
namespace {

using detail::at_least;
using detail::choose;
using detail::either;
using detail::non_negative_finite;

/// The encoders' names, from their table (encoders.hpp), so a new encoder is a new choice.
std::vector<std::string> encoder_names() {
  std::vector<std::string> names;
  for (const EncoderTraits& traits : encoder_table()) names.push_back(traits.name);
  return names;
}
const std::vector<std::string> kDictionaryInits = {"uniform", "data"};
const std::vector<std::string> kDecoderBiases = {"none", "zero", "mean"};
const std::vector<std::string> kDTypes = {"float32", "float64"};
const std::vector<std::string> kPresets = {"auto", "seed", "sae"};

Range positive_finite() {
  return {.checked = true, .min = 0, .min_inclusive = false, .finite = true};
}
Range unit_interval_open() { return {.checked = true, .min = 0, .max = 1, .max_inclusive = false}; }

}  // namespace

// The rows name only the fields they set; the rest keep their defaults (value
// initialization). GCC's -Wextra would list every omitted field, and default
// member initializers in Parameter<> crash GCC 12 (internal compiler error).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

const std::vector<Parameter<FitOptions>>& fit_parameters() {
  using O = FitOptions;
  static const std::vector<Parameter<O>> table = {
      {.flag = "atoms",
       .python = "n_components",
       .field = DICTLEARN_FIELD(O, n_atoms),
       .help = "number of dictionary atoms (>= 1)",
       .range = at_least(1),
       .recorded = true,
       .resume_must_match = true},
      {.flag = "epochs",
       .short_flag = "e",
       .python = "max_iter",
       .field = DICTLEARN_FIELD(O, epochs),
       .help = "passes over the data (>= 0)",
       .range = at_least(0),
       .recorded = true},
      {.flag = "batch-size",
       .short_flag = "b",
       .python = "batch_size",
       .field = DICTLEARN_FIELD(O, batch_size),
       .help = "samples per Adam step (0: the full batch)",
       .range = at_least(0, " (0: full batch)"),
       .recorded = true,
       .resume_must_match = true},
      {.flag = "encoder",
       .python = "encoder",
       .field = ChoiceField<O>{
           [](const O& o) -> std::string { return encoder_name(o.encoder.kind); },
           [](O& o, const std::string& name) { o.encoder.kind = parse_encoder(name, "--encoder"); },
           encoder_names()},
       .help = encoder_choices(),
       .recorded = true,
       .resume_must_match = true},
      {.flag = "k",
       .python = "n_nonzero_coefs",
       .field = DICTLEARN_FIELD(O, encoder.k),
       .help = "topk/batchtopk: active atoms per sample (>= 0; 0: not used by the others)",
       .recorded = true,
       .resume_must_match = true},
      {.flag = "temperature",
       .python = "temperature",
       .field = DICTLEARN_FIELD(O, encoder.temperature),
       .help = "softmax: Z is divided by it",
       .range = positive_finite(),
       .recorded = true,
       .resume_must_match = true},
      {.flag = "threshold-decay",
       .python = "threshold_decay",
       .field = DICTLEARN_FIELD(O, threshold_decay),
       .help = "batchtopk: decay of the moving average that learns the inference threshold",
       .range = unit_interval_open(),
       .recorded = true,
       .resume_must_match = true},
      {.flag = "l1",
       .python = "alpha",
       .field = DICTLEARN_FIELD(O, l1),
       .help = "weight of the L1 penalty on codes (mean over samples of sum |r|)",
       .range = non_negative_finite(),
       .recorded = true,
       .resume_must_match = true},
      {.flag = "ortho",
       .python = "ortho",
       .field = DICTLEARN_FIELD(O, ortho),
       .help = "weight of the penalty |D^D^T - I|_F^2 on unit-normalized atoms",
       .range = non_negative_finite(),
       .recorded = true,
       .resume_must_match = true},
      {.flag = "unit-atoms",
       .python = "unit_atoms",
       .field = DICTLEARN_FIELD(O, unit_atoms),
       .help = "keep atoms at unit norm",
       .recorded = true,
       .resume_must_match = true},
      {.flag = "init-dict",
       .python = "init_dict",
       .field = ChoiceField<O>{[](const O& o) -> std::string {
                                 return kDictionaryInits[static_cast<size_t>(o.dictionary_init)];
                               },
                               [](O& o, const std::string& name) {
                                 o.dictionary_init = static_cast<DictionaryInit>(
                                     choose("init-dict", kDictionaryInits, name));
                               },
                               kDictionaryInits},
       .help = "uniform (the seed's U[0,1)) or data (samples)",
       .recorded = true,
       .resume_must_match = true},
      {.flag = "tied",
       .python = "tied",
       .field = DICTLEARN_FIELD(O, tied),
       .help = "start the encoder weights equal to the dictionary",
       .recorded = true,
       .resume_must_match = true},
      {.flag = "decoder-bias",
       .python = "decoder_bias",
       .field = ChoiceField<O>{[](const O& o) -> std::string {
                                 return kDecoderBiases[static_cast<size_t>(o.decoder_bias)];
                               },
                               [](O& o, const std::string& name) {
                                 o.decoder_bias = static_cast<DecoderBiasInit>(
                                     choose("decoder-bias", kDecoderBiases, name));
                               },
                               kDecoderBiases},
       .help = "none, zero or mean (of the data)",
       .recorded = true,
       .resume_must_match = true},
      {.flag = "warmup-steps",
       .python = "warmup_steps",
       .field = DICTLEARN_FIELD(O, warmup_steps),
       .help = "linear learning-rate warm-up over these steps",
       .range = at_least(0),
       .recorded = true,
       .resume_must_match = true},
      {.flag = "lr-decay",
       .python = "lr_decay",
       .field = DICTLEARN_FIELD(O, lr_decay),
       .help = "fraction of steps, at the end, of linear decay to 0",
       .range = {.checked = true, .min = 0, .max = 1, .wording = "a fraction in [0, 1]"},
       .recorded = true,
       .resume_must_match = true},
      {.flag = "patience",
       .python = "n_iter_no_change",
       .field = DICTLEARN_FIELD(O, patience),
       .help = "stop after this many epochs without improvement (0: never)",
       .range = at_least(0, " (0: never stop early)"),
       .recorded = true,
       .resume_must_match = true},
      {.flag = "tol",
       .python = "tol",
       .field = DICTLEARN_FIELD(O, tol),
       .help = "relative improvement that resets --patience",
       .range = unit_interval_open(),
       .recorded = true,
       .resume_must_match = true},
      {.flag = "dead-after",
       .python = "dead_after",
       .field = DICTLEARN_FIELD(O, dead_after),
       .help = "samples without firing before an atom is dead (0: one epoch)",
       .range = at_least(0, " (0: one epoch)"),
       .recorded = true,
       .resume_must_match = true},
      {.flag = "auxk",
       .python = "auxk",
       .field = DICTLEARN_FIELD(O, auxk),
       .help = "weight of the AuxK loss for dead atoms (topk/batchtopk; 1/32 typical)",
       .range = non_negative_finite(),
       .recorded = true,
       .resume_must_match = true},
      {.flag = "auxk-k",
       .python = "auxk_k",
       .field = DICTLEARN_FIELD(O, auxk_k),
       .help = "dead atoms AuxK uses per sample (0: dim/2)",
       .range = at_least(0, " (0: dim / 2)"),
       .recorded = true,
       .resume_must_match = true},
      {.flag = "lr",
       .python = "learning_rate_init",
       .field = DICTLEARN_FIELD(O, adam.lr),
       .help = "Adam learning rate (> 0)",
       .range = positive_finite(),
       .recorded = true,
       .resume_must_match = true},
      {.flag = "beta1",
       .python = "beta_1",
       .field = DICTLEARN_FIELD(O, adam.beta1),
       .help = "Adam: decay of the first moment",
       .range = unit_interval_open(),
       .recorded = true,
       .resume_must_match = true},
      {.flag = "beta2",
       .python = "beta_2",
       .field = DICTLEARN_FIELD(O, adam.beta2),
       .help = "Adam: decay of the second moment",
       .range = unit_interval_open(),
       .recorded = true,
       .resume_must_match = true},
      {.flag = "eps",
       .python = "epsilon",
       .field = DICTLEARN_FIELD(O, adam.eps),
       .help = "Adam: added to the denominator",
       .range = positive_finite(),
       .recorded = true,
       .resume_must_match = true},
      {.flag = "seed",
       .python = "random_state",
       .field = DICTLEARN_FIELD(O, seed),
       .help = "seed of the initialization and the shuffles",
       .recorded = true,
       .resume_must_match = true},
      {.flag = "threads",
       .python = "n_jobs",
       .field = DICTLEARN_FIELD(O, threads),
       .help = fmt::format("worker threads (0: all cores; at most {} per core); results do not "
                           "depend on it",
                           kThreadsPerCore),
       .range = at_least(0, " (0: all cores)")},
      {.flag = "resample-every",
       .python = "resample_every",
       .field = DICTLEARN_FIELD(O, resample_every),
       .help = "steps between resamplings of dead atoms from badly reconstructed samples, in the "
               "first half of the run (0: never)",
       .range = at_least(0, " (0: never)"),
       .recorded = true,
       .resume_must_match = true},
      {.flag = "resample-scale",
       .python = "resample_scale",
       .field = DICTLEARN_FIELD(O, resample_scale),
       .help = "a resampled atom's encoder row, relative to the mean norm of the live ones",
       .range = positive_finite(),
       .recorded = true,
       .resume_must_match = true},
  };
  return table;
}

const std::vector<Parameter<FitJob>>& fit_job_parameters() {
  using J = FitJob;
  static const std::vector<Parameter<J>> table = {
      {.flag = "data",
       .python = "X",
       .field = DICTLEARN_FIELD(J, data),
       .help = "training data (.npy or .csv), one sample per row",
       .positional = true,
       .required = true},
      {.flag = "output",
       .short_flag = "o",
       .python = "output",
       .field = DICTLEARN_FIELD(J, output),
       .help = "output model file (.safetensors)",
       .required = true},
      {.flag = "quiet",
       .short_flag = "q",
       .python = "quiet",
       .field = DICTLEARN_FIELD(J, quiet),
       .help = "no progress bar or summary"},
      {.flag = "init",
       .python = "init",
       .field = DICTLEARN_FIELD(J, init),
       .help = "start from this model file's parameters"},
      {.flag = "log",
       .python = "log",
       .field = DICTLEARN_FIELD(J, log),
       .help = "write the training log (CSV: epoch, loss, ...)"},
      {.flag = "step-log",
       .python = "step_log",
       .field = DICTLEARN_FIELD(J, step_log),
       .help = "--method online: write one row per step (CSV: step, batch_cost, smoothed_cost, "
               "l0, atoms_replaced, seconds)"},
      {.flag = "checkpoint",
       .python = "checkpoint",
       .field = DICTLEARN_FIELD(J, checkpoint),
       .help = "save the complete training state to this file as training goes"},
      {.flag = "checkpoint-every",
       .python = "checkpoint_every",
       .field = DICTLEARN_FIELD(J, checkpoint_every),
       .help = "epochs between checkpoints",
       .range = at_least(1)},
      {.flag = "resume",
       .python = "resume",
       .field = DICTLEARN_FIELD(J, resume),
       .help = "continue the run saved in this checkpoint (same data and settings; --epochs is the "
               "total)"},
      {.flag = "dtype",
       .python = "dtype",
       .field = ChoiceField<J>{
           [](const J& j) { return j.dtype; },
           [](J& j, const std::string& name) { j.dtype = kDTypes[choose("dtype", kDTypes, name)]; },
           kDTypes},
       .help = "float32 or float64 (default: float32, or the --init model's)",
       .recorded = true},
      {.flag = "preset",
       .python = "preset",
       .field = ChoiceField<J>{[](const J& j) { return j.preset; },
                               [](J& j, const std::string& name) {
                                 j.preset = kPresets[choose("preset", kPresets, name)];
                               },
                               kPresets},
       .help = "defaults of the options not given: seed (the seed's loop), sae (sparse-autoencoder "
               "practice, sized from the data) or auto (sae for encoders other than softmax); "
               "the table is under Presets",
       .recorded = true},
      {.flag = "snapshot-every",
       .python = "snapshot_every",
       .field = DICTLEARN_FIELD(J, snapshot_every),
       .help = "epochs between atom snapshots in the log (0: about 200 per run)",
       .range = at_least(0, " (0: about 200 per run)"),
       .recorded = true},
      {.flag = "patch-shape",
       .python = "patch_shape",
       .field = DICTLEARN_FIELD(J, patch_shape),
       .help = "the samples are HEIGHTxWIDTH image patches (e.g. 8x8; H*W = the data's columns): "
               "recorded, so `plot` draws the atoms as images",
       .recorded = true},
  };
  return table;
}

#pragma GCC diagnostic pop
#undef DICTLEARN_FIELD

template <typename Options>
const Parameter<Options>* find_parameter(const std::vector<Parameter<Options>>& table,
                                         const std::string& flag) {
  for (const auto& parameter : table) {
    if (parameter.flag == flag) return &parameter;
  }
  return nullptr;
}

template <typename Options>
std::vector<std::string> parameter_choices(const Parameter<Options>& parameter) {
  const auto* choice = std::get_if<ChoiceField<Options>>(&parameter.field);
  return choice ? choice->names : std::vector<std::string>{};
}

template <typename Options>
const char* parameter_type(const Parameter<Options>& parameter) {
  static constexpr const char* names[] = {"int",  "int64", "uint64", "double",
                                          "bool", "text",  "choice"};
  return names[parameter.field.index()];
}

template <typename Options>
std::string parameter_value(const Parameter<Options>& parameter, const Options& options) {
  // The accessors take a mutable struct (one accessor serves reading and
  // writing); reading through them changes nothing.
  Options& o = const_cast<Options&>(options);
  return std::visit(
      [&](const auto& field) -> std::string {
        using Field = std::decay_t<decltype(field)>;
        if constexpr (std::is_same_v<Field, ChoiceField<Options>>) {
          return field.get(options);
        } else if constexpr (std::is_same_v<Field, bool& (*)(Options&)>) {
          return field(o) != parameter.negated ? "true" : "false";
        } else if constexpr (std::is_same_v<Field, std::string& (*)(Options&)>) {
          return field(o);
        } else {
          return fmt::format("{}", field(o));
        }
      },
      parameter.field);
}

template <typename Options>
void set_parameter_value(const Parameter<Options>& parameter, Options& options,
                         const std::string& text, const std::string& where) {
  const std::string prefix = where.empty() ? "" : where + ": ";
  std::visit(
      [&](const auto& field) {
        using Field = std::decay_t<decltype(field)>;
        if constexpr (std::is_same_v<Field, ChoiceField<Options>>) {
          try {
            field.set(options, text);
          } catch (const Error& e) {
            throw Error(prefix + e.what());
          }
        } else if constexpr (std::is_same_v<Field, std::string& (*)(Options&)>) {
          field(options) = text;
        } else if constexpr (std::is_same_v<Field, bool& (*)(Options&)>) {
          DICTLEARN_CHECK(text == "true" || text == "false", "{}--{}: '{}' is not true or false",
                          prefix, parameter.flag, text);
          field(options) = (text == "true") != parameter.negated;
        } else {
          using Value = std::remove_reference_t<decltype(field(options))>;
          size_t used = 0;
          Value value{};
          try {
            if constexpr (std::is_floating_point_v<Value>) {
              value = std::stod(text, &used);
            } else if constexpr (std::is_unsigned_v<Value>) {
              // stoull accepts "-1" (wrapping it); a seed is never negative.
              used = text.find('-') == std::string::npos ? 0 : text.size() + 1;
              if (used == 0) value = static_cast<Value>(std::stoull(text, &used));
            } else {
              const long long wide = std::stoll(text, &used);
              value = static_cast<Value>(wide);
              if (static_cast<long long>(value) != wide) used = text.size() + 1;
            }
          } catch (const std::exception&) {
            used = text.size() + 1;
          }
          if constexpr (std::is_unsigned_v<Value>) {
            DICTLEARN_CHECK(!text.empty() && used == text.size(),
                            "{}--{}: must be an integer in [0, {}], got '{}'", prefix,
                            parameter.flag, std::numeric_limits<Value>::max(), text);
          }
          DICTLEARN_CHECK(!text.empty() && used == text.size(), "{}--{}: '{}' is not {} {}", prefix,
                          parameter.flag, text, std::is_floating_point_v<Value> ? "a" : "an",
                          std::is_floating_point_v<Value> ? "number" : "integer");
          field(options) = value;
        }
      },
      parameter.field);
}

std::string range_requirement(const Range& range) {
  if (!range.checked) return "";
  std::string text = range.wording;
  const bool has_min = std::isfinite(range.min), has_max = std::isfinite(range.max);
  if (text.empty() && has_min && has_max) {
    text = fmt::format("in {}{}, {}{}", range.min_inclusive ? '[' : '(', range.min, range.max,
                       range.max_inclusive ? ']' : ')');
  } else if (text.empty() && has_min) {
    text = fmt::format("{} {}", range.min_inclusive ? ">=" : ">", range.min);
  } else if (text.empty() && has_max) {
    text = fmt::format("{} {}", range.max_inclusive ? "<=" : "<", range.max);
  }
  if (range.finite) text += " and finite";
  return text + range.note;
}

template <typename Options>
void check_parameter(const Parameter<Options>& parameter, const Options& options) {
  const Range& range = parameter.range;
  if (!range.checked) return;
  Options& o = const_cast<Options&>(options);  // read only; see parameter_value
  std::visit(
      [&](const auto& field) {
        using Field = std::decay_t<decltype(field)>;
        if constexpr (!std::is_same_v<Field, ChoiceField<Options>> &&
                      !std::is_same_v<Field, bool& (*)(Options&)> &&
                      !std::is_same_v<Field, std::string& (*)(Options&)>) {
          const auto value = field(o);
          const double x = static_cast<double>(value);
          const bool ok = (range.min_inclusive ? x >= range.min : x > range.min) &&
                          (range.max_inclusive ? x <= range.max : x < range.max) &&
                          (!range.finite || std::isfinite(x));
          DICTLEARN_CHECK(ok, "--{}: must be {}, got {}", parameter.flag, range_requirement(range),
                          value);
        }
      },
      parameter.field);
}

template <typename Options>
void record_parameters(const std::vector<Parameter<Options>>& table, const Options& options,
                       std::map<std::string, std::string>& metadata) {
  for (const auto& parameter : table) {
    if (!parameter.recorded) continue;
    const std::string value = parameter_value(parameter, options);
    if (value.empty() ||
        (std::holds_alternative<bool& (*)(Options&)>(parameter.field) && value == "false")) {
      continue;
    }
    metadata["train." + parameter.flag] = value;
  }
}

template <typename Options>
void read_parameters(const std::vector<Parameter<Options>>& table,
                     const std::map<std::string, std::string>& metadata, Options& options,
                     const std::string& where) {
  for (const auto& parameter : table) {
    if (!parameter.recorded) continue;
    const auto it = metadata.find("train." + parameter.flag);
    if (it != metadata.end()) {
      set_parameter_value(parameter, options, it->second, where);
    } else if (std::holds_alternative<bool& (*)(Options&)>(parameter.field)) {
      set_parameter_value(parameter, options, "false", where);
    }
  }
}

void validate(const FitOptions& options) {
  for (const auto& parameter : fit_parameters()) check_parameter(parameter, options);
  // Checks across parameters: k and the temperature against the encoder and the atoms.
  validate(options.encoder, options.n_atoms);
}

void validate(const FitJob& job) {
  FitOptions options = job.options;
  // With --init the atoms are the model's (--atoms only checked against them):
  // k is checked against the model's atom count once it is read, not against
  // the default --atoms.
  if (!job.init.empty() && job.given.count("atoms") == 0)
    options.n_atoms = std::max(options.n_atoms, options.encoder.k);
  // Under the sae preset k and the atoms not given come from the data's
  // shape, set once it is read: here they stand in as values that pass.
  if (choose_preset(job.preset, options.encoder.kind) == Preset::sae) {
    if (job.given.count("k") == 0 && encoder_traits(options.encoder.kind).needs_k)
      options.encoder.k = 1;
    if (job.given.count("atoms") == 0)
      options.n_atoms = std::max(options.n_atoms, options.encoder.k);
  }
  validate(options);
  for (const auto& parameter : fit_job_parameters()) check_parameter(parameter, job);
  DICTLEARN_CHECK(job.resume.empty() || job.init.empty(),
                  "--resume: cannot be combined with --init (the checkpoint holds the model)");
  if (!job.dtype.empty()) choose("dtype", kDTypes, job.dtype);
  DICTLEARN_CHECK(
      job.step_log.empty() || (job.learning && job.learning->method == LearningMethod::online),
      "--step-log: only --method online makes steps (this run: --method {})",
      job.learning ? learning_method_name(job.learning->method) : "gradient");
}

std::vector<std::pair<std::string, std::string>> resume_settings(const FitOptions& options) {
  std::vector<std::pair<std::string, std::string>> settings;
  for (const auto& parameter : fit_parameters()) {
    if (parameter.resume_must_match)
      settings.emplace_back(parameter.flag, parameter_value(parameter, options));
  }
  return settings;
}

std::string resume_setting_key(const std::map<std::string, std::string>& metadata,
                               const std::string& flag) {
  // dictlearn 0.1 wrote the settings apart from the model's train.* keys, which
  // held the text as typed ("1.0" for 1): in its files only the old keys are
  // comparable, and a setting it did not record there is not compared.
  const auto old = metadata.lower_bound("checkpoint.setting.");
  const bool old_format = old != metadata.end() && old->first.starts_with("checkpoint.setting.");
  return (old_format ? "checkpoint.setting." : "train.") + flag;
}

namespace {

/// A table's rows as Markdown; `|` in help texts is escaped.
template <typename Options>
std::string markdown_table(const std::vector<Parameter<Options>>& table, const Options& defaults) {
  std::string text =
      "| flag | type | default | check | Python | in metadata | resume | what it does |\n"
      "|---|---|---|---|---|---|---|---|\n";
  auto escape = [](const std::string& cell) {
    std::string escaped;
    for (const char c : cell) {
      if (c == '|') escaped += '\\';
      escaped += c;
    }
    return escaped;
  };
  for (const auto& p : table) {
    std::string flag = p.positional ? p.flag : "`--" + p.flag + "`";
    if (!p.short_flag.empty()) flag = "`-" + p.short_flag + "`, " + flag;
    std::string type = parameter_type(p);
    if (!parameter_choices(p).empty()) type = either(parameter_choices(p));
    std::string value = parameter_value(p, defaults);
    if (p.required) {
      value = "required";
    } else if (value.empty()) {
      value = "—";
    } else {
      value = "`" + value + "`";
    }
    const std::string check = p.range.checked ? escape(range_requirement(p.range)) : "";
    fmt::format_to(std::back_inserter(text), "| {} | {} | {} | {} | `{}` | {} | {} | {} |\n", flag,
                   type, value, check, p.python, p.recorded ? "`train." + p.flag + "`" : "",
                   p.resume_must_match ? "must match" : "", escape(p.help));
  }
  return text;
}

}  // namespace

std::string learning_options_markdown() {
  std::string text =
      "\n## Classical learners: `--method online|alternating|mod|ksvd`\n\n"
      "`dictlearn::LearningOptions` in the library (include/dictlearn/learning.hpp).\n"
      "`fit`'s `--method` defaults to `gradient`, the gradient learner of the tables above\n"
      "(no `LearningOptions` value: the library's `LearningOptions{}` is `online`). With a\n"
      "classical method `fit` reads these rows, the coding options below for its coding\n"
      "step (`--coder` defaults to `omp` for ksvd and mod, which then need `--n-nonzero`\n"
      "or `--max-error`, and to `lasso-lars` otherwise), and of the training options above\n"
      "only `--atoms` (needed unless `--init` gives the atoms), `--epochs` (passes for\n"
      "online, iterations for the others; default 10), `--batch-size` (online; default\n"
      "256), `--seed` and `--threads`; any other flag of the gradient learner is refused,\n"
      "and so is a flag the method or the coder does not read (the brackets list the\n"
      "methods that read a row). The model records the rows the method reads; *resume*\n"
      "(`learning_settings`) compares the rows marked here, the coding options but\n"
      "`--threads`, and `--batch-size` and `--seed`.\n\n";
  text += markdown_table(learning_parameters(), LearningOptions{});
  return text;
}

FitJob cli_fit_job() {
  FitJob job;
  job.preset = "auto";
  return job;
}

std::string options_markdown() {
  std::string text =
      "# Options of `dictlearn fit` and `dictlearn encode`\n\n"
      "<!-- Generated from the parameter tables in src/core/parameters.cpp,\n"
      "     src/core/learning_parameters.cpp and src/core/coding_parameters.cpp by\n"
      "     dictlearn_docgen;\n"
      "     regenerate with `cmake --build BUILD --target options_doc` (a test fails when stale). "
      "-->\n\n"
      "Every flag of `dictlearn fit` (and `dictlearn demo`, which takes the training\n"
      "options) with its type, default, check and help, as `fit --help` shows them.\n"
      "*Python* is the keyword of the Python estimators (scikit-learn's name where\n"
      "the same thing exists). *In metadata*: the model file records the value\n"
      "under this key (a bool only when set, `--dtype` only when given), and so\n"
      "does a checkpoint. *Resume*: `--resume` refuses a checkpoint made with\n"
      "another value.\n\n"
      "## Training options\n\n"
      "`dictlearn::FitOptions` in the library (include/dictlearn/trainer.hpp).\n\n";
  text += markdown_table(fit_parameters(), FitOptions{});
  text +=
      "\n## Files and schedule of the run\n\n"
      "`dictlearn::FitJob` in the library (include/dictlearn/workflows.hpp).\n\n";
  text += markdown_table(fit_job_parameters(), cli_fit_job());
  text +=
      "\n## Presets\n\n"
      "`--preset` names a set of defaults for the options a run does not give (a flag given\n"
      "always wins). `seed` is the defaults above: the seed's loop, exactly. `sae` is\n"
      "sparse-autoencoder practice, sized from the data (N samples of dim values).\n"
      "`auto`, the default, is `sae` for an encoder other than softmax and `seed` for\n"
      "softmax, so `dictlearn fit DATA -o M` with no flags is the seed's loop and\n"
      "`dictlearn fit DATA -o M --encoder topk` trains as SAEs are trained. With `--init`\n"
      "the model fixes the atoms, the encoder and k; the preset follows its encoder.\n"
      "A run under `sae` prints the values it chose (a note on stderr) and records them\n"
      "in the model's metadata like any other option (`train.preset` names the preset).\n"
      "`dictlearn::apply_preset` (include/dictlearn/presets.hpp) in the library.\n\n";
  text += presets_markdown();
  text += learning_options_markdown();
  text += coding_options_markdown();
  return text;
}

// Every options struct with a table: fit's two and the coding options
// (src/core/coding_parameters.cpp).
#define DICTLEARN_INSTANTIATE(O)                                                 \
  template const Parameter<O>* find_parameter(const std::vector<Parameter<O>>&,  \
                                              const std::string&);               \
  template std::vector<std::string> parameter_choices(const Parameter<O>&);      \
  template const char* parameter_type(const Parameter<O>&);                      \
  template std::string parameter_value(const Parameter<O>&, const O&);           \
  template void set_parameter_value(const Parameter<O>&, O&, const std::string&, \
                                    const std::string&);                         \
  template void check_parameter(const Parameter<O>&, const O&);                  \
  template void record_parameters(const std::vector<Parameter<O>>&, const O&,    \
                                  std::map<std::string, std::string>&);          \
  template void read_parameters(const std::vector<Parameter<O>>&,                \
                                const std::map<std::string, std::string>&, O&,   \
                                const std::string&);
DICTLEARN_INSTANTIATE(FitOptions)
DICTLEARN_INSTANTIATE(FitJob)
DICTLEARN_INSTANTIATE(CodingOptions)
DICTLEARN_INSTANTIATE(LearningOptions)
#undef DICTLEARN_INSTANTIATE

}  // namespace dictlearn
