// dictlearn: the training log, a CSV file with one row per epoch.
//
// Columns: epoch (from 1), loss (the objective computed before that epoch's
// update, as the seed's loop records it; with mini-batches the mean over the
// epoch's batches, each computed before its own update), mse, fvu (fraction
// of variance unexplained), l0 (mean nonzero codes per sample), dead_fraction
// (atoms not fired for --dead-after samples), lr (of the epoch's last step),
// seconds (wall time since training started), then
// optionally atom<k>_x, atom<k>_y: the atoms' positions after that epoch's
// update in the figure plane (the data's own coordinates for 2-D data, else
// its first two principal components), filled on snapshot epochs and left
// blank on the others. A classical learner's log (fit --method online|...)
// has epoch, loss (the coder's objective), mse, fvu, l0, atoms_replaced
// (unused atoms replaced that epoch) and seconds before the atom columns.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "dictlearn/safetensors.hpp"
#include "dictlearn/types.hpp"

namespace dictlearn {

/// A training log in memory; blank cells are NaN.
struct TrainingLog {
  std::vector<std::string> columns;       ///< header names
  std::vector<std::vector<double>> rows;  ///< one per epoch, columns.size() values each

  /// Index of a column, or -1.
  int column(const std::string& name) const;
  /// Number of atom<k>_x/atom<k>_y pairs present.
  int atom_count() const;
};

/// Writes the log atomically; NaN cells are written blank.
void write_training_log(const std::string& path, const TrainingLog& log);

/// Reads a log; requires the columns epoch and loss. Errors name the file and line.
TrainingLog read_training_log(const std::string& path);

/// Puts the log into a checkpoint's extra content, so that a resumed run
/// continues it: tensor "log.rows" (rows x columns, float64, NaN for blank
/// cells) and metadata "log.columns" (the names, comma-separated).
void log_to_tensors(const TrainingLog& log, TensorFile& file);

/// The log a checkpoint carries (see log_to_tensors), or nullopt when it has
/// none. Throws Error naming `path` when its rows do not fit its columns.
std::optional<TrainingLog> log_from_tensors(const TensorFile& file, const std::string& path);

}  // namespace dictlearn
