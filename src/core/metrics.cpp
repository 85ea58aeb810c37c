#include "dictlearn/metrics.hpp"

#include <algorithm>
#include <cmath>

#include "core/check.hpp"

namespace dictlearn {

double fraction_unexplained(double squared_error, double spread) {
  if (spread > 0) return squared_error / spread;
  // No variance to explain: an exact reconstruction explains it all, any other
  // explains none (scikit-learn's r2_score reports R² = 1 or 0 here).
  return squared_error == 0 ? 0.0 : 1.0;
}

double lasso_objective(const Metrics& metrics, double alpha, double l2) {
  return 0.5 * metrics.residual + alpha * metrics.l1 + 0.5 * l2 * metrics.l2;
}

template <typename T>
MetricsAccumulator<T>::MetricsAccumulator(const Dictionary<T>& model,
                                          MatrixView<std::type_identity_t<T>> X)
    : n_atoms_(model.n_atoms()), dim_(X.cols()), usage_(model.n_atoms(), 0.0) {
  // The sums are taken on the data times a power of two that brings its
  // largest magnitude near 1: exact, so data near 1 gives the same bits as
  // unscaled sums, while squares of 1e-200 no longer underflow (nor 1e160's
  // overflow). Clamped so that the factor itself is a normal number.
  const double largest = X.size() > 0 ? X.cwiseAbs().maxCoeff() : T(0);
  const int exponent =
      largest > 0 && std::isfinite(largest) ? std::clamp(std::ilogb(largest), -1000, 1000) : 0;
  unit_ = std::ldexp(1.0, exponent);
  inverse_ = std::ldexp(1.0, -exponent);
  mean_ = (X.template cast<double>() * inverse_).colwise().mean().transpose();
  for (Eigen::Index j = 0; j < X.cols(); ++j) {
    // A constant column's mean is its value exactly (a sum divided by n need
    // not be), so data without variance has spread 0.
    const T low = X.col(j).minCoeff();
    if (low == X.col(j).maxCoeff()) mean_[j] = static_cast<double>(low) * inverse_;
  }
  if (model.has_decoder_bias()) bias_ = model.decoder_bias.template cast<double>() * inverse_;
}

template <typename T>
void MetricsAccumulator<T>::add(MatrixView<std::type_identity_t<T>> X,
                                MatrixView<std::type_identity_t<T>> codes,
                                MatrixView<std::type_identity_t<T>> out) {
  DICTLEARN_CHECK(X.cols() == dim_ && out.cols() == dim_ && codes.cols() == n_atoms_ &&
                      codes.rows() == X.rows() && out.rows() == X.rows(),
                  "metrics: a block of {} x {} data with {} x {} codes and {} x {} "
                  "reconstructions; expected dim {} and {} atoms",
                  X.rows(), X.cols(), codes.rows(), codes.cols(), out.rows(), out.cols(), dim_,
                  n_atoms_);
  // One running sum per quantity, row after row: the blocks change nothing.
  // Rows through pointers: the views' strides are known only at run time.
  for (Eigen::Index i = 0; i < X.rows(); ++i) {
    const T* x_row = X.data() + i * X.outerStride();
    const T* out_row = out.data() + i * out.outerStride();
    for (Eigen::Index j = 0; j < X.cols(); ++j) {
      const double x = static_cast<double>(x_row[j]) * inverse_;
      const double e = static_cast<double>(out_row[j]) * inverse_ - x;
      error_ += e * e;
      spread_ += (x - mean_[j]) * (x - mean_[j]);
      const double coded = bias_.size() > 0 ? x - bias_[j] : x;
      energy_ += coded * coded;
    }
  }
  const double threshold = CodeStats{}.threshold;
  for (Eigen::Index i = 0; i < codes.rows(); ++i) {
    const T* code_row = codes.data() + i * codes.outerStride();
    double row_max = 0;
    int64_t row_nonzero = 0;
    for (Eigen::Index k = 0; k < codes.cols(); ++k) {
      if (code_row[k] != T(0)) {
        usage_[k] += 1;
        nonzero_ += 1;
        ++row_nonzero;
      }
      // As code_stats() takes them.
      const double value = std::abs(static_cast<double>(code_row[k]));
      below_ += value < threshold;
      zero_ += value == 0;
      row_max = std::max(row_max, value);
      l1_ += value;
      // Codes scale with the data (for unit atoms): squared at its scale.
      l2_ += (value * inverse_) * (value * inverse_);
    }
    max_sum_ += row_max;
    max_l0_ = std::max(max_l0_, row_nonzero);
  }
  rows_ += X.rows();
}

template <typename T>
Metrics MetricsAccumulator<T>::result() const {
  Metrics metrics;
  const double n = static_cast<double>(rows_);
  metrics.mse = error_ / (n * static_cast<double>(dim_)) * unit_ * unit_;
  metrics.fvu = fraction_unexplained(error_, spread_);
  metrics.usage = usage_;
  int dead = 0;
  for (double& usage : metrics.usage) {
    dead += usage == 0;
    usage /= n;
  }
  metrics.l0 = nonzero_ / n;
  metrics.residual = error_ / n * unit_ * unit_;
  metrics.relative_residual = fraction_unexplained(error_, energy_);
  metrics.l1 = l1_ / n;
  metrics.l2 = l2_ / n * unit_ * unit_;
  metrics.max_l0 = max_l0_;
  metrics.dead_fraction = static_cast<double>(dead) / n_atoms_;
  if (rows_ > 0 && n_atoms_ > 0) {
    const double entries = n * static_cast<double>(n_atoms_);
    metrics.codes.fraction_below = static_cast<double>(below_) / entries;
    metrics.codes.fraction_zero = static_cast<double>(zero_) / entries;
    metrics.codes.mean_max = max_sum_ / n;
  }
  return metrics;
}

template <typename T>
void MetricsAccumulator<T>::add_encoded(const Model<T>& model,
                                        MatrixView<std::type_identity_t<T>> X_rows) {
  const Matrix<T> codes = encode(model, X_rows);
  Matrix<T> out(X_rows.rows(), X_rows.cols());
  out.noalias() = codes * model.dictionary;
  if (model.decoder_bias.size() > 0) out.rowwise() += model.decoder_bias.transpose();
  add(X_rows, codes, out);
}

template <typename T>
Metrics evaluate(const Model<T>& model, MatrixView<std::type_identity_t<T>> X) {
  MetricsAccumulator<T> sums(model, X);
  sums.add_encoded(model, X);
  return sums.result();
}

template class MetricsAccumulator<float>;
template class MetricsAccumulator<double>;
template Metrics evaluate<float>(const Model<float>&, MatrixView<float>);
template Metrics evaluate<double>(const Model<double>&, MatrixView<double>);

}  // namespace dictlearn
