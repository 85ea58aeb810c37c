// K-SVD's dictionary stage, exact and approximate (ksvd.hpp).
#include "learners/batch/ksvd.hpp"

#include <Eigen/Eigenvalues>
#include <cmath>
#include <vector>

#include "kernels/gemm.hpp"
#include "learners/batch/codes.hpp"

namespace dictlearn::detail {
namespace {

using MatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using VectorD = Eigen::VectorXd;

/// The first right singular vector of F (m x d): the top eigenvector of the
/// Gram matrix of F's smaller side (FᵀF, or F Fᵀ mapped back by Fᵀ), so the
/// cost is m·min(m, d)·max(m, d) plus an eigenproblem of size min(m, d).
/// A zero vector when F is zero.
VectorD first_right_singular_vector(const MatrixD& F) {
  const int64_t m = F.rows(), d = F.cols();
  if (m >= d) {
    MatrixD gram(d, d);
    gemm(true, false, d, d, m, F.data(), d, F.data(), d, 0.0, gram.data(), d);
    const Eigen::SelfAdjointEigenSolver<MatrixD> solver(gram);
    if (solver.eigenvalues()(d - 1) <= 0) return VectorD::Zero(d);
    return solver.eigenvectors().col(d - 1);
  }
  MatrixD gram(m, m);
  gemm(false, true, m, m, d, F.data(), d, F.data(), d, 0.0, gram.data(), m);
  const Eigen::SelfAdjointEigenSolver<MatrixD> solver(gram);
  if (solver.eigenvalues()(m - 1) <= 0) return VectorD::Zero(d);
  VectorD v = F.transpose() * solver.eigenvectors().col(m - 1);
  const double norm = v.norm();
  return norm > 0 ? VectorD(v / norm) : VectorD::Zero(d);
}

/// ‖E_i‖² per signal, or −1 for a zero signal (never an atom).
template <typename T>
void squared_errors(MatrixView<T> X, const Matrix<T>& E, std::vector<double>& errors) {
  errors.resize(E.rows());
  for (int64_t i = 0; i < E.rows(); ++i) {
    errors[i] = X.row(i).template cast<double>().squaredNorm() > 0
                    ? E.row(i).template cast<double>().squaredNorm()
                    : -1.0;
  }
}

/// Replaces unused atom k by the signal worst represented now (largest
/// ‖E_i‖² in `errors`, kept current by the sweep; positive; not taken
/// before), scaled to unit norm.
template <typename T>
bool replace_unused(MatrixView<T> X, Matrix<T>& D, const std::vector<double>& errors, int64_t k,
                    std::vector<char>& taken) {
  int64_t best = -1;
  double worst = 0;
  for (int64_t i = 0; i < static_cast<int64_t>(errors.size()); ++i) {
    if (!taken[i] && errors[i] > worst) {
      worst = errors[i];
      best = i;
    }
  }
  if (best < 0) return false;  // every signal is represented exactly: the atom stays
  taken[best] = 1;
  unit_row<T>(X, best, D.data() + k * D.cols());
  return true;
}

}  // namespace

template <typename T>
int64_t ksvd_stage(MatrixView<T> X, Matrix<T>& D, Matrix<T>& R, Matrix<T>& E, bool approximate,
                   std::vector<char>& taken, std::vector<char>& replaced_atoms) {
  single_threaded_eigen();
  const int64_t n_atoms = D.rows(), d = D.cols();
  const Supports supports = atom_supports(R);
  taken.resize(X.rows(), 0);
  replaced_atoms.assign(n_atoms, 0);
  int64_t replaced = 0;
  MatrixD F;
  VectorD g, atom(d), v(d);
  // The signals' current ‖E_i‖², made at the first unused atom and kept
  // current after each atom's update (O(|S|·dim), as the update itself).
  std::vector<double> errors;
  for (int64_t k = 0; k < n_atoms; ++k) {
    const int64_t m = supports.size(k);
    const int64_t* rows = supports.rows.data() + supports.offsets[k];
    if (m == 0) {
      if (errors.empty()) squared_errors<T>(X, E, errors);
      replaced_atoms[k] = replace_unused<T>(X, D, errors, k, taken);
      replaced += replaced_atoms[k];
      continue;
    }
    atom = D.row(k).template cast<double>().transpose();
    g.resize(m);
    for (int64_t s = 0; s < m; ++s) g[s] = static_cast<double>(R(rows[s], k));
    // E_k's rows are F_s = E_i + r_ik d_k: formed for the exact update, read
    // through E and the rank-one term for the approximate one.
    if (!approximate) {
      F.resize(m, d);
      for (int64_t s = 0; s < m; ++s)
        F.row(s) = E.row(rows[s]).template cast<double>() + g[s] * atom.transpose();
      v = first_right_singular_vector(F);
    } else {
      // One power step from the old codes g: v = E_kᵀ g / ‖E_kᵀ g‖.
      v = atom * g.squaredNorm();
      for (int64_t s = 0; s < m; ++s) v += g[s] * E.row(rows[s]).template cast<double>();
      const double norm = v.norm();
      if (norm > 0) v /= norm;
    }
    if (v.squaredNorm() == 0) {
      // E_k is zero (or orthogonal to the old codes): the atom keeps its
      // direction at unit norm and the codes become E_k's projection on it.
      const double norm = atom.norm();
      if (norm == 0) continue;
      v = atom / norm;
    }
    if (v.dot(atom) < 0) v = -v;
    // r_k = E_k v, and E_S ← E_k − r_k vᵀ.
    for (int64_t s = 0; s < m; ++s) {
      const int64_t i = rows[s];
      const double old = g[s];
      double code;
      if (!approximate) {
        code = F.row(s).dot(v);
        E.row(i) = (F.row(s) - code * v.transpose()).template cast<T>();
      } else {
        const VectorD e = E.row(i).template cast<double>().transpose();
        code = e.dot(v) + old * atom.dot(v);
        E.row(i) = (e + old * atom - code * v).transpose().template cast<T>();
      }
      R(i, k) = static_cast<T>(code);
      if (!errors.empty() && errors[i] >= 0)
        errors[i] = E.row(i).template cast<double>().squaredNorm();
    }
    D.row(k) = v.transpose().template cast<T>();
  }
  return replaced;
}

#define DICTLEARN_INSTANTIATE(T)                                                          \
  template int64_t ksvd_stage<T>(MatrixView<T>, Matrix<T>&, Matrix<T>&, Matrix<T>&, bool, \
                                 std::vector<char>&, std::vector<char>&);
DICTLEARN_INSTANTIATE(float)
DICTLEARN_INSTANTIATE(double)
#undef DICTLEARN_INSTANTIATE

}  // namespace dictlearn::detail
