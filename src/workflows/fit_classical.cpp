// `dictlearn fit --method online|alternating|mod|ksvd` end to end: the
// initial atoms (--init: a model's dictionary or a plain atoms file; else
// initial_atoms()), the learner (OnlineDictionaryLearner or
// BatchDictionaryLearner), the settings recorded as metadata, the training log
// carried through checkpoints, the checkpoint schedule, --resume. The
// gradient learner's path (fit.cpp) is not touched by any of it.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>

#include "core/check.hpp"
#include "dictlearn/batch_learning.hpp"
#include "dictlearn/figures.hpp"
#include "dictlearn/io.hpp"
#include "dictlearn/online.hpp"
#include "dictlearn/parameters.hpp"
#include "dictlearn/plot.hpp"
#include "dictlearn/safetensors.hpp"
#include "dictlearn/workflows.hpp"
#include "workflows/fit_data.hpp"
#include "workflows/paths.hpp"

namespace dictlearn {
namespace {

/// The atoms a run starts from when it resumes: the checkpoint's dictionary
/// (the learner's load_checkpoint then restores the rest and checks it).
template <typename T>
Matrix<T> checkpoint_atoms(const std::string& path) {
  const TensorFile file = read_safetensors(path);
  const auto found = file.tensors.find("dictionary");
  DICTLEARN_CHECK(found != file.tensors.end() && found->second.shape.size() == 2,
                  "--resume: {} holds no dictionary (not a dictlearn checkpoint?)", path);
  const Tensor& tensor = found->second;
  Matrix<T> atoms(tensor.shape[0], tensor.shape[1]);
  for (Eigen::Index i = 0; i < atoms.size(); ++i)
    atoms.data()[i] = static_cast<T>(tensor.values[i]);
  return atoms;
}

/// What the run records in the model's metadata: the learner's rows, the
/// coder's, the flags fit shares with the gradient learner, the job's files.
std::map<std::string, std::string> recorded_settings(const FitJob& job,
                                                     const LearningOptions& options,
                                                     const std::string& patch_shape) {
  std::map<std::string, std::string> recorded;
  record_learning_parameters(options, recorded);
  FitJob effective = job;
  effective.patch_shape = patch_shape;
  for (const auto& row : fit_job_parameters()) {
    // The preset fills the gradient learner's options only.
    if (!row.recorded || row.flag == "preset") continue;
    const std::string value = parameter_value(row, effective);
    if (!value.empty()) recorded["train." + row.flag] = value;
  }
  if (!job.data.empty())
    recorded["train.data"] = std::filesystem::path(job.data).filename().string();
  return recorded;
}

/// Runs `learner` as the job asks (checkpoints, progress), fills `summary`
/// and, with --log, `log`.
template <typename T, typename Learner>
Model<T> train(Learner& learner, const FitJob& job, const LearningOptions& options, MatrixView<T> X,
               const FitCallbacks& report, FitSummary& summary, std::optional<TrainingLog>& log) {
  const int n_atoms = learner.model().n_atoms();
  const int total_epochs = options.epochs;
  const detail::LearnerRun run = detail::run_learner<T>(
      learner, job, X, total_epochs, {.snapshot_every = job.snapshot_every, .classical = true},
      report, [](LogRecorder<T>& recorder, const EpochStats& stats, const Model<T>& model) {
        recorder(stats, model);
      });
  const std::optional<EpochStats>& first_stats = run.first_stats;
  const std::optional<EpochStats>& last_stats = run.last_stats;
  log = run.log;
  const auto& losses = learner.losses();
  summary = FitSummary{.output = job.output,
                       .n_atoms = n_atoms,
                       .samples = X.rows(),
                       .dim = X.cols(),
                       .epochs = static_cast<int>(losses.size()),
                       .stopped_early = learner.stopped_early(),
                       .first_loss = losses.empty() ? 0.0 : losses.front(),
                       .last_loss = losses.empty() ? 0.0 : losses.back(),
                       .first_epoch = first_stats ? first_stats->epoch : 0,
                       .first_mse = first_stats ? first_stats->mse : 0.0,
                       .first_objective = first_stats ? first_stats->loss : 0.0,
                       .last_mse = last_stats ? last_stats->mse : 0.0,
                       .last_fvu = last_stats ? last_stats->fvu : 0.0,
                       .method = learning_method_name(options.method),
                       .coder = coder_flag_name(options.coding.method),
                       .last_l0 = last_stats ? last_stats->l0 : 0.0};
  return learner.release_model();
}

}  // namespace

namespace detail {

template <typename T>
Model<T> fit_classical(const FitJob& job, MatrixView<T> X, const FitCallbacks& callbacks,
                       FitSummary& summary, const Matrix<T>* start) {
  const FitCallbacks report = job.quiet ? FitCallbacks{} : callbacks;
  LearningOptions options = *job.learning;
  const std::string method = learning_method_name(options.method);
  const std::string data_name = job.data.empty() ? std::string("the data") : job.data;
  // The coder's settings (alpha, max-error) are in the data's units: the
  // data cannot be divided by its magnitude behind the user's back as the
  // gradient learner does.
  const double rms = detail::data_rms<T>(X);
  DICTLEARN_CHECK(!(std::isfinite(rms) && rms > 0 &&
                    (rms > detail::kExtremeScale || rms < 1 / detail::kExtremeScale)),
                  "{}: values of magnitude {:.3g}; --method {} learns on the data as it is (the "
                  "coder's --alpha and --max-error are in its units): bring its magnitude toward "
                  "1 first",
                  data_name, rms, method);
  std::string patch_shape = job.patch_shape;
  if (!patch_shape.empty()) parse_patch_shape(patch_shape, X.cols());
  Matrix<T> atoms;
  std::string atoms_source;
  if (!job.resume.empty()) {
    atoms = checkpoint_atoms<T>(job.resume);
    atoms_source = "--resume " + job.resume;
  } else if (start != nullptr) {
    atoms = *start;
    atoms_source = "the initial dictionary";
  } else if (!job.init.empty()) {
    if (is_atoms_file(job.init)) {
      atoms = read_matrix<T>(job.init);
    } else {
      Model<T> model = load_model<T>(job.init);
      // The patch geometry describes the atoms, which this run keeps learning.
      if (const auto shape = model.metadata.find("train.patch-shape");
          patch_shape.empty() && shape != model.metadata.end()) {
        patch_shape = shape->second;
      }
      atoms = std::move(model.dictionary);
    }
    atoms_source = "--init " + job.init;
  } else {
    DICTLEARN_CHECK(options.n_atoms >= 1,
                    "--atoms: needed with --method {} (the number of atoms to learn), unless "
                    "--init gives the atoms",
                    method);
    atoms = initial_atoms<T>(X, options.n_atoms, options.init, options.seed);
  }
  if (!atoms_source.empty()) {
    DICTLEARN_CHECK(atoms.cols() == X.cols(), "{}: atoms of dimension {} but {} has {} columns",
                    atoms_source, atoms.cols(),
                    job.data.empty() ? data_name : "the data " + job.data, X.cols());
    DICTLEARN_CHECK(job.given.count("atoms") == 0 || options.n_atoms == atoms.rows(),
                    "--atoms: {} differs from the {} atoms of {}", options.n_atoms, atoms.rows(),
                    atoms_source);
    options.n_atoms = static_cast<int>(atoms.rows());
  }
  // Patches written by `dictlearn patches` carry their geometry next to them.
  if (patch_shape.empty() && !job.data.empty())
    patch_shape = read_patches_sidecar(job.data, X.cols());
  validate(options);  // again: --n-nonzero against the atoms now known
  const std::map<std::string, std::string> recorded = recorded_settings(job, options, patch_shape);

  Model<T> trained;
  std::optional<TrainingLog> log;
  // --step-log: one row per step of the online learner (StepStats), this run's steps.
  TrainingLog steps{
      .columns = {"step", "batch_cost", "smoothed_cost", "l0", "atoms_replaced", "seconds"}};
  if (options.method == LearningMethod::online) {
    OnlineDictionaryLearner<T> learner(std::move(atoms), options);
    if (!job.step_log.empty()) {
      learner.set_step_observer([&steps](const StepStats& step) {
        steps.rows.push_back({static_cast<double>(step.step), step.batch_cost, step.smoothed_cost,
                              step.nonzero, static_cast<double>(step.atoms_replaced),
                              step.seconds});
      });
    }
    trained = train<T>(learner, job, options, X, report, summary, log);
  } else {
    BatchDictionaryLearner<T> learner(std::move(atoms), options);
    trained = train<T>(learner, job, options, X, report, summary, log);
  }
  // The learner's own bookkeeping is not the model's: the run records its settings.
  std::erase_if(trained.metadata, [](const auto& entry) {
    return entry.first.starts_with("checkpoint.") || entry.first.starts_with("train.");
  });
  for (const auto& [key, value] : recorded) trained.metadata[key] = value;
  if (!job.output.empty()) save_model(job.output, trained);
  if (log) write_training_log(job.log, *log);
  if (!job.step_log.empty()) write_training_log(job.step_log, steps);
  return trained;
}

template Model<float> fit_classical(const FitJob&, MatrixView<float>, const FitCallbacks&,
                                    FitSummary&, const Matrix<float>*);
template Model<double> fit_classical(const FitJob&, MatrixView<double>, const FitCallbacks&,
                                     FitSummary&, const Matrix<double>*);

FitSummary run_fit_classical(const FitJob& job, const FitCallbacks& callbacks) {
  validate(*job.learning);
  if (!job.patch_shape.empty()) parse_patch_shape(job.patch_shape);  // before any work
  detail::check_fit_paths(job);
  // float32 unless --dtype says otherwise, or the model of --init or --resume
  // (a plain atoms file does not choose).
  DType dtype = DType::float32;
  if (!job.dtype.empty()) {
    dtype = job.dtype == "float64" ? DType::float64 : DType::float32;
  } else if (!job.init.empty() && !is_atoms_file(job.init)) {
    dtype = model_dtype(job.init);
  } else if (!job.resume.empty()) {
    dtype = model_dtype(job.resume);
  }
  if (!job.quiet && callbacks.reading) callbacks.reading(job.data, data_file_info(job.data));
  FitSummary summary;
  if (dtype == DType::float64) {
    fit_classical<double>(job, read_matrix<double>(job.data), callbacks, summary);
  } else {
    fit_classical<float>(job, read_matrix<float>(job.data), callbacks, summary);
  }
  return summary;
}

}  // namespace detail
}  // namespace dictlearn
