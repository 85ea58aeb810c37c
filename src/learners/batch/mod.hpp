// Internal: MOD's dictionary stage (Engan, Aase, Husøy 1999); batch_learning.hpp
// states what it does when RᵀR is singular, and the cost.
#pragma once

#include <cstdint>
#include <vector>

#include "dictlearn/types.hpp"

namespace dictlearn::detail {

/// The least-squares atoms for the signals X (N x dim) and their codes R (N x
/// n_atoms): the used atoms (a nonzero diagonal of A = RᵀR) from the
/// pseudo-inverse of their A times their rows of B = RᵀX (eigenvalues <=
/// m·ε·λ_max of the m used atoms' A count as 0); the unused ones become the
/// worst-represented signals by E = X − R D of the old D (N x dim), scaled to
/// unit norm (an atom stays as it is when no nonzero, imperfectly represented
/// signal is left). Then every atom of nonzero norm is scaled to unit norm
/// and its column of R by its old norm, so R D is the least-squares
/// product. Returns the number of atoms replaced; `taken` (N entries) marks
/// the signals made atoms, `replaced` (n_atoms entries) the atoms replaced.
template <typename T>
int64_t mod_stage(MatrixView<T> X, Matrix<T>& D, Matrix<T>& R, const Matrix<T>& E, int threads,
                  std::vector<char>& taken, std::vector<char>& replaced);

}  // namespace dictlearn::detail
