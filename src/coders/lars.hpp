// Internal: one signal's least-angle regression (the lars coder) and one
// signal's LARS-lasso homotopy (the lasso_lars coder), the steps the coders run
// per signal of a block (kept apart so tests can drive them on a hand-made
// Gram matrix and read the order in which atoms entered).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "coders/active_cholesky.hpp"
#include "dictlearn/types.hpp"

namespace dictlearn::detail {

/// Scratch of one signal's path, reused across the signals of a block: sized
/// by n_atoms and the largest active set, it allocates nothing once warm.
template <typename T>
struct LarsWorkspace {
  std::vector<T> correlation;        ///< c = D x − G r, by atom (the inactive atoms' are kept)
  std::vector<T> gain;               ///< a = G_{:,A} u: c falls by t·a along the direction
  std::vector<T> direction;          ///< u (lasso) or w (lars), in active order
  std::vector<T> forward;            ///< lasso_lars: L⁻¹ s_A, extended as atoms enter
  std::vector<T> coefficient;        ///< r on the active set, in active order
  std::vector<T> sign;               ///< s: the sign of each active atom's correlation
  std::vector<int64_t> active;       ///< the active atoms, in the order they entered
  std::vector<int64_t> order;        ///< lars: scikit-learn's swapped positions, position → atom
  std::vector<unsigned char> state;  ///< lasso_lars: inactive, active or dependent, by atom
  std::vector<T> blocked;      ///< lasso_lars: 0 for the atoms that may enter, +∞ for the others
  std::vector<T> event;        ///< lasso_lars: the step at which each atom would enter
  ActiveCholesky<T> cholesky;  ///< of G_AA, rows in active order
};

/// Least-angle regression of one signal on G (n_atoms x n_atoms, row-major,
/// symmetric) from alpha0 = D x, step by step as scikit-learn's
/// lars_path(method='lar', max_iter=max_steps) with Gram and Xy: at most
/// max_steps steps, each adding the inactive atom of largest |c| (the first
/// in scikit-learn's order of swapped positions), moving along the
/// equiangular direction to the next atom's entry. As there, a coefficient
/// that crosses zero flips its sign in the direction and the next step adds
/// no atom. Stops early when the largest |c| is at most stop_ratio times
/// the first one (scikit-learn: C/n_samples <= float32's epsilon; the
/// residual is orthogonal to every atom) or every atom is active; an atom whose
/// Cholesky pivot² is at most `pivot_tol`·G_jj (dependent on the active ones),
/// is not added and its correlation set to zero, as scikit-learn does. Once
/// max_active atoms are active (dim < n_atoms: they span the space) the path
/// ends at their least-squares fit, LAR's next point (scikit-learn, with
/// L > dim, goes on adding dependent atoms and ends away from it). Writes the codes into code
/// (n_atoms, zeroed here); work.active holds the atoms in the order they entered. Returns the
/// number of active atoms.
template <typename T>
int64_t lars_signal(const T* G, int64_t n_atoms, const T* alpha0, int64_t max_steps,
                    int64_t max_active, T stop_ratio, T pivot_tol, LarsWorkspace<T>& work, T* code);

/// The lasso min_r ½ r G rᵀ − r·alpha0 + α‖r‖₁ (½‖x − rD‖² + α‖r‖₁ up to a
/// constant with G = D Dᵀ, alpha0 = D x; the elastic net with G + λ₂I) of one
/// signal by the LARS homotopy (Efron et al. 2004, section 3.1): from λ =
/// max|c| down to α, each step moving r along u = G_AA⁻¹ s_A until an
/// inactive atom's |c| reaches λ (it enters) or an active coefficient reaches
/// zero (it leaves), exactly, kink by kink. With `positive`, codes >= 0:
/// atoms enter only at c = +λ. At most max_steps steps (entries and drops);
/// an atom dependent on the active ones (pivot² <= pivot_tol·G_jj, or the
/// set already has max_active atoms) is passed over until the next drop. The
/// final coefficients are solved from G_AA r_A = alpha0_A − λ s_A at the
/// end point, so they do not carry the path's rounding. Writes the codes
/// into code (n_atoms, zeroed here); returns the number of steps.
template <typename T>
int64_t lasso_lars_signal(const T* G, int64_t n_atoms, const T* alpha0, T alpha, bool positive,
                          int64_t max_steps, int64_t max_active, T pivot_tol,
                          LarsWorkspace<T>& work, T* code);

/// The lasso of one signal (as lasso_lars_signal) from a guessed support:
/// `count` atoms with their signs, each entry the atom's index for a
/// positive code and its bitwise complement (~atom, negative) for a negative
/// one. Solves G_SS r_S = alpha0_S − α s_S and keeps r when it meets the
/// lasso's optimality conditions: every code of its guessed sign, and every
/// other atom's |alpha0_j − G_jS r_S| at most α (alpha0_j − G_jS r_S at most
/// α with `positive`). r is then the lasso's solution, the one the path
/// reaches, up to rounding (its factor is built in another order). When a
/// condition fails, up to 16 rounds correct the guess (the atoms of the
/// wrong sign leave; else the worst violator enters with the sign of its
/// correlation), each checked in full. A round costs one solve and one pass
/// over the atoms, where the path takes a step per kink. Returns false when
/// the rounds end unsatisfied, or an entering atom depends on the others or
/// would pass max_active (atoms of the guess that do are left out); the codes
/// are then unspecified and the caller runs the path.
template <typename T>
bool lasso_from_support(const T* G, int64_t n_atoms, const T* alpha0, T alpha, bool positive,
                        const int16_t* support, int64_t count, int64_t max_active, T pivot_tol,
                        LarsWorkspace<T>& work, T* code);

/// out = Σ_i weight_i G[rows_i, :] over `count` rows of G (n_atoms wide):
/// G_{:,A} u by rows of the symmetric G, four rows a pass so that `out` is
/// read and written once per four.
template <typename T>
[[gnu::always_inline]] inline void gather_rows(const T* G, int64_t n_atoms, const int64_t* rows,
                                               const T* weight, int64_t count, T* out) {
  const int64_t K = n_atoms;
  std::fill(out, out + K, T(0));
  int64_t i = 0;
  for (; i + 4 <= count; i += 4) {
    const T *g0 = G + rows[i] * K, *g1 = G + rows[i + 1] * K, *g2 = G + rows[i + 2] * K,
            *g3 = G + rows[i + 3] * K;
    const T w0 = weight[i], w1 = weight[i + 1], w2 = weight[i + 2], w3 = weight[i + 3];
#pragma omp simd
    for (int64_t j = 0; j < K; ++j) out[j] += w0 * g0[j] + w1 * g1[j] + w2 * g2[j] + w3 * g3[j];
  }
  for (; i < count; ++i) {
    const T* g = G + rows[i] * K;
    const T w = weight[i];
#pragma omp simd
    for (int64_t j = 0; j < K; ++j) out[j] += w * g[j];
  }
}

}  // namespace dictlearn::detail
