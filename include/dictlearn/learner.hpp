// dictlearn: the seam between a dictionary learner and what drives it. A
// learner (the gradient autoencoder Trainer today; online dictionary
// learning, K-SVD and MOD next) implements Learner<T>: one update from one
// batch, the epoch's statistics, and its state in and out of a checkpoint.
// EpochLoop is the driver every learner shares: the shuffle, the batches,
// early stopping, the observer, the per-batch progress; save_checkpoint()/load_checkpoint() below
// write and check what every checkpoint holds (format, data shape and hash,
// settings, the loop's state) around the learner's own state.
//
//   template <typename T> class Learner {
//     using Observer = std::function<void(const EpochStats&, const Model<T>&)>;
//     const Model<T>& model() const;
//     EpochLoopOptions loop_options() const;               batch size, patience, tol, threads
//     void begin_fit(const DataSource<T>& data, int64_t batch_rows);  checks, workspaces
//     BatchStats step(const Batch<T>& batch);              one update
//     EpochStats end_epoch(const EpochTotals& totals);     the epoch's statistics
//     void end_fit();                                      frees what begin_fit() made
//     Settings settings() const;                           what a resumed run must share
//     void save_state(TensorFile& file) const;             tensors + metadata of the learner
//     void load_state(const TensorFile& file, const std::string& path);
//   };
//   class EpochLoop {
//     explicit EpochLoop(uint64_t seed);
//     template <typename T> void run(Learner<T>&, const DataSource<T>&, int epochs,
//                                    const std::function<void(const EpochStats&, const
//                                    Model<T>&)>&);
//     void set_batch_progress(std::function<void(const BatchProgress&)>, double interval_seconds);
//     const std::vector<double>& losses() const;  bool stopped_early() const;
//   };
//   template <typename T> void save_checkpoint(path, const Learner<T>&, const EpochLoop&,
//                                              const DataSource<T>&, const TensorFile& extra);
//   template <typename T> TensorFile load_checkpoint(path, Learner<T>&, EpochLoop&,
//                                                    const DataSource<T>&);
//
// Adding a learner: a class with its model and options implementing the
// Learner methods (step() does the method's work on one batch: a K-SVD
// sweep, MOD's least squares, an online update), an EpochLoop member seeded
// from its options, and fit()/save/load that call loop.run() and the two
// checkpoint functions. Nothing of Trainer is copied.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "dictlearn/data_source.hpp"
#include "dictlearn/model.hpp"
#include "dictlearn/safetensors.hpp"

namespace dictlearn {

/// What the observer sees after each epoch.
struct EpochStats {
  int epoch = 0;    ///< counted from 1
  double loss = 0;  ///< objective of this epoch, computed before each update (batch mean)
  double mse = 0;   ///< reconstruction part: mean squared error
  double fvu = 0;   ///< fraction of variance unexplained: Σ‖x − x̂‖² / Σ‖x − x̄‖²
                    ///< (fraction_unexplained(), metrics.hpp: 0 or 1 without variance)
  double l0 = 0;    ///< mean number of nonzero codes per sample
  double dead_fraction = 0;    ///< atoms not fired for dead_after samples, as a fraction
  double lr = 0;               ///< learning rate of the epoch's last step
  int64_t atoms_replaced = 0;  ///< atoms the learner replaced in this epoch (unused ones)
  double seconds = 0;          ///< wall time since fit() started
};

/// One batch as the loop hands it to Learner::step(): rows index[0..rows)
/// of `data` (or rows 0..rows-1 when index is null), each `dim` values.
/// `data` is the source's contiguous memory or a buffer the loop gathered
/// the batch into (then index is null); either way the learner computes the
/// same.
template <typename T>
struct Batch {
  const T* data = nullptr;         ///< row-major rows, dim values each
  const int64_t* index = nullptr;  ///< the batch's rows of data; nullptr: the first `rows`
  /// The data set's rows of the batch's samples, for state kept per sample
  /// (set even when the rows were gathered into `data`); nullptr: rows 0 ... rows − 1.
  const int64_t* samples = nullptr;
  int64_t rows = 0;  ///< samples in the batch
  int64_t dim = 0;   ///< values per sample
  int epoch = 0;     ///< the epoch it belongs to, counted from 1 (for messages)
};

/// What step() returns: the batch's sums, which the loop adds over the epoch.
struct BatchStats {
  double objective = 0;      ///< the batch's objective (a mean over its rows)
  double squared_error = 0;  ///< Σ‖x − x̂‖² over the batch's rows
  double nonzero = 0;        ///< nonzero codes over the batch's rows
};

/// An epoch's sums, in batch order, for end_epoch().
struct EpochTotals {
  double objective_sum = 0;  ///< Σ over batches of objective · rows
  double squared_error = 0;  ///< Σ‖x − x̂‖²
  double nonzero = 0;        ///< nonzero codes
  int64_t samples = 0;       ///< N
  int64_t dim = 0;           ///< values per sample
  double spread = 0;         ///< Σ‖x − x̄‖² of the data (FVU's denominator)
};

/// loss, mse, fvu and l0 of an epoch from its sums (the fields every learner
/// reports the same way); epoch, dead_fraction, lr and seconds stay 0.
EpochStats summarize(const EpochTotals& totals);

/// The epoch loop's settings, as a learner's options give them.
struct EpochLoopOptions {
  int64_t batch_size = 0;  ///< samples per step; 0 (or >= N): the full batch, unshuffled
  int patience = 0;        ///< stop after this many epochs without improvement; 0: never
  double tol = 1e-4;       ///< improvement means loss < best · (1 − tol)
  int threads = 0;         ///< for the loop's own passes over the data (0: all cores)
  /// A new order of the samples every epoch; false: batches in the data's
  /// order, every epoch the same (the shuffle's generator is then not drawn from).
  bool shuffle = true;
};

/// Where an epoch stands, for a progress display (EpochLoop::set_batch_progress).
struct BatchProgress {
  int epoch = 0;              ///< the epoch under way, counted from 1
  int64_t samples_done = 0;   ///< samples of this epoch stepped on so far
  int64_t samples_total = 0;  ///< samples per epoch (N)
  int64_t batches_done = 0;   ///< batches of this epoch stepped on so far
  int64_t batches_total = 0;  ///< batches per epoch
  int64_t run_samples = 0;    ///< samples stepped on since run() started (for a rate)
  double seconds = 0;         ///< wall time since run() started
};

/// Setting name and value, as a checkpoint records it (metadata "train.<name>").
using Settings = std::vector<std::pair<std::string, std::string>>;

/// A dictionary learner that EpochLoop can drive.
template <typename T>
class Learner {
 public:
  /// What EpochLoop::run calls after each epoch: the epoch's statistics and
  /// the learner's model as it stands (for logs, plots, checkpoints).
  using Observer = std::function<void(const EpochStats&, const Model<T>&)>;

  virtual ~Learner() = default;

  /// The model as it stands.
  virtual const Model<T>& model() const = 0;
  /// Batch size, early stopping and threads of the loop.
  virtual EpochLoopOptions loop_options() const = 0;
  /// Before the first batch of a run of epochs on `data` in batches of
  /// `batch_rows` rows: checks the data (throws Error naming it), sizes
  /// workspaces.
  virtual void begin_fit(const DataSource<T>& data, int64_t batch_rows) = 0;
  /// One update from one batch. Throws Error (naming batch.epoch) when the
  /// update cannot be made; the model is then the last good one.
  virtual BatchStats step(const Batch<T>& batch) = 0;
  /// After an epoch's batches: its statistics (summarize() plus the
  /// learner's own); the loop sets epoch and seconds.
  virtual EpochStats end_epoch(const EpochTotals& totals) = 0;
  /// After the last epoch of a run (or when one throws): frees workspaces.
  virtual void end_fit() {}
  /// Asked after every step: true ends the run there (a budget of steps or
  /// seconds spent, a convergence test met). The epoch under way then ends
  /// with the batches done so far (its statistics over those samples), and
  /// stopped_early() is true.
  virtual bool finished() const { return false; }

  /// The settings a resumed run must share with the run that wrote the
  /// checkpoint (compared by load_checkpoint, naming every one that differs).
  virtual Settings settings() const = 0;
  /// Adds the learner's state (its parameters under the model's tensor names,
  /// so a checkpoint loads as a model; optimizer state; counters) to `file`.
  virtual void save_state(TensorFile& file) const = 0;
  /// Restores what save_state() wrote; throws Error naming `path` when the
  /// file does not fit this learner.
  virtual void load_state(const TensorFile& file, const std::string& path) = 0;
};

/// Drives a learner through epochs: shuffles the samples each epoch (unless
/// one batch holds them all), cuts them into batches, hands each to step()
/// (gathered into a buffer when the source is not contiguous in memory),
/// records each epoch's loss, calls the observer, stops early when
/// `patience` epochs brought no improvement. Its state (losses, the
/// shuffle's generator, early stopping's) is part of every checkpoint.
class EpochLoop {
 public:
  /// The shuffle's generator starts from `seed`.
  explicit EpochLoop(uint64_t seed = 0) : shuffle_(seed) {}

  /// Runs `epochs` epochs of `learner` on `data`, calling `observer` (if set)
  /// after each with the updated model.
  template <typename T>
  void run(Learner<T>& learner, const DataSource<T>& data, int epochs,
           const std::function<void(const EpochStats&, const Model<T>&)>& observer);

  /// Called after a batch when at least `interval_seconds` have passed since
  /// the last call (or since run() started), and after an epoch's last batch
  /// when an earlier batch of it was reported; never with fewer samples than
  /// the call before within an epoch. It only watches: what it does changes
  /// no result (nothing of it reaches the learner). Empty: no calls; the
  /// clock is then not read per batch.
  void set_batch_progress(std::function<void(const BatchProgress&)> progress,
                          double interval_seconds = 0.1) {
    batch_progress_ = std::move(progress);
    progress_interval_ = interval_seconds;
  }

  /// Loss of every epoch run so far (entry e-1 for epoch e).
  const std::vector<double>& losses() const { return losses_; }
  /// Whether the last run() ended by early stopping.
  bool stopped_early() const { return stopped_early_; }

  /// Adds the loop's state to a checkpoint: tensor "train.losses", metadata
  /// "checkpoint.epochs_done", ".best_loss", ".epochs_without_improvement",
  /// ".shuffle_state".
  void save_state(TensorFile& file) const;
  /// Restores it; throws Error naming `path` when missing or unreadable.
  void load_state(const TensorFile& file, const std::string& path);

 private:
  std::vector<double> losses_;
  std::mt19937_64 shuffle_;
  double best_loss_ = 0;
  int epochs_without_improvement_ = 0;
  bool stopped_early_ = false;
  // Not state: a display's.
  std::function<void(const BatchProgress&)> batch_progress_;
  double progress_interval_ = 0.1;
  // Workspace of run(), not state: the epoch's order and gathered batches.
  std::vector<int64_t> permutation_;
  std::vector<unsigned char> gathered_;
};

/// Writes the complete training state -- the learner's (save_state), the
/// loop's, the data's shape and hash (so that resuming on other data is
/// refused), the learner's settings -- plus `extra` tensors and metadata, to
/// a safetensors file (atomically).
template <typename T>
void save_checkpoint(const std::string& path, const Learner<T>& learner, const EpochLoop& loop,
                     const DataSource<T>& data, const TensorFile& extra = {});

/// Restores a state written by save_checkpoint() into `learner` and `loop`;
/// training then continues exactly (bit for bit) as the uninterrupted run
/// would have. Throws Error naming the file when it is not a checkpoint, was
/// made in another dtype, on other data, with other settings (one line naming
/// every flag that differs and both values; settings an older file did not
/// record are not compared) or at other SIMD levels (the vector kernels' --
/// DICTLEARN_SIMD -- and the CPU's, recorded as "checkpoint.simd_level" and
/// "checkpoint.cpu_simd_level": levels round differently, so the run could not
/// continue bit for bit). Returns the file (for the extra tensors and metadata).
template <typename T>
TensorFile load_checkpoint(const std::string& path, Learner<T>& learner, EpochLoop& loop,
                           const DataSource<T>& data);

/// FNV-1a hash of the data's bytes, row after row (a checkpoint's
/// "checkpoint.data_hash"): the same value for the same values from any source.
template <typename T>
uint64_t data_hash(const DataSource<T>& data);

/// Throws Error "data: holds non-finite values (row r, column c: v)" (1-based)
/// at the first NaN or infinity of `data`.
template <typename T>
void check_finite(const DataSource<T>& data);

}  // namespace dictlearn
