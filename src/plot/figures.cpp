#include "dictlearn/figures.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/check.hpp"

namespace dictlearn {

template <typename T>
LogRecorder<T>::LogRecorder(Projection projection, int n_atoms, int total_epochs,
                            RecorderOptions options)
    : projection_(std::move(projection)),
      n_atoms_with_columns_(n_atoms <= options.max_atoms ? n_atoms : 0),
      total_epochs_(total_epochs),
      snapshot_every_(options.snapshot_every > 0 ? options.snapshot_every
                                                 : std::max(1, total_epochs / 200)),
      classical_(options.classical) {
  log_.columns = classical_ ? std::vector<std::string>{"epoch", "loss",           "mse",    "fvu",
                                                       "l0",    "atoms_replaced", "seconds"}
                            : std::vector<std::string>{"epoch", "loss",          "mse", "fvu",
                                                       "l0",    "dead_fraction", "lr",  "seconds"};
  for (int k = 0; k < n_atoms_with_columns_; ++k) {
    log_.columns.push_back(fmt::format("atom{}_x", k));
    log_.columns.push_back(fmt::format("atom{}_y", k));
  }
  log_.rows.reserve(total_epochs);
}

template <typename T>
void LogRecorder<T>::operator()(const EpochStats& stats, const Model<T>& model) {
  std::vector<double> row(log_.columns.size(), std::numeric_limits<double>::quiet_NaN());
  const std::vector<double> values =
      classical_ ? std::vector<double>{static_cast<double>(stats.epoch),
                                       stats.loss,
                                       stats.mse,
                                       stats.fvu,
                                       stats.l0,
                                       static_cast<double>(stats.atoms_replaced),
                                       stats.seconds}
                 : std::vector<double>{static_cast<double>(stats.epoch),
                                       stats.loss,
                                       stats.mse,
                                       stats.fvu,
                                       stats.l0,
                                       stats.dead_fraction,
                                       stats.lr,
                                       stats.seconds};
  const int fixed = static_cast<int>(values.size());
  std::copy(values.begin(), values.end(), row.begin());
  const bool snapshot =
      stats.epoch == 1 || stats.epoch % snapshot_every_ == 0 || stats.epoch == total_epochs_;
  if (snapshot && n_atoms_with_columns_ > 0) {
    const Matrix<double> atoms =
        project(projection_, model.dictionary.template cast<double>().eval());
    for (int k = 0; k < n_atoms_with_columns_; ++k) {
      row[fixed + 2 * k] = atoms(k, 0);
      row[fixed + 1 + 2 * k] = atoms(k, 1);
    }
  }
  log_.rows.push_back(std::move(row));
}

template <typename T>
void LogRecorder<T>::restore(const TrainingLog& earlier) {
  DICTLEARN_CHECK(earlier.columns == log_.columns,
                  "checkpoint: its training log has other columns than this run's");
  log_.rows = earlier.rows;
}

template class LogRecorder<float>;
template class LogRecorder<double>;

PlotInput make_plot_input(const Matrix<double>& data, const TrainingLog* log,
                          const Matrix<double>* dictionary, const std::string& model_name) {
  const Projection projection = make_projection(data);
  PlotInput input;
  input.data = project(projection, data);
  input.x_label = projection.x_label;
  input.y_label = projection.y_label;
  if (dictionary) {
    DICTLEARN_CHECK(dictionary->cols() == data.cols(),
                    "{}: atoms have dimension {} but the data has {} columns", model_name,
                    dictionary->cols(), data.cols());
    input.final_atoms = project(projection, *dictionary);
    input.atoms = *dictionary;  // for the grid of images, where the data are patches
  }
  if (log) {
    const int loss_column = log->column("loss");
    const int mse_column = log->column("mse");  // -1 in logs written before it existed
    const int epoch_column = log->column("epoch");
    const int atoms = log->atom_count();
    std::vector<int> x_columns, y_columns;
    for (int k = 0; k < atoms; ++k) {
      x_columns.push_back(log->column(fmt::format("atom{}_x", k)));
      y_columns.push_back(log->column(fmt::format("atom{}_y", k)));
    }
    for (const auto& row : log->rows) {
      input.loss.push_back(row[loss_column]);
      if (mse_column >= 0) input.mse.push_back(row[mse_column]);
      if (atoms == 0 || std::isnan(row[x_columns[0]])) continue;
      AtomSnapshot snapshot;
      // read_training_log checks this; a log built in memory may hold anything.
      const double epoch = row[epoch_column];
      DICTLEARN_CHECK(
          epoch >= 0 && epoch <= std::numeric_limits<int>::max() && epoch == std::floor(epoch),
          "training log: epoch {} is not a whole number in [0, {}]", epoch,
          std::numeric_limits<int>::max());
      snapshot.epoch = static_cast<int>(epoch);
      snapshot.atoms.resize(atoms, 2);
      for (int k = 0; k < atoms; ++k) {
        snapshot.atoms(k, 0) = row[x_columns[k]];
        snapshot.atoms(k, 1) = row[y_columns[k]];
      }
      input.snapshots.push_back(std::move(snapshot));
    }
  }
  return input;
}

}  // namespace dictlearn
