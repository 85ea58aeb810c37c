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
//     + auxk · ‖ê − e‖² / ‖e − ē‖²                     --auxk (topk/batchtopk; Gao et al. 2024):
//                                                     e = X − X̂ (held fixed), ê the
//                                                     reconstruction of e by the top
//                                                     auxk_k dead atoms
// Gradients (G = 2 (X̂ − X) / (B·dim)):
//   ∂L/∂D = Rᵀ G      ∂L/∂R = G Dᵀ + l1·sign(R)/B      ∂L/∂Z = encoder backward
//   ∂L/∂W = (∂L/∂Z)ᵀ (X − b_dec)   ∂L/∂b = colsum(∂L/∂Z)   ∂L/∂b_dec = colsum(G) − Wᵀ ∂L/∂b
// Cost per epoch: about 10·N·dim·n_atoms flops (dense encoders).
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include "dictlearn/adam.hpp"
#include "dictlearn/model.hpp"
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
  int n_atoms = 2;         ///< atoms in the dictionary (used when no initial model is given)
  int epochs = 10000;      ///< passes over the data; 0 leaves the model as initialized
  AdamOptions adam = {};   ///< optimizer; lr 1e-3 as in the seed
  uint64_t seed = 0;       ///< seeds the initialization and the shuffles
  int threads = 0;         ///< worker threads; 0: all cores. Results do not depend on it.

  EncoderOptions encoder = {};  ///< encoder of a new model (an initial model keeps its own)
  int64_t batch_size = 0;       ///< samples per Adam step; 0 (or >= N): the full batch, as the seed
  double l1 = 0;                ///< weight of the L1 penalty on codes (>= 0)
  double ortho = 0;             ///< weight of the orthogonality penalty on atoms (>= 0)
  bool unit_atoms = false;      ///< keep atoms at unit norm: radial gradient removed, rows renormalized
  DictionaryInit dictionary_init = DictionaryInit::uniform;  ///< start of D
  bool tied = false;            ///< start the encoder weights equal to the dictionary
  DecoderBiasInit decoder_bias = DecoderBiasInit::none;     ///< decoder bias of a new model

  int64_t warmup_steps = 0;     ///< learning rate ramps linearly from 0 over these steps
  double lr_decay = 0;          ///< fraction of the run's steps (epochs · batches), at the end, over which lr decays linearly to 0
  int patience = 0;             ///< stop after this many epochs without improvement; 0: never
  double tol = 1e-4;            ///< improvement means loss < best · (1 − tol)

  int64_t dead_after = 0;       ///< an atom not fired for this many samples is dead; 0: one epoch (N)
  double auxk = 0;              ///< weight of the AuxK loss (1/32 in Gao et al.); 0: off
  int auxk_k = 0;               ///< dead atoms AuxK uses per sample; 0: min(dim / 2, n_atoms)
  double threshold_decay = 0.99;  ///< batchtopk: threshold ← decay·threshold + (1 − decay)·batch minimum
};

/// What the observer sees after each epoch.
struct EpochStats {
  int epoch = 0;               ///< counted from 1
  double loss = 0;             ///< objective of this epoch, computed before each update (batch mean)
  double mse = 0;              ///< reconstruction part: mean squared error
  double fvu = 0;              ///< fraction of variance unexplained: Σ‖x − x̂‖² / Σ‖x − x̄‖²
  double l0 = 0;               ///< mean number of nonzero codes per sample
  double dead_fraction = 0;    ///< atoms not fired for dead_after samples, as a fraction
  double lr = 0;               ///< learning rate of the epoch's last step
  double seconds = 0;          ///< wall time since fit() started
};

/// Checks options; throws Error naming the parameter (e.g. "--lr: must be > 0 and finite, got -1").
/// The checks are the rows of fit_parameters() (dictlearn/parameters.hpp), then k
/// and the temperature against the encoder.
void validate(const FitOptions& options);

/// A new model for data X as the options ask: initialization, tying, decoder
/// bias, unit atoms. Throws Error for bad options or data.
template <typename T>
Model<T> initialize(const Matrix<T>& X, const FitOptions& options);

/// Gradients of the loss for every parameter, in the model's shapes.
template <typename T>
struct Gradients {
  Matrix<T> dictionary;
  Matrix<T> encoder_weight;
  Vector<T> encoder_bias;
  Vector<T> decoder_bias;  ///< empty when the model has none
};

/// Objective of `model` on X as one full batch (reconstruction, l1 and ortho
/// terms of `options`; AuxK left out) and its gradient.
template <typename T>
double loss_and_gradients(const Model<T>& model, const Matrix<T>& X, Gradients<T>& gradients,
                          const FitOptions& options = {});

/// Stateful trainer: holds the model, Adam's moments, the shuffle's generator,
/// the dead-atom counters and the loss history, so fit() can be called again to
/// continue training.
template <typename T>
class Trainer {
 public:
  using Observer = std::function<void(const EpochStats&, const Model<T>&)>;

  /// Starts from `model` (e.g. initialize(), init_model() or load_model()).
  Trainer(Model<T> model, FitOptions options);

  /// Runs options.epochs epochs on X (N x dim), calling `observer` (if set)
  /// after each epoch with the updated model. Stops early when `patience`
  /// says so. Throws Error if X does not match the model or the loss becomes
  /// non-finite (naming the epoch).
  void fit(const Matrix<T>& X, const Observer& observer = {});

  const Model<T>& model() const { return model_; }
  /// Moves the model out and frees the gradients and Adam's moments (so a
  /// caller saving the result holds one copy of the model, not five). The
  /// trainer cannot train afterwards; losses() and stopped_early() remain.
  Model<T> release_model();
  /// Epochs the next fit() calls run (options.epochs at construction). The
  /// learning-rate schedule keeps spanning options.epochs epochs, so a run cut
  /// into parts (checkpoint and resume) follows the schedule of the whole.
  void set_epochs(int epochs) { epochs_to_run_ = epochs; }
  /// Loss of every epoch run so far (entry e-1 for epoch e).
  const std::vector<double>& losses() const { return losses_; }
  /// Adam steps taken so far.
  int64_t steps() const { return step_; }
  /// Whether the last fit() ended by early stopping.
  bool stopped_early() const { return stopped_early_; }
  /// Per atom: training samples since it last had a nonzero code.
  const std::vector<int64_t>& samples_since_fired() const { return samples_since_fired_; }

  /// Objective of the current model on X as one batch, leaving its gradient
  /// in gradients(); changes nothing else.
  double evaluate(const Matrix<T>& X);
  /// The gradient of the last batch (or of evaluate()).
  const Gradients<T>& gradients() const { return gradients_; }

  /// Writes the complete training state -- parameters, Adam's moments and
  /// step count, epochs done and their losses, the shuffle's generator, the
  /// dead-atom counters, early stopping's best loss -- plus `extra` tensors and
  /// metadata, to a safetensors file (atomically). The model's own tensors keep
  /// their names, so a checkpoint also loads as a model. `X` is the training
  /// data: its shape and a hash are recorded so that resuming on other data
  /// is refused.
  void save_checkpoint(const std::string& path, const Matrix<T>& X, const TensorFile& extra = {}) const;

  /// Restores a state written by save_checkpoint(); training then continues
  /// exactly (bit for bit) as the uninterrupted run would have. Throws Error
  /// naming the file when it is not a checkpoint, was made with other
  /// settings (naming the first that differs) or other data. Returns the file
  /// (for the extra tensors and metadata).
  TensorFile load_checkpoint(const std::string& path, const Matrix<T>& X);

 private:
  struct Workspace;
  struct BatchResult {
    double objective = 0;
    double squared_error = 0;
    double nonzero = 0;
    double threshold_estimate = -1;  // batchtopk: the batch's smallest kept activation
  };
  void prepare(Workspace& work, const Matrix<T>& X, int64_t batch);
  BatchResult compute_batch(const Matrix<T>& X, const int64_t* index, int64_t rows, Workspace& work);
  int64_t fused_pass(const Matrix<T>& X, const int64_t* index, int64_t rows, Workspace& work);
  void apply_update(const BatchResult& batch, int64_t rows, double lr, Workspace& work);
  void sparse_from_dense(const Eigen::Ref<const Matrix<T>>& codes, int64_t rows, Workspace& work, int threads);
  void sparse_decode(int64_t rows, Workspace& work, int threads);
  void sparse_backward(int64_t rows, const Eigen::Ref<const Matrix<T>>& Xc, Workspace& work, int threads,
                       T l1_weight, int64_t stride);
  double add_auxk(const Eigen::Ref<const Matrix<T>>& z, const Eigen::Ref<const Matrix<T>>& residual,
                  const Eigen::Ref<const Matrix<T>>& Xc, int64_t rows, Workspace& work,
                  Vector<T>& bias_grad);

  Model<T> model_;
  FitOptions options_;
  Gradients<T> gradients_;
  Gradients<T> first_moment_;
  Gradients<T> second_moment_;
  std::vector<double> losses_;
  std::vector<int64_t> samples_since_fired_;
  std::mt19937_64 shuffle_;
  int64_t step_ = 0;
  int epochs_to_run_ = 0;
  int64_t threshold_updates_ = 0;
  double best_loss_ = 0;
  int epochs_without_improvement_ = 0;
  bool stopped_early_ = false;
};

/// The matrix-product implementation training uses on this machine, e.g.
/// "Eigen (x86-64-v4, AVX-512)" (chosen from the CPU's flags at the first call).
const char* matrix_product_backend();

/// The instruction-set level the fused vector kernels run at: "v4" (AVX-512,
/// 64-byte vectors), "v3" (AVX2, 32) or "baseline" (16); the CPU's best
/// unless DICTLEARN_SIMD names a lower one.
const char* vector_kernel_level();

/// One call: initializes from options (or starts from `initial` when given)
/// and trains. Returns the trained model; `losses` (if not null) receives the
/// loss of every epoch.
template <typename T>
Model<T> fit(const Matrix<T>& X, const FitOptions& options, const Model<T>* initial = nullptr,
             std::vector<double>* losses = nullptr);

}  // namespace dictlearn
