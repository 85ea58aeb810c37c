// dictlearn: the batch dictionary learners. Every iteration (one epoch of
// EpochLoop, the whole data as one batch) codes all N signals X (N x dim) over
// the current atoms D (n_atoms x dim) with the configured coder, R =
// sparse_encode(D, X), then updates D from X and R by the method:
//
//   alternating  one pass of block coordinate descent over the atoms on
//                A = RᵀR and B = RᵀX (scikit-learn's DictionaryLearning and
//                its _update_dict): d_k += (B_k − A_k D) / A_kk, then d_k ≥ 0
//                (positive_dict) and into the unit ball ‖d_k‖ ≤ 1 (onto the
//                sphere with unit_norm). Each atom's step is the exact
//                minimizer of ½‖X − RD‖² over d_k in the constraint set, so
//                the stage never increases the objective. An atom with A_kk <=
//                1e-6 (unused) becomes a random signal plus Gaussian noise of
//                1% of its standard deviation (1% if that is 0) and its codes
//                are zeroed, as scikit-learn does (resample_unused; else it
//                stays). Cost: the coding, plus 2·N·L·(L + dim) for A and B
//                (L nonzeros per code) and 2·n_atoms²·dim for the pass.
//   mod          D = (RᵀR)⁻¹ RᵀX (Engan, Aase, Husøy 1999, "Method of optimal
//                directions"), the least-squares dictionary for the codes.
//                Singular RᵀR: an atom no signal uses (a zero diagonal) is
//                left out of the solve and replaced by the worst-represented
//                signal (the largest ‖x − rD‖² of this iteration's codes; each
//                signal at most once per iteration), scaled to unit norm, its
//                codes staying 0; the used atoms are solved by the
//                pseudo-inverse of their RᵀR (a symmetric eigendecomposition,
//                eigenvalues <= n_atoms·ε·λ_max taken as 0), the least-squares
//                solution of least norm when their codes are linearly
//                dependent. Then every atom of nonzero norm is scaled to unit
//                norm and its codes by the inverse factor (R D is unchanged, so
//                the squared error is still the least-squares one). Then the
//                clearing of K-SVD below. Cost: the coding, A and B as above,
//                9·n_atoms³ for the eigendecomposition and 4·n_atoms²·dim for
//                the solve.
//   ksvd         K-SVD (Aharon, Elad, Bruckstein 2006): for each atom k in
//                turn, S the signals whose code uses it, the residual without
//                it E_k = X_S − R_S D + r_k d_kᵀ, its first singular pair:
//                d_k = v (unit norm, sign chosen so that v·d_k(old) ≥ 0),
//                r_k = σu on S; the residual is updated before the next atom.
//                Approximate K-SVD (Rubinstein, Zibulevsky, Elad 2008,
//                `approximate`): one power step from the old codes, d =
//                E_kᵀ r_k / ‖E_kᵀ r_k‖, r_k = E_k d, from the rows of the
//                residual and the rank-one term, without forming E_k. Either
//                way the stage never increases ½‖X − RD‖² and keeps every
//                support (so ‖r‖₀ does not grow). An unused atom (S empty) is
//                replaced by the worst-represented signal at that point of the
//                sweep (the largest current ‖x − rD‖², each signal at most once
//                per iteration, ties to the lowest row), scaled to unit norm
//                (ksvdbox's rule, over all signals rather than a random 5,000);
//                its codes stay 0, so the objective does not change. Then,
//                with resample_unused and without keep_better_codes,
//                ksvdbox's clearing: in atom order, an atom not replaced
//                yet that is used by at most 4 signals or has |cos| > 0.99
//                to another atom becomes the next worst-represented signal
//                (by the residual after the stage) and its codes are dropped
//                (it escapes duplicate atoms; the objective may rise, so it
//                is off where it must not). Cost: the coding, then per iteration
//                about 2·N·L·dim·min(dim, |S|) + 8·N·L·dim flops exact (the
//                Gram of each E_k on its smaller side, L nonzeros per code)
//                plus n_atoms symmetric eigenproblems of size <= dim
//                (≈ 9·dim³ each); 8·N·L·dim approximate; the clearing
//                n_atoms²·dim + N·dim.
//
// The objective (EpochStats.loss) is that of the coder, as a mean over the
// signals: ½‖x − rD‖² + α‖r‖₁ (+ ½λ₂‖r‖²) for lasso-lars, lasso-cd and fista,
// ½‖x − rD‖² for omp, lars and threshold. It is computed for the codes of
// this iteration BEFORE its dictionary stage: the loss of iteration t is
// f(R_t, D_t). The K-SVD and MOD stages minimize the squared error with the
// supports fixed, so with a lasso coder they may raise α‖r‖₁. OMP alone does
// not make whole iterations monotone; with keep_better_codes a signal whose
// new code has a higher objective under the current D than its previous code
// (as the last dictionary stage left it) keeps the previous one, so that
// f(R_t, D_t) <= f(R_{t−1}, D_t) <= f(R_{t−1}, D_{t−1}) for the L0 coders.
//
// Memory besides X: the dense codes R (N x n_atoms) and the residual (N x
// dim); with keep_better_codes the previous codes are kept between
// iterations and, within one, their residual too (twice both).
//
// The atoms must come from outside (initial_atoms() of learning.hpp, a file).
// Results do not depend on the thread count: the coders work in fixed blocks,
// the sums over signals run in fixed chunks added in order, and the atom
// sweeps are sequential.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "dictlearn/data_source.hpp"
#include "dictlearn/learner.hpp"
#include "dictlearn/learning.hpp"
#include "dictlearn/model.hpp"
#include "dictlearn/safetensors.hpp"

namespace dictlearn {

/// The batch learners (options.method alternating, mod or ksvd) as a Learner
/// that EpochLoop drives: every epoch is one iteration over the full batch
/// (codes of all signals, then the dictionary stage). Holds the model (atoms,
/// no encoder), the loop (losses), the generator of the resampling, the
/// iteration count and, with keep_better_codes, the last codes, so fit() can
/// be called again to continue.
template <typename T>
class BatchDictionaryLearner final : public Learner<T> {
 public:
  using Observer = typename Learner<T>::Observer;

  /// Starts from `atoms` (n_atoms x dim, finite, not empty). Throws Error for
  /// a method that is not a batch one (--method), options.n_atoms other than
  /// atoms.rows() (--atoms), positive_dict with mod or ksvd
  /// (--positive-dict), bad coding options (their flags).
  BatchDictionaryLearner(Matrix<T> atoms, const LearningOptions& options);

  /// Runs the epochs of options.epochs (or set_epochs()) iterations on the
  /// source's N x dim signals, calling `observer` (if set) after each.
  /// Throws Error for data of another dimension, no rows or non-finite
  /// values, or a non-finite objective (naming the epoch; the model stays
  /// the last good one).
  void fit(const DataSource<T>& data, const Observer& observer = {});
  /// fit() on data in memory (N x dim), read in place.
  void fit(MatrixView<T> X, const Observer& observer = {});

  const Model<T>& model() const override;
  /// Moves the model out; the learner cannot train afterwards.
  Model<T> release_model();
  /// Iterations the next fit() calls run (options.epochs at construction).
  void set_epochs(int epochs);
  /// Objective of every iteration run so far (entry e-1 for iteration e).
  const std::vector<double>& losses() const;
  /// Whether the last fit() ended early (options.max_seconds spent).
  bool stopped_early() const;
  /// Iterations done so far (over all fit() calls and a loaded checkpoint).
  int64_t iterations() const;
  /// A display of the epoch under way (EpochLoop::set_batch_progress); one
  /// batch per epoch here. Changes no result.
  void set_batch_progress(std::function<void(const BatchProgress&)> progress,
                          double interval_seconds = 0.1);

  /// Writes the complete state (tensor "dictionary", so the file loads as a
  /// model; the iteration count, the resampling's generator, seconds spent;
  /// with keep_better_codes the last codes as "batch.codes", N x n_atoms) and
  /// the loop's, tied to `data` (save_checkpoint of learner.hpp), atomically.
  void save_checkpoint(const std::string& path, const DataSource<T>& data,
                       const TensorFile& extra = {}) const;
  void save_checkpoint(const std::string& path, MatrixView<T> X,
                       const TensorFile& extra = {}) const;
  /// Restores a state save_checkpoint() wrote; training then continues bit
  /// for bit as the uninterrupted run. Throws Error naming the file for one
  /// that is not a checkpoint of this learner, of other data or settings.
  TensorFile load_checkpoint(const std::string& path, const DataSource<T>& data);
  TensorFile load_checkpoint(const std::string& path, MatrixView<T> X);

  // The Learner interface (learner.hpp), which fit() drives through EpochLoop.
  /// The full batch, unshuffled; no patience; options.threads.
  EpochLoopOptions loop_options() const override;
  void begin_fit(const DataSource<T>& data, int64_t batch_rows) override;
  /// One iteration on the whole data (batch.rows = N): codes, the objective,
  /// the dictionary stage.
  BatchStats step(const Batch<T>& batch) override;
  EpochStats end_epoch(const EpochTotals& totals) override;
  void end_fit() override;
  /// True once options.max_seconds (> 0) of fit() time are spent.
  bool finished() const override;
  Settings settings() const override;
  void save_state(TensorFile& file) const override;
  void load_state(const TensorFile& file, const std::string& path) override;

 private:
  double seconds_spent() const;

  Model<T> model_;
  LearningOptions options_;
  EpochLoop loop_;
  int epochs_to_run_ = 0;
  int64_t iterations_ = 0;
  std::mt19937_64 random_;      // the alternating method's resampling
  Matrix<T> previous_codes_;    // keep_better_codes: the codes the last stage left
  int64_t atoms_replaced_ = 0;  // in the epoch under way
  double seconds_before_ = 0;   // fit() time of earlier calls and checkpoints
  std::chrono::steady_clock::time_point fit_start_{};
  bool fitting_ = false;
};

/// K-SVD under its name: a BatchDictionaryLearner with options.method = ksvd
/// (the other options as given: the coder, classically omp with n_nonzero;
/// approximate; keep_better_codes). learner() gives the rest of its API
/// (checkpoints, progress).
template <typename T>
class KSVD {
 public:
  KSVD(Matrix<T> atoms, LearningOptions options)
      : learner_(std::move(atoms), with_ksvd(std::move(options))) {}

  /// Runs options.epochs K-SVD iterations on X (N x dim).
  void fit(MatrixView<T> X, const typename Learner<T>::Observer& observer = {}) {
    learner_.fit(X, observer);
  }
  void fit(const DataSource<T>& data, const typename Learner<T>::Observer& observer = {}) {
    learner_.fit(data, observer);
  }
  const Model<T>& model() const { return learner_.model(); }
  const std::vector<double>& losses() const { return learner_.losses(); }
  BatchDictionaryLearner<T>& learner() { return learner_; }
  const BatchDictionaryLearner<T>& learner() const { return learner_; }

 private:
  static LearningOptions with_ksvd(LearningOptions options) {
    options.method = LearningMethod::ksvd;
    return options;
  }
  BatchDictionaryLearner<T> learner_;
};

}  // namespace dictlearn
