// `dictlearn fit` end to end: rescaling of extreme data, a new model or one
// from --init or --resume, the options recorded as metadata, the training log
// carried through checkpoints, the checkpoint schedule.
#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include "core/check.hpp"
#include "core/finite.hpp"
#include "dictlearn/encoders.hpp"
#include "dictlearn/figures.hpp"
#include "dictlearn/io.hpp"
#include "dictlearn/parameters.hpp"
#include "dictlearn/plot.hpp"
#include "dictlearn/presets.hpp"
#include "dictlearn/workflows.hpp"
#include "workflows/fit_data.hpp"
#include "workflows/paths.hpp"

namespace dictlearn {
namespace {

// Data whose typical magnitude is farther than kExtremeScale (fit_data.hpp)
// from 1 is trained on divided by its root mean square: squares of 1e30
// overflow float, and Adam's steps (about lr per step) are meaningless next to
// values of 1e-30.
using detail::kExtremeScale;

/// The squares' sum of the plain pass is trusted from here up (to a finite
/// sum): squares that underflowed, each below 2.3e-308, are then far below its
/// last bit. Float data always stays on the plain pass.
constexpr double kPlainSumFloor = 1e-250;

/// The data's root mean square over the whole double range: squares of
/// values beyond about 1e154 overflow a double and below 1e-154 underflow, so
/// where the plain sum may have lost either way it is taken again on the data
/// divided by its largest magnitude, as LAPACK's dnrm2 scales its sum. Where
/// the plain sum is trusted the result is the plain one, bit for bit.
template <typename T>
double root_mean_square(MatrixView<T> data) {
  // Contiguous rows (fit_matrix() copies a view that has other strides).
  DICTLEARN_ASSERT(data.outerStride() == data.cols() || data.rows() <= 1);
  // Eight running sums: no chain of dependent additions over the whole data.
  std::array<double, 8> lanes{};
  const T* values = data.data();
  const Eigen::Index size = data.size(), whole = size / 8 * 8;
  for (Eigen::Index i = 0; i < whole; i += 8) {
    for (int lane = 0; lane < 8; ++lane) {
      const double x = static_cast<double>(values[i + lane]);
      lanes[lane] += x * x;
    }
  }
  for (Eigen::Index i = whole; i < size; ++i)
    lanes[0] += static_cast<double>(values[i]) * values[i];
  double sum = 0;
  for (const double lane : lanes) sum += lane;
  if (sum >= kPlainSumFloor && sum <= std::numeric_limits<double>::max())
    return std::sqrt(sum / static_cast<double>(size));
  double largest = 0;
  for (Eigen::Index i = 0; i < size; ++i) {
    const double magnitude = std::abs(static_cast<double>(values[i]));
    if (!(magnitude <= largest)) largest = magnitude;  // a NaN is kept: the rms is NaN
  }
  if (!(largest > 0) || !std::isfinite(largest)) return largest;  // all zero, or not finite
  double scaled = 0;
  for (Eigen::Index i = 0; i < size; ++i) {
    const double ratio = static_cast<double>(values[i]) / largest;
    scaled += ratio * ratio;
  }
  return largest * std::sqrt(scaled / static_cast<double>(size));
}

/// Throws Error naming the data file when the model trained on the data
/// divided by `scale` does not fit T once scaled back (an entry overflows).
template <typename T>
void check_scaled_back(const Model<T>& model, double scale, const std::string& data) {
  auto finite = [](const auto& values) { return detail::all_finite(values.data(), values.size()); };
  if (finite(model.dictionary) && finite(model.encoder_weight) && finite(model.decoder_bias))
    return;
  DICTLEARN_FAIL(
      "{}: the model trained on the data divided by its magnitude {:.3g} does not fit {} when "
      "scaled back (its atoms grow and its encoder weights shrink by that factor); {}",
      data, scale, sizeof(T) == 4 ? "float32" : "float64",
      sizeof(T) == 4 ? "train with --dtype float64" : "bring the data's magnitude toward 1 first");
}

/// The objective's terms beyond the reconstruction MSE, as fit's summary names them.
std::string objective_terms(const FitOptions& options, EncoderKind encoder) {
  std::string terms;
  auto add = [&terms](const char* term) {
    if (!terms.empty()) terms += " + ";
    terms += term;
  };
  if (options.l1 > 0) add("L1");
  if (options.ortho > 0) add("ortho");
  // AuxK is added only for encoders that select the top k (the trainer's uses_auxk).
  if (options.auxk > 0 && encoder_traits(encoder).selects_top_k) add("AuxK");
  return terms;
}

/// "preset sae (...): --atoms 256 --k 6 ...": the values the preset chose
/// (`applied`, apply_preset's flags), so a run says what it trains with.
std::string preset_note(const FitOptions& options, const std::vector<std::string>& applied) {
  std::string text = "preset sae (--preset seed for the seed's defaults):";
  for (const std::string& flag : applied) {
    const std::string value = parameter_value(*find_parameter(fit_parameters(), flag), options);
    text += value == "true" ? fmt::format(" --{}", flag) : fmt::format(" --{} {}", flag, value);
  }
  return text;
}

}  // namespace

namespace detail {

template <typename T>
Model<T> fit_data(const FitJob& job, MatrixView<T> data, const FitCallbacks& callbacks,
                  bool record_job, FitSummary& summary, const Model<T>* start) {
  const FitCallbacks report = job.quiet ? FitCallbacks{} : callbacks;
  const double rms = root_mean_square(data);
  // Values whose typical magnitude is subnormal: a model of them would need
  // encoder weights of about 1/rms, beyond the type's range.
  DICTLEARN_CHECK(
      !(rms > 0 && rms < std::numeric_limits<T>::min()),
      "{}: values of magnitude {:.3g} are subnormal in {} (below {:.3g}): a model of them cannot "
      "be held in it (its encoder weights would be about 1/{:.3g}); {}",
      job.data, rms, sizeof(T) == 4 ? "float32" : "float64", std::numeric_limits<T>::min(), rms,
      sizeof(T) == 4 ? "train with --dtype float64" : "bring the data's magnitude toward 1 first");
  const bool rescale =
      std::isfinite(rms) && rms > 0 && (rms > kExtremeScale || rms < 1 / kExtremeScale);
  const double scale = rescale ? rms : 1.0;
  // Losses are reported in the data's units (scale²) unless those overflow or
  // underflow a double (magnitudes beyond about 1e154 or below 1e-154): then
  // in the units of the data divided by the scale, as trained.
  const double loss_unit = std::isnormal(scale * scale) ? scale * scale : 1.0;
  Matrix<T> scaled;
  if (rescale) {
    scaled = (data.template cast<double>() / rms).template cast<T>();
    if (report.note) {
      report.note(fmt::format(
          "{}: values of magnitude {:.3g}; training on the data divided by it (the model is "
          "scaled back; {})",
          job.data, rms,
          loss_unit != 1.0 ? "the log's loss and mse are in the data's units"
                           : "the log's loss and mse are those of the data divided by it: in the "
                             "data's units they would overflow or underflow a double"));
    }
  }
  const MatrixView<T> X = rescale ? MatrixView<T>(scaled) : data;
  if (!job.patch_shape.empty()) parse_patch_shape(job.patch_shape, X.cols());

  FitOptions options = job.options;
  std::set<std::string> given = job.given;
  std::string patch_shape = job.patch_shape;  // with --init and none given, the model's
  Model<T> initial;
  if (!job.resume.empty()) {
    initial = load_model<T>(job.resume);
    check_data_matches(initial, X, job.data);
    // The checkpoint's bookkeeping and settings are not the model's: this run records its own.
    std::erase_if(initial.metadata, [](const auto& entry) {
      return entry.first.starts_with("checkpoint.") || entry.first.starts_with("train.") ||
             entry.first == "log.columns";
    });
    // `options` stay this run's own (--atoms and the encoder flags included):
    // load_checkpoint compares them with the checkpoint's before training.
  } else if (start != nullptr || !job.init.empty()) {
    initial = start != nullptr ? *start : load_model<T>(job.init);
    const std::string init = start != nullptr ? std::string("the initial model") : job.init;
    if (!initial.has_encoder()) {
      const auto method = initial.metadata.find("train.method");
      DICTLEARN_FAIL(
          "--init: {} has no encoder (learned by --method {}); the gradient learner needs one: "
          "continue with --method {} or start anew",
          init, method == initial.metadata.end() ? "?" : method->second,
          method == initial.metadata.end() ? "online" : method->second);
    }
    check_data_matches(initial, X, job.data.empty() ? std::string("the data") : job.data);
    // The patch geometry describes the atoms, which this run keeps training.
    if (const auto shape = initial.metadata.find("train.patch-shape");
        patch_shape.empty() && shape != initial.metadata.end()) {
      patch_shape = shape->second;
    }
    // The model's training record describes another run; this run records its own.
    std::erase_if(initial.metadata, [](const auto& entry) {
      return entry.first.starts_with("checkpoint.") || entry.first.starts_with("train.") ||
             entry.first == "log.columns";
    });
    // Encoder flags given with --init replace the model's own settings.
    if (job.given.count("encoder") > 0) initial.encoder.kind = options.encoder.kind;
    if (job.given.count("k") > 0) initial.encoder.k = options.encoder.k;
    if (job.given.count("temperature") > 0)
      initial.encoder.temperature = options.encoder.temperature;
    options.n_atoms = initial.n_atoms();
    validate(initial.encoder, initial.n_atoms());
    // The run's settings are the model's: its checkpoints record them, and a
    // resumed run is compared with them.
    options.encoder = initial.encoder;
    // The model fixes these: the preset leaves them as the model has them.
    given.insert({"atoms", "k", "init-dict", "tied", "decoder-bias"});
    if (rescale) scale_model(initial, 1 / scale);
  }
  // Patches written by `dictlearn patches` carry their geometry next to them.
  if (patch_shape.empty() && !job.data.empty())
    patch_shape = read_patches_sidecar(job.data, X.cols());
  // The preset fills what the run does not set (with --init, by the model's encoder).
  const Preset preset = choose_preset(job.preset, options.encoder.kind);
  const std::vector<std::string> applied =
      apply_preset(preset, options, given, {.rows = X.rows(), .dim = X.cols()});
  validate(options);
  if (preset == Preset::sae && report.note) report.note(preset_note(options, applied));
  if (job.resume.empty() && job.init.empty() && start == nullptr)
    initial = initialize<T>(X, options);
  // The training settings travel with the model: this run's effective options
  // (with --init, the model's atoms and encoder, as the run trains them).
  std::map<std::string, std::string> recorded;
  record_parameters(fit_parameters(), options, recorded);
  if (record_job) {
    FitJob effective = job;
    effective.preset = preset_name(preset);
    effective.patch_shape = patch_shape;
    record_parameters(fit_job_parameters(), effective, recorded);
  }
  if (!job.data.empty())
    recorded["train.data"] = std::filesystem::path(job.data).filename().string();
  for (const auto& [key, value] : recorded) initial.metadata[key] = value;

  const int n_atoms = initial.n_atoms();
  const int total_epochs = options.epochs;
  Trainer<T> trainer(std::move(initial), options);
  const LearnerRun run =
      run_learner<T>(trainer, job, X, total_epochs, {.snapshot_every = job.snapshot_every}, report,
                     [&](LogRecorder<T>& recorder, const EpochStats& stats, const Model<T>& model) {
                       EpochStats in_data_units = stats;
                       in_data_units.loss *= loss_unit;
                       in_data_units.mse *= loss_unit;
                       if (rescale) {
                         Model<T> unscaled = model;
                         scale_model(unscaled, scale);
                         recorder(in_data_units, unscaled);
                       } else {
                         recorder(in_data_units, model);
                       }
                     });
  const std::optional<EpochStats>& first_stats = run.first_stats;
  const std::optional<EpochStats>& last_stats = run.last_stats;
  Model<T> trained = trainer.release_model();
  if (rescale) {
    scale_model(trained, scale);
    check_scaled_back(trained, scale, job.data);
    trained.metadata["train.data_scale"] = fmt::format("{}", scale);
  }
  if (!job.output.empty()) save_model(job.output, trained);
  if (run.log) write_training_log(job.log, *run.log);

  const auto& losses = trainer.losses();
  summary = FitSummary{.output = job.output,
                       .n_atoms = n_atoms,
                       .encoder = trained.encoder.kind,
                       .samples = X.rows(),
                       .dim = X.cols(),
                       .epochs = static_cast<int>(losses.size()),
                       .stopped_early = trainer.stopped_early(),
                       .first_loss = losses.empty() ? 0.0 : losses.front() * loss_unit,
                       .last_loss = losses.empty() ? 0.0 : losses.back() * loss_unit,
                       .first_epoch = first_stats ? first_stats->epoch : 0,
                       .first_mse = first_stats ? first_stats->mse * loss_unit : 0.0,
                       .first_objective = first_stats ? first_stats->loss * loss_unit : 0.0,
                       .last_mse = last_stats ? last_stats->mse * loss_unit : 0.0,
                       .last_fvu = last_stats ? last_stats->fvu : 0.0,
                       .objective_terms = objective_terms(options, trained.encoder.kind),
                       .data_scale = scale,
                       .loss_unit = loss_unit};
  return trained;
}

void check_fit_paths(const FitJob& job) {
  // --checkpoint equal to --resume is how a long run keeps checkpointing.
  check_output_paths({{"-o", job.output, {".safetensors"}},
                      {"--log", job.log, {".csv"}},
                      {"--step-log", job.step_log, {".csv"}},
                      {"--checkpoint", job.checkpoint, {".safetensors", ".ckpt"}}},
                     {{"data", job.data}, {"--init", job.init}, {"--resume", job.resume}},
                     {{"--checkpoint", "--resume"}});
}

template <typename T>
double data_rms(MatrixView<T> data) {
  return root_mean_square<T>(data);
}
template double data_rms(MatrixView<float>);
template double data_rms(MatrixView<double>);

template Model<float> fit_data(const FitJob&, MatrixView<float>, const FitCallbacks&, bool,
                               FitSummary&, const Model<float>*);
template Model<double> fit_data(const FitJob&, MatrixView<double>, const FitCallbacks&, bool,
                                FitSummary&, const Model<double>*);

}  // namespace detail

template <typename T>
FitResult<T> fit_matrix(const FitJob& job, MatrixView<std::type_identity_t<T>> X,
                        const FitCallbacks& callbacks, const Model<T>* start) {
  if (X.rows() > 1 && X.outerStride() != X.cols()) {
    const Matrix<T> contiguous = X;  // the one copy of rows that are not contiguous
    return fit_matrix<T>(job, contiguous, callbacks, start);
  }
  validate(job);
  if (job.learning) validate(*job.learning);
  DICTLEARN_CHECK(start == nullptr || (job.init.empty() && job.resume.empty()),
                  "{}: a start model in memory cannot be combined with a file to start from",
                  job.init.empty() ? "--resume" : "--init");
  if (!job.patch_shape.empty()) parse_patch_shape(job.patch_shape);
  detail::check_fit_paths(job);
  const std::string data_name = job.data.empty() ? std::string("the data") : job.data;
  DICTLEARN_CHECK(X.rows() > 0 && X.cols() > 0, "{}: no data ({} x {})", data_name, X.rows(),
                  X.cols());
  // As the readers check a file's values: training on a NaN spreads it.
  if (const int64_t bad = detail::first_non_finite(X.data(), X.size()); bad >= 0) {
    DICTLEARN_FAIL("{}: row {}, column {}: {} (the values must be finite)", data_name,
                   bad / X.cols(), bad % X.cols(), std::isnan(X.data()[bad]) ? "NaN" : "infinity");
  }
  FitResult<T> result;
  if (job.learning) {
    const Matrix<T>* atoms = start != nullptr ? &start->dictionary : nullptr;
    result.model = detail::fit_classical<T>(job, X, callbacks, result.summary, atoms);
  } else {
    result.model = detail::fit_data<T>(job, X, callbacks, true, result.summary, start);
  }
  return result;
}

template FitResult<float> fit_matrix(const FitJob&, MatrixView<float>, const FitCallbacks&,
                                     const Model<float>*);
template FitResult<double> fit_matrix(const FitJob&, MatrixView<double>, const FitCallbacks&,
                                      const Model<double>*);

FitSummary run_fit(const FitJob& job, const FitCallbacks& callbacks) {
  validate(job);
  if (job.learning) return detail::run_fit_classical(job, callbacks);
  if (!job.patch_shape.empty()) parse_patch_shape(job.patch_shape);  // before any work
  detail::check_fit_paths(job);
  DType dtype = DType::float32;
  if (!job.dtype.empty()) {
    dtype = job.dtype == "float64" ? DType::float64 : DType::float32;
  } else if (!job.init.empty()) {
    dtype = model_dtype(job.init);
  } else if (!job.resume.empty()) {
    dtype = model_dtype(job.resume);
  }
  if (!job.init.empty() && job.given.count("atoms") > 0) {
    // --atoms with --init must agree with the model rather than be ignored silently.
    const auto init = load_model<double>(job.init);
    DICTLEARN_CHECK(init.n_atoms() == job.options.n_atoms,
                    "--atoms: {} differs from the {} atoms of --init {}", job.options.n_atoms,
                    init.n_atoms(), job.init);
  }
  if (!job.quiet && callbacks.reading) callbacks.reading(job.data, data_file_info(job.data));
  FitSummary summary;
  if (dtype == DType::float64) {
    detail::fit_data<double>(job, read_matrix<double>(job.data), callbacks, true, summary);
  } else {
    detail::fit_data<float>(job, read_matrix<float>(job.data), callbacks, true, summary);
  }
  return summary;
}

}  // namespace dictlearn
