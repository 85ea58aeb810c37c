// dictlearn: online dictionary learning (Mairal, Bach, Ponce, Sapiro, "Online
// learning for matrix factorization and sparse coding", JMLR 11, 2010;
// scikit-learn's MiniBatchDictionaryLearning, SPAMS's trainDL). It learns the
// atoms D (n_atoms x dim, rows) of X ≈ R D, for the lasso coders
//
//   min_D  mean over the signals x of  min_r ½‖x − rD‖² + α‖r‖₁   s.t. ‖d_k‖ <= 1
//
// (the ℓ0 coders: the residual at their sparsity), one mini-batch of b signals
// X_t a step:
//
//   1. codes R_t of X_t by the configured coder (coders.hpp) on G = D Dᵀ,
//      computed once a step and shared by the batch's signals;
//   2. the sufficient statistics A ← β_t A + R_tᵀR_t / b (n_atoms x n_atoms)
//      and B ← β_t B + R_tᵀX_t / b (n_atoms x dim), β_t from the forgetting
//      schedule (learning.hpp: Forgetting::spams or Forgetting::sklearn);
//   3. one pass of block coordinate descent over the atoms, warm from the last
//      D: for k = 1..n_atoms, d_k ← d_k + (B_k − A_k D) / A_kk, then d_k ←
//      max(d_k, 0) with positive_dict, then d_k ← d_k / max(‖d_k‖, 1) (or
//      d_k / ‖d_k‖ with unit_norm). Each atom's update minimizes the surrogate
//      ½Tr(DᵀAD) − Tr(DᵀB) over d_k within the ball, so a pass never
//      increases it. An atom with A_kk <= 1e-6 (unused so far) is, with
//      resample_unused, replaced by a random signal of the batch plus N(0,
//      (0.01·std)²) noise per value (std of that signal, 1 when 0) before its
//      projection, scikit-learn's rule; under SPAMS's schedule only once
//      t·b >= 10,000 (before that A_kk is mostly t0's start, whose first β is
//      1 − b: SPAMS too cleans only after that).
//
// Cost per step (b signals, K atoms, dim values, s nonzero codes per signal):
// G = D Dᵀ (2·K²·dim flops) and X Dᵀ (2·b·K·dim) as products over fixed
// blocks on all threads; the codes (LARS-lasso about b·(2·K·s + s³)); A and B
// from the nonzero codes (b·s² + b·s·dim; as products when the codes are
// dense); the BCD pass 2·K²·dim. Memory: D, A, B (and with SPAMS's schedule
// three more pairs, the two-epoch window and t0's start: 4·(K² + K·dim)
// values), one batch and the coders' workspaces, O(b·K + K²) (docs/LEARNING.md
// gives the bound in bytes).
//
// Results do not depend on the thread count: the products run over fixed
// blocks, each signal is coded alone, and the sums run in signal order.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dictlearn/data_source.hpp"
#include "dictlearn/learner.hpp"
#include "dictlearn/learning.hpp"
#include "dictlearn/model.hpp"
#include "dictlearn/safetensors.hpp"

namespace dictlearn {

namespace detail {
template <typename T>
struct OnlineState;
}  // namespace detail

/// Online dictionary learning as a Learner: fit() runs options.epochs passes
/// over a data set through EpochLoop (batches of options.batch_size, shuffled
/// every pass unless options.shuffle is false), partial_fit() one step on the
/// rows given (a stream). Stops early, within an epoch, on options.max_steps,
/// options.max_seconds, options.dict_tol or options.max_no_improvement
/// (finished()).
template <typename T>
class OnlineDictionaryLearner final : public Learner<T> {
 public:
  using Observer = typename Learner<T>::Observer;

  /// Starts from `atoms` (n_atoms x dim, finite, not empty; an Error names
  /// --init otherwise) with `options` (options.method must be online; the
  /// coding options are checked as encode checks them, errors naming the
  /// flag). The atoms are used as given (not projected) until the first step.
  OnlineDictionaryLearner(Matrix<T> atoms, const LearningOptions& options);
  ~OnlineDictionaryLearner() override;
  OnlineDictionaryLearner(OnlineDictionaryLearner&& other) noexcept;
  OnlineDictionaryLearner& operator=(OnlineDictionaryLearner&& other) noexcept;

  /// Runs the epochs (options.epochs, or set_epochs()) on `data` (N x dim),
  /// continuing from the state so far; `observer` sees each epoch's
  /// statistics (EpochStats.atoms_replaced counts the resampled atoms).
  /// Throws Error naming the data for another dim or non-finite values.
  void fit(const DataSource<T>& data, const Observer& observer = {});
  /// fit() on a matrix in memory (no copy).
  void fit(MatrixView<T> X, const Observer& observer = {});
  /// One step on the rows of `batch` (b x dim, b >= 1), scikit-learn's
  /// partial_fit: a stream of batches. SPAMS's schedule uses N of the last
  /// fit() for its cap 2N and its two-epoch window, or none (N unbounded)
  /// before any fit(). The convergence tests (dict_tol, max_no_improvement)
  /// run in fit() only, as in scikit-learn; steps() counts these steps too.
  BatchStats partial_fit(MatrixView<T> batch);

  /// Called after every step (fit's and partial_fit's) with its statistics.
  void set_step_observer(std::function<void(const StepStats&)> observer);

  /// The atoms learnt so far, as a model with no encoder.
  const Model<T>& model() const override;
  /// Moves the model out; the learner must not be used afterwards.
  Model<T> release_model();
  /// The epochs the next fit() runs.
  void set_epochs(int epochs);
  /// Loss of every epoch run so far (the mean batch cost of its steps).
  const std::vector<double>& losses() const;
  /// Whether the last fit() ended before its epochs were done.
  bool stopped_early() const;
  /// Steps done so far, in all fits and partial fits.
  int64_t steps() const;
  /// A display of the progress within an epoch (EpochLoop::set_batch_progress).
  void set_batch_progress(std::function<void(const BatchProgress&)> progress,
                          double interval_seconds = 0.1);

  /// Writes the whole state (atoms as tensor "dictionary", so the file loads
  /// as a model; A, B, the schedule's window, the counters, the smoothed
  /// cost, the resampling generator, the epoch loop's state) to `path`,
  /// through save_checkpoint() of learner.hpp.
  void save_checkpoint(const std::string& path, const DataSource<T>& data,
                       const TensorFile& extra = {}) const;
  void save_checkpoint(const std::string& path, MatrixView<T> X,
                       const TensorFile& extra = {}) const;
  /// Restores a state written by save_checkpoint(); fit() then continues bit
  /// for bit as the uninterrupted run. Errors as load_checkpoint() of
  /// learner.hpp (other data, settings, dtype).
  TensorFile load_checkpoint(const std::string& path, const DataSource<T>& data);
  TensorFile load_checkpoint(const std::string& path, MatrixView<T> X);

  // Learner<T>.
  EpochLoopOptions loop_options() const override;
  void begin_fit(const DataSource<T>& data, int64_t batch_rows) override;
  BatchStats step(const Batch<T>& batch) override;
  EpochStats end_epoch(const EpochTotals& totals) override;
  void end_fit() override;
  /// True once options.max_steps steps are done, options.max_seconds have
  /// passed since fit() started, or a convergence test met (scikit-learn's
  /// _check_convergence: after a warm-up of min(100, N/b) steps, the
  /// smoothed batch cost with weight b/(N + 1); ‖D − D_old‖_F / n_atoms <=
  /// dict_tol, or max_no_improvement steps without a new smallest smoothed
  /// cost).
  bool finished() const override;
  Settings settings() const override;
  void save_state(TensorFile& file) const override;
  void load_state(const TensorFile& file, const std::string& path) override;

 private:
  std::unique_ptr<detail::OnlineState<T>> state_;
};

}  // namespace dictlearn
