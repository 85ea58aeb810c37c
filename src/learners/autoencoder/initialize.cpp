// initialize(): a new model for the data as the options ask.
#include <numeric>

#include "core/check.hpp"
#include "core/contiguous.hpp"
#include "learners/autoencoder/engine.hpp"
#include "learners/random.hpp"

namespace dictlearn {

template <typename T>
Model<T> initialize(MatrixView<T> view, const FitOptions& options) {
  validate(options);
  DICTLEARN_CHECK(view.rows() >= 1 && view.cols() >= 1, "data: no data ({} x {})", view.rows(),
                  view.cols());
  // Contiguous rows are read in place; other strides are copied once.
  const detail::ContiguousRows<T> rows(view);
  const Eigen::Map<const Matrix<T>> X = rows.matrix();
  const int dim = static_cast<int>(X.cols());
  Model<T> model = init_model<T>(options.n_atoms, dim, options.seed);
  if (options.dictionary_init == DictionaryInit::data) {
    DICTLEARN_CHECK(X.rows() >= options.n_atoms,
                    "--init-dict: data initialization needs at least as many samples as atoms "
                    "({} samples, {} atoms)",
                    X.rows(), options.n_atoms);
    // Partial Fisher-Yates: distinct samples, reproducible from the seed.
    std::mt19937_64 engine(options.seed ^ 0x9e3779b97f4a7c15ULL);
    std::vector<int64_t> index(X.rows());
    std::iota(index.begin(), index.end(), int64_t{0});
    for (int k = 0; k < options.n_atoms; ++k) {
      const int64_t j = k + static_cast<int64_t>(detail::below(engine, X.rows() - k));
      std::swap(index[k], index[j]);
      model.dictionary.row(k) = X.row(index[k]);
    }
  }
  if (options.unit_atoms) detail::normalize_rows(model.dictionary);
  if (options.tied) model.encoder_weight = model.dictionary;
  if (options.decoder_bias == DecoderBiasInit::zero) {
    model.decoder_bias.setZero(dim);
  } else if (options.decoder_bias == DecoderBiasInit::mean) {
    // Row by row in double, each column summed in row order (the order of
    // Eigen's colwise().mean() of the cast, bit for bit, without its N x dim
    // double temporary: 4 GB and 5 s for 4,000,000 x 128 floats).
    Vector<double> sum = Vector<double>::Zero(dim);
    for (Eigen::Index i = 0; i < X.rows(); ++i) sum += X.row(i).transpose().template cast<double>();
    model.decoder_bias = (sum / static_cast<double>(X.rows())).template cast<T>();
  }
  model.encoder = options.encoder;
  return model;
}

template Model<float> initialize<float>(MatrixView<float>, const FitOptions&);
template Model<double> initialize<double>(MatrixView<double>, const FitOptions&);

}  // namespace dictlearn
