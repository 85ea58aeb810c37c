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
// blank on the others.
#pragma once

#include <string>
#include <vector>

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

}  // namespace dictlearn
