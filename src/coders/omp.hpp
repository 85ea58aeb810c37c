// Internal: one signal's Batch-OMP, the step the omp coder runs per signal of
// a block (kept apart so tests and the classical learners can drive it on a
// Gram matrix of their own).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/pursuit.hpp"

namespace dictlearn::detail {

/// Scratch of one signal's pursuit, reused across the signals of a block,
/// and the vector kernels it runs (the SIMD level in force when it is made).
template <typename T>
struct OmpWorkspace {
  std::vector<T> alpha;           ///< α = α⁰ − G_{:,S} γ, by atom
  std::vector<T> columns;         ///< A = G_{:,S} L⁻ᵀ, one row of n_atoms per chosen atom
  std::vector<T> cholesky;        ///< L, row-major, max_atoms x max_atoms, lower
  std::vector<T> projected;       ///< z = L⁻¹ α⁰_S, in selection order
  std::vector<T> gamma;           ///< the coefficients of the support, in selection order
  std::vector<int64_t> atoms;     ///< the chosen atoms, in selection order
  std::vector<int64_t> order;     ///< scikit-learn's swapped positions (ties only)
  std::vector<int64_t> position;  ///< their inverse (ties only)
  PursuitKernels<T> kernels = pursuit_kernels<T>(simd_level());
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
