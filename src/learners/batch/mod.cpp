// MOD's dictionary stage (mod.hpp).
#include "learners/batch/mod.hpp"

#include <Eigen/Eigenvalues>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/gemm.hpp"
#include "learners/batch/codes.hpp"

namespace dictlearn::detail {

template <typename T>
int64_t mod_stage(MatrixView<T> X, Matrix<T>& D, Matrix<T>& R, const Matrix<T>& E, int threads,
                  std::vector<char>& taken, std::vector<char>& replaced) {
  using MatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  single_threaded_eigen();
  const int64_t n_atoms = D.rows(), d = D.cols();
  MatrixD A, B;
  code_statistics<T>(X, R, A, B, threads);
  std::vector<int64_t> used, unused;
  for (int64_t k = 0; k < n_atoms; ++k) (A(k, k) > 0 ? used : unused).push_back(k);

  const int64_t m = static_cast<int64_t>(used.size());
  if (m > 0) {
    MatrixD A_used(m, m), B_used(m, d);
    for (int64_t a = 0; a < m; ++a) {
      B_used.row(a) = B.row(used[a]);
      for (int64_t b = 0; b < m; ++b) A_used(a, b) = A(used[a], used[b]);
    }
    // The pseudo-inverse by A's eigendecomposition A = V Λ Vᵀ: D = V Λ⁺ Vᵀ B,
    // the least-squares solution of least norm when the codes are dependent.
    const Eigen::SelfAdjointEigenSolver<MatrixD> solver(A_used);
    const MatrixD V = solver.eigenvectors();  // column-major into row-major: gemm reads rows
    const Eigen::VectorXd& lambda = solver.eigenvalues();
    const double cutoff = std::max(lambda(m - 1), 0.0) * static_cast<double>(m) *
                          std::numeric_limits<double>::epsilon();
    MatrixD C(m, d), solution(m, d);
    gemm(true, false, m, d, m, V.data(), m, B_used.data(), d, 0.0, C.data(), d);
    for (int64_t a = 0; a < m; ++a) C.row(a) *= lambda(a) > cutoff ? 1.0 / lambda(a) : 0.0;
    gemm(false, false, m, d, m, V.data(), m, C.data(), d, 0.0, solution.data(), d);
    for (int64_t a = 0; a < m; ++a) {
      const double norm = solution.row(a).norm();
      // Unit atoms, the codes rescaled so that R D stays the least-squares product.
      const double scale = norm > 0 ? norm : 1.0;
      D.row(used[a]) = (solution.row(a) / scale).template cast<T>();
      if (norm > 0) R.col(used[a]) *= static_cast<T>(norm);
    }
  }
  const std::vector<int64_t> worst = worst_signals<T>(X, E, static_cast<int64_t>(unused.size()));
  taken.assign(X.rows(), 0);
  replaced.assign(n_atoms, 0);
  for (size_t u = 0; u < worst.size(); ++u) {
    unit_row<T>(X, worst[u], D.data() + unused[u] * d);
    taken[worst[u]] = 1;
    replaced[unused[u]] = 1;
  }
  return static_cast<int64_t>(worst.size());
}

template int64_t mod_stage<float>(MatrixView<float>, Matrix<float>&, Matrix<float>&,
                                  const Matrix<float>&, int, std::vector<char>&,
                                  std::vector<char>&);
template int64_t mod_stage<double>(MatrixView<double>, Matrix<double>&, Matrix<double>&,
                                   const Matrix<double>&, int, std::vector<char>&,
                                   std::vector<char>&);

}  // namespace dictlearn::detail
