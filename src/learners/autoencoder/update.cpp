// The update after a batch's reduction: Adam over every parameter, unit atoms
// (radial gradient removed, rows renormalized), the dead-atom counters and
// BatchTopK's threshold; and the ortho penalty's term of the gradient.
#include <algorithm>

#include "core/threads.hpp"
#include "learners/autoencoder/engine.hpp"

namespace dictlearn::detail {
namespace {

/// Adam on the dictionary and the encoder weights (in chunks of 16,384
/// entries of either, all in one parallel region from two full chunks' worth
/// on: W2's two 16,384-entry arrays take one thread each; smaller models
/// update in microseconds, less than a fork and join), then the biases. Each
/// entry's update is its own, so the thread count changes nothing.
template <typename T>
void adam_all(const AdamOptions& adam, int64_t step, Model<T>& model, const Gradients<T>& g,
              Gradients<T>& m, Gradients<T>& v, int threads) {
  const AdamStepFactors factors = adam_step_factors(adam, step);
  constexpr int64_t chunk = 16384;
  const int64_t nd = model.dictionary.size(), nw = model.encoder_weight.size();
  const int64_t dictionary_chunks = (nd + chunk - 1) / chunk;
  const int64_t chunks = dictionary_chunks + (nw + chunk - 1) / chunk;
  auto run_chunk = [&](int64_t c) {
    const bool dictionary = c < dictionary_chunks;
    const int64_t begin = (dictionary ? c : c - dictionary_chunks) * chunk;
    const int64_t count = std::min(chunk, (dictionary ? nd : nw) - begin);
    if (dictionary) {
      adam_update(adam, factors, model.dictionary.data() + begin, g.dictionary.data() + begin,
                  m.dictionary.data() + begin, v.dictionary.data() + begin, count);
    } else {
      adam_update(adam, factors, model.encoder_weight.data() + begin,
                  g.encoder_weight.data() + begin, m.encoder_weight.data() + begin,
                  v.encoder_weight.data() + begin, count);
    }
  };
  const int used = nd + nw >= 2 * chunk ? static_cast<int>(std::min<int64_t>(chunks, threads)) : 1;
  detail::ensure_threads(used);  // its team does not come from threads_for
  if (used > 1) {
    // adam_update reads and writes the arrays in place: nothing in the region can throw.
#pragma omp parallel for num_threads(used) schedule(static)
    for (int64_t c = 0; c < chunks; ++c) run_chunk(c);
  } else {  // small models: no parallel region to enter
    for (int64_t c = 0; c < chunks; ++c) run_chunk(c);
  }
  adam_update(adam, factors, model.encoder_bias.data(), g.encoder_bias.data(),
              m.encoder_bias.data(), v.encoder_bias.data(), model.encoder_bias.size());
  if (model.decoder_bias.size() > 0) {
    adam_update(adam, factors, model.decoder_bias.data(), g.decoder_bias.data(),
                m.decoder_bias.data(), v.decoder_bias.data(), model.decoder_bias.size());
  }
}

}  // namespace

template <typename T>
double add_ortho_penalty(const Matrix<T>& dictionary, double weight, Matrix<T>& grad) {
  const Vector<T> norms = dictionary.rowwise().norm();
  Matrix<T> unit = dictionary;
  for (Eigen::Index k = 0; k < unit.rows(); ++k) {
    if (norms[k] > T(0)) unit.row(k) /= norms[k];
  }
  Matrix<T> gram = unit * unit.transpose();
  gram.diagonal().array() -= T(1);
  const double value = static_cast<double>(gram.squaredNorm());
  // ∂/∂D̂ = 4 (D̂D̂ᵀ − I) D̂; through the normalization d̂ = d/‖d‖ only the
  // component orthogonal to d̂ survives, divided by ‖d‖.
  Matrix<T> unit_grad = (T(4 * weight) * gram) * unit;
  for (Eigen::Index k = 0; k < unit.rows(); ++k) {
    if (norms[k] <= T(0)) continue;
    const T radial = unit_grad.row(k).dot(unit.row(k));
    grad.row(k) += (unit_grad.row(k) - radial * unit.row(k)) / norms[k];
  }
  return weight * value;
}

template <typename T>
void normalize_rows(Matrix<T>& matrix) {
  for (Eigen::Index k = 0; k < matrix.rows(); ++k) {
    const T norm = matrix.row(k).norm();
    if (norm > T(0)) matrix.row(k) /= norm;
  }
}

template <typename T>
void apply_update(TrainerState<T>& s, const BatchResult& batch, int64_t rows, double lr,
                  Workspace<T>& w) {
  Model<T>& model = s.model;
  const int K = model.n_atoms();
  if (s.options.unit_atoms) {
    for (int k = 0; k < K; ++k) {
      const T norm = model.dictionary.row(k).norm();
      if (norm <= T(0)) continue;
      const T radial = s.gradients.dictionary.row(k).dot(model.dictionary.row(k)) / (norm * norm);
      s.gradients.dictionary.row(k) -= radial * model.dictionary.row(k);
    }
  }
  ++s.step;
  AdamOptions adam = s.options.adam;
  adam.lr = lr;
  adam_all(adam, s.step, model, s.gradients, s.first_moment, s.second_moment, w.threads);
  if (s.options.unit_atoms) normalize_rows(model.dictionary);

  for (int k = 0; k < K; ++k) {
    s.samples_since_fired[k] = w.fired[k] > 0 ? 0 : s.samples_since_fired[k] + rows;
  }
  if (batch.threshold_estimate >= 0) {
    const double decay = s.options.threshold_decay;
    model.encoder.threshold = s.threshold_updates == 0 ? batch.threshold_estimate
                                                       : decay * model.encoder.threshold +
                                                             (1 - decay) * batch.threshold_estimate;
    ++s.threshold_updates;
  }
}

#define DICTLEARN_INSTANTIATE(T)                                                       \
  template double add_ortho_penalty<T>(const Matrix<T>&, double, Matrix<T>&);          \
  template void normalize_rows<T>(Matrix<T>&);                                         \
  template void apply_update<T>(TrainerState<T>&, const BatchResult&, int64_t, double, \
                                Workspace<T>&);
DICTLEARN_INSTANTIATE(float)
DICTLEARN_INSTANTIATE(double)
#undef DICTLEARN_INSTANTIATE

}  // namespace dictlearn::detail
