// dictlearn: the dictionary model of "Very Simple Dictionary Learning in
// PyTorch": a dictionary D and an encoder (the seed's "attributor"), with an
// optional decoder bias b_dec as in sparse autoencoders.
//
//   pre-activations Z = (X − b_dec) Wᵀ + 1 bᵀ
//   codes           R = encoder(Z)               softmax in the seed; see encoders.hpp
//   reconstruction  X̂ = R D + b_dec
//   loss            L = 1/(N·dim) Σ (X − X̂)²      (torch.nn.MSELoss, mean)
//
// Shapes: X is N x dim (one sample per row), D and W are n_atoms x dim, b has
// n_atoms entries, b_dec dim entries (or none), R is N x n_atoms. Cost of
// encode + reconstruct: 4·N·dim·n_atoms flops plus the encoder's.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <type_traits>

#include "dictlearn/dictionary.hpp"
#include "dictlearn/encoders.hpp"
#include "dictlearn/types.hpp"

namespace dictlearn {

/// Parameters of a dictionary model: the Dictionary (D, b_dec) and the
/// encoder that maps samples to codes. Tensor names in the model file are the
/// seed module's state_dict keys: `dictionary`, `attributor.0.weight`,
/// `attributor.0.bias` (plus `decoder_bias` when the model has one; such a
/// file no longer loads into the seed's class with strict=True).
///
/// A model learned by a classical learner (learning.hpp: online, K-SVD, ...)
/// has no encoder: W and b are empty, the file holds `dictionary` only (its
/// metadata `encoder` reads "none"), and its codes come from the coder its
/// metadata records (`train.coder` and the coder's settings:
/// recorded_coding(), parameters.hpp), which `dictlearn encode`, `eval`,
/// `reconstruct` and `plot` use.
template <typename T>
struct Model : Dictionary<T> {
  Matrix<T> encoder_weight;  ///< W, n_atoms x dim (attributor.0.weight); empty: no encoder
  Vector<T> encoder_bias;    ///< b, n_atoms (attributor.0.bias); empty: no encoder
  EncoderOptions encoder;    ///< the encoder and its settings (unused without an encoder)
  /// Free-form training settings stored in the file's __metadata__.
  std::map<std::string, std::string> metadata;
  /// Whether the model has an encoder (W or b): false for a classical learner's.
  bool has_encoder() const { return encoder_weight.size() > 0 || encoder_bias.size() > 0; }
};

/// The seed module's initialization from `seed`: D ~ U[0, 1) (torch.rand),
/// W and b ~ U(−1/√dim, 1/√dim) (the nn.Linear default). Throws Error for
/// n_atoms < 1 or dim < 1.
template <typename T>
Model<T> init_model(int n_atoms, int dim, uint64_t seed);

/// Checks that the model's arrays agree in shape and are finite, and its
/// encoder settings (k, temperature, threshold) are valid (a model without
/// an encoder: its dictionary only); `what` names the
/// source (a file) in the error, with the metadata key for a setting
/// ("m.safetensors: metadata 'k': ...").
template <typename T>
void validate_model(const Model<T>& model, const std::string& what);

/// Checks X has model.dim() columns; the error names `what` (a file).
template <typename T>
void check_data_matches(const Model<T>& model, MatrixView<std::type_identity_t<T>> X,
                        const std::string& what);

// Inference runs over fixed blocks of samples on `threads` threads (0: all
// cores); the results do not depend on the thread count. X is a view: a
// Matrix, a block of one, or rows in NumPy's or a memory map's memory are read
// in place (a view whose rows are not contiguous is copied once). T comes
// from the model (the view's parameter is not deduced), so a Matrix<T> or an
// Eigen expression of T converts to the view.

// encode, reconstruct, pre_activations and reconstruction_loss need the
// model's encoder: on a model without one (has_encoder() false) they throw
// Error saying to code with its coder, encode(model, X, recorded_coding(model.metadata)).

/// Codes R (N x n_atoms) for samples X (N x dim).
template <typename T>
Matrix<T> encode(const Model<T>& model, MatrixView<std::type_identity_t<T>> X, int threads = 0);

/// Reconstructions R·D (+ decoder bias) (N x dim) for samples X (N x dim).
template <typename T>
Matrix<T> reconstruct(const Model<T>& model, MatrixView<std::type_identity_t<T>> X,
                      int threads = 0);

/// Pre-activations Z = b + (X − b_dec) Wᵀ (N x n_atoms) for samples X (N x dim).
template <typename T>
Matrix<T> pre_activations(const Model<T>& model, MatrixView<std::type_identity_t<T>> X,
                          int threads = 0);

/// Mean squared reconstruction error over all N·dim entries (accumulated in double).
template <typename T>
double reconstruction_loss(const Model<T>& model, MatrixView<std::type_identity_t<T>> X,
                           int threads = 0);

/// How sparse codes are: the seed's softmax codes are never exactly zero.
struct CodeStats {
  double fraction_below = 0;  ///< fraction of entries with |r| < threshold
  double mean_max = 0;        ///< mean over samples of the largest |r|
  double fraction_zero = 0;   ///< fraction of entries exactly 0
  double threshold = 1e-3;    ///< the threshold used for fraction_below
};

/// Statistics of a code matrix (N x n_atoms), float or double.
CodeStats code_stats(MatrixView<float> codes, double threshold = 1e-3);
CodeStats code_stats(MatrixView<double> codes, double threshold = 1e-3);

/// The model for data multiplied by `factor` (> 0): D and b_dec scale with it,
/// W scales with 1/factor, so codes are unchanged and reconstructions scale.
template <typename T>
void scale_model(Model<T>& model, double factor);

/// Saves a model as safetensors (tensors in T's dtype, encoder kind, shapes
/// and `model.metadata` in __metadata__), atomically. A model without an
/// encoder is saved as `dictionary` (and `decoder_bias`) with metadata
/// `encoder` "none"; its metadata must record a valid coder (train.coder,
/// recorded_coding()), else Error naming the file.
template <typename T>
void save_model(const std::string& path, const Model<T>& model);

/// Loads a model saved by save_model (or by the seed's PyTorch module through
/// safetensors), converting to T. Throws Error naming the file for a file that
/// is not safetensors, a missing tensor (named), shapes that disagree, or an
/// unknown encoder; a file with metadata `encoder` "none" loads without an
/// encoder when it holds no encoder tensor and records a valid coder.
template <typename T>
Model<T> load_model(const std::string& path);

/// The dtype a model file stores its dictionary in.
DType model_dtype(const std::string& path);

}  // namespace dictlearn
