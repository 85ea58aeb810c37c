// dictlearn: how good and how sparse a model's codes are on data.
//
//   mse            1/(N·dim) Σ (X − X̂)²
//   fvu            fraction of variance unexplained, Σ‖x − x̂‖² / Σ‖x − x̄‖²
//   l0             mean number of exactly nonzero codes per sample
//   usage[k]       fraction of samples whose code for atom k is nonzero
//   dead_fraction  fraction of atoms with usage 0 on this data
#pragma once

#include <type_traits>
#include <vector>

#include "dictlearn/model.hpp"

namespace dictlearn {

/// Reconstruction and sparsity of a model's codes on data.
struct Metrics {
  double mse = 0;
  double fvu = 0;  ///< 0 when the data has no variance
  double l0 = 0;
  double dead_fraction = 0;
  std::vector<double> usage;  ///< n_atoms entries
  CodeStats codes;            ///< near-zero fraction and mean largest entry
};

/// Metrics of `model` on X (N x dim), a view read in place. Throws Error if
/// the shapes disagree.
template <typename T>
Metrics evaluate(const Model<T>& model, MatrixView<std::type_identity_t<T>> X);

}  // namespace dictlearn
