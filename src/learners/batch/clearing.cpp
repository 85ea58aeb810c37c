// ksvdbox's clearing of atoms (clearing.hpp).
#include "learners/batch/clearing.hpp"

#include <algorithm>
#include <cmath>

#include "learners/batch/codes.hpp"

namespace dictlearn::detail {

template <typename T>
int64_t clear_atoms(MatrixView<T> X, Matrix<T>& D, Matrix<T>& R, const Matrix<T>& E,
                    std::vector<char>& taken, const std::vector<char>& replaced_atoms) {
  const int64_t n_atoms = D.rows();
  const Supports supports = atom_supports(R);
  std::vector<std::pair<double, int64_t>> worst;  // (−‖E_i‖², i), sorted at the first use
  size_t next = 0;
  int64_t replaced = 0;
  for (int64_t k = 0; k < n_atoms; ++k) {
    if (replaced_atoms[k]) continue;
    bool clear = supports.size(k) <= kClearUses;
    const Eigen::RowVectorXd atom = D.row(k).template cast<double>();
    const double norm = atom.norm();
    for (int64_t j = 0; j < n_atoms && !clear; ++j) {
      if (j == k) continue;
      const Eigen::RowVectorXd other = D.row(j).template cast<double>();
      const double scale = norm * other.norm();
      clear = scale > 0 && std::abs(atom.dot(other)) > kClearCoherence * scale;
    }
    if (!clear) continue;
    if (next == 0 && worst.empty()) {
      for (int64_t i = 0; i < E.rows(); ++i) {
        const double error = E.row(i).template cast<double>().squaredNorm();
        if (!taken[i] && error > 0 && X.row(i).template cast<double>().squaredNorm() > 0)
          worst.emplace_back(-error, i);
      }
      std::sort(worst.begin(), worst.end());
    }
    if (next >= worst.size()) break;  // no imperfectly represented signal left
    const int64_t i = worst[next++].second;
    taken[i] = 1;
    unit_row<T>(X, i, D.data() + k * D.cols());
    R.col(k).setZero();
    ++replaced;
  }
  return replaced;
}

template int64_t clear_atoms<float>(MatrixView<float>, Matrix<float>&, Matrix<float>&,
                                    const Matrix<float>&, std::vector<char>&,
                                    const std::vector<char>&);
template int64_t clear_atoms<double>(MatrixView<double>, Matrix<double>&, Matrix<double>&,
                                     const Matrix<double>&, std::vector<char>&,
                                     const std::vector<char>&);

}  // namespace dictlearn::detail
