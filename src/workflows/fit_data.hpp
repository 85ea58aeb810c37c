// Internal: the training part of run_fit on data already in memory (the
// demo trains on data it made itself).
#pragma once

#include "dictlearn/workflows.hpp"

namespace dictlearn::detail {

/// Trains on `data` (N x dim) as `job` asks and writes job.output, job.log
/// and the checkpoints; returns the trained model and fills `summary`.
/// `record_job`: whether the job's own recorded rows (--dtype,
/// --snapshot-every) go into the model's metadata; `demo` has no such flags.
template <typename T>
Model<T> fit_data(const FitJob& job, const Matrix<T>& data, const FitCallbacks& callbacks,
                  bool record_job, FitSummary& summary);

/// Data whose typical magnitude (root mean square) is this far from 1 is
/// extreme: the gradient learner trains on it divided by its magnitude, the
/// classical learners refuse it (their coder's settings are in its units).
inline constexpr double kExtremeScale = 1e10;

/// The data's root mean square over the whole double range (fit.cpp).
template <typename T>
double data_rms(const Matrix<T>& data);

/// `fit --method online|alternating|mod|ksvd` (job.learning set): reads the
/// data, learns, writes job.output, the log and the checkpoints
/// (src/workflows/fit_classical.cpp).
FitSummary run_fit_classical(const FitJob& job, const FitCallbacks& callbacks);

}  // namespace dictlearn::detail
