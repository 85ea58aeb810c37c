// Internal: one signal's coordinate descent, the step the lasso_cd coder runs
// per signal of a block (kept apart so tests can count its passes).
#pragma once

#include <cstdint>
#include <vector>

#include "coders/lasso_gap.hpp"
#include "dictlearn/types.hpp"

namespace dictlearn::detail {

/// Scratch of one signal's descent, reused across the signals of a block.
template <typename T>
struct LassoCdWorkspace {
  std::vector<T> Gr;                  ///< G r over all atoms
  std::vector<T> violation;           ///< |q − G r − λ₂r| at atoms with r = 0, else 0
  std::vector<int64_t> code_support;  ///< the atoms with r ≠ 0
  std::vector<int64_t> violators;     ///< the atoms at 0 a round adds, worst first
  std::vector<int64_t> active;        ///< the working set, in atom order
  std::vector<T> G_active;            ///< G restricted to the working set, row-major
  std::vector<T> q_active;            ///< q on the working set
  std::vector<T> r_active;            ///< r on the working set
  std::vector<T> Gr_active;           ///< G r on the working set
  std::vector<signed char> signs, signs_before;  ///< sign patterns after and before a pass
  std::vector<int64_t> support;                  ///< working-set positions of the nonzero codes
  std::vector<double> cholesky;                  ///< L of G + λ₂I = L P Lᵀ on the support
  std::vector<double> inverse_pivots;            ///< 1 / the diagonal of its LDLᵀ form
  std::vector<double> scaled_row;                ///< a row of L times the pivots
  std::vector<double> solution;                  ///< the support's solve
  std::vector<T> saved_r, saved_Gr;              ///< the codes before a solve, to restore
};

/// What one signal's descent did.
struct LassoCdResult {
  int passes = 0;  ///< coordinate descent passes (over working sets)
  double gap = 0;  ///< the duality gap of the returned code (lasso_gap)
};

/// Coordinate descent on G (n_atoms x n_atoms, row-major, symmetric) from
/// q = D x and norm2 = ‖x‖² for the problem of lasso_gap(), starting from
/// `code` (n_atoms; zeros for a cold start) and leaving the result there.
///
/// In rounds. Each round computes G r from the support (O(n_atoms) per
/// nonzero), every atom's correlation c = q − G r − λ₂r and the duality gap
/// (O(n_atoms), vectorized), and stops once the gap is <= tol·norm2, after
/// max_iter passes, or when the round did not lower the objective (in exact
/// arithmetic every round before the optimum does: T's rounding floor, for a
/// tol below what T resolves). Otherwise the working set is the support plus
/// the atoms at 0 that violate the optimality conditions most (|c_i| > α;
/// c_i > α with positive), as many as the support has but at least 4, by
/// decreasing violation; cyclic passes in atom order with scikit-learn's
/// update (an atom with G_ii = 0 set to 0) run on G restricted to it, until
/// its gap is below half the bound, a pass changes nothing or gains under 1%.
/// After a pass that keeps every sign, one feature-sign step (Lee et al.
/// 2007; feature_sign_step in lasso_cd.cpp) solves the restricted problem
/// for that sign pattern exactly, which ends the slow linear tail of CD on
/// correlated atoms. `passes` counts the working-set passes.
template <typename T>
LassoCdResult lasso_cd_signal(const T* G, int64_t n_atoms, const T* q, double norm2,
                              const LassoProblem& problem, int max_iter, double tol,
                              LassoCdWorkspace<T>& work, T* code);

}  // namespace dictlearn::detail
