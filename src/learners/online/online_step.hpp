// Internal: the three parts of one online dictionary learning step
// (include/dictlearn/online.hpp): the batch's codes on all threads, the
// sufficient statistics under a forgetting schedule, and one pass of block
// coordinate descent over the atoms. Kept apart from the Learner so that
// tests can drive each on matrices of their own.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include "coders/lars.hpp"
#include "coders/lasso_cd.hpp"
#include "coders/omp.hpp"
#include "core/memory.hpp"
#include "dictlearn/coders.hpp"
#include "dictlearn/learning.hpp"

namespace dictlearn::detail {

/// A batch's signals where they lie: rows of `data` (dim values each), taken
/// by `index` when given (else rows 0 ... rows − 1), so that a shuffled batch
/// is read in place rather than gathered (each thread reads its own
/// signals' rows; no copy is written by one thread for another to read).
template <typename T>
struct BatchRows {
  const T* data = nullptr;
  const int64_t* index = nullptr;
  int64_t rows = 0;
  int64_t dim = 0;
  const T* row(int64_t i) const { return data + (index != nullptr ? index[i] : i) * dim; }
  /// The rows contiguous, for a product that needs them so: `data` itself,
  /// or an indexed batch gathered into `buffer`.
  const T* contiguous(Matrix<T>& buffer) const {
    if (index == nullptr) return data;
    buffer.resize(rows, dim);
    for (int64_t i = 0; i < rows; ++i) std::copy_n(row(i), dim, buffer.data() + i * dim);
    return buffer.data();
  }
};

/// A batch's codes and what the step needs of them, per signal in batch order.
template <typename T>
struct CodedBatch {
  // The per-signal arrays start on cache lines and the coder's threads take
  // signals by blocks of 8, so that no two threads write one line. The
  // dense codes are not written by the threads: the main thread spreads
  // the support's values after them (a block's 8 rows are 50 lines at 50
  // atoms, and a line written by one thread a step and another the next
  // moves between their caches on every write).
  Matrix<T> codes;                   ///< rows x n_atoms, dense
  LineVector<int64_t> support;       ///< signal i's nonzero atoms at [i·n_atoms, + count[i])
  LineVector<T> values;              ///< their codes, at the same places
  LineVector<int64_t> count;         ///< nonzero codes per signal
  LineVector<double> squared_error;  ///< ‖x − rD‖² per signal, from the signal itself
  LineVector<double> l1;             ///< ‖r‖₁ per signal
  LineVector<double> l2;             ///< ‖r‖² per signal
  LineVector<int64_t> from_cache;    ///< 1: coded from the support cache, not by the path
  int64_t rows = 0;
};

/// Codes batches by one coder, all signals of a batch on all threads: G = D
/// Dᵀ and X Dᵀ once a batch as products over fixed blocks, then each signal
/// alone by the coder's per-signal step (lasso_lars, lars, omp, lasso_cd,
/// threshold), so codes do not depend on the thread count nor on a signal's
/// batch mates; fista codes the batch through encode_fista() (its rounding
/// follows its block of signals). The same codes as sparse_encode() up to the
/// last bits of the products. Workspaces are kept from batch to batch.
template <typename T>
class BatchCoder {
 public:
  /// Checks `options` for a dictionary of n_atoms x dim (Error naming the flag).
  BatchCoder(const CodingOptions& options, int64_t n_atoms, int64_t dim);
  /// Codes `rows` signals at X (rows x dim, contiguous) over `dictionary`'s
  /// atoms into `out`, on up to `threads` threads. `samples` (or nullptr)
  /// gives each signal's row in the data set, for the support cache.
  void code(const Dictionary<T>& dictionary, const T* X, int64_t rows, int threads,
            CodedBatch<T>& out, const int64_t* samples = nullptr) {
    code(dictionary, BatchRows<T>{.data = X, .rows = rows, .dim = dim_}, threads, out, samples);
  }
  /// The same for a batch's rows in place.
  void code(const Dictionary<T>& dictionary, const BatchRows<T>& X, int threads, CodedBatch<T>& out,
            const int64_t* samples = nullptr);

  /// The support cache (lasso_lars only): each sample's last support and
  /// signs, from which its next coding starts (lasso_from_support(); the
  /// path when that fails). Over passes of a fixed data set most supports
  /// hold, or nearly, from one pass to the next. It costs 2·(kCacheWidth + 1)
  /// bytes a sample. enable_cache(N, data_bytes) starts an empty cache for N
  /// samples when the coder is lasso_lars, n_atoms < 32,768 and the cache
  /// takes at most a quarter of data_bytes (else none); drop_cache() frees it.
  void enable_cache(int64_t samples, double data_bytes);
  void drop_cache();
  int64_t cache_samples() const { return static_cast<int64_t>(cache_count_.size()); }
  /// The cache as one array, N x (kCacheWidth + 1) (the count, −1 for none,
  /// then the entries: atom, or ~atom for a negative code), for checkpoints;
  /// set_cache() takes such an array back, checked (false: not a cache of
  /// this coder's atoms, nothing changed).
  std::vector<int16_t> cache_state() const;
  bool set_cache(const std::vector<int16_t>& state);
  /// Supports longer than this are not kept (their samples start from the path).
  static constexpr int64_t kCacheWidth = 16;
  /// The batch's objective from its per-signal parts: (½Σ‖x − rD‖² + αΣ‖r‖₁
  /// + ½λ₂Σ‖r‖²) / rows for the lasso coders, ½Σ‖x − rD‖² / rows for omp,
  /// lars and threshold.
  double batch_cost(const CodedBatch<T>& coded) const;
  const CodingOptions& options() const { return options_; }

 private:
  // One a thread, each on its own cache lines (their vectors' sizes change
  // with every signal).
  struct alignas(kCacheLine) Workspace {
    LarsWorkspace<T> lars;
    OmpWorkspace<T> omp;
    LassoCdWorkspace<T> cd;
    LineVector<T> residual;
    LineVector<T> alpha0;  ///< the block's X Dᵀ, a row of padded_atoms() a signal
    LineVector<T> code;    ///< the signal's dense code, when a batch is coded on threads
  };
  /// Codes signal i (row x, its correlations x Dᵀ a0 (null for FISTA),
  /// sample `sample` of the data, −1: none) into `code` (n_atoms values)
  /// and its per-signal parts of `out`.
  void code_signal(const T* D, const T* x, const T* a0, int64_t i, int64_t sample, Workspace& work,
                   CodedBatch<T>& out, T* code);
  /// n_atoms rounded up to whole passes of the correlation kernel.
  int64_t padded_atoms() const;

  CodingOptions options_;
  int64_t n_atoms_, dim_;
  int64_t limit_ = 0;  ///< omp, lars: the most atoms per signal
  // G and Dᵀ, read by every thread, on lines of their own: as plain
  // vectors, G's first line also held the end of the main thread's LARS
  // workspace, written at every signal.
  LineVector<T> gram_;        ///< G = D Dᵀ (+ λ₂I for lasso_lars), K x K
  Matrix<T> gathered_;        ///< fista: an indexed batch, contiguous
  LineVector<T> transposed_;  ///< Dᵀ (dim x padded_atoms(), zero past n_atoms): X Dᵀ by blocks
  std::vector<Workspace> workspaces_;
  std::vector<int16_t> cache_count_;    ///< by sample: its support's size, −1: none
  std::vector<int16_t> cache_entries_;  ///< by sample: kCacheWidth entries (atom or ~atom)
};

/// The sufficient statistics and the forgetting schedule (learning.hpp's
/// Forgetting). `A` and `B` are what the dictionary update reads; with
/// SPAMS's schedule (and the capped one) they are the sum of three parts kept apart: t0's start
/// (A_initial = t0·I, B_initial = t0·D0, kept while t·b < 10,000) and the
/// two-epoch window (the current epoch's statistics and the previous one's).
template <typename T>
struct SufficientStatistics {
  Matrix<T> A, B;                    ///< n_atoms x n_atoms, n_atoms x dim (B_k = Σ r_k x / b)
  Matrix<T> A_current, B_current;    ///< SPAMS: this epoch's (its "even" arrays)
  Matrix<T> A_previous, B_previous;  ///< SPAMS: the previous epoch's ("odd")
  Matrix<T> A_initial, B_initial;    ///< SPAMS: t0·I and t0·D0, scaled by every β
  bool odd_window = false;           ///< SPAMS: the parity of the current epoch's window
  // Workspace: the batch's Σ r rᵀ and Σ rᵀ x (dense codes; sparse ones are
  // added signal by signal).
  Matrix<T> batch_A, batch_B;
  Matrix<T> gathered;  ///< dense codes: an indexed batch's rows, for the product

  /// Zero statistics (sklearn) or t0's start from the atoms D0 (spams, capped).
  void reset(Forgetting forgetting, const Matrix<T>& atoms);
  /// Adds a batch: its codes and signals X (coded.rows x dim). `step` counts
  /// the steps before this one, `samples` the samples stepped on before it,
  /// `batch_size` is the nominal b (SPAMS's), `window_rows` N (0: a stream,
  /// no cap and no window) and `memory` the capped schedule's M (0: none).
  void add(Forgetting forgetting, const CodedBatch<T>& coded, const BatchRows<T>& X, int64_t step,
           int64_t samples, int64_t batch_size, int64_t window_rows, int64_t memory, int threads);
  void add(Forgetting forgetting, const CodedBatch<T>& coded, const T* X, int64_t step,
           int64_t samples, int64_t batch_size, int64_t window_rows, int64_t memory, int threads) {
    add(forgetting, coded, BatchRows<T>{.data = X, .rows = coded.rows, .dim = B.cols()}, step,
        samples, batch_size, window_rows, memory, threads);
  }
};

/// SPAMS's t0.
constexpr double kSpamsT0 = 1e-5;

/// β of scikit-learn's schedule at step `step` (from 0) for a batch of `rows`.
double sklearn_forgetting(int64_t step, int64_t rows);
/// β of SPAMS's schedule at step `step` (from 0), nominal batch size b and N
/// samples (0: no cap); with `memory` M > 0 its m is capped at M too (the
/// capped schedule).
double spams_forgetting(int64_t step, int64_t batch_size, int64_t window_rows, int64_t memory = 0);

/// Draws a replacement for an unused atom into `atom` (dim values).
using Resample = std::function<void(int64_t atom_index, void* atom)>;

/// One pass of block coordinate descent over the atoms (rows of D, n_atoms x
/// dim) on A and B (online.hpp's step 3), in atom order. An atom with A_kk <=
/// 1e-6 is drawn again by `resample` when given (else left where it is);
/// every atom is then clipped at 0 (positive) and projected onto the unit
/// ball (or sphere: unit_norm; a zero atom stays zero). Returns the atoms
/// resampled.
template <typename T>
int64_t update_atoms(Matrix<T>& D, const Matrix<T>& A, const Matrix<T>& B, bool positive,
                     bool unit_norm, const Resample& resample);

/// scikit-learn's resampling draw: a random row of the batch X plus
/// N(0, (0.01·std)²) noise per value (std of the row, 1 when it is 0), from
/// `engine` (an index by multiply-shift, normals by Box-Muller in double).
template <typename T>
void draw_atom(std::mt19937_64& engine, const BatchRows<T>& X, T* atom);

}  // namespace dictlearn::detail
