// The lars coder: least-angle regression with L atoms, step by step as
// scikit-learn's lars_path(method='lar').
#include "coders/lars.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <type_traits>

#include "coders/coding.hpp"
#include "core/blocks.hpp"
#include "core/check.hpp"
#include "core/contiguous.hpp"
#include "kernels/gemm.hpp"
#include "kernels/simd_dispatch.hpp"

namespace dictlearn {

namespace detail {

namespace {

// The path, inlined into one clone per instruction-set level below.
template <typename T>
[[gnu::always_inline]] inline int64_t lar_path(const T* G, int64_t n_atoms, const T* alpha0,
                                               int64_t max_steps, int64_t max_active, T stop_ratio,
                                               T pivot_tol, LarsWorkspace<T>& work, T* code) {
  const int64_t K = n_atoms;
  // scikit-learn's guards against division by zero (np.finfo(np.float32).tiny)
  // and the "no positive value" of its min_pos (the dtype's largest value).
  const T tiny = std::numeric_limits<float>::min();
  const T none = std::numeric_limits<T>::max();
  const T inf = std::numeric_limits<T>::infinity();
  // The scans run over all atoms, branch-free so that they vectorize:
  // `blocked` is +∞ for the active atoms. Their values are >= +0, and such
  // floats order as their bit patterns: the extremes are integer ones.
  using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  const int64_t capacity = std::min({max_steps, max_active, K});
  work.correlation.assign(alpha0, alpha0 + K);
  work.gain.resize(K);
  work.blocked.assign(K, T(0));
  work.order.resize(K);
  std::iota(work.order.begin(), work.order.end(), int64_t(0));
  work.direction.resize(capacity);
  work.coefficient.assign(capacity, T(0));
  work.sign.resize(capacity);
  work.active.clear();
  work.cholesky.clear();
  std::fill(code, code + K, T(0));
  T* c = work.correlation.data();
  T* a = work.gain.data();
  T* w = work.direction.data();
  T* beta = work.coefficient.data();
  T* s = work.sign.data();
  T* blocked = work.blocked.data();
  int64_t* order = work.order.data();
  T first = 0;
  for (int64_t j = 0; j < K; ++j) first = std::max(first, std::abs(c[j]));
  const T stop = stop_ratio * first;
  int64_t n_active = 0, steps = 0;
  bool flipped = false;  // scikit-learn's `drop`: the next step adds no atom
  while (true) {
    // numpy's argmax over the inactive positions: the largest |c|, then the
    // first position that has it.
    Bits top = 0;
#pragma omp simd reduction(max : top)
    for (int64_t j = 0; j < K; ++j) {
      const Bits bits = std::bit_cast<Bits>(blocked[j] == 0 ? std::abs(c[j]) : T(0));
      top = bits > top ? bits : top;
    }
    const T C = std::bit_cast<T>(top);
    int64_t best = -1;
    for (int64_t p = n_active; p < K; ++p) {
      if (std::abs(c[order[p]]) == C) {
        best = p;
        break;
      }
    }
    if (best < 0 || C <= stop || steps >= max_steps) break;
    if (!flipped) {
      const int64_t atom = order[best];
      if (n_active == capacity ||
          !work.cholesky.append(G + atom * K, work.active.data(), atom, pivot_tol)) {
        c[atom] = 0;  // scikit-learn's "drop for good" of a degenerate regressor
        continue;
      }
      s[n_active] = c[atom] > 0 ? T(1) : T(-1);
      std::swap(order[n_active], order[best]);
      work.active.push_back(atom);
      blocked[atom] = inf;
      ++n_active;
      if (n_active == max_active && max_active < K) {
        // The active atoms span the space: LAR's next point is their
        // least-squares fit (every inactive |c| falls with C, so none enters
        // first). scikit-learn goes on adding dependent atoms here (with
        // L > dim) and ends far from the fit.
        for (int64_t i = 0; i < n_active; ++i) beta[i] = alpha0[work.active[i]];
        work.cholesky.solve(beta);
        ++steps;
        break;
      }
    }
    // The equiangular direction w = A_A G_AA⁻¹ s, A_A = (sᵀ G_AA⁻¹ s)^(−1/2).
    std::copy(s, s + n_active, w);
    work.cholesky.solve(w);
    T norm = 0;
    for (int64_t i = 0; i < n_active; ++i) norm += w[i] * s[i];
    if (!(norm > 0)) break;  // G_AA too ill-conditioned to move on
    const T AA = 1 / std::sqrt(norm);
    for (int64_t i = 0; i < n_active; ++i) w[i] *= AA;
    gather_rows(G, K, work.active.data(), w, n_active, a);
    // The step to the next entry: min over positive candidates, or to the
    // least-squares fit of the active set (C / A_A).
    Bits least = std::bit_cast<Bits>(T(C / AA));
#pragma omp simd reduction(min : least)
    for (int64_t j = 0; j < K; ++j) {
      const T aj = a[j], cj = c[j];
      const T t1 = (C - cj) / (AA - aj + tiny);
      const T t2 = (C + cj) / (AA + aj + tiny);
      const T v1 = t1 > 0 ? t1 : inf, v2 = t2 > 0 ? t2 : inf;
      const Bits bits = std::bit_cast<Bits>((v1 < v2 ? v1 : v2) + blocked[j]);
      least = bits < least ? bits : least;
    }
    const T gamma = std::bit_cast<T>(least);
    // A coefficient crossing zero before then: LAR keeps it, scikit-learn
    // flips its sign in the next direction and adds no atom next.
    T crossing = none;
    for (int64_t i = 0; i < n_active; ++i) {
      const T z = -beta[i] / (w[i] + tiny);
      if (z > 0 && z < crossing) crossing = z;
    }
    flipped = crossing < gamma;
    if (flipped) {
      for (int64_t i = 0; i < n_active; ++i) {
        if (-beta[i] / (w[i] + tiny) == crossing) s[i] = -s[i];
      }
    }
    ++steps;
    for (int64_t i = 0; i < n_active; ++i) beta[i] += gamma * w[i];
    // (The active atoms' c is not read again.)
    for (int64_t j = 0; j < K; ++j) c[j] -= gamma * a[j];
  }
  for (int64_t i = 0; i < n_active; ++i) code[work.active[i]] = beta[i];
  return n_active;
}

DICTLEARN_LEVEL_CLONES int64_t lar_path_clone(const float* G, int64_t n_atoms, const float* alpha0,
                                              int64_t max_steps, int64_t max_active,
                                              float stop_ratio, float pivot_tol,
                                              LarsWorkspace<float>& work, float* code) {
  return lar_path(G, n_atoms, alpha0, max_steps, max_active, stop_ratio, pivot_tol, work, code);
}
DICTLEARN_LEVEL_CLONES int64_t lar_path_clone(const double* G, int64_t n_atoms,
                                              const double* alpha0, int64_t max_steps,
                                              int64_t max_active, double stop_ratio,
                                              double pivot_tol, LarsWorkspace<double>& work,
                                              double* code) {
  return lar_path(G, n_atoms, alpha0, max_steps, max_active, stop_ratio, pivot_tol, work, code);
}

}  // namespace

template <typename T>
int64_t lars_signal(const T* G, int64_t n_atoms, const T* alpha0, int64_t max_steps,
                    int64_t max_active, T stop_ratio, T pivot_tol, LarsWorkspace<T>& work,
                    T* code) {
  return lar_path_clone(G, n_atoms, alpha0, max_steps, max_active, stop_ratio, pivot_tol, work,
                        code);
}

#define DICTLEARN_INSTANTIATE(T)                                                       \
  template int64_t lars_signal<T>(const T*, int64_t, const T*, int64_t, int64_t, T, T, \
                                  LarsWorkspace<T>&, T*);
DICTLEARN_INSTANTIATE(float)
DICTLEARN_INSTANTIATE(double)
#undef DICTLEARN_INSTANTIATE

}  // namespace detail

template <typename T>
Matrix<T> encode_lars(const Dictionary<T>& dictionary, MatrixView<std::type_identity_t<T>> X,
                      const CodingOptions& options) {
  detail::check_coding_input<T>(dictionary, X, options);
  const int64_t K = dictionary.n_atoms(), d = dictionary.dim();
  const int64_t max_steps = detail::nonzero_limit(options, K, d, false);
  const detail::ContiguousRows<T> rows(X);
  Matrix<T> codes(X.rows(), K);
  if (X.rows() == 0) return codes;
  const T* D = dictionary.dictionary.data();
  const Matrix<T> G = detail::gram_matrix(dictionary.dictionary);
  // scikit-learn stops at C / dim <= float32's epsilon, C the largest
  // correlation; here relative to the first C, so that the scale of the data
  // does not decide, and never below the type's rounding of c.
  const T eps = std::numeric_limits<T>::epsilon();
  const T stop_ratio =
      std::max<T>(static_cast<T>(d) * std::numeric_limits<float>::epsilon(), 64 * eps);
  const T pivot_tol = 100 * eps;
  const double work = static_cast<double>(X.rows()) * static_cast<double>(K) *
                      (2.0 * static_cast<double>(d) +
                       static_cast<double>(max_steps) * static_cast<double>(max_steps + 4));
  detail::for_row_blocks(
      X.rows(), detail::kCodingBlock, options.threads, work, [&](int64_t begin, int64_t count) {
        std::vector<T> centered;
        const T* x = detail::centered_rows(dictionary, rows.data() + begin * d, count, centered);
        std::vector<T> alpha0(count * K);
        detail::gemm(false, true, count, K, d, x, d, D, d, T(0), alpha0.data(), K);
        detail::LarsWorkspace<T> workspace;
        for (int64_t i = 0; i < count; ++i) {
          detail::lars_signal(G.data(), K, alpha0.data() + i * K, max_steps, d, stop_ratio,
                              pivot_tol, workspace, codes.data() + (begin + i) * K);
        }
      });
  return codes;
}

template Matrix<float> encode_lars<float>(const Dictionary<float>&, MatrixView<float>,
                                          const CodingOptions&);
template Matrix<double> encode_lars<double>(const Dictionary<double>&, MatrixView<double>,
                                            const CodingOptions&);

}  // namespace dictlearn
