// Internal: the step of the fista coder (kept apart so tests can check it
// against the exact largest eigenvalue).
#pragma once

#include "dictlearn/types.hpp"

namespace dictlearn::detail {

/// The Lipschitz constant FISTA steps by: an upper bound of λ_max(G + λ₂I),
/// G = D Dᵀ (`gram`, n_atoms x n_atoms, of `atoms`, n_atoms x dim). λ_max(G)
/// comes from the power iteration on the smaller of G and Dᵀ D (the same
/// nonzero eigenvalues), summed in double from a fixed pseudo-random start:
/// at least 100 and at most 1,000 iterations, stopping once the Rayleigh
/// quotient changes by <= 1e-10 relative. The quotient approaches λ_max from
/// below, so it is raised by 2% (a margin above what 1,000 iterations leave
/// for a random start unless the top eigenvalues lie within about 1% of each
/// other, where the margin itself covers the difference), and capped by the
/// matrix's largest absolute row sum, which bounds λ_max from above whatever
/// the iteration did (Gershgorin). 0 only for a dictionary of zero atoms
/// without λ₂.
template <typename T>
double fista_lipschitz(const Matrix<T>& atoms, const Matrix<T>& gram, double l2);

}  // namespace dictlearn::detail
