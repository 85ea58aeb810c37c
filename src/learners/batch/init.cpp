// The classical learners' first dictionary (learning.hpp: initial_atoms).
//
// samples: distinct nonzero rows of X in a random order (a Fisher-Yates
// shuffle drawn lazily from std::mt19937_64(seed), so only the rows looked at
// cost memory), each scaled to unit norm; a row whose unit atom equals one
// taken before is passed over, so no two atoms are the same.
// svd: scikit-learn's dict_learning start (scipy.linalg.svd of X, svd_flip's
// signs from U, atoms S_c·v_c, zero rows past min(N, dim)), then into the unit
// ball ‖d‖ ≤ 1. The SVD comes from a QR of X taken a block of rows at a time
// (R of [R; X_block] in turn; memory O(dim² + block·dim), not N·dim) and a
// Jacobi SVD of the dim x dim factor: X = QR gives X's S and V. The sign of
// component c is that of the entry of largest |X v_c| (u_c = X v_c / S_c; the
// first on ties, as numpy's argmax). Cost: 2·N·dim² (QR) + 2·N·dim·n_atoms
// (signs) + O(dim³) flops, all in double.
#include <Eigen/QR>
#include <Eigen/SVD>
#include <cmath>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "core/check.hpp"
#include "dictlearn/io.hpp"
#include "dictlearn/learning.hpp"
#include "learners/batch/codes.hpp"
#include "learners/random.hpp"

namespace dictlearn {
namespace {

using MatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Rows per block of the QR.
constexpr int64_t kQrBlock = 256;

template <typename T>
Matrix<T> sample_atoms(MatrixView<T> X, int n_atoms, uint64_t seed) {
  const int64_t n = X.rows(), d = X.cols();
  std::mt19937_64 random(seed);
  std::unordered_map<int64_t, int64_t> moved;  // the shuffle's swapped positions
  auto at = [&](int64_t position) {
    const auto it = moved.find(position);
    return it == moved.end() ? position : it->second;
  };
  std::unordered_set<std::string> seen;
  Matrix<T> atoms(n_atoms, d);
  int taken = 0;
  for (int64_t t = 0; t < n && taken < n_atoms; ++t) {
    const int64_t j = t + static_cast<int64_t>(detail::below(random, static_cast<uint64_t>(n - t)));
    const int64_t row = at(j);
    moved[j] = at(t);
    if (X.row(row).template cast<double>().squaredNorm() == 0) continue;
    T* atom = atoms.data() + taken * d;
    detail::unit_row<T>(X, row, atom);
    if (!seen.emplace(reinterpret_cast<const char*>(atom), d * sizeof(T)).second) continue;
    ++taken;
  }
  DICTLEARN_CHECK(taken == n_atoms,
                  "--atoms {}: the data has only {} distinct nonzero rows (of {}) to start the "
                  "atoms from; ask for fewer atoms or use --init-atoms svd",
                  n_atoms, taken, n);
  return atoms;
}

template <typename T>
Matrix<T> svd_atoms(MatrixView<T> X, int n_atoms) {
  detail::single_threaded_eigen();
  const int64_t n = X.rows(), d = X.cols();
  MatrixD factor(0, d);
  for (int64_t begin = 0; begin < n; begin += kQrBlock) {
    const int64_t rows = std::min(kQrBlock, n - begin);
    MatrixD stacked(factor.rows() + rows, d);
    stacked.topRows(factor.rows()) = factor;
    stacked.bottomRows(rows) = X.middleRows(begin, rows).template cast<double>();
    const Eigen::HouseholderQR<MatrixD> qr(stacked);
    const int64_t k = std::min<int64_t>(stacked.rows(), d);
    factor = qr.matrixQR().topRows(k).template triangularView<Eigen::Upper>();
  }
  const Eigen::JacobiSVD<Eigen::MatrixXd> svd(Eigen::MatrixXd(factor), Eigen::ComputeThinV);
  const int64_t rank = std::min<int64_t>(n, d);  // scikit-learn's len(dictionary)
  const int64_t components = std::min<int64_t>(rank, n_atoms);
  const Eigen::MatrixXd V = svd.matrixV().leftCols(components);
  // svd_flip(u_based_decision=True): the sign of u_c's entry of largest magnitude.
  std::vector<double> largest(components, -1.0), sign(components, 1.0);
  for (int64_t i = 0; i < n; ++i) {
    const Eigen::RowVectorXd x = X.row(i).template cast<double>();
    for (int64_t c = 0; c < components; ++c) {
      const double u = x.dot(V.col(c));
      if (std::abs(u) > largest[c]) {
        largest[c] = std::abs(u);
        sign[c] = u < 0 ? -1.0 : 1.0;
      }
    }
  }
  Matrix<T> atoms = Matrix<T>::Zero(n_atoms, d);
  for (int64_t c = 0; c < components; ++c) {
    Eigen::RowVectorXd atom = sign[c] * svd.singularValues()(c) * V.col(c).transpose();
    atom /= std::max(atom.norm(), 1.0);
    atoms.row(c) = atom.cast<T>();
  }
  return atoms;
}

}  // namespace

template <typename T>
Matrix<T> initial_atoms(MatrixView<std::type_identity_t<T>> X, int n_atoms, AtomInit init,
                        uint64_t seed) {
  DICTLEARN_CHECK(n_atoms >= 1, "--atoms: must be >= 1, got {}", n_atoms);
  DICTLEARN_CHECK(X.rows() >= 1 && X.cols() >= 1, "data: no data ({} x {})", X.rows(), X.cols());
  check_finite(X, "data");
  switch (init) {
    case AtomInit::samples:
      return sample_atoms<T>(X, n_atoms, seed);
    case AtomInit::svd:
      return svd_atoms<T>(X, n_atoms);
  }
  DICTLEARN_FAIL("--init-atoms: unknown initialization number {}", static_cast<int>(init));
}

template Matrix<float> initial_atoms<float>(MatrixView<float>, int, AtomInit, uint64_t);
template Matrix<double> initial_atoms<double>(MatrixView<double>, int, AtomInit, uint64_t);

}  // namespace dictlearn
