#include "dictlearn/model.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/blocks.hpp"
#include "core/check.hpp"
#include "core/contiguous.hpp"
#include "core/data_shape.hpp"
#include "core/finite.hpp"
#include "core/random.hpp"
#include "core/threads.hpp"
#include "encoders/encoder_rows.hpp"
#include "kernels/gemm.hpp"

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
  validate_dictionary(model, what);
  if (!model.has_encoder()) return;  // a classical learner's: codes come from a coder
  DICTLEARN_CHECK(model.encoder_weight.rows() == model.dictionary.rows() &&
                      model.encoder_weight.cols() == model.dictionary.cols(),
                  "{}: attributor.0.weight is {} x {} but dictionary is {} x {}", what,
                  model.encoder_weight.rows(), model.encoder_weight.cols(), model.dictionary.rows(),
                  model.dictionary.cols());
  DICTLEARN_CHECK(model.encoder_bias.size() == model.dictionary.rows(),
                  "{}: attributor.0.bias has {} entries but the dictionary has {} atoms", what,
                  model.encoder_bias.size(), model.dictionary.rows());
  auto finite = [](const auto& values) { return detail::all_finite(values.data(), values.size()); };
  DICTLEARN_CHECK(finite(model.encoder_weight), "{}: attributor.0.weight holds non-finite values",
                  what);
  DICTLEARN_CHECK(finite(model.encoder_bias), "{}: attributor.0.bias holds non-finite values",
                  what);
  // The model's own settings (a file's metadata keys), not flags.
  detail::check_encoder_options(model.encoder, model.n_atoms(), [&](const char* key) {
    return fmt::format("{}: metadata '{}'", what, key);
  });
}

template <typename T>
void check_data_matches(const Model<T>& model, MatrixView<std::type_identity_t<T>> X,
                        const std::string& what) {
  detail::check_data_shape(model.dim(), X.rows(), X.cols(), what);
}

void detail::check_data_shape(int dim, int64_t rows, int64_t cols, const std::string& what) {
  DICTLEARN_CHECK(rows >= 1, "{}: no data (0 rows)", what);
  DICTLEARN_CHECK(cols == dim, "{}: data has {} columns but the model's atoms have dimension {}",
                  what, cols, dim);
}

namespace {

/// The encoder's passes need W and b: a classical learner's model codes with a coder.
template <typename T>
void require_encoder(const Model<T>& model) {
  const auto method = model.metadata.find("train.method");
  DICTLEARN_CHECK(model.has_encoder(),
                  "the model has no encoder (its atoms were learned by {}): code with its coder, "
                  "encode(model, X, recorded_coding(model.metadata)), as `dictlearn encode` does",
                  method == model.metadata.end() ? std::string("a classical learner")
                                                 : "--method " + method->second);
}

/// Rows per block of the inference passes: fixed, so results do not depend
/// on the thread count.
constexpr int64_t kInferenceBlock = 256;

/// Runs body(begin, count, thread) over fixed blocks of `rows`, on up to
/// `threads` threads (one when the work, in flops, is small).
template <typename Body>
void for_blocks(int64_t rows, int threads, double work, Body body) {
  detail::for_row_blocks(rows, kInferenceBlock, threads, work, body);
}

/// z rows [begin, begin + count): b + (X − b_dec) Wᵀ, the training pass's
/// arrangement; `X` holds contiguous rows of dim() entries.
template <typename T>
void pre_activation_rows(const Model<T>& model, const T* X, int64_t begin, int64_t count, T* z,
                         std::vector<T>& centered) {
  const int K = model.n_atoms(), d = model.dim();
  const T* x = X + begin * d;
  if (model.decoder_bias.size() > 0) {
    centered.resize(count * d);
    for (int64_t i = 0; i < count; ++i) {
      for (int j = 0; j < d; ++j) centered[i * d + j] = x[i * d + j] - model.decoder_bias[j];
    }
    x = centered.data();
  }
  for (int64_t i = 0; i < count; ++i) {
    std::copy(model.encoder_bias.data(), model.encoder_bias.data() + K, z + i * K);
  }
  detail::gemm(false, true, count, K, d, x, d, model.encoder_weight.data(), d, T(1), z, K);
}

}  // namespace

template <typename T>
Matrix<T> pre_activations(const Model<T>& model, MatrixView<std::type_identity_t<T>> X,
                          int threads) {
  require_encoder(model);
  check_data_matches(model, X, "data");
  const detail::ContiguousRows<T> rows(X);
  Matrix<T> z(X.rows(), model.n_atoms());
  const double work = 2.0 * static_cast<double>(X.rows()) * model.dim() * model.n_atoms();
  std::vector<std::vector<T>> centered(resolve_threads(threads));
  for_blocks(X.rows(), threads, work, [&](int64_t begin, int64_t count, int thread) {
    pre_activation_rows(model, rows.data(), begin, count, z.data() + begin * model.n_atoms(),
                        centered[thread]);
  });
  return z;
}

template <typename T>
Matrix<T> encode(const Model<T>& model, MatrixView<std::type_identity_t<T>> X, int threads) {
  require_encoder(model);
  check_data_matches(model, X, "data");
  const detail::ContiguousRows<T> rows(X);
  const int K = model.n_atoms();
  Matrix<T> codes(X.rows(), K);
  const double work = 2.0 * static_cast<double>(X.rows()) * model.dim() * K;
  const int slots = resolve_threads(threads);
  std::vector<std::vector<T>> centered(slots);
  std::vector<detail::RowScratch<T>> scratch(slots);
  for_blocks(X.rows(), threads, work, [&](int64_t begin, int64_t count, int thread) {
    T* z = codes.data() + begin * K;
    pre_activation_rows(model, rows.data(), begin, count, z, centered[thread]);
    detail::activate_rows(model.encoder, z, count, K, scratch[thread]);
  });
  return codes;
}

template <typename T>
Matrix<T> reconstruct(const Model<T>& model, MatrixView<std::type_identity_t<T>> X, int threads) {
  require_encoder(model);
  const Matrix<T> codes = encode(model, X, threads);
  const int K = model.n_atoms(), d = model.dim();
  Matrix<T> out(X.rows(), d);
  const double work = 2.0 * static_cast<double>(X.rows()) * d * K;
  for_blocks(X.rows(), threads, work, [&](int64_t begin, int64_t count, int) {
    T* rows = out.data() + begin * d;
    if (model.decoder_bias.size() > 0) {
      for (int64_t i = 0; i < count; ++i) {
        std::copy(model.decoder_bias.data(), model.decoder_bias.data() + d, rows + i * d);
      }
    }
    detail::gemm(false, false, count, d, K, codes.data() + begin * K, K, model.dictionary.data(), d,
                 model.decoder_bias.size() > 0 ? T(1) : T(0), rows, d);
  });
  return out;
}

template <typename T>
double reconstruction_loss(const Model<T>& model, MatrixView<std::type_identity_t<T>> X,
                           int threads) {
  require_encoder(model);
  // Copied once here if strided; reconstruct() then reads the contiguous rows in place.
  const detail::ContiguousRows<T> rows(X);
  const Matrix<T> out = reconstruct(model, rows.matrix(), threads);
  const T* x = rows.data();
  const int64_t blocks = (X.rows() + kInferenceBlock - 1) / kInferenceBlock;
  std::vector<double> sums(blocks, 0.0);
  const int64_t d = X.cols();
  for_blocks(X.rows(), threads, 3.0 * static_cast<double>(X.size()),
             [&](int64_t begin, int64_t count, int) {
               double sum = 0;
               for (int64_t i = begin * d; i < (begin + count) * d; ++i) {
                 const double e = static_cast<double>(out.data()[i]) - static_cast<double>(x[i]);
                 sum += e * e;
               }
               sums[begin / kInferenceBlock] = sum;
             });
  double sum = 0;
  for (const double block : sums) sum += block;  // block order, whatever the thread count
  return sum / static_cast<double>(out.size());
}

template <typename T>
void scale_model(Model<T>& model, double factor) {
  DICTLEARN_CHECK(factor > 0 && std::isfinite(factor), "scale: must be > 0 and finite, got {}",
                  factor);
  // In double, so factors like 1e30 do not overflow float on the way.
  model.dictionary = (model.dictionary.template cast<double>() * factor).template cast<T>();
  model.encoder_weight = (model.encoder_weight.template cast<double>() / factor).template cast<T>();
  if (model.decoder_bias.size() > 0) {
    model.decoder_bias = (model.decoder_bias.template cast<double>() * factor).template cast<T>();
  }
}

namespace {

template <typename T>
CodeStats code_stats_of(MatrixView<T> codes, double threshold) {
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

}  // namespace

CodeStats code_stats(MatrixView<float> codes, double threshold) {
  return code_stats_of<float>(codes, threshold);
}

CodeStats code_stats(MatrixView<double> codes, double threshold) {
  return code_stats_of<double>(codes, threshold);
}

#define DICTLEARN_INSTANTIATE(T)                                                           \
  template Model<T> init_model<T>(int, int, uint64_t);                                     \
  template void validate_model<T>(const Model<T>&, const std::string&);                    \
  template void check_data_matches<T>(const Model<T>&, MatrixView<T>, const std::string&); \
  template Matrix<T> pre_activations<T>(const Model<T>&, MatrixView<T>, int);              \
  template Matrix<T> encode<T>(const Model<T>&, MatrixView<T>, int);                       \
  template Matrix<T> reconstruct<T>(const Model<T>&, MatrixView<T>, int);                  \
  template double reconstruction_loss<T>(const Model<T>&, MatrixView<T>, int);             \
  template void scale_model<T>(Model<T>&, double);
DICTLEARN_INSTANTIATE(float)
DICTLEARN_INSTANTIATE(double)

}  // namespace dictlearn
