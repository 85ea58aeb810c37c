// dictlearn: a dictionary, the part every model and every coder shares.
//
//   reconstruction  X̂ = R D + 1 b_decᵀ
//
// Shapes: D is n_atoms x dim (one atom per row), b_dec has dim entries or
// none, codes R are N x n_atoms for N samples. A trained Model<T> (model.hpp)
// is a Dictionary plus an encoder; the coders of coders.hpp need only this.
#pragma once

#include <string>

#include "dictlearn/types.hpp"

namespace dictlearn {

/// Atoms and the optional decoder bias. Model<T> derives from it, so a model
/// can be passed wherever a dictionary is expected.
template <typename T>
struct Dictionary {
  Matrix<T> dictionary{};    ///< D, n_atoms x dim (tensor `dictionary`)
  Vector<T> decoder_bias{};  ///< b_dec, dim entries, or empty for none (tensor `decoder_bias`)

  int n_atoms() const { return static_cast<int>(dictionary.rows()); }
  int dim() const { return static_cast<int>(dictionary.cols()); }
  bool has_decoder_bias() const { return decoder_bias.size() > 0; }
};

/// Checks that D is not empty, that b_dec is empty or has dim() entries and
/// that both are finite; `what` names the source (a file) in the error.
template <typename T>
void validate_dictionary(const Dictionary<T>& dictionary, const std::string& what);

}  // namespace dictlearn
