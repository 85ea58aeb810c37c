// dictlearn: how good and how sparse a model's codes are on data.
//
//   mse            1/(N·dim) Σ (X − X̂)²
//   fvu            fraction of variance unexplained, Σ‖x − x̂‖² / Σ‖x − x̄‖²; data
//                  without variance (every column constant): 0 when the
//                  reconstruction is exact, else 1 (scikit-learn's r2_score
//                  gives R² = 1 or 0 there; FVU = 1 − R²)
//   l0             mean number of exactly nonzero codes per sample
//   usage[k]       fraction of samples whose code for atom k is nonzero
//   dead_fraction  fraction of atoms with usage 0 on this data
//
// and, for the coders' report (eval --coder), with x' = x − b_dec the signal
// a coder codes:
//
//   residual           1/N Σ ‖x − x̂‖²  (= ‖x' − rD‖² per signal)
//   relative_residual  Σ ‖x − x̂‖² / Σ ‖x'‖²  (0 or 1 when every x' is 0)
//   l1, l2             1/N Σ ‖r‖₁ and 1/N Σ ‖r‖²
//   max_l0             the most exactly nonzero codes of one sample
#pragma once

#include <cstdint>
#include <type_traits>
#include <vector>

#include "dictlearn/model.hpp"

namespace dictlearn {

/// Reconstruction and sparsity of a model's codes on data.
struct Metrics {
  double mse = 0;
  double fvu = 0;  ///< fraction_unexplained(): 0 or 1 when the data has no variance
  double l0 = 0;
  double dead_fraction = 0;
  std::vector<double> usage;     ///< n_atoms entries
  CodeStats codes;               ///< near-zero fraction and mean largest entry
  double residual = 0;           ///< mean squared residual norm per sample, ‖x − x̂‖²
  double relative_residual = 0;  ///< Σ‖x − x̂‖² / Σ‖x − b_dec‖²
  double l1 = 0;                 ///< mean ‖r‖₁ per sample
  double l2 = 0;                 ///< mean ‖r‖² per sample
  int64_t max_l0 = 0;            ///< the most nonzero codes of one sample
};

/// The lasso objective of codes with these metrics: the mean per sample of
/// ½‖x − x̂‖² + alpha ‖r‖₁ + ½ l2 ‖r‖², i.e. ½ residual + alpha l1 + ½ l2 · l2.
double lasso_objective(const Metrics& metrics, double alpha, double l2);

/// FVU from its two sums: squared_error / spread, and for data without
/// variance (spread 0) 0 when squared_error is 0, else 1 -- what
/// scikit-learn's r2_score (force_finite) reports there as R² = 1 or 0. Never
/// NaN or infinite for finite sums.
double fraction_unexplained(double squared_error, double spread);

/// Metrics of `model` on X (N x dim), a view read in place. Throws Error if
/// the shapes disagree. Sums are taken at a power-of-two scale of the data, so
/// magnitudes near the ends of the double range give the same FVU as data near 1.
template <typename T>
Metrics evaluate(const Model<T>& model, MatrixView<std::type_identity_t<T>> X);

/// evaluate() over blocks of rows, for data whose codes and reconstructions
/// are computed (and written) a block at a time: only the data X is needed
/// whole. Every sum runs over the rows in order, whatever the blocks, so the
/// metrics are bit for bit those of evaluate() on the same codes and
/// reconstructions for any split into blocks.
///
///   MetricsAccumulator<float> sums(model, X);
///   for each block [begin, begin + count):
///     sums.add(X.middleRows(begin, count), codes, reconstructions);
///   const Metrics metrics = sums.result();
template <typename T>
class MetricsAccumulator {
 public:
  /// The scale and the column means of X (N x dim): the spread is taken
  /// around the mean of all the data, computed here. Of the dictionary (a
  /// Model is one) only the atom count and b_dec are read.
  MetricsAccumulator(const Dictionary<T>& dictionary, MatrixView<std::type_identity_t<T>> X);

  /// Adds the next rows of X, their codes (rows x n_atoms) and their
  /// reconstructions (rows x dim); blocks come in row order.
  void add(MatrixView<std::type_identity_t<T>> X_rows, MatrixView<std::type_identity_t<T>> codes,
           MatrixView<std::type_identity_t<T>> reconstructions);

  /// Encodes the next rows of X under `model`, reconstructs them (R D +
  /// b_dec, as evaluate() does) and adds them: what evaluate() and `eval`'s
  /// blocks do.
  void add_encoded(const Model<T>& model, MatrixView<std::type_identity_t<T>> X_rows);

  /// The metrics of the rows added so far (all of X, when every block is in).
  Metrics result() const;

 private:
  int n_atoms_ = 0;
  int64_t rows_ = 0;  ///< added so far
  int64_t dim_ = 0;
  double unit_ = 1, inverse_ = 1;  ///< the power-of-two scale of the sums and its inverse
  Vector<double> mean_;            ///< column means, scaled
  Vector<double> bias_;            ///< b_dec, scaled (empty without one)
  double error_ = 0, spread_ = 0, nonzero_ = 0, max_sum_ = 0;
  double energy_ = 0;       ///< Σ ‖x − b_dec‖², scaled
  double l1_ = 0, l2_ = 0;  ///< Σ ‖r‖₁, Σ ‖r‖² (the latter scaled)
  int64_t below_ = 0, zero_ = 0, max_l0_ = 0;
  std::vector<double> usage_;  ///< nonzero counts per atom
};

}  // namespace dictlearn
