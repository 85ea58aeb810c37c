// Test helpers: a planted dictionary and the measure of its recovery, after
// Aharon, Elad, Bruckstein (2006), section V.A's synthetic experiment: unit
// atoms with N(0, 1) entries, each signal a combination of `sparsity`
// distinct atoms drawn uniformly with N(0, 1) coefficients, plus white
// Gaussian noise at a given SNR; an atom counts as recovered when some
// learned atom has |cos| >= 0.99 with it (the paper's 1 − |dᵢᵀd̃ᵢ| < 0.01).
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "dictlearn/types.hpp"

namespace dictlearn::testing {

/// Planted atoms and the signals made from them.
template <typename T>
struct Planted {
  Matrix<T> atoms;    ///< n_atoms x dim, unit rows
  Matrix<T> signals;  ///< n_signals x dim
};

/// A standard normal draw from the engine (Box-Muller on 53-bit uniforms:
/// the same stream with every standard library).
inline double planted_normal(std::mt19937_64& engine) {
  const double u1 = 1.0 - static_cast<double>(engine() >> 11) * 0x1.0p-53;
  const double u2 = static_cast<double>(engine() >> 11) * 0x1.0p-53;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

/// `n_signals` signals of `sparsity` atoms each from `n_atoms` planted unit
/// atoms of dimension `dim`, plus noise whose variance is the clean signals'
/// mean power over 10^(snr_db / 10).
template <typename T>
Planted<T> planted_dictionary(int n_atoms, int dim, int64_t n_signals, int sparsity, double snr_db,
                              uint64_t seed) {
  std::mt19937_64 engine(seed);
  Matrix<double> atoms(n_atoms, dim);
  for (Eigen::Index i = 0; i < atoms.size(); ++i) atoms.data()[i] = planted_normal(engine);
  atoms.rowwise().normalize();
  Matrix<double> clean = Matrix<double>::Zero(n_signals, dim);
  std::vector<int> order(n_atoms);
  for (int64_t i = 0; i < n_signals; ++i) {
    for (int a = 0; a < n_atoms; ++a) order[a] = a;
    for (int s = 0; s < sparsity; ++s) {  // a partial Fisher-Yates: distinct atoms
      const int j = s + static_cast<int>(engine() % static_cast<uint64_t>(n_atoms - s));
      std::swap(order[s], order[j]);
      clean.row(i) += planted_normal(engine) * atoms.row(order[s]);
    }
  }
  const double power = clean.squaredNorm() / static_cast<double>(clean.size());
  const double sigma = std::sqrt(power / std::pow(10.0, snr_db / 10.0));
  for (Eigen::Index i = 0; i < clean.size(); ++i) clean.data()[i] += sigma * planted_normal(engine);
  return {atoms.cast<T>(), clean.cast<T>()};
}

/// The fraction of planted atoms (rows) that some learned atom matches with
/// |cos| >= threshold.
template <typename T>
double recovered_fraction(const Matrix<T>& planted, const Matrix<T>& learned,
                          double threshold = 0.99) {
  int recovered = 0;
  for (Eigen::Index p = 0; p < planted.rows(); ++p) {
    const Eigen::RowVectorXd a = planted.row(p).template cast<double>().normalized();
    double best = 0;
    for (Eigen::Index q = 0; q < learned.rows(); ++q) {
      const double norm = learned.row(q).template cast<double>().norm();
      if (norm == 0) continue;
      best = std::max(best, std::abs(a.dot(learned.row(q).template cast<double>())) / norm);
    }
    recovered += best >= threshold;
  }
  return static_cast<double>(recovered) / static_cast<double>(planted.rows());
}

}  // namespace dictlearn::testing
