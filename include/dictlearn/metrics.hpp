// dictlearn: how good and how sparse a model's codes are on data.
//
//   mse            1/(N·dim) Σ (X − X̂)²
//   fvu            fraction of variance unexplained, Σ‖x − x̂‖² / Σ‖x − x̄‖²; data
//                  without variance (every column constant): 0 when the
//                  reconstruction is exact, else 1 (scikit-learn's r2_score
//                  gives R² = 1 or 0 there; FVU = 1 − R²)
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
  double fvu = 0;  ///< fraction_unexplained(): 0 or 1 when the data has no variance
  double l0 = 0;
  double dead_fraction = 0;
  std::vector<double> usage;  ///< n_atoms entries
  CodeStats codes;            ///< near-zero fraction and mean largest entry
};

/// FVU from its two sums: squared_error / spread, and for data without
/// variance (spread 0) 0 when squared_error is 0, else 1 -- what
/// scikit-learn's r2_score (force_finite) reports there as R² = 1 or 0. Never
/// NaN or infinite for finite sums.
double fraction_unexplained(double squared_error, double spread);

/// Metrics of `model` on X (N x dim), a view read in place. Throws Error if
/// the shapes disagree. Sums are taken at a power-of-two scale of the data, so
/// magnitudes near the ends of the double range give the same FVU as data near 1.
template <typename T>
Metrics evaluate(const Model<T>& model, MatrixView<std::type_identity_t<T>> X);

}  // namespace dictlearn
