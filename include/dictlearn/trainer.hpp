// dictlearn: training the dictionary model by gradient descent, as the seed
// does (every epoch a full-batch forward pass, the mean squared error, its
// analytic gradient, one Adam step), plus what sparse autoencoder training has
// made standard: mini-batches, sparse encoders, penalties, unit-norm atoms,
// learning-rate warm-up and decay, early stopping, dead atoms and AuxK.
//
// Objective of a batch of B samples (X̂ = R D + b_dec, R = encoder(Z)):
//   L = 1/(B·dim) Σ (X − X̂)²                         reconstruction (MSELoss)
//     + l1 · 1/B Σ_i Σ_k |r_ik|                       --l1
//     + ortho · ‖D̂ D̂ᵀ − I‖²_F                         --ortho, D̂: D with unit rows; its
//                                                     diagonal is 1, so only the
//                                                     off-diagonal terms count
//     + auxk · v · ‖ê − e‖² / ‖e − ē‖²                 --auxk (topk/batchtopk; Gao et al. 2024):
//                                                     e = X − X̂ (held fixed), ê = Σ z_j d_j
//                                                     over the top auxk_k dead atoms
//                                                     (no ReLU), v = ‖X − X̄‖²/(B·dim)
// Gradients (G = 2 (X̂ − X) / (B·dim)):
//   ∂L/∂D = Rᵀ G      ∂L/∂R = G Dᵀ + l1·sign(R)/B      ∂L/∂Z = encoder backward
//   ∂L/∂W = (∂L/∂Z)ᵀ (X − b_dec)   ∂L/∂b = colsum(∂L/∂Z)   ∂L/∂b_dec = colsum(G) − Wᵀ ∂L/∂b
// Cost per epoch: about 10·N·dim·n_atoms flops (dense encoders).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "dictlearn/adam.hpp"
#include "dictlearn/data_source.hpp"
#include "dictlearn/learner.hpp"
#include "dictlearn/model.hpp"
#include "dictlearn/reduction.hpp"
#include "dictlearn/safetensors.hpp"

namespace dictlearn {

/// How the dictionary starts (when no initial model is given).
enum class DictionaryInit {
  uniform,  ///< the seed's: D ~ U[0, 1)
  data,     ///< atoms are distinct samples drawn from the data
};

/// Whether and how the model gets a decoder bias.
enum class DecoderBiasInit {
  none,  ///< no decoder bias (the seed's model)
  zero,  ///< b_dec = 0, trained
  mean,  ///< b_dec = mean of the data, trained
};

/// Settings of a training run. Defaults are the seed's. Every member is a row
/// of fit_parameters() (dictlearn/parameters.hpp), which gives its flag,
/// check, help and metadata key: a new member needs its row there (then
/// regenerate docs/OPTIONS.md: `cmake --build BUILD --target options_doc`).
struct FitOptions {
  int n_atoms = 2;        ///< atoms in the dictionary (used when no initial model is given)
  int epochs = 10000;     ///< passes over the data; 0 leaves the model as initialized
  AdamOptions adam = {};  ///< optimizer; lr 1e-3 as in the seed
  uint64_t seed = 0;      ///< seeds the initialization and the shuffles
  int threads = 0;        ///< worker threads; 0: all cores. Results do not depend on it.

  EncoderOptions encoder = {};  ///< encoder of a new model (an initial model keeps its own)
  int64_t batch_size = 0;       ///< samples per Adam step; 0 (or >= N): the full batch, as the seed
  double l1 = 0;                ///< weight of the L1 penalty on codes (>= 0)
  double ortho = 0;             ///< weight of the orthogonality penalty on atoms (>= 0)
  bool unit_atoms = false;  ///< keep atoms at unit norm: radial gradient removed, rows renormalized
  DictionaryInit dictionary_init = DictionaryInit::uniform;  ///< start of D
  bool tied = false;  ///< start the encoder weights equal to the dictionary
  DecoderBiasInit decoder_bias = DecoderBiasInit::none;  ///< decoder bias of a new model

  int64_t warmup_steps = 0;  ///< learning rate ramps linearly from 0 over these steps
  double lr_decay = 0;  ///< fraction of the run's steps (epochs · batches), at the end, over which
                        ///< lr decays linearly to 0
  int patience = 0;     ///< stop after this many epochs without improvement; 0: never
  double tol = 1e-4;    ///< improvement means loss < best · (1 − tol)

  int64_t dead_after = 0;  ///< an atom not fired for this many samples is dead; 0: one epoch (N)
  double auxk = 0;         ///< weight of the AuxK loss (1/32 in Gao et al.); 0: off
  int auxk_k = 0;          ///< dead atoms AuxK uses per sample; 0: min(dim / 2, n_atoms)
  double threshold_decay =
      0.99;  ///< batchtopk: threshold ← decay·threshold + (1 − decay)·batch minimum
  /// Every this many steps, in the first half of the run, dead atoms (the
  /// dead_after rule) restart from badly reconstructed samples of the batch
  /// (Bricken et al. 2023); 0: never.
  int64_t resample_every = 0;
  /// A resampled atom's encoder row: this times the mean norm of the live
  /// encoder rows times the new unit atom (0.2 in Bricken et al. 2023).
  double resample_scale = 0.2;
};

/// Checks options; throws Error naming the parameter (e.g. "--lr: must be > 0 and finite, got -1").
/// The checks are the rows of fit_parameters() (dictlearn/parameters.hpp), then k
/// and the temperature against the encoder.
void validate(const FitOptions& options);

/// A new model for data X (N x dim) as the options ask: initialization,
/// tying, decoder bias, unit atoms. Throws Error for bad options or data.
template <typename T>
Model<T> initialize(MatrixView<T> X, const FitOptions& options);
/// initialize() for a float or double matrix without naming the type.
inline Model<float> initialize(MatrixView<float> X, const FitOptions& options) {
  return initialize<float>(X, options);
}
inline Model<double> initialize(MatrixView<double> X, const FitOptions& options) {
  return initialize<double>(X, options);
}

/// Gradients of the loss for every parameter, in the model's shapes.
template <typename T>
struct Gradients {
  Matrix<T> dictionary;
  Matrix<T> encoder_weight;
  Vector<T> encoder_bias;
  Vector<T> decoder_bias;  ///< empty when the model has none
};

/// Objective of `model` on X (N x dim) as one full batch (reconstruction, l1
/// and ortho terms of `options`; AuxK left out) and its gradient.
template <typename T>
double loss_and_gradients(const Model<T>& model, std::type_identity_t<MatrixView<T>> X,
                          Gradients<T>& gradients, const FitOptions& options = {});

namespace detail {
template <typename T>
struct TrainerState;
template <typename T>
struct Workspace;
}  // namespace detail

/// Stateful trainer, the gradient autoencoder's Learner: holds the model,
/// Adam's moments, the epoch loop (losses, shuffle, early stopping), the
/// dead-atom counters, so fit() can be called again to continue training.
/// Copies are independent trainers; a moved-from trainer may only be
/// assigned to or destroyed.
template <typename T>
class Trainer final : public Learner<T> {
 public:
  using Observer = typename Learner<T>::Observer;

  /// Starts from `model` (e.g. initialize(), init_model() or load_model()).
  Trainer(Model<T> model, FitOptions options);
  ~Trainer() override;
  Trainer(const Trainer& other);
  Trainer& operator=(const Trainer& other);
  Trainer(Trainer&& other) noexcept;
  Trainer& operator=(Trainer&& other) noexcept;

  /// Runs options.epochs epochs on the source's N x dim samples, calling
  /// `observer` (if set) after each epoch with the updated model. Stops
  /// early when `patience` says so. Throws Error if the data does not match
  /// the model or the loss becomes non-finite (naming the epoch).
  void fit(const DataSource<T>& data, const Observer& observer = {});
  /// fit() on data in memory (N x dim), read in place.
  void fit(MatrixView<T> X, const Observer& observer = {});

  const Model<T>& model() const override;
  /// Moves the model out and frees the gradients and Adam's moments (so a
  /// caller saving the result holds one copy of the model, not five). The
  /// trainer cannot train afterwards; losses() and stopped_early() remain.
  Model<T> release_model();
  /// Epochs the next fit() calls run (options.epochs at construction). The
  /// learning-rate schedule keeps spanning options.epochs epochs, so a run cut
  /// into parts (checkpoint and resume) follows the schedule of the whole.
  void set_epochs(int epochs);
  /// Loss of every epoch run so far (entry e-1 for epoch e).
  const std::vector<double>& losses() const;
  /// Adam steps taken so far.
  int64_t steps() const;
  /// Whether the last fit() ended by early stopping.
  bool stopped_early() const;
  /// Per atom: training samples since it last had a nonzero code.
  const std::vector<int64_t>& samples_since_fired() const;
  /// Within an epoch, after batches: EpochLoop::set_batch_progress (learner.hpp).
  /// A display only: the model trained is the same with it or without.
  void set_batch_progress(std::function<void(const BatchProgress&)> progress,
                          double interval_seconds = 0.1);
  /// Where each batch's sums are reduced (once per batch, before the update;
  /// reduction.hpp). Not owned; local_reducer() unless set.
  void set_reducer(Reducer& reducer);

  /// Objective of the current model on X (N x dim) as one batch, leaving its
  /// gradient in gradients(); changes nothing else.
  double evaluate(MatrixView<T> X);
  /// The gradient of the last batch (or of evaluate()).
  const Gradients<T>& gradients() const;

  /// Writes the complete training state -- parameters, Adam's moments and
  /// step count, epochs done and their losses, the shuffle's generator, the
  /// dead-atom counters, early stopping's best loss -- plus `extra` tensors and
  /// metadata, to a safetensors file (atomically). The model's own tensors keep
  /// their names, so a checkpoint also loads as a model. `data` is the
  /// training data: its shape and a hash are recorded so that resuming on
  /// other data is refused.
  void save_checkpoint(const std::string& path, const DataSource<T>& data,
                       const TensorFile& extra = {}) const;
  void save_checkpoint(const std::string& path, MatrixView<T> X,
                       const TensorFile& extra = {}) const;

  /// Restores a state written by save_checkpoint(); training then continues
  /// exactly (bit for bit) as the uninterrupted run would have. Throws Error
  /// naming the file when it is not a checkpoint, was made in another dtype, on
  /// other data, at other SIMD levels, or with other settings than this
  /// trainer's options: every row of fit_parameters() marked resume_must_match
  /// (--atoms and the encoder's included, though a given model otherwise keeps
  /// its own), one line naming each flag that differs and both values. Returns
  /// the file (for the extra tensors and metadata).
  TensorFile load_checkpoint(const std::string& path, const DataSource<T>& data);
  TensorFile load_checkpoint(const std::string& path, MatrixView<T> X);

  // The Learner interface (learner.hpp), which fit() drives through EpochLoop.
  EpochLoopOptions loop_options() const override;
  void begin_fit(const DataSource<T>& data, int64_t batch_rows) override;
  /// One Adam step on the batch: forward, backward, the reduction, the
  /// update; between begin_fit() and end_fit() (EpochLoop calls all three).
  /// Throws Error when the objective is not finite (the model stays the last
  /// good one).
  BatchStats step(const Batch<T>& batch) override;
  EpochStats end_epoch(const EpochTotals& totals) override;
  void end_fit() override;
  Settings settings() const override;
  void save_state(TensorFile& file) const override;
  void load_state(const TensorFile& file, const std::string& path) override;

 private:
  std::unique_ptr<detail::TrainerState<T>> state_;
  std::unique_ptr<detail::Workspace<T>> work_;  // the buffers of the fit() under way
};

/// The matrix-product implementation training uses on this machine, e.g.
/// "Eigen (x86-64-v4, AVX-512)" (chosen from the CPU's flags at the first call).
const char* matrix_product_backend();

/// The instruction-set level the fused vector kernels run at: "v4" (AVX-512,
/// 64-byte vectors), "v3" (AVX2, 32) or "baseline" (16); the CPU's best
/// unless DICTLEARN_SIMD names a lower one.
const char* vector_kernel_level();

/// One call: initializes from options (or starts from `initial` when given)
/// and trains on X (N x dim). Returns the trained model; `losses` (if not
/// null) receives the loss of every epoch.
template <typename T>
Model<T> fit(MatrixView<T> X, const FitOptions& options, const Model<T>* initial = nullptr,
             std::vector<double>* losses = nullptr);
/// fit() for a float or double matrix without naming the type.
inline Model<float> fit(MatrixView<float> X, const FitOptions& options,
                        const Model<float>* initial = nullptr,
                        std::vector<double>* losses = nullptr) {
  return fit<float>(X, options, initial, losses);
}
inline Model<double> fit(MatrixView<double> X, const FitOptions& options,
                         const Model<double>* initial = nullptr,
                         std::vector<double>* losses = nullptr) {
  return fit<double>(X, options, initial, losses);
}

}  // namespace dictlearn
