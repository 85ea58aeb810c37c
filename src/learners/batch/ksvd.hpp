// Internal: K-SVD's dictionary stage (Aharon, Elad, Bruckstein 2006) and its
// approximate form (Rubinstein, Zibulevsky, Elad 2008); batch_learning.hpp
// states the rules (signs, unused atoms) and the cost.
#pragma once

#include <cstdint>
#include <vector>

#include "dictlearn/types.hpp"

namespace dictlearn::detail {

/// One K-SVD sweep over the atoms of D (n_atoms x dim) for the signals X
/// (N x dim) and their codes R (N x n_atoms). On entry E = X − R D (N x
/// dim); the sweep updates each atom, its codes and E's rows of its signals
/// in turn, so on return E = X − R D for the new R and D (up to rounding).
/// Supports never grow. Returns the number of unused atoms replaced.
/// `taken` (N entries, 0 on the first call of an iteration) marks the signals
/// made atoms, `replaced` (n_atoms entries) the atoms replaced: ksvd_clear()
/// passes over both.
template <typename T>
int64_t ksvd_stage(MatrixView<T> X, Matrix<T>& D, Matrix<T>& R, Matrix<T>& E, bool approximate,
                   std::vector<char>& taken, std::vector<char>& replaced);

/// ksvdbox's clearing (Rubinstein's K-SVD toolbox, cleardict), after a
/// sweep: in atom order, an atom used by at most kClearUses signals, or with
/// |cos| > kClearCoherence to another atom as they stand, becomes the signal
/// worst represented by the sweep's R and D (largest ‖E_i‖², E = X − R D on
/// entry; a signal not `taken` before), at unit norm, and its codes in R are
/// zeroed; atoms the sweep `replaced` are passed over (ksvdbox's rules).
/// It escapes the local minima of duplicate and rarely used atoms,
/// at the price of the objective (those atoms' codes are dropped). Returns
/// the number of atoms replaced.
constexpr int64_t kClearUses = 4;
constexpr double kClearCoherence = 0.99;
template <typename T>
int64_t ksvd_clear(MatrixView<T> X, Matrix<T>& D, Matrix<T>& R, const Matrix<T>& E,
                   std::vector<char>& taken, const std::vector<char>& replaced);

}  // namespace dictlearn::detail
