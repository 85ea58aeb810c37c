// Internal: the training part of run_fit on data already in memory (the
// demo trains on data it made itself).
#pragma once

#include <algorithm>
#include <functional>
#include <optional>

#include "core/check.hpp"
#include "dictlearn/figures.hpp"
#include "dictlearn/workflows.hpp"

namespace dictlearn::detail {

/// Trains on `data` (N x dim, contiguous rows) as `job` asks and writes
/// job.output (unless empty), job.log and the checkpoints; returns the
/// trained model and fills `summary`. `record_job`: whether the job's own
/// recorded rows (--dtype, --snapshot-every) go into the model's metadata;
/// `demo` has no such flags. `start`: a model in memory to continue, as
/// job.init's file would be (fit_matrix()).
template <typename T>
Model<T> fit_data(const FitJob& job, MatrixView<T> data, const FitCallbacks& callbacks,
                  bool record_job, FitSummary& summary, const Model<T>* start = nullptr);

/// The outputs of a fit job (-o, --log, --step-log, --checkpoint) checked
/// against each other and its inputs before any work (check_output_paths).
void check_fit_paths(const FitJob& job);

/// Data whose typical magnitude (root mean square) is this far from 1 is
/// extreme: the gradient learner trains on it divided by its magnitude, the
/// classical learners refuse it (their coder's settings are in its units).
inline constexpr double kExtremeScale = 1e10;

/// The data's root mean square over the whole double range (fit.cpp).
template <typename T>
double data_rms(MatrixView<T> data);

/// `fit --method online|alternating|mod|ksvd` (job.learning set): reads the
/// data, learns, writes job.output, the log and the checkpoints
/// (src/workflows/fit_classical.cpp).
FitSummary run_fit_classical(const FitJob& job, const FitCallbacks& callbacks);

/// The learning part of run_fit_classical on data in memory (contiguous
/// rows): returns the model and writes job.output unless it is empty.
/// `start`: the atoms to start from, as job.init's file would give them.
template <typename T>
Model<T> fit_classical(const FitJob& job, MatrixView<T> X, const FitCallbacks& callbacks,
                       FitSummary& summary, const Matrix<T>* start = nullptr);

/// What run_learner() saw: this run's first and last epochs (a resumed run's
/// own, so a summary compares like with like) and, with --log, the log.
struct LearnerRun {
  std::optional<EpochStats> first_stats, last_stats;
  std::optional<TrainingLog> log;
};

/// Runs `learner` (the gradient Trainer or a classical learner: the same
/// fit / checkpoint / progress calls) as `job` asks: --resume restores it
/// first (and the log of the epochs before, carried in the checkpoint),
/// --epochs counts the whole run, the log is recorded by `record` (what the
/// log holds of an epoch: the gradient path scales rescaled data back),
/// checkpoints every job.checkpoint_every epochs, at the last and when the
/// run stops early, progress through `report`.
template <typename T, typename L>
LearnerRun run_learner(
    L& learner, const FitJob& job, MatrixView<T> X, int total_epochs,
    const RecorderOptions& recorder_options, const FitCallbacks& report,
    const std::function<void(LogRecorder<T>&, const EpochStats&, const Model<T>&)>& record) {
  const int n_atoms = learner.model().n_atoms();
  // The checkpoint first: a run it cannot continue is refused before any other work.
  std::optional<TrainingLog> earlier;  // the log of the epochs before it travels inside it
  if (!job.resume.empty()) {
    const TensorFile state = learner.load_checkpoint(job.resume, X);
    if (!job.log.empty()) {
      earlier = log_from_tensors(state, job.resume);
      DICTLEARN_CHECK(earlier.has_value(),
                      "--log: {} was written without a log; resume without --log or checkpoint "
                      "with --log",
                      job.resume);
    }
  }
  std::optional<LogRecorder<T>> recorder;
  if (!job.log.empty()) {
    // The projection is only needed for the atom columns, which many atoms leave out.
    recorder.emplace(n_atoms <= recorder_options.max_atoms
                         ? make_projection(X.template cast<double>())
                         : Projection{},
                     n_atoms, total_epochs, recorder_options);
  }
  if (recorder && earlier) recorder->restore(*earlier);
  const int done = static_cast<int>(learner.losses().size());
  // --epochs counts the whole run, resumed or not.
  learner.set_epochs(std::max(0, total_epochs - done));
  auto save_checkpoint = [&]() {
    TensorFile extra;
    if (recorder) log_to_tensors(recorder->log(), extra);
    learner.save_checkpoint(job.checkpoint, X, extra);
  };
  LearnerRun run;
  if (report.batch_progress) {
    learner.set_batch_progress(
        [&](const BatchProgress& at) { report.batch_progress(at, total_epochs); });
  }
  learner.fit(X, [&](const EpochStats& stats, const Model<T>& model) {
    if (!run.first_stats) run.first_stats = stats;
    run.last_stats = stats;
    if (recorder) record(*recorder, stats, model);
    if (!job.checkpoint.empty() &&
        (stats.epoch % job.checkpoint_every == 0 || stats.epoch == total_epochs)) {
      save_checkpoint();
    }
    if (report.progress) report.progress(stats, total_epochs);
  });
  // Early stopping, a budget or a convergence test ended the run between scheduled checkpoints.
  if (!job.checkpoint.empty() && learner.stopped_early()) save_checkpoint();
  if (recorder) run.log = recorder->log();
  return run;
}

}  // namespace dictlearn::detail
