// Internal: what the batch learners (batch_learning.hpp) compute from the
// data X (N x dim), the codes R (N x n_atoms) and the atoms D (n_atoms x dim):
// the residual E = X − R D, each signal's objective, the atoms' supports, the
// statistics A = RᵀR and B = RᵀX. Sums over signals run in fixed chunks added
// in chunk order, so no result depends on the thread count.
#pragma once

#include <cstdint>
#include <vector>

#include "dictlearn/coders.hpp"
#include "dictlearn/types.hpp"

namespace dictlearn::detail {

/// Signals per chunk of the sums over signals (fixed: thread-count independence).
constexpr int64_t kSignalChunk = 1024;

/// The per-signal objective of a coder: ½‖x − rD‖² + α‖r‖₁ + ½λ₂‖r‖² for the
/// lasso coders (lasso-lars, lasso-cd, fista), ½‖x − rD‖² for the others.
struct CodeObjective {
  double alpha = 0;  ///< the ℓ1 weight (0 for omp, lars, threshold)
  double l2 = 0;     ///< the ℓ2 weight λ₂ (0 for omp, lars, threshold)
};

/// The objective the coder of `coding` minimizes.
CodeObjective code_objective(const CodingOptions& coding);

/// E = X − R D (N x dim), each row from the nonzero codes of its signal in
/// atom order; rows in parallel on `threads`.
template <typename T>
void residual(MatrixView<T> X, const Matrix<T>& R, const Matrix<T>& D, Matrix<T>& E, int threads);

/// objectives[i] = ½‖E_i‖² + α‖R_i‖₁ + ½λ₂‖R_i‖² in double.
template <typename T>
void signal_objectives(const Matrix<T>& E, const Matrix<T>& R, const CodeObjective& objective,
                       std::vector<double>& objectives, int threads);

/// The signals whose codes use each atom: rows[offsets[k] .. offsets[k+1])
/// are atom k's, increasing.
struct Supports {
  std::vector<int64_t> offsets;
  std::vector<int64_t> rows;
  int64_t size(int64_t atom) const { return offsets[atom + 1] - offsets[atom]; }
};

/// The supports of the codes R (N x n_atoms).
template <typename T>
Supports atom_supports(const Matrix<T>& R);

/// A = RᵀR (n_atoms x n_atoms) and B = RᵀX (n_atoms x dim), in double, from
/// the nonzero codes.
template <typename T>
void code_statistics(MatrixView<T> X, const Matrix<T>& R, Matrix<double>& A, Matrix<double>& B,
                     int threads);

/// The rows of X a replaced atom may become, in order of preference: largest
/// ‖E_i‖² first (ties to the lowest row), only rows with ‖E_i‖ > 0 and
/// ‖X_i‖ > 0; at most `count`.
template <typename T>
std::vector<int64_t> worst_signals(MatrixView<T> X, const Matrix<T>& E, int64_t count);

/// Row i of X scaled to unit norm (its norm in double), into `atom`.
template <typename T>
void unit_row(MatrixView<T> X, int64_t i, T* atom);

/// Eigen's own products single-threaded: the parallelism is ours, over fixed
/// blocks (Eigen's split depends on the thread count and would change the
/// rounding). Called before the stages' Eigen work.
void single_threaded_eigen();

}  // namespace dictlearn::detail
