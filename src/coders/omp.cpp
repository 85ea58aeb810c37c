#include "coders/omp.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "coders/coding.hpp"
#include "core/blocks.hpp"
#include "core/check.hpp"
#include "core/contiguous.hpp"
#include "kernels/gemm.hpp"

namespace dictlearn {

namespace detail {

template <typename T>
int64_t omp_signal(const T* G, int64_t n_atoms, const T* alpha0, T norm2, int64_t max_atoms,
                   bool use_error, T max_error, OmpWorkspace<T>& work, T* code) {
  const int64_t K = n_atoms;
  // scikit-learn compares with the dtype's epsilon (np.finfo(Gram.dtype).eps).
  const T eps = std::numeric_limits<T>::epsilon();
  work.alpha.assign(alpha0, alpha0 + K);
  work.order.resize(K);
  for (int64_t p = 0; p < K; ++p) work.order[p] = p;
  work.cholesky.resize(max_atoms * max_atoms);
  work.gamma.resize(max_atoms);
  work.alpha0_support.resize(max_atoms);
  std::fill(code, code + K, T(0));
  T* L = work.cholesky.data();
  T* gamma = work.gamma.data();
  T* y = work.alpha0_support.data();
  const int64_t* order = work.order.data();
  T error = norm2, delta = 0;
  int64_t active = 0;
  while (true) {
    // numpy's argmax over scikit-learn's swapped positions: the first
    // position of the largest |α| wins, so exact ties go as there.
    int64_t best = 0;
    T best_value = std::abs(work.alpha[order[0]]);
    for (int64_t p = 1; p < K; ++p) {
      const T value = std::abs(work.alpha[order[p]]);
      if (value > best_value) {
        best = p;
        best_value = value;
      }
    }
    const int64_t atom = order[best];
    // An active atom again, or a residual orthogonal to every atom: stop.
    if (best < active || work.alpha[atom] * work.alpha[atom] < eps) break;
    const T* g_atom = G + atom * K;
    if (active > 0) {
      // Row `active` of L: solve L[:k,:k] w = G[atom, S] by forward substitution.
      T* w = L + active * max_atoms;
      T v = 0;
      for (int64_t i = 0; i < active; ++i) {
        T sum = g_atom[order[i]];
        for (int64_t j = 0; j < i; ++j) sum -= L[i * max_atoms + j] * w[j];
        w[i] = sum / L[i * max_atoms + i];
        v += w[i] * w[i];
      }
      const T pivot = g_atom[atom] - v;
      if (pivot <= eps) break;  // the new atom depends on the support
      w[active] = std::sqrt(pivot);
    } else {
      L[0] = std::sqrt(g_atom[atom]);
    }
    std::swap(work.order[active], work.order[best]);
    y[active] = alpha0[atom];
    ++active;
    // γ from L Lᵀ γ = α⁰_S (LAPACK's potrs: forward, then backward).
    for (int64_t i = 0; i < active; ++i) {
      T sum = y[i];
      for (int64_t j = 0; j < i; ++j) sum -= L[i * max_atoms + j] * gamma[j];
      gamma[i] = sum / L[i * max_atoms + i];
    }
    for (int64_t i = active - 1; i >= 0; --i) {
      T sum = gamma[i];
      for (int64_t j = i + 1; j < active; ++j) sum -= L[j * max_atoms + i] * gamma[j];
      gamma[i] = sum / L[i * max_atoms + i];
    }
    // α = α⁰ − G_{:,S} γ, by rows of the symmetric G (contiguous).
    std::copy(alpha0, alpha0 + K, work.alpha.begin());
    for (int64_t j = 0; j < active; ++j) {
      const T* g = G + order[j] * K;
      const T c = gamma[j];
      for (int64_t a = 0; a < K; ++a) work.alpha[a] -= c * g[a];
    }
    if (use_error) {
      // Batch-OMP's residual: ε_k = ε_{k−1} + δ_{k−1} − δ_k, δ_k = γᵀ β_S
      // with β = G_{:,S} γ = α⁰ − α.
      error += delta;
      delta = 0;
      for (int64_t j = 0; j < active; ++j) {
        delta += gamma[j] * (alpha0[order[j]] - work.alpha[order[j]]);
      }
      error -= delta;
      if (std::abs(error) <= max_error) break;
    }
    if (active == max_atoms) break;
  }
  for (int64_t j = 0; j < active; ++j) code[order[j]] = gamma[j];
  return active;
}

template int64_t omp_signal<float>(const float*, int64_t, const float*, float, int64_t, bool, float,
                                   OmpWorkspace<float>&, float*);
template int64_t omp_signal<double>(const double*, int64_t, const double*, double, int64_t, bool,
                                    double, OmpWorkspace<double>&, double*);

}  // namespace detail

template <typename T>
Matrix<T> encode_omp(const Dictionary<T>& dictionary, MatrixView<std::type_identity_t<T>> X,
                     const CodingOptions& options) {
  detail::check_coding_input<T>(dictionary, X, options);
  const int64_t K = dictionary.n_atoms(), d = dictionary.dim();
  DICTLEARN_CHECK(options.n_nonzero <= K,
                  "--n-nonzero: must be at most the dictionary's {} atoms, got {}", K,
                  options.n_nonzero);
  const bool use_error = options.max_error > 0;
  // sparse_encode's default min(max(dim/10, 1), n_atoms); with tol alone
  // orthogonal_mp_gram runs up to n_atoms.
  const int64_t max_atoms =
      options.n_nonzero > 0 ? options.n_nonzero
                            : (use_error ? K : std::min<int64_t>(std::max<int64_t>(d / 10, 1), K));
  const detail::ContiguousRows<T> rows(X);
  Matrix<T> codes(X.rows(), K);
  if (X.rows() == 0) return codes;
  const T* D = dictionary.dictionary.data();
  // G = D Dᵀ once per call, made exactly symmetric (the pursuit reads its
  // rows where scikit-learn reads columns).
  Matrix<T> G(K, K);
  detail::gemm(false, true, K, K, d, D, d, D, d, T(0), G.data(), K);
  for (int64_t i = 0; i < K; ++i) {
    for (int64_t j = 0; j < i; ++j) G(i, j) = G(j, i);
  }
  const T max_error = static_cast<T>(options.max_error);
  const double work = static_cast<double>(X.rows()) * static_cast<double>(K) *
                      (2.0 * static_cast<double>(d) + 2.0 * static_cast<double>(max_atoms));
  detail::for_row_blocks(
      X.rows(), detail::kCodingBlock, options.threads, work, [&](int64_t begin, int64_t count) {
        std::vector<T> centered;
        const T* x = detail::centered_rows(dictionary, rows.data() + begin * d, count, centered);
        std::vector<T> alpha0(count * K);
        detail::gemm(false, true, count, K, d, x, d, D, d, T(0), alpha0.data(), K);
        detail::OmpWorkspace<T> workspace;
        for (int64_t i = 0; i < count; ++i) {
          T norm2 = 0;
          for (int64_t j = 0; j < d; ++j) norm2 += x[i * d + j] * x[i * d + j];
          detail::omp_signal(G.data(), K, alpha0.data() + i * K, norm2, max_atoms, use_error,
                             max_error, workspace, codes.data() + (begin + i) * K);
        }
      });
  return codes;
}

template Matrix<float> encode_omp<float>(const Dictionary<float>&, MatrixView<float>,
                                         const CodingOptions&);
template Matrix<double> encode_omp<double>(const Dictionary<double>&, MatrixView<double>,
                                           const CodingOptions&);

}  // namespace dictlearn
