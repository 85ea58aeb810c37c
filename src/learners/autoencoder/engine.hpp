// Internal: the gradient trainer's state and its batch engines. Trainer<T>
// (include/dictlearn/trainer.hpp) holds a TrainerState<T> behind a pointer;
// the engines are free functions over it, one file each:
//   dense_batch.cpp   compute_batch: picks the engine; the matrix products' path
//   small_batch.cpp   the small kernel's path (the seed's model)
//   fused_pass.cpp    row-local encoders, one parallel region a batch
//   sparse_batch.cpp  TopK codes as sparse rows: decoder and gradients
//   auxk.cpp          the AuxK loss of dead atoms
//   resample.cpp      resampling of dead atoms (--resample-every)
//   update.cpp        Adam over all parameters, ortho penalty, unit atoms
//   initialize.cpp    initialize()
//   trainer.cpp       the Trainer's methods, evaluate, the free fit()
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "dictlearn/reduction.hpp"
#include "dictlearn/trainer.hpp"
#include "encoders/encoder_rows.hpp"
#include "kernels/aligned_buffer.hpp"
#include "learners/autoencoder/small_kernel.hpp"

namespace dictlearn::detail {

/// Everything a Trainer carries from batch to batch (what its checkpoint
/// holds, less the epoch loop's part).
template <typename T>
struct TrainerState {
  Model<T> model;
  FitOptions options;
  Gradients<T> gradients;
  Gradients<T> first_moment;
  Gradients<T> second_moment;
  std::vector<int64_t> samples_since_fired;
  int64_t step = 0;
  int64_t threshold_updates = 0;
  int epochs_to_run = 0;
  EpochLoop loop;
  Reducer* reducer = nullptr;  // never null: local_reducer() unless set_reducer()
  // Of the current fit(): the schedule's length and the last step's rate.
  int64_t total_steps = 0;
  double last_lr = 0;
};

/// Samples per chunk of the small-model path: fixed, so the order in which
/// partial sums are added does not depend on the number of threads.
constexpr int64_t kChunk = 1024;
/// Rows per block of the parallel encoder passes (fixed for the same reason).
constexpr int64_t kRowBlock = 256;

/// The fused kernel covers the seed's model: softmax at temperature 1, no
/// decoder bias, no L1 term, few parameters.
template <typename T>
bool use_small_kernel(const Model<T>& model, const FitOptions& options) {
  return model.encoder.kind == EncoderKind::softmax && model.encoder.temperature == 1.0 &&
         model.decoder_bias.size() == 0 && options.l1 == 0 &&
         static_cast<int64_t>(model.n_atoms()) * model.dim() <= kSmallKernelMaxParameters;
}

/// TopK codes with k <= n_atoms / 4 go through the sparse decoder and gradients.
template <typename T>
bool uses_sparse_codes(const Model<T>& model) {
  return encoder_traits(model.encoder.kind).selects_top_k &&
         4 * static_cast<int64_t>(model.encoder.k) <= model.n_atoms();
}

/// Whether AuxK runs: it needs the pre-activations of the dead atoms, which
/// only the top-k selecting encoders leave apart from the codes.
inline bool uses_auxk(EncoderKind kind, const FitOptions& options) {
  return options.auxk > 0 && encoder_traits(kind).selects_top_k;
}

/// Encoders whose code rows depend on their own pre-activation row only run
/// the fused pass (fused_pass: one parallel region a batch). Not BatchTopK (a
/// threshold over the whole batch), not TopK with AuxK (it needs the dead
/// atoms' pre-activations), not the small kernel's or the sparse codes' models.
template <typename T>
bool uses_fused_pass(const Model<T>& model, const FitOptions& options) {
  return !use_small_kernel(model, options) && !uses_sparse_codes(model) &&
         encoder_traits(model.encoder.kind).row_local && !uses_auxk(model.encoder.kind, options);
}

/// The buffers of one fit() (or evaluate()), grown once and reused every batch.
template <typename T>
struct Workspace {
  Matrix<T> batch;  // rows gathered by index, batch_size x dim
  // Matrix-product path.
  Matrix<T> centered;   // X − b_dec
  Matrix<T> z;          // pre-activations
  Matrix<T> codes;      // R
  Matrix<T> residual;   // X̂ − X, then G
  Matrix<T> code_grad;  // ∂L/∂R, then ∂L/∂Z
  std::vector<RowScratch<T>> scratch;
  std::vector<int64_t> order;
  std::vector<int> dead;
  std::vector<int> dead_order;
  // Small-model path: the batch transposed; for the full batch it is made
  // once (data_t_of: the rows it was made from).
  Matrix<T> data_t;  // dim x rows
  const T* data_t_of = nullptr;
  std::vector<T> kernel_space;
  std::vector<double> partials;
  AlignedBuffer<T> grad_partials;  // fused pass: each block's (∂L/∂D)ᵀ and (∂L/∂W)ᵀ
  // Fused pass with shares: a block's buffers, per thread; and this batch's
  // Wᵀ, Dᵀ (dim x atoms) and D, for block_gemm.
  std::vector<AlignedBuffer<T>> thread_space;
  AlignedBuffer<T> block_model;
  // Per batch.
  std::vector<double> fired;
  std::vector<double> block_sums;
  // Sparse codes (topk, batchtopk): CSR by row, and the same entries by atom.
  std::vector<int64_t> row_start, atom_start, atom_next, atom_entries, entry_row;
  std::vector<int> entry_atom;
  std::vector<T> entry_value, entry_grad;
  int64_t samples = 0;  // N, the default dead_after
  int threads = 1;
};

/// What compute_batch returns besides the gradient (in state.gradients) and
/// the fired counts (in work.fired).
struct BatchResult {
  double objective = 0;  // without the ortho term (added after the reduction)
  double squared_error = 0;
  double nonzero = 0;
  double threshold_estimate = -1;  // batchtopk: the batch's smallest kept activation
};

/// Sizes `work` for batches of up to `batch` rows of data with `samples` rows.
template <typename T>
void prepare(const TrainerState<T>& state, Workspace<T>& work, int64_t samples, int64_t batch);

/// About the bytes prepare() and the batches' code buffers take for batches
/// of `batch` rows (what grows with the batch; the fused pass's buffers are
/// bounded by its passes and not counted). For the full-batch check.
template <typename T>
int64_t workspace_bytes(const TrainerState<T>& state, int64_t samples, int64_t batch);

/// Loss terms and gradient sums of one batch: rows index[0..rows) of `data`
/// (row-major, dim values a row), or rows 0..rows-1 when index is null.
/// Leaves the gradient in state.gradients, the fired counts in work.fired.
template <typename T>
BatchResult compute_batch(TrainerState<T>& state, const T* data, const int64_t* index, int64_t rows,
                          Workspace<T>& work);

/// The small kernel's path (small_batch.cpp) over `rows` samples of X
/// (rows x dim, contiguous); `full_data`: X is the whole data set, the same
/// every epoch (its transposition is then kept). Returns the squared error.
template <typename T>
double small_kernel_batch(TrainerState<T>& state, const Eigen::Map<const Matrix<T>>& X,
                          int64_t rows, bool full_data, Workspace<T>& work);

/// The fused pass (fused_pass.cpp); returns the number of blocks of
/// work.partials to add.
template <typename T>
int64_t fused_pass(TrainerState<T>& state, const T* data, const int64_t* index, int64_t rows,
                   Workspace<T>& work);

/// Sparse codes (sparse_batch.cpp): the CSR form of dense codes, the
/// decoder R D into work.residual, and the gradients from G in work.residual.
template <typename T>
void sparse_from_dense(const TrainerState<T>& state, const Eigen::Ref<const Matrix<T>>& codes,
                       int64_t rows, Workspace<T>& work, int threads);
template <typename T>
void sparse_decode(const TrainerState<T>& state, int64_t rows, Workspace<T>& work, int threads);
template <typename T>
void sparse_backward(TrainerState<T>& state, int64_t rows, const Eigen::Ref<const Matrix<T>>& Xc,
                     Workspace<T>& work, int threads, T l1_weight, int64_t stride);

/// The AuxK loss (auxk.cpp); adds its gradient to state.gradients and
/// `bias_grad`.
template <typename T>
double add_auxk(TrainerState<T>& state, const Eigen::Ref<const Matrix<T>>& z,
                const Eigen::Ref<const Matrix<T>>& residual, const Eigen::Ref<const Matrix<T>>& Xc,
                int64_t rows, Workspace<T>& work, Vector<T>& bias_grad);

/// The blocks' slots of `partials`, each [squared error, Σ|R|, ∂L/∂b (atoms),
/// fired counts (atoms), column sums of G (dim)], added in block order (the
/// same sums for any thread count). Writes ∂L/∂b (plus `extra_bias`, AuxK's,
/// when not empty), the fired counts and ∂L/∂b_dec; returns the squared error
/// and Σ|R|.
template <typename T>
std::pair<double, double> add_block_sums(const std::vector<double>& partials, int64_t blocks,
                                         const Model<T>& model, const Vector<T>& extra_bias,
                                         std::vector<double>& sums, std::vector<double>& fired,
                                         Gradients<T>& gradients);

/// Whether the step just taken (state.step) is one at which dead atoms are
/// resampled: a multiple of resample_every within the first half of the run.
template <typename T>
bool resample_due(const TrainerState<T>& state);

/// Restarts the dead atoms from samples of `batch` drawn by their squared
/// reconstruction error (resample.cpp says how); returns how many it restarted.
template <typename T>
int resample_dead_atoms(TrainerState<T>& state, const Batch<T>& batch, Workspace<T>& work);

/// ‖D̂D̂ᵀ − I‖²_F for D̂ = D with unit rows; adds weight · its gradient to `grad` (update.cpp).
template <typename T>
double add_ortho_penalty(const Matrix<T>& dictionary, double weight, Matrix<T>& grad);

/// Rows scaled to unit norm (zero rows stay).
template <typename T>
void normalize_rows(Matrix<T>& matrix);

/// After the reduction: one Adam step at rate `lr`, unit atoms, the dead-atom
/// counters and BatchTopK's threshold.
template <typename T>
void apply_update(TrainerState<T>& state, const BatchResult& batch, int64_t rows, double lr,
                  Workspace<T>& work);

}  // namespace dictlearn::detail
