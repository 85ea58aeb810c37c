// Resampling of dead atoms (--resample-every), after Anthropic's "Towards
// Monosemanticity" (Bricken et al. 2023) and the trainers of
// saprmarks/dictionary_learning: every resample_every steps, during the first
// half of the run's steps, each dead atom (the AuxK rule: not fired for
// dead_after samples) is restarted from a sample of the current batch drawn
// with probability proportional to its squared reconstruction error
// ‖x − x̂‖² (without replacement):
//
//   d_j = v / ‖v‖,  W_j = s · mean_{alive i} ‖W_i‖ · d_j,  b_j = 0,  v = x − b_dec,
//
// s = resample_scale, and its Adam moments and dead-atom counter are reset.
// The new atom points at what the model reconstructs worst. Anthropic's
// s = 0.2 (the default) starts its encoder row small, so that it does not at
// once take over samples the live atoms serve; under TopK that also keeps its
// pre-activations below the live atoms' k-th on most samples, and many
// restarted atoms die again (docs/TRAINING.md measures s = 1). None after
// half the run: a restarted atom needs steps at the full learning rate to learn.
//
// The draw comes from the seed and the step count alone (no state of its own
// to checkpoint), the errors from reconstruct(), whose rows do not depend on
// the thread count.
#include <algorithm>
#include <random>

#include "learners/autoencoder/engine.hpp"
#include "learners/random.hpp"

namespace dictlearn::detail {

template <typename T>
bool resample_due(const TrainerState<T>& s) {
  const int64_t every = s.options.resample_every;
  return every > 0 && s.step % every == 0 && 2 * s.step <= s.total_steps;
}

template <typename T>
int resample_dead_atoms(TrainerState<T>& s, const Batch<T>& batch, Workspace<T>& w) {
  Model<T>& model = s.model;
  const int K = model.n_atoms(), d = model.dim();
  const int64_t dead_after = s.options.dead_after > 0 ? s.options.dead_after : w.samples;
  std::vector<int> dead;
  double alive_norm = 0;
  for (int k = 0; k < K; ++k) {
    if (s.samples_since_fired[k] >= dead_after) {
      dead.push_back(k);
    } else {
      alive_norm += static_cast<double>(model.encoder_weight.row(k).norm());
    }
  }
  if (dead.empty()) return 0;
  // With every atom dead there is no live scale: the mean over all atoms.
  if (static_cast<int>(dead.size()) < K) {
    alive_norm /= static_cast<double>(K - static_cast<int>(dead.size()));
  } else {
    for (int k = 0; k < K; ++k)
      alive_norm += static_cast<double>(model.encoder_weight.row(k).norm());
    alive_norm /= static_cast<double>(K);
  }

  const int64_t rows = batch.rows;
  Matrix<T> X(rows, d);
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t row = batch.index ? batch.index[i] : i;
    X.row(i) = Eigen::Map<const Vector<T>>(batch.data + row * d, d).transpose();
  }
  const Matrix<T> reconstruction = reconstruct(model, X, w.threads);
  std::vector<double> weight(rows);
  for (int64_t i = 0; i < rows; ++i) {
    weight[i] = (X.row(i) - reconstruction.row(i)).template cast<double>().squaredNorm();
  }

  // splitmix64 of (seed, step): an independent stream for every resampling.
  uint64_t mix = s.options.seed ^ (0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(s.step + 1));
  mix = (mix ^ (mix >> 30)) * 0xbf58476d1ce4e5b9ULL;
  mix = (mix ^ (mix >> 27)) * 0x94d049bb133111ebULL;
  std::mt19937_64 engine(mix ^ (mix >> 31));
  const T scale = static_cast<T>(s.options.resample_scale * alive_norm);
  Vector<T> v(d);
  int resampled = 0;
  for (const int k : dead) {
    // Summed afresh each draw (not decremented): no rounding drift, and at
    // most dead x rows additions, small beside the batch's products.
    double total = 0;
    for (const double w_i : weight) total += w_i;
    if (!(total > 0)) break;  // every sample reconstructed exactly (or all drawn)
    // Inverse of the cumulative weights at a uniform draw in [0, total).
    const double u = static_cast<double>(below(engine, uint64_t{1} << 53)) * 0x1p-53 * total;
    int64_t pick = -1;
    double sum = 0;
    for (int64_t i = 0; i < rows; ++i) {
      if (weight[i] <= 0) continue;
      pick = i;
      sum += weight[i];
      if (u < sum) break;
    }
    weight[pick] = 0;  // without replacement
    v = X.row(pick).transpose();
    if (model.decoder_bias.size() > 0) v -= model.decoder_bias;
    const T norm = v.norm();
    if (!(norm > T(0))) continue;
    v /= norm;
    model.dictionary.row(k) = v.transpose();
    model.encoder_weight.row(k) = scale * v.transpose();
    model.encoder_bias[k] = T(0);
    for (Gradients<T>* moment : {&s.first_moment, &s.second_moment}) {
      moment->dictionary.row(k).setZero();
      moment->encoder_weight.row(k).setZero();
      moment->encoder_bias[k] = T(0);
    }
    s.samples_since_fired[k] = 0;
    ++resampled;
  }
  return resampled;
}

template bool resample_due<float>(const TrainerState<float>&);
template bool resample_due<double>(const TrainerState<double>&);
template int resample_dead_atoms<float>(TrainerState<float>&, const Batch<float>&,
                                        Workspace<float>&);
template int resample_dead_atoms<double>(TrainerState<double>&, const Batch<double>&,
                                         Workspace<double>&);

}  // namespace dictlearn::detail
