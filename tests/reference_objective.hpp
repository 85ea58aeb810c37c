// Plain computations of the model's maps and of the training objective, for
// the tests to check the library against: loops in double written from the
// formulas of include/dictlearn/encoders.hpp and trainer.hpp, sharing no code
// with src/ (a finite difference of the library's own loss cannot catch a
// wrong objective; one of these can).
#pragma once

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <vector>

#include "dictlearn/model.hpp"
#include "dictlearn/types.hpp"

namespace dictlearn::testing::reference {

using Rows = Matrix<double>;

/// Z = (X − b_dec) Wᵀ + b (N x n_atoms).
template <typename T>
Rows pre_activations(const Model<T>& model, const Matrix<T>& X) {
  const Eigen::Index n = X.rows(), dim = X.cols(), atoms = model.encoder_weight.rows();
  Rows z(n, atoms);
  for (Eigen::Index i = 0; i < n; ++i) {
    for (Eigen::Index k = 0; k < atoms; ++k) {
      double sum = static_cast<double>(model.encoder_bias[k]);
      for (Eigen::Index j = 0; j < dim; ++j) {
        const double centered =
            static_cast<double>(X(i, j)) -
            (model.decoder_bias.size() > 0 ? static_cast<double>(model.decoder_bias[j]) : 0.0);
        sum += centered * static_cast<double>(model.encoder_weight(k, j));
      }
      z(i, k) = sum;
    }
  }
  return z;
}

/// The Euclidean projection of `z` onto the simplex by the sorting rule
/// (Martins & Astudillo 2016, algorithm 1).
inline std::vector<double> sparsemax(const std::vector<double>& z) {
  std::vector<double> sorted = z;
  std::sort(sorted.begin(), sorted.end(), std::greater<double>());
  double prefix = 0, tau = 0;
  for (size_t k = 0; k < sorted.size(); ++k) {
    prefix += sorted[k];
    if (1 + static_cast<double>(k + 1) * sorted[k] > prefix) {
      tau = (prefix - 1) / static_cast<double>(k + 1);
    }
  }
  std::vector<double> r(z.size());
  for (size_t k = 0; k < z.size(); ++k) r[k] = std::max(z[k] - tau, 0.0);
  return r;
}

/// Codes from pre-activations: `training` gives batchtopk's batch rule (the
/// k·N largest ReLU'd entries of the batch), otherwise its threshold.
inline Rows activate(const EncoderOptions& options, const Rows& z, bool training) {
  const Eigen::Index n = z.rows(), atoms = z.cols();
  Rows r = Rows::Zero(n, atoms);
  switch (options.kind) {
    case EncoderKind::softmax:
      for (Eigen::Index i = 0; i < n; ++i) {
        double largest = z(i, 0), sum = 0;
        for (Eigen::Index k = 1; k < atoms; ++k) largest = std::max(largest, z(i, k));
        for (Eigen::Index k = 0; k < atoms; ++k) {
          r(i, k) = std::exp((z(i, k) - largest) / options.temperature);
          sum += r(i, k);
        }
        for (Eigen::Index k = 0; k < atoms; ++k) r(i, k) /= sum;
      }
      break;
    case EncoderKind::sparsemax:
      for (Eigen::Index i = 0; i < n; ++i) {
        std::vector<double> row(atoms);
        for (Eigen::Index k = 0; k < atoms; ++k) row[k] = z(i, k);
        const std::vector<double> projected = sparsemax(row);
        for (Eigen::Index k = 0; k < atoms; ++k) r(i, k) = projected[k];
      }
      break;
    case EncoderKind::relu:
      for (Eigen::Index i = 0; i < z.size(); ++i) r.data()[i] = std::max(z.data()[i], 0.0);
      break;
    case EncoderKind::topk:
      for (Eigen::Index i = 0; i < n; ++i) {
        std::vector<Eigen::Index> order(atoms);
        std::iota(order.begin(), order.end(), 0);
        std::sort(order.begin(), order.end(),
                  [&](Eigen::Index a, Eigen::Index b) { return z(i, a) > z(i, b); });
        for (int j = 0; j < options.k; ++j) r(i, order[j]) = std::max(z(i, order[j]), 0.0);
      }
      break;
    case EncoderKind::batchtopk:
      if (training) {
        std::vector<double> values(z.data(), z.data() + z.size());
        std::sort(values.begin(), values.end(), std::greater<double>());
        const double kth = values[std::min<size_t>(values.size(), n * options.k) - 1];
        for (Eigen::Index i = 0; i < z.size(); ++i) {
          const double v = z.data()[i];
          r.data()[i] = v >= kth && v > 0 ? v : 0.0;
        }
      } else {
        for (Eigen::Index i = 0; i < z.size(); ++i) {
          const double v = z.data()[i];
          r.data()[i] = v > options.threshold && v > 0 ? v : 0.0;
        }
      }
      break;
  }
  return r;
}

/// X̂ = R D + b_dec.
template <typename T>
Rows reconstruct(const Model<T>& model, const Rows& codes) {
  const Eigen::Index n = codes.rows(), atoms = codes.cols(), dim = model.dictionary.cols();
  Rows out(n, dim);
  for (Eigen::Index i = 0; i < n; ++i) {
    for (Eigen::Index j = 0; j < dim; ++j) {
      double sum = model.decoder_bias.size() > 0 ? static_cast<double>(model.decoder_bias[j]) : 0.0;
      for (Eigen::Index k = 0; k < atoms; ++k) {
        sum += codes(i, k) * static_cast<double>(model.dictionary(k, j));
      }
      out(i, j) = sum;
    }
  }
  return out;
}

/// 1/(N·dim) Σ (X − X̂)².
template <typename T>
double mse(const Matrix<T>& X, const Rows& reconstruction) {
  double sum = 0;
  for (Eigen::Index i = 0; i < X.rows(); ++i) {
    for (Eigen::Index j = 0; j < X.cols(); ++j) {
      const double e = static_cast<double>(X(i, j)) - reconstruction(i, j);
      sum += e * e;
    }
  }
  return sum / static_cast<double>(X.size());
}

/// ‖D̂ D̂ᵀ − I‖²_F, D̂ the atoms scaled to unit length.
template <typename T>
double ortho_penalty(const Matrix<T>& dictionary) {
  const Eigen::Index atoms = dictionary.rows(), dim = dictionary.cols();
  std::vector<double> norms(atoms, 0.0);
  for (Eigen::Index k = 0; k < atoms; ++k) {
    for (Eigen::Index j = 0; j < dim; ++j) {
      norms[k] += static_cast<double>(dictionary(k, j)) * static_cast<double>(dictionary(k, j));
    }
    norms[k] = std::sqrt(norms[k]);
  }
  double sum = 0;
  for (Eigen::Index a = 0; a < atoms; ++a) {
    for (Eigen::Index b = 0; b < atoms; ++b) {
      double dot = 0;
      for (Eigen::Index j = 0; j < dim; ++j) {
        dot += static_cast<double>(dictionary(a, j)) * static_cast<double>(dictionary(b, j));
      }
      const double entry = dot / (norms[a] * norms[b]) - (a == b ? 1.0 : 0.0);
      sum += entry * entry;
    }
  }
  return sum;
}

/// The training objective of one full batch (trainer.hpp):
/// MSE + l1 · 1/N Σ|r| + ortho · ‖D̂ D̂ᵀ − I‖²_F, batchtopk by its batch rule.
template <typename T>
double objective(const Model<T>& model, const Matrix<T>& X, double l1, double ortho) {
  const Rows codes = activate(model.encoder, pre_activations(model, X), true);
  double l1_sum = 0;
  for (Eigen::Index i = 0; i < codes.size(); ++i) l1_sum += std::abs(codes.data()[i]);
  return mse(X, reconstruct(model, codes)) + l1 * l1_sum / static_cast<double>(X.rows()) +
         (ortho > 0 ? ortho * ortho_penalty(model.dictionary) : 0.0);
}

/// AuxK (Gao et al. 2024): `error` e = X − X̂ held fixed; per sample the
/// `k_aux` dead atoms of largest pre-activation (ties to the lower index)
/// reconstruct it from their pre-activations as they are (no ReLU); the loss
/// is weight · v · Σ_i ‖ê_i − e_i‖² / Σ_i ‖e_i − ē‖², v = Σ_i ‖x_i − x̄‖² / (N·dim).
template <typename T>
double auxk_loss(const Model<T>& model, const Matrix<T>& X, const Rows& error,
                 const std::vector<int>& dead, int k_aux, double weight) {
  const Rows z = pre_activations(model, X);
  const Eigen::Index n = X.rows(), dim = X.cols();
  std::vector<double> mean(dim, 0.0);
  for (Eigen::Index i = 0; i < n; ++i) {
    for (Eigen::Index j = 0; j < dim; ++j) mean[j] += error(i, j) / static_cast<double>(n);
  }
  double spread = 0, loss = 0;
  for (Eigen::Index i = 0; i < n; ++i) {
    for (Eigen::Index j = 0; j < dim; ++j) spread += std::pow(error(i, j) - mean[j], 2);
  }
  for (Eigen::Index i = 0; i < n; ++i) {
    std::vector<int> order = dead;
    std::sort(order.begin(), order.end(),
              [&](int a, int b) { return z(i, a) > z(i, b) || (z(i, a) == z(i, b) && a < b); });
    for (Eigen::Index j = 0; j < dim; ++j) {
      double estimate = 0;
      for (int m = 0; m < k_aux; ++m) {
        const int atom = order[m];
        estimate += z(i, atom) * static_cast<double>(model.dictionary(atom, j));
      }
      loss += std::pow(estimate - error(i, j), 2);
    }
  }
  // In the main loss's units: times the data's variance per entry.
  std::vector<double> data_mean(dim, 0.0);
  for (Eigen::Index i = 0; i < n; ++i) {
    for (Eigen::Index j = 0; j < dim; ++j) data_mean[j] += X(i, j) / static_cast<double>(n);
  }
  double data_spread = 0;
  for (Eigen::Index i = 0; i < n; ++i) {
    for (Eigen::Index j = 0; j < dim; ++j) data_spread += std::pow(X(i, j) - data_mean[j], 2);
  }
  return weight * data_spread / static_cast<double>(n * dim) * loss / spread;
}

}  // namespace dictlearn::testing::reference
