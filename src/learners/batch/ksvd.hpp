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
/// made atoms, `replaced` (n_atoms entries) the atoms replaced: clear_atoms()
/// (clearing.hpp) passes over both.
template <typename T>
int64_t ksvd_stage(MatrixView<T> X, Matrix<T>& D, Matrix<T>& R, Matrix<T>& E, bool approximate,
                   std::vector<char>& taken, std::vector<char>& replaced);

}  // namespace dictlearn::detail
