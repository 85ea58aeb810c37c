#include "dictlearn/model.hpp"

#include <algorithm>
#include <cmath>

#include "check.hpp"
#include "finite.hpp"
#include "random.hpp"

namespace dictlearn {

template <typename T>
Model<T> init_model(int n_atoms, int dim, uint64_t seed) {
  DICTLEARN_CHECK(n_atoms >= 1, "--atoms: must be >= 1, got {}", n_atoms);
  DICTLEARN_CHECK(dim >= 1, "dim: must be >= 1, got {}", dim);
  Random random(seed);
  Model<T> model;
  model.dictionary.resize(n_atoms, dim);
  model.encoder_weight.resize(n_atoms, dim);
  model.encoder_bias.resize(n_atoms);
  for (Eigen::Index i = 0; i < model.dictionary.size(); ++i) {
    model.dictionary.data()[i] = random.uniform<T>();
  }
  // nn.Linear: kaiming_uniform_(a=√5) on the weight and U(±1/√fan_in) on the
  // bias both reduce to U(−1/√dim, 1/√dim).
  const T bound = static_cast<T>(1.0 / std::sqrt(static_cast<double>(dim)));
  for (Eigen::Index i = 0; i < model.encoder_weight.size(); ++i) {
    model.encoder_weight.data()[i] = random.uniform<T>(-bound, bound);
  }
  for (Eigen::Index i = 0; i < model.encoder_bias.size(); ++i) {
    model.encoder_bias[i] = random.uniform<T>(-bound, bound);
  }
  return model;
}

template <typename T>
void validate_model(const Model<T>& model, const std::string& what) {
  DICTLEARN_CHECK(model.dictionary.rows() >= 1 && model.dictionary.cols() >= 1,
                  "{}: dictionary is empty ({} x {})", what, model.dictionary.rows(),
                  model.dictionary.cols());
  DICTLEARN_CHECK(model.encoder_weight.rows() == model.dictionary.rows() &&
                      model.encoder_weight.cols() == model.dictionary.cols(),
                  "{}: attributor.0.weight is {} x {} but dictionary is {} x {}", what,
                  model.encoder_weight.rows(), model.encoder_weight.cols(),
                  model.dictionary.rows(), model.dictionary.cols());
  DICTLEARN_CHECK(model.encoder_bias.size() == model.dictionary.rows(),
                  "{}: attributor.0.bias has {} entries but the dictionary has {} atoms", what,
                  model.encoder_bias.size(), model.dictionary.rows());
  DICTLEARN_CHECK(detail::all_finite(model.dictionary.data(), model.dictionary.size()), "{}: dictionary holds non-finite values", what);
  DICTLEARN_CHECK(detail::all_finite(model.encoder_weight.data(), model.encoder_weight.size()),
                  "{}: attributor.0.weight holds non-finite values", what);
  DICTLEARN_CHECK(detail::all_finite(model.encoder_bias.data(), model.encoder_bias.size()), "{}: attributor.0.bias holds non-finite values",
                  what);
  DICTLEARN_CHECK(model.decoder_bias.size() == 0 || model.decoder_bias.size() == model.dictionary.cols(),
                  "{}: decoder_bias has {} entries but the atoms have dimension {}", what,
                  model.decoder_bias.size(), model.dictionary.cols());
  DICTLEARN_CHECK(detail::all_finite(model.decoder_bias.data(), model.decoder_bias.size()), "{}: decoder_bias holds non-finite values", what);
  validate(model.encoder, model.n_atoms());
}

template <typename T>
void check_data_matches(const Model<T>& model, const Matrix<T>& X, const std::string& what) {
  DICTLEARN_CHECK(X.rows() >= 1, "{}: no data (0 rows)", what);
  DICTLEARN_CHECK(X.cols() == model.dim(),
                  "{}: data has {} columns but the model's atoms have dimension {}", what,
                  X.cols(), model.dim());
}

template <typename T>
Matrix<T> pre_activations(const Model<T>& model, const Matrix<T>& X) {
  check_data_matches(model, X, "data");
  Matrix<T> z(X.rows(), model.n_atoms());
  if (model.decoder_bias.size() > 0) {
    z.noalias() = (X.rowwise() - model.decoder_bias.transpose()) * model.encoder_weight.transpose();
  } else {
    z.noalias() = X * model.encoder_weight.transpose();
  }
  z.rowwise() += model.encoder_bias.transpose();
  return z;
}

template <typename T>
Matrix<T> encode(const Model<T>& model, const Matrix<T>& X) {
  Matrix<T> codes = pre_activations(model, X);
  activate(model.encoder, codes);
  return codes;
}

template <typename T>
Matrix<T> reconstruct(const Model<T>& model, const Matrix<T>& X) {
  Matrix<T> codes = encode(model, X);
  Matrix<T> out(X.rows(), X.cols());
  out.noalias() = codes * model.dictionary;
  if (model.decoder_bias.size() > 0) out.rowwise() += model.decoder_bias.transpose();
  return out;
}

template <typename T>
double reconstruction_loss(const Model<T>& model, const Matrix<T>& X) {
  const Matrix<T> out = reconstruct(model, X);
  double sum = 0;
  for (Eigen::Index i = 0; i < out.size(); ++i) {
    const double e = static_cast<double>(out.data()[i]) - static_cast<double>(X.data()[i]);
    sum += e * e;
  }
  return sum / static_cast<double>(out.size());
}

template <typename T>
void scale_model(Model<T>& model, double factor) {
  DICTLEARN_CHECK(factor > 0 && std::isfinite(factor), "scale: must be > 0 and finite, got {}", factor);
  // In double, so factors like 1e30 do not overflow float on the way.
  model.dictionary = (model.dictionary.template cast<double>() * factor).template cast<T>();
  model.encoder_weight = (model.encoder_weight.template cast<double>() / factor).template cast<T>();
  if (model.decoder_bias.size() > 0) {
    model.decoder_bias = (model.decoder_bias.template cast<double>() * factor).template cast<T>();
  }
}

template <typename T>
CodeStats code_stats(const Matrix<T>& codes, double threshold) {
  CodeStats stats;
  stats.threshold = threshold;
  if (codes.size() == 0) return stats;
  int64_t below = 0, zero = 0;
  double max_sum = 0;
  for (Eigen::Index i = 0; i < codes.rows(); ++i) {
    double row_max = 0;
    for (Eigen::Index k = 0; k < codes.cols(); ++k) {
      const double value = std::abs(static_cast<double>(codes(i, k)));
      below += value < threshold;
      zero += value == 0;
      row_max = std::max(row_max, value);
    }
    max_sum += row_max;
  }
  const double entries = static_cast<double>(codes.size());
  stats.fraction_below = static_cast<double>(below) / entries;
  stats.fraction_zero = static_cast<double>(zero) / entries;
  stats.mean_max = max_sum / static_cast<double>(codes.rows());
  return stats;
}

#define DICTLEARN_INSTANTIATE(T)                                                      \
  template Model<T> init_model<T>(int, int, uint64_t);                                \
  template void validate_model<T>(const Model<T>&, const std::string&);               \
  template void check_data_matches<T>(const Model<T>&, const Matrix<T>&,              \
                                      const std::string&);                            \
  template Matrix<T> pre_activations<T>(const Model<T>&, const Matrix<T>&);           \
  template Matrix<T> encode<T>(const Model<T>&, const Matrix<T>&);                    \
  template Matrix<T> reconstruct<T>(const Model<T>&, const Matrix<T>&);               \
  template double reconstruction_loss<T>(const Model<T>&, const Matrix<T>&);          \
  template CodeStats code_stats<T>(const Matrix<T>&, double);                        \
  template void scale_model<T>(Model<T>&, double);
DICTLEARN_INSTANTIATE(float)
DICTLEARN_INSTANTIATE(double)

}  // namespace dictlearn
