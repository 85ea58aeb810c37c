// dictlearn: what connects training to the figures: a recorder that turns the
// per-epoch observer calls into a training log (loss and atom snapshots), and
// the assembly of the figures' input from data, log and model.
#pragma once

#include <string>

#include "dictlearn/model.hpp"
#include "dictlearn/plot.hpp"
#include "dictlearn/trainer.hpp"
#include "dictlearn/training_log.hpp"

namespace dictlearn {

/// Options of the log recorder.
struct RecorderOptions {
  int snapshot_every = 0;  ///< epochs between atom snapshots; 0: about 200 over the run
  int max_atoms = 64;      ///< no atom columns when the model has more atoms than this
  /// A classical learner's log (--method): the columns epoch, loss (the
  /// coder's objective), mse, fvu, l0, atoms_replaced, seconds, with no
  /// dead_fraction or lr, which those learners do not have.
  bool classical = false;
};

/// Observer for Trainer::fit that records epoch, loss, seconds and, every
/// snapshot_every epochs (and on the last), the atoms projected to the figure plane.
template <typename T>
class LogRecorder {
 public:
  LogRecorder(Projection projection, int n_atoms, int total_epochs, RecorderOptions options = {});
  void operator()(const EpochStats& stats, const Model<T>& model);
  const TrainingLog& log() const { return log_; }
  /// Continues from the rows of an earlier part of the run (a resumed
  /// checkpoint); throws Error if its columns differ.
  void restore(const TrainingLog& earlier);

 private:
  Projection projection_;
  int n_atoms_with_columns_;
  int total_epochs_;
  int snapshot_every_;
  bool classical_;
  TrainingLog log_;
};

/// The figures' input: data projected onto the figure plane (see
/// make_projection), loss and atom snapshots from `log` (may be null), final
/// atoms from `dictionary` (may be null; n_atoms x dim), projected and as
/// they are (PlotInput::atoms; the caller sets patch_shape for their grid). Throws Error naming
/// `model_name` if the dictionary's dimension differs from the data's.
PlotInput make_plot_input(const Matrix<double>& data, const TrainingLog* log,
                          const Matrix<double>* dictionary,
                          const std::string& model_name = "model");

}  // namespace dictlearn
