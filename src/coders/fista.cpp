#include "coders/fista.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "coders/coding.hpp"
#include "coders/lasso_cd.hpp"
#include "coders/lasso_gap.hpp"
#include "core/blocks.hpp"
#include "core/contiguous.hpp"
#include "kernels/gemm.hpp"

namespace dictlearn {

namespace detail {

template <typename T>
double fista_lipschitz(const Matrix<T>& atoms, const Matrix<T>& gram, double l2) {
  const int64_t K = atoms.rows(), d = atoms.cols();
  // The smaller of G (K x K) and Dᵀ D (d x d): the same nonzero eigenvalues.
  Matrix<T> small_gram;
  if (d < K) {
    small_gram.resize(d, d);
    gemm(true, false, d, d, K, atoms.data(), d, atoms.data(), d, T(0), small_gram.data(), d);
  }
  const Matrix<T>& M = d < K ? small_gram : gram;
  const int64_t n = M.rows();
  // Gershgorin: every eigenvalue lies below the largest absolute row sum.
  double row_bound = 0;
  for (int64_t i = 0; i < n; ++i) {
    double sum = 0;
    for (int64_t j = 0; j < n; ++j) sum += std::abs(static_cast<double>(M(i, j)));
    row_bound = std::max(row_bound, sum);
  }
  // A fixed pseudo-random start (splitmix64): the same step on every run,
  // and no start orthogonal to the top eigenvector by construction (a
  // constant vector is, for a dictionary of atoms and their negatives).
  std::vector<double> v(n), w(n);
  uint64_t state = 0x14c0de5eedULL;
  double norm = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    v[i] = static_cast<double>(z >> 11) * 0x1.0p-53 * 2 - 1;
    norm += v[i] * v[i];
  }
  double quotient = 0;
  for (int iteration = 0; iteration < 1000 && norm > 0; ++iteration) {
    const double scale = 1 / std::sqrt(norm);
    for (double& value : v) value *= scale;
    double next = 0;
    norm = 0;
    for (int64_t i = 0; i < n; ++i) {
      double sum = 0;
      for (int64_t j = 0; j < n; ++j) sum += static_cast<double>(M(i, j)) * v[j];
      w[i] = sum;
      next += v[i] * sum;
      norm += sum * sum;
    }
    const bool settled = std::abs(next - quotient) <= 1e-10 * std::abs(next);
    quotient = next;
    std::swap(v, w);
    if (iteration >= 100 && settled) break;
  }
  return std::min(1.02 * quotient, row_bound) + l2;
}

template double fista_lipschitz<float>(const Matrix<float>&, const Matrix<float>&, double);
template double fista_lipschitz<double>(const Matrix<double>&, const Matrix<double>&, double);

namespace {

/// The state of a block's signals that have not converged yet, `live` rows
/// of n_atoms each; a converged signal's row is swapped with the last live
/// one, so the products run over the live rows only.
template <typename T>
struct FistaBlock {
  int64_t K = 0, live = 0;
  std::vector<T> q, x, x_previous, Gx, Gx_previous;
  std::vector<double> norm2;
  std::vector<int64_t> signal;  ///< row → the signal's index in the block
  std::vector<double> t;        ///< each signal's t_k (restarts make them differ)

  T* row(std::vector<T>& values, int64_t i) { return values.data() + i * K; }

  void swap_rows(int64_t a, int64_t b) {
    for (std::vector<T>* values : {&q, &x, &x_previous, &Gx, &Gx_previous}) {
      std::swap_ranges(row(*values, a), row(*values, a) + K, row(*values, b));
    }
    std::swap(norm2[a], norm2[b]);
    std::swap(signal[a], signal[b]);
    std::swap(t[a], t[b]);
  }
};

/// Gx = x G for the live rows: a matrix product, or, when the codes are
/// sparse (at most one entry in 8 nonzero), a sum of G's rows per nonzero,
/// which then costs less. Either way the same for every thread count.
template <typename T>
void times_gram(const T* x, int64_t rows, int64_t K, const T* G, T* Gx) {
  int64_t nonzeros = 0;
  for (int64_t e = 0; e < rows * K; ++e) nonzeros += x[e] != T(0);
  if (nonzeros * 8 > rows * K) {
    gemm(false, false, rows, K, K, x, K, G, K, T(0), Gx, K);
    return;
  }
  std::fill(Gx, Gx + rows * K, T(0));
  for (int64_t i = 0; i < rows; ++i) {
    const T* xi = x + i * K;
    T* out = Gx + i * K;
    for (int64_t j = 0; j < K; ++j) {
      if (xi[j] == T(0)) continue;
      const T value = xi[j];
      const T* g = G + j * K;
#pragma omp simd
      for (int64_t a = 0; a < K; ++a) out[a] += value * g[a];
    }
  }
}

}  // namespace

}  // namespace detail

template <typename T>
Matrix<T> encode_fista(const Dictionary<T>& dictionary, MatrixView<std::type_identity_t<T>> X,
                       const CodingOptions& options) {
  detail::check_coding_input<T>(dictionary, X, options);
  const int64_t K = dictionary.n_atoms(), d = dictionary.dim();
  Matrix<T> codes = Matrix<T>::Zero(X.rows(), K);
  if (X.rows() == 0) return codes;
  const detail::ContiguousRows<T> rows(X);
  const T* D = dictionary.dictionary.data();
  const Matrix<T> G = detail::gram_matrix(dictionary.dictionary);
  const double lipschitz = detail::fista_lipschitz(dictionary.dictionary, G, options.l2);
  // Only zero atoms and no λ₂: every code is 0, the unique minimizer's value
  // (the loss does not depend on it and the penalties are smallest there).
  if (!(lipschitz > 0)) return codes;
  const T step = static_cast<T>(1 / lipschitz);
  const T threshold = static_cast<T>(options.alpha / lipschitz);
  const T l2 = static_cast<T>(options.l2);
  const bool positive = options.positive;
  const detail::LassoProblem problem{
      .alpha = options.alpha, .l2 = options.l2, .positive = options.positive};
  const double work = static_cast<double>(X.rows()) * static_cast<double>(K) *
                      (2.0 * static_cast<double>(d) + 2.0 * static_cast<double>(K));
  detail::for_row_blocks(
      X.rows(), detail::kCodingBlock, options.threads, work, [&](int64_t begin, int64_t count) {
        std::vector<T> centered;
        const T* x = detail::centered_rows(dictionary, rows.data() + begin * d, count, centered);
        detail::FistaBlock<T> block;
        block.K = K;
        block.q.resize(count * K);
        detail::gemm(false, true, count, K, d, x, d, D, d, T(0), block.q.data(), K);
        for (std::vector<T>* values :
             {&block.x, &block.x_previous, &block.Gx, &block.Gx_previous}) {
          values->assign(count * K, T(0));
        }
        block.norm2.resize(count);
        block.signal.resize(count);
        block.t.assign(count, 1.0);
        // The start r = 0 may already meet the bound (a zero signal, α above
        // every |q_i|): those signals take no iteration.
        for (int64_t i = 0; i < count; ++i) {
          double norm2 = 0;
          for (int64_t j = 0; j < d; ++j) norm2 += static_cast<double>(x[i * d + j]) * x[i * d + j];
          block.norm2[i] = norm2;
          block.signal[i] = i;
        }
        block.live = count;
        std::vector<double> residual(d);
        auto retire_converged = [&] {
          for (int64_t i = block.live - 1; i >= 0; --i) {
            const T* code = block.row(block.x, i);
            const double target = options.tol * block.norm2[i];
            if (detail::lasso_gap(block.row(block.q, i), block.row(block.Gx, i), code, K,
                                  block.norm2[i], problem) > target) {
              continue;
            }
            // Confirmed with ‖x − rD‖² from the signal (lasso_gap says why).
            const T* signal = x + block.signal[i] * d;
            for (int64_t j = 0; j < d; ++j) residual[j] = signal[j];
            for (int64_t a = 0; a < K; ++a) {
              if (code[a] == T(0)) continue;
              const T* atom = D + a * d;
              for (int64_t j = 0; j < d; ++j) residual[j] -= static_cast<double>(code[a]) * atom[j];
            }
            double residual2 = 0;
            for (const double value : residual) residual2 += value * value;
            if (detail::lasso_gap(block.row(block.q, i), block.row(block.Gx, i), code, K,
                                  block.norm2[i], problem, residual2) > target) {
              continue;
            }
            std::copy_n(block.row(block.x, i), K, codes.data() + (begin + block.signal[i]) * K);
            block.swap_rows(i, --block.live);
          }
        };
        retire_converged();
        std::vector<T> y(count * K);
        for (int iteration = 0; iteration < options.max_iter && block.live > 0; ++iteration) {
          for (int64_t i = 0; i < block.live; ++i) {
            // Beck & Teboulle: y = x_k + ((t_k − 1)/t_{k+1})(x_k − x_{k−1}),
            // and G y from G x_k and G x_{k−1} the same way (no product).
            double& t = block.t[i];
            const double t_next = (1 + std::sqrt(1 + 4 * t * t)) / 2;
            const T momentum = static_cast<T>((t - 1) / t_next);
            t = t_next;
            const int64_t row = i * K;
            double progress = 0;
            for (int64_t e = row; e < row + K; ++e) {
              const T xe = block.x[e];
              const T ye = xe + momentum * (xe - block.x_previous[e]);
              const T Gye = block.Gx[e] + momentum * (block.Gx[e] - block.Gx_previous[e]);
              // The gradient step on ½rᵀ(G + λ₂I)r − qᵀr, then the ℓ1 prox.
              const T z = ye - step * (Gye + l2 * ye - block.q[e]);
              T value = z > threshold ? z - threshold : T(0);
              if (!positive && z < -threshold) value = z + threshold;
              progress += static_cast<double>(ye - value) * static_cast<double>(value - xe);
              block.x_previous[e] = xe;
              y[e] = value;
            }
            // Adaptive restart (O'Donoghue & Candès 2015, the gradient
            // scheme): when the step turns against the momentum, the momentum
            // starts again from 0; on the lasso's locally strongly convex
            // problems this makes FISTA converge linearly instead of
            // oscillating.
            if (progress > 0) t = 1;
          }
          std::swap(block.x, y);
          std::swap(block.Gx, block.Gx_previous);
          detail::times_gram(block.x.data(), block.live, K, G.data(), block.Gx.data());
          retire_converged();
        }
        for (int64_t i = 0; i < block.live; ++i) {
          std::copy_n(block.row(block.x, i), K, codes.data() + (begin + block.signal[i]) * K);
        }
      });
  return codes;
}

template Matrix<float> encode_fista<float>(const Dictionary<float>&, MatrixView<float>,
                                           const CodingOptions&);
template Matrix<double> encode_fista<double>(const Dictionary<double>&, MatrixView<double>,
                                             const CodingOptions&);

}  // namespace dictlearn
