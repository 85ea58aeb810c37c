// AuxK (Gao et al. 2024, "Scaling and evaluating sparse autoencoders"): the
// top auxk_k dead atoms of each sample reconstruct the main reconstruction's
// error e = X − X̂ (held fixed) and the loss pulls dead atoms towards what the
// live ones miss:
//
//   auxk · v · Σ‖ê − e‖² / Σ‖e − ē‖²,   ê = Σ_j z_j d_j over the selected dead atoms,
//
// v = Σ‖x − x̄‖² / (B·dim), the batch's variance per entry.
// - ê uses the pre-activations z_j as they are, without the ReLU: a dead atom's
//   pre-activations are below zero on nearly every sample (that is why it is
//   dead), and through a ReLU the loss would neither see nor move them. Worse,
//   where z_j > 0 the atom overshoots the small residual, so the ReLU'd loss
//   is lowest when every z_j < 0: it drove dead atoms' biases further down
//   (face patches, 256 atoms: mean bias −0.35 with AuxK, −0.16 without; z > 0
//   on 0.02% of samples) and left 22% of them dead.
// - v puts the term in the units of the main loss (the MSE), so that the
//   ratio of the two is that of the paper's normalized MSE + auxk · normalized
//   AuxK; without it the term was 1/MSE times larger (~1,000x on face patches)
//   and at lr 1e-2 killed 92% of 256 atoms.
#include <algorithm>

#include "learners/autoencoder/engine.hpp"

namespace dictlearn::detail {

template <typename T>
double add_auxk(TrainerState<T>& s, const Eigen::Ref<const Matrix<T>>& z,
                const Eigen::Ref<const Matrix<T>>& residual, const Eigen::Ref<const Matrix<T>>& Xc,
                int64_t rows, Workspace<T>& w, Vector<T>& bias_grad) {
  const Model<T>& model = s.model;
  const FitOptions& options = s.options;
  const int K = model.n_atoms(), d = model.dim();
  const int64_t dead_after = options.dead_after > 0 ? options.dead_after : w.samples;
  w.dead.clear();
  for (int k = 0; k < K; ++k) {
    if (s.samples_since_fired[k] >= dead_after) w.dead.push_back(k);
  }
  if (w.dead.empty()) return 0.0;
  const int k_aux =
      std::min<int>(static_cast<int>(w.dead.size()),
                    options.auxk_k > 0 ? options.auxk_k : std::max(1, std::min(d / 2, K)));
  // e = X − X̂ = −residual, held fixed; its spread around the batch mean normalizes the loss.
  Vector<double> mean = Vector<double>::Zero(d);
  for (int64_t i = 0; i < rows; ++i) mean -= residual.row(i).transpose().template cast<double>();
  mean /= static_cast<double>(rows);
  double spread = 0;
  for (int64_t i = 0; i < rows; ++i) {
    spread += (-residual.row(i).transpose().template cast<double>() - mean).squaredNorm();
  }
  if (spread <= 0) return 0.0;
  Vector<double> data_mean = Vector<double>::Zero(d);
  for (int64_t i = 0; i < rows; ++i) data_mean += Xc.row(i).transpose().template cast<double>();
  data_mean /= static_cast<double>(rows);
  double data_spread = 0;
  for (int64_t i = 0; i < rows; ++i) {
    data_spread += (Xc.row(i).transpose().template cast<double>() - data_mean).squaredNorm();
  }
  // weight · v / spread, v = data_spread / (rows · d): the factor of Σ‖ê − e‖².
  const double factor = options.auxk * data_spread / (static_cast<double>(rows) * d) / spread;
  double loss = 0;
  Vector<T> estimate(d), diff(d);
  for (int64_t i = 0; i < rows; ++i) {
    w.dead_order = w.dead;
    const T* zi = z.data() + i * K;
    auto larger = [zi](int a, int b) { return zi[a] > zi[b] || (zi[a] == zi[b] && a < b); };
    std::nth_element(w.dead_order.begin(), w.dead_order.begin() + (k_aux - 1), w.dead_order.end(),
                     larger);
    estimate.setZero();
    for (int j = 0; j < k_aux; ++j) {
      const int atom = w.dead_order[j];
      estimate += zi[atom] * model.dictionary.row(atom).transpose();
    }
    diff = estimate + residual.row(i).transpose();  // ê − e
    loss += static_cast<double>(diff.squaredNorm());
    const Vector<T> d_estimate = T(2 * factor) * diff;
    for (int j = 0; j < k_aux; ++j) {
      const int atom = w.dead_order[j];
      s.gradients.dictionary.row(atom) += zi[atom] * d_estimate.transpose();
      const T dz = model.dictionary.row(atom).dot(d_estimate.transpose());
      s.gradients.encoder_weight.row(atom) += dz * Xc.row(i);
      bias_grad[atom] += dz;
    }
  }
  return loss * factor;
}

template double add_auxk<float>(TrainerState<float>&, const Eigen::Ref<const Matrix<float>>&,
                                const Eigen::Ref<const Matrix<float>>&,
                                const Eigen::Ref<const Matrix<float>>&, int64_t, Workspace<float>&,
                                Vector<float>&);
template double add_auxk<double>(TrainerState<double>&, const Eigen::Ref<const Matrix<double>>&,
                                 const Eigen::Ref<const Matrix<double>>&,
                                 const Eigen::Ref<const Matrix<double>>&, int64_t,
                                 Workspace<double>&, Vector<double>&);

}  // namespace dictlearn::detail
