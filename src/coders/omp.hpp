// Internal: one signal's Batch-OMP, the step the omp coder runs per signal of
// a block (kept apart so tests can drive it on a hand-made Gram matrix).
#pragma once

#include <cstdint>
#include <vector>

namespace dictlearn::detail {

/// Scratch of one signal's pursuit, reused across the signals of a block.
template <typename T>
struct OmpWorkspace {
  std::vector<T> alpha;           ///< α = α⁰ − G_{:,S} γ, by atom
  std::vector<int64_t> order;     ///< scikit-learn's swapped positions: position → atom
  std::vector<T> cholesky;        ///< L, row-major, max_atoms x max_atoms, lower
  std::vector<T> gamma;           ///< the coefficients of the support, in selection order
  std::vector<T> alpha0_support;  ///< α⁰ on the support, in selection order
};

/// Batch-OMP of one signal on G (n_atoms x n_atoms, row-major, symmetric)
/// from alpha0 = D x and norm2 = ‖x‖², as scikit-learn's _gram_omp: at most
/// max_atoms atoms, or, when use_error, until |‖x − rD‖²| <= max_error (the
/// Batch-OMP update of the residual norm). Writes the codes into code
/// (n_atoms, zeroed here) and returns the number of atoms chosen. Stops early
/// (scikit-learn warns) when the best α² or a Cholesky pivot is below the
/// type's epsilon.
template <typename T>
int64_t omp_signal(const T* G, int64_t n_atoms, const T* alpha0, T norm2, int64_t max_atoms,
                   bool use_error, T max_error, OmpWorkspace<T>& work, T* code);

}  // namespace dictlearn::detail
