#include "dictlearn/metrics.hpp"

#include <algorithm>
#include <cmath>

namespace dictlearn {

double fraction_unexplained(double squared_error, double spread) {
  if (spread > 0) return squared_error / spread;
  // No variance to explain: an exact reconstruction explains it all, any other
  // explains none (scikit-learn's r2_score reports R² = 1 or 0 here).
  return squared_error == 0 ? 0.0 : 1.0;
}

template <typename T>
Metrics evaluate(const Model<T>& model, MatrixView<std::type_identity_t<T>> X) {
  const Matrix<T> codes = encode(model, X);
  Matrix<T> out(X.rows(), X.cols());
  out.noalias() = codes * model.dictionary;
  if (model.decoder_bias.size() > 0) out.rowwise() += model.decoder_bias.transpose();

  Metrics metrics;
  // The sums are taken on the data times a power of two that brings its
  // largest magnitude near 1: exact, so data near 1 gives the same bits as
  // unscaled sums, while squares of 1e-200 no longer underflow (nor 1e160's
  // overflow). Clamped so that the factor itself is a normal number.
  const double largest = X.size() > 0 ? X.cwiseAbs().maxCoeff() : T(0);
  const int exponent =
      largest > 0 && std::isfinite(largest) ? std::clamp(std::ilogb(largest), -1000, 1000) : 0;
  const double unit = std::ldexp(1.0, exponent), inverse = std::ldexp(1.0, -exponent);
  Vector<double> mean = (X.template cast<double>() * inverse).colwise().mean().transpose();
  for (Eigen::Index j = 0; j < X.cols(); ++j) {
    // A constant column's mean is its value exactly (a sum divided by n need
    // not be), so data without variance has spread 0.
    const T low = X.col(j).minCoeff();
    if (low == X.col(j).maxCoeff()) mean[j] = static_cast<double>(low) * inverse;
  }
  double error = 0, spread = 0;
  for (Eigen::Index i = 0; i < X.rows(); ++i) {
    for (Eigen::Index j = 0; j < X.cols(); ++j) {
      const double x = static_cast<double>(X(i, j)) * inverse;
      const double e = static_cast<double>(out(i, j)) * inverse - x;
      error += e * e;
      spread += (x - mean[j]) * (x - mean[j]);
    }
  }
  const double n = static_cast<double>(X.rows());
  metrics.mse = error / (n * static_cast<double>(X.cols())) * unit * unit;
  metrics.fvu = fraction_unexplained(error, spread);
  metrics.usage.assign(model.n_atoms(), 0.0);
  double nonzero = 0;
  for (Eigen::Index i = 0; i < codes.rows(); ++i) {
    for (Eigen::Index k = 0; k < codes.cols(); ++k) {
      if (codes(i, k) != T(0)) {
        metrics.usage[k] += 1;
        nonzero += 1;
      }
    }
  }
  int dead = 0;
  for (double& usage : metrics.usage) {
    dead += usage == 0;
    usage /= n;
  }
  metrics.l0 = nonzero / n;
  metrics.dead_fraction = static_cast<double>(dead) / model.n_atoms();
  metrics.codes = code_stats(codes);
  return metrics;
}

template Metrics evaluate<float>(const Model<float>&, MatrixView<float>);
template Metrics evaluate<double>(const Model<double>&, MatrixView<double>);

}  // namespace dictlearn
