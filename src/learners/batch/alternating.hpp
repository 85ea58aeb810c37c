// Internal: the batch alternation's dictionary stage, one pass of block
// coordinate descent over the atoms on A = RᵀR and B = RᵀX (scikit-learn's
// _update_dict); batch_learning.hpp states the rule for unused atoms and the cost.
#pragma once

#include <cstdint>
#include <random>

#include "dictlearn/types.hpp"

namespace dictlearn::detail {

/// The constraints and the unused-atom rule of the pass.
struct BcdOptions {
  bool positive = false;   ///< clip every atom to d ≥ 0 before its projection
  bool unit_norm = false;  ///< ‖d‖ = 1 (a nonzero atom), else ‖d‖ ≤ 1
  bool resample = true;    ///< A_kk <= 1e-6: a random signal plus 1% noise, codes zeroed
};

/// The atom k update d_k += (B_k − A_k D) / A_kk in atom order, each followed
/// by the projection, for the signals X (N x dim) and codes R (N x n_atoms);
/// `random` draws the resampled signals and their noise. Zeroes R's column of
/// a resampled atom. Returns the number of atoms resampled.
template <typename T>
int64_t bcd_stage(MatrixView<T> X, Matrix<T>& D, Matrix<T>& R, const BcdOptions& options,
                  std::mt19937_64& random, int threads);

/// A standard normal draw from `random` (Box-Muller, one pair of draws per
/// call, so the generator's position is simple to reason about).
double standard_normal(std::mt19937_64& random);

}  // namespace dictlearn::detail
