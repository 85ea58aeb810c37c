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

}  // namespace dictlearn::detail
