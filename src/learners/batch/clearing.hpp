// Internal: ksvdbox's clearing of atoms (Rubinstein's K-SVD toolbox,
// cleardict), which the K-SVD and MOD iterations run after their stage
// unless keep_better_codes asks for a monotone objective.
#pragma once

#include <cstdint>
#include <vector>

#include "dictlearn/types.hpp"

namespace dictlearn::detail {

/// An atom used by at most kClearUses signals is "rarely used".
constexpr int64_t kClearUses = 4;
/// Two atoms with |cos| above this are duplicates.
constexpr double kClearCoherence = 0.99;

/// In atom order, an atom used by at most kClearUses signals of R (N x
/// n_atoms), or with |cos| > kClearCoherence to another atom of D (n_atoms x
/// dim) as they stand, becomes the signal of X (N x dim) worst represented
/// (largest ‖E_i‖², E = X − R D; nonzero; not `taken` before, and then taken),
/// at unit norm, and its codes in R are zeroed; atoms the stage `replaced`
/// are passed over (ksvdbox's rules). It escapes the local minima of
/// duplicate and rarely used atoms at the price of the objective (those
/// atoms' codes are dropped). Returns the number of atoms replaced. Cost:
/// n_atoms²·dim + N·dim + N·n_atoms.
template <typename T>
int64_t clear_atoms(MatrixView<T> X, Matrix<T>& D, Matrix<T>& R, const Matrix<T>& E,
                    std::vector<char>& taken, const std::vector<char>& replaced);

}  // namespace dictlearn::detail
