// The batch alternation's dictionary stage (alternating.hpp).
#include "learners/batch/alternating.hpp"

#include <algorithm>
#include <cmath>

#include "learners/batch/codes.hpp"
#include "learners/random.hpp"

namespace dictlearn::detail {

double standard_normal(std::mt19937_64& random) {
  const double u1 = 1.0 - static_cast<double>(random() >> 11) * 0x1.0p-53;  // (0, 1]
  const double u2 = static_cast<double>(random() >> 11) * 0x1.0p-53;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

template <typename T>
int64_t bcd_stage(MatrixView<T> X, Matrix<T>& D, Matrix<T>& R, const BcdOptions& options,
                  std::mt19937_64& random, int threads) {
  using MatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  single_threaded_eigen();
  const int64_t n_atoms = D.rows(), d = D.cols();
  MatrixD A, B;
  code_statistics<T>(X, R, A, B, threads);
  MatrixD atoms = D.template cast<double>();
  int64_t resampled = 0;
  for (int64_t k = 0; k < n_atoms; ++k) {
    // 1e-6: scikit-learn's (and SPAMS's) threshold for an unused atom.
    if (A(k, k) > 1e-6) {
      atoms.row(k) += (B.row(k) - A.row(k) * atoms) / A(k, k);
    } else if (options.resample) {
      const int64_t i = static_cast<int64_t>(below(random, static_cast<uint64_t>(X.rows())));
      Eigen::RowVectorXd sample = X.row(i).template cast<double>();
      // Noise keeps the coding well conditioned; 1% of the sample's spread.
      const double spread = std::sqrt((sample.array() - sample.mean()).square().mean());
      const double level = 0.01 * (spread > 0 ? spread : 1.0);
      for (int64_t j = 0; j < d; ++j) sample[j] += level * standard_normal(random);
      atoms.row(k) = sample;
      R.col(k).setZero();
      ++resampled;
    }
    if (options.positive) atoms.row(k) = atoms.row(k).cwiseMax(0.0);
    const double norm = atoms.row(k).norm();
    if (options.unit_norm ? norm > 0 : norm > 1) atoms.row(k) /= norm;
  }
  D = atoms.template cast<T>();
  return resampled;
}

template int64_t bcd_stage<float>(MatrixView<float>, Matrix<float>&, Matrix<float>&,
                                  const BcdOptions&, std::mt19937_64&, int);
template int64_t bcd_stage<double>(MatrixView<double>, Matrix<double>&, Matrix<double>&,
                                   const BcdOptions&, std::mt19937_64&, int);

}  // namespace dictlearn::detail
