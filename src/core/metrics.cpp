#include "dictlearn/metrics.hpp"

namespace dictlearn {

template <typename T>
Metrics evaluate(const Model<T>& model, MatrixView<std::type_identity_t<T>> X) {
  const Matrix<T> codes = encode(model, X);
  Matrix<T> out(X.rows(), X.cols());
  out.noalias() = codes * model.dictionary;
  if (model.decoder_bias.size() > 0) out.rowwise() += model.decoder_bias.transpose();

  Metrics metrics;
  const Vector<double> mean = X.template cast<double>().colwise().mean().transpose();
  double error = 0, spread = 0;
  for (Eigen::Index i = 0; i < X.rows(); ++i) {
    for (Eigen::Index j = 0; j < X.cols(); ++j) {
      const double x = static_cast<double>(X(i, j));
      const double e = static_cast<double>(out(i, j)) - x;
      error += e * e;
      spread += (x - mean[j]) * (x - mean[j]);
    }
  }
  const double n = static_cast<double>(X.rows());
  metrics.mse = error / (n * static_cast<double>(X.cols()));
  metrics.fvu = spread > 0 ? error / spread : 0.0;
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
