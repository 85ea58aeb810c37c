// dictlearn: encoders, the maps from pre-activations Z = (X − b_dec) Wᵀ + b
// (N x n_atoms) to codes R.
//
//   softmax    R = softmax(Z / temperature), row by row: the seed's. Rows on
//              the simplex, never exactly sparse.
//   sparsemax  R = argmin_{r in simplex} ‖r − z‖², row by row (Martins &
//              Astudillo 2016): the Euclidean projection onto the simplex,
//              r = max(z − τ, 0); exact zeros. Jacobian: on the support S,
//              ∂r/∂z = I − 11ᵀ/|S|.
//   relu       R = max(Z, 0): the standard sparse autoencoder, used with an
//              L1 penalty on R.
//   topk       keep the k largest pre-activations of each row, ReLU after the
//              selection (Gao et al. 2024); gradients flow through the kept
//              entries only.
//   batchtopk  while training, keep the k·B largest ReLU'd pre-activations of
//              a batch of B rows (Bussmann et al. 2024); at inference keep the
//              entries above a threshold learned during training, so a
//              sample's code never depends on its batch.
// Cost: O(N·n_atoms) for relu, O(N·n_atoms·log n_atoms) for sparsemax, O(N·n_atoms)
// expected for topk (selection), O(N·n_atoms) for batchtopk.
#pragma once

#include <string>
#include <vector>

#include "dictlearn/types.hpp"

namespace dictlearn {

/// How samples are turned into codes.
enum class EncoderKind {
  softmax,    ///< the seed's: softmax(Z / temperature); dense
  sparsemax,  ///< projection onto the simplex; exact zeros
  relu,       ///< max(Z, 0); pair with an L1 penalty
  topk,       ///< k largest per sample, then ReLU
  batchtopk,  ///< k·B largest per batch while training; a threshold at inference
};

/// What the rest of the library needs to know about an encoder, in one table
/// (encoder_table()): parsing, validation, help texts, the method registry
/// (methods.hpp) and the trainer's choice of engine read it, so adding an
/// encoder is an enum value, a row, and its cases in src/encoders/.
struct EncoderTraits {
  EncoderKind kind;
  const char* name;      ///< as in model files and --encoder: "softmax", ...
  const char* help;      ///< one line for help texts and docs
  bool needs_k;          ///< reads EncoderOptions::k (>= 1, <= n_atoms)
  bool selects_top_k;    ///< keeps the k largest entries (per row or per batch): at most k
                         ///< nonzeros per sample on average; AuxK applies
  bool row_local;        ///< while training, a sample's code depends on its row only
                         ///< (false for batchtopk, which ranks the whole batch)
  bool sparse_output;    ///< codes hold exact zeros (all but softmax)
  bool has_temperature;  ///< reads EncoderOptions::temperature
};

/// The row of `kind`.
const EncoderTraits& encoder_traits(EncoderKind kind);
/// Every encoder, in the order of EncoderKind.
const std::vector<EncoderTraits>& encoder_table();

/// The encoder's name: "softmax", "sparsemax", "relu", "topk", "batchtopk".
const char* encoder_name(EncoderKind kind);
/// Parses an encoder name; throws Error naming `parameter` for unknown ones.
EncoderKind parse_encoder(const std::string& name, const std::string& parameter = "--encoder");
/// The encoders' names as a help text lists them: "softmax, sparsemax, relu,
/// topk or batchtopk".
std::string encoder_choices();

/// Encoder settings, stored with the model.
struct EncoderOptions {
  EncoderKind kind = EncoderKind::softmax;  ///< which encoder
  double temperature = 1.0;                 ///< softmax: Z is divided by it (> 0)
  int k = 0;                                ///< topk, batchtopk: active atoms per sample (>= 1)
  double threshold = 0.0;  ///< batchtopk at inference: keep Z > threshold (learned)
};

/// Checks the options against n_atoms; errors name the flag ("--k: ...").
void validate(const EncoderOptions& options, int n_atoms);

/// In place: row-wise softmax of `logits` / temperature (PyTorch's arrangement).
template <typename T>
void softmax_rows(Matrix<T>& logits, double temperature = 1.0);

/// In place: row-wise sparsemax (projection of each row onto the simplex).
template <typename T>
void sparsemax_rows(Matrix<T>& logits);

/// Codes from pre-activations at inference (batchtopk uses the threshold).
/// `z` (N x n_atoms) is overwritten with the codes.
template <typename T>
void activate(const EncoderOptions& options, Matrix<T>& z);

/// Codes from pre-activations while training: as activate(), except that
/// batchtopk selects the k·N largest entries of the whole batch. Returns the
/// smallest kept positive activation (batchtopk's threshold estimate), or 0.
template <typename T>
double activate_training(const EncoderOptions& options, Matrix<T>& z);

/// Backward pass: given pre-activations z, codes r (from activate*), and
/// ∂L/∂R in `grad` (N x n_atoms), overwrites `grad` with ∂L/∂Z.
template <typename T>
void activation_backward(const EncoderOptions& options, const Matrix<T>& z, const Matrix<T>& r,
                         Matrix<T>& grad);

}  // namespace dictlearn
