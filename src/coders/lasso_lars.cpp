// The lasso_lars coder: the lasso (or elastic net) by the LARS homotopy, the
// path's kinks computed exactly, drops included.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "coders/coding.hpp"
#include "coders/lars.hpp"
#include "core/blocks.hpp"
#include "core/contiguous.hpp"
#include "kernels/gemm.hpp"
#include "kernels/simd_dispatch.hpp"

namespace dictlearn {

namespace detail {

namespace {

enum : unsigned char { kInactive = 0, kActive = 1, kDependent = 2 };

/// The least j in [0, n) with is(j), or n: a vectorized reduction, where an
/// early-exit scan runs one value at a time.
template <typename Predicate>
[[gnu::always_inline]] inline int64_t first_index_of(int64_t n, Predicate is) {
  int64_t least = n;
#pragma omp simd reduction(min : least)
  for (int64_t j = 0; j < n; ++j) least = is(j) && j < least ? j : least;
  return least;
}

// The path, inlined into one clone per instruction-set level below.
template <typename T>
[[gnu::always_inline]] inline int64_t lasso_path(const T* G, int64_t n_atoms, const T* alpha0,
                                                 T alpha, bool positive, int64_t max_steps,
                                                 int64_t max_active, T pivot_tol,
                                                 LarsWorkspace<T>& work, T* code) {
  const int64_t K = n_atoms;
  std::fill(code, code + K, T(0));
  // λ starts at the largest correlation (the first atom that has it): at or
  // below α the codes are zero. Two vectorized passes: the largest, then its
  // first position.
  T C = 0;
  if (positive) {
#pragma omp simd reduction(max : C)
    for (int64_t j = 0; j < K; ++j) C = alpha0[j] > C ? alpha0[j] : C;
  } else {
#pragma omp simd reduction(max : C)
    for (int64_t j = 0; j < K; ++j) {
      const T value = std::abs(alpha0[j]);
      C = value > C ? value : C;
    }
  }
  if (!(C > 0) || C <= alpha) return 0;
  const int64_t first = first_index_of(
      K, [&](int64_t j) { return (positive ? alpha0[j] : std::abs(alpha0[j])) == C; });
  // Below this distance to α the rest of the path is rounding.
  const T stop_gap = 64 * std::numeric_limits<T>::epsilon() * C;
  work.correlation.assign(alpha0, alpha0 + K);
  work.gain.resize(K);
  work.state.assign(K, kInactive);
  work.blocked.assign(K, T(0));
  work.event.resize(K);
  work.active.clear();
  work.sign.clear();
  work.coefficient.clear();
  work.cholesky.clear();
  T* c = work.correlation.data();
  T* a = work.gain.data();
  unsigned char* state = work.state.data();
  T* blocked = work.blocked.data();
  T* event = work.event.data();
  const T inf = std::numeric_limits<T>::infinity();
  // A first atom with c ≠ 0 has G_jj > 0: its pivot is accepted.
  work.cholesky.append(G + first * K, work.active.data(), first, pivot_tol);
  work.active.push_back(first);
  work.sign.push_back(alpha0[first] > 0 ? T(1) : T(-1));
  work.forward.assign(1, work.cholesky.forward_row(0, nullptr, work.sign[0]));
  work.coefficient.push_back(T(0));
  state[first] = kActive;
  blocked[first] = inf;
  int64_t steps = 0, just_dropped = -1;
  bool reached = false;
  while (true) {
    const int64_t k = static_cast<int64_t>(work.active.size());
    // u = G_AA⁻¹ s_A: along it r_A moves by t·u while every active |c| and λ
    // fall by t, and an inactive c_j by t·a_j.
    work.direction.assign(work.forward.begin(), work.forward.end());
    work.cholesky.backward(work.direction.data());
    const T* u = work.direction.data();
    gather_rows(G, K, work.active.data(), u, k, a);
    // The next kink: an inactive c_j reaching ±(C − t), an active
    // coefficient reaching 0, or λ reaching α. A numerator below zero is an
    // atom rounding put past λ: it enters at once. The atom dropped by the
    // previous step moves inward and is not a candidate (it would re-enter
    // at t ≈ 0 by rounding). Branch-free over all atoms, so that it
    // vectorizes: `blocked` is +∞ for the atoms that are not candidates.
    if (just_dropped >= 0) blocked[just_dropped] = inf;
    // Every event is >= +0, and such floats order as their bit patterns:
    // the least is an integer min, which both compilers vectorize (clang 14
    // does not vectorize a floating-point one without -ffast-math).
    using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
    Bits least = std::bit_cast<Bits>(inf);
    const T no_down = positive ? inf : T(0);  // positive: no entry at c = −λ
#pragma omp simd reduction(min : least)
    for (int64_t j = 0; j < K; ++j) {
      const T aj = a[j], cj = c[j];
      const T up = 1 - aj, down = 1 + aj;
      const T to_up = (C - cj) / up, to_down = (C + cj) / down;
      const T t_up = up > 0 ? to_up : inf;
      const T t_down = (down > 0 ? to_down : inf) + no_down;
      const T nearest = t_up < t_down ? t_up : t_down;
      const T t = (nearest > 0 ? nearest : T(0)) + blocked[j];
      event[j] = t;
      const Bits bits = std::bit_cast<Bits>(t);
      least = bits < least ? bits : least;
    }
    const T first_event = std::bit_cast<T>(least);
    if (just_dropped >= 0) blocked[just_dropped] = 0;
    T step = C - alpha;
    int64_t entering = -1, leaving = -1;
    T entering_sign = 0;
    if (first_event < step) {
      step = first_event;
      entering = first_index_of(K, [&](int64_t j) { return event[j] == first_event; });
      const T up = 1 - a[entering];
      entering_sign = up > 0 && std::max<T>((C - c[entering]) / up, 0) == first_event ? 1 : -1;
    }
    T* beta = work.coefficient.data();
    const T* s = work.sign.data();
    for (int64_t i = 0; i < k; ++i) {
      if (u[i] * s[i] < 0) {
        const T t = std::max<T>(-beta[i] / u[i], 0);
        if (t < step) {
          step = t;
          leaving = i;
        }
      }
    }
    if (leaving >= 0) entering = -1;
    for (int64_t i = 0; i < k; ++i) beta[i] += step * u[i];
    // (The active atoms' c is not read: it is s_i·λ.)
    for (int64_t j = 0; j < K; ++j) c[j] -= step * a[j];
    C -= step;
    ++steps;
    just_dropped = -1;
    if (entering < 0 && leaving < 0) {
      reached = true;
      break;
    }
    if (leaving >= 0) {
      const int64_t atom = work.active[leaving];
      c[atom] = s[leaving] * C;
      work.cholesky.remove(leaving);
      work.active.erase(work.active.begin() + leaving);
      work.sign.erase(work.sign.begin() + leaving);
      work.coefficient.erase(work.coefficient.begin() + leaving);
      work.forward.assign(work.sign.begin(), work.sign.end());
      work.cholesky.forward(work.forward.data());
      state[atom] = kInactive;
      blocked[atom] = 0;
      just_dropped = atom;
      // A smaller span: atoms passed over as dependent may now be free.
      for (int64_t j = 0; j < K; ++j) {
        if (state[j] == kDependent) {
          state[j] = kInactive;
          blocked[j] = 0;
        }
      }
    } else if (k < max_active &&
               work.cholesky.append(G + entering * K, work.active.data(), entering, pivot_tol)) {
      work.active.push_back(entering);
      work.sign.push_back(entering_sign);
      work.forward.push_back(work.cholesky.forward_row(k, work.forward.data(), entering_sign));
      work.coefficient.push_back(T(0));
      state[entering] = kActive;
      blocked[entering] = inf;
    } else {
      // In the span of the active atoms: its c follows theirs (a duplicate
      // stays tied at λ) and it needs no coefficient.
      state[entering] = kDependent;
      blocked[entering] = inf;
    }
    if (C - alpha <= stop_gap) {
      reached = true;
      break;
    }
    if (steps >= max_steps) break;
  }
  // The end point from its active set and signs: G_AA r_A = alpha0_A − λ s_A,
  // free of the rounding the path's increments collected. A coefficient that
  // comes out of the wrong sign by rounding is left at zero.
  const T lambda = reached ? alpha : C;
  const int64_t k = static_cast<int64_t>(work.active.size());
  work.direction.resize(k);
  T* r = work.direction.data();
  for (int64_t i = 0; i < k; ++i) r[i] = alpha0[work.active[i]] - lambda * work.sign[i];
  work.cholesky.solve(r);
  for (int64_t i = 0; i < k; ++i) {
    if (r[i] * work.sign[i] > 0) code[work.active[i]] = r[i];
  }
  return steps;
}

// The scans over the atoms are plain loops: the compiler vectorizes them at
// each level's width (AVX-512, AVX2, SSE2), picked when the library loads.
// Levels may differ in the last bits (where a compiler contracts products
// into FMAs), as the other kernels' do; at any one level the codes do not
// depend on the thread count.
DICTLEARN_LEVEL_CLONES int64_t lasso_path_clone(const float* G, int64_t n_atoms,
                                                const float* alpha0, float alpha, bool positive,
                                                int64_t max_steps, int64_t max_active,
                                                float pivot_tol, LarsWorkspace<float>& work,
                                                float* code) {
  return lasso_path(G, n_atoms, alpha0, alpha, positive, max_steps, max_active, pivot_tol, work,
                    code);
}
DICTLEARN_LEVEL_CLONES int64_t lasso_path_clone(const double* G, int64_t n_atoms,
                                                const double* alpha0, double alpha, bool positive,
                                                int64_t max_steps, int64_t max_active,
                                                double pivot_tol, LarsWorkspace<double>& work,
                                                double* code) {
  return lasso_path(G, n_atoms, alpha0, alpha, positive, max_steps, max_active, pivot_tol, work,
                    code);
}

}  // namespace

template <typename T>
int64_t lasso_lars_signal(const T* G, int64_t n_atoms, const T* alpha0, T alpha, bool positive,
                          int64_t max_steps, int64_t max_active, T pivot_tol,
                          LarsWorkspace<T>& work, T* code) {
  return lasso_path_clone(G, n_atoms, alpha0, alpha, positive, max_steps, max_active, pivot_tol,
                          work, code);
}

namespace {

// Inlined into one clone per instruction-set level below.
template <typename T>
[[gnu::always_inline]] inline bool solve_from_support(const T* G, int64_t n_atoms, const T* alpha0,
                                                      T alpha, bool positive,
                                                      const int16_t* support, int64_t count,
                                                      int64_t max_active, T pivot_tol,
                                                      LarsWorkspace<T>& work, T* code) {
  const int64_t K = n_atoms;
  std::fill(code, code + K, T(0));
  work.active.clear();
  work.sign.clear();
  work.cholesky.clear();
  work.blocked.assign(K, T(0));  // −∞ for the atoms of the set
  T* blocked = work.blocked.data();
  const T inf = std::numeric_limits<T>::infinity();
  // An atom the others span, or one past max_active, is left out of the guess.
  for (int64_t i = 0; i < count; ++i) {
    const int64_t entry = support[i];
    const int64_t atom = entry >= 0 ? entry : ~entry;
    if ((positive && entry < 0) || static_cast<int64_t>(work.active.size()) >= max_active ||
        !work.cholesky.append(G + atom * K, work.active.data(), atom, pivot_tol))
      continue;
    work.active.push_back(atom);
    work.sign.push_back(entry >= 0 ? T(1) : T(-1));
    blocked[atom] = -inf;
  }
  work.gain.resize(K);
  T* a = work.gain.data();
  // Rounds of corrections (an atom of the wrong sign leaves, the worst
  // violator enters), each checked in full; the path decides otherwise. On
  // L-a under the capped schedule, 4 rounds left 3.4% of the codings after
  // the first pass to the path, 8 left 0.1%, 16 none in 204,228.
  constexpr int kRounds = 16;
  for (int round = 0; round < kRounds; ++round) {
    const int64_t k = static_cast<int64_t>(work.active.size());
    work.direction.resize(k);
    T* r = work.direction.data();
    for (int64_t i = 0; i < k; ++i) r[i] = alpha0[work.active[i]] - alpha * work.sign[i];
    work.cholesky.solve(r);
    bool signs_hold = true;
    for (int64_t i = k - 1; i >= 0; --i) {
      if (r[i] * work.sign[i] > 0) continue;
      signs_hold = false;
      blocked[work.active[i]] = 0;
      work.cholesky.remove(i);
      work.active.erase(work.active.begin() + i);
      work.sign.erase(work.sign.begin() + i);
    }
    if (!signs_hold) continue;
    // c = alpha0 − G_{:,S} r: the set's atoms' is ±α, the others' must not pass it.
    gather_rows(G, K, work.active.data(), r, k, a);
    T worst = -inf;
    if (positive) {
#pragma omp simd reduction(max : worst)
      for (int64_t j = 0; j < K; ++j) {
        const T c = alpha0[j] - a[j] + blocked[j];
        worst = c > worst ? c : worst;
      }
    } else {
#pragma omp simd reduction(max : worst)
      for (int64_t j = 0; j < K; ++j) {
        const T c = std::abs(alpha0[j] - a[j]) + blocked[j];
        worst = c > worst ? c : worst;
      }
    }
    if (worst <= alpha) {
      for (int64_t i = 0; i < k; ++i) code[work.active[i]] = r[i];
      return true;
    }
    if (!(worst < inf) || k >= max_active) return false;
    const int64_t atom = first_index_of(K, [&](int64_t j) {
      const T c = alpha0[j] - a[j];
      return (positive ? c : std::abs(c)) + blocked[j] == worst;
    });
    if (!work.cholesky.append(G + atom * K, work.active.data(), atom, pivot_tol)) return false;
    work.active.push_back(atom);
    work.sign.push_back(alpha0[atom] - a[atom] > 0 ? T(1) : T(-1));
    blocked[atom] = -inf;
  }
  return false;
}

DICTLEARN_LEVEL_CLONES bool solve_from_support_clone(const float* G, int64_t n_atoms,
                                                     const float* alpha0, float alpha,
                                                     bool positive, const int16_t* support,
                                                     int64_t count, int64_t max_active,
                                                     float pivot_tol, LarsWorkspace<float>& work,
                                                     float* code) {
  return solve_from_support(G, n_atoms, alpha0, alpha, positive, support, count, max_active,
                            pivot_tol, work, code);
}
DICTLEARN_LEVEL_CLONES bool solve_from_support_clone(const double* G, int64_t n_atoms,
                                                     const double* alpha0, double alpha,
                                                     bool positive, const int16_t* support,
                                                     int64_t count, int64_t max_active,
                                                     double pivot_tol, LarsWorkspace<double>& work,
                                                     double* code) {
  return solve_from_support(G, n_atoms, alpha0, alpha, positive, support, count, max_active,
                            pivot_tol, work, code);
}

}  // namespace

template <typename T>
bool lasso_from_support(const T* G, int64_t n_atoms, const T* alpha0, T alpha, bool positive,
                        const int16_t* support, int64_t count, int64_t max_active, T pivot_tol,
                        LarsWorkspace<T>& work, T* code) {
  return solve_from_support_clone(G, n_atoms, alpha0, alpha, positive, support, count, max_active,
                                  pivot_tol, work, code);
}

template bool lasso_from_support<float>(const float*, int64_t, const float*, float, bool,
                                        const int16_t*, int64_t, int64_t, float,
                                        LarsWorkspace<float>&, float*);
template bool lasso_from_support<double>(const double*, int64_t, const double*, double, bool,
                                         const int16_t*, int64_t, int64_t, double,
                                         LarsWorkspace<double>&, double*);

template int64_t lasso_lars_signal<float>(const float*, int64_t, const float*, float, bool, int64_t,
                                          int64_t, float, LarsWorkspace<float>&, float*);
template int64_t lasso_lars_signal<double>(const double*, int64_t, const double*, double, bool,
                                           int64_t, int64_t, double, LarsWorkspace<double>&,
                                           double*);

}  // namespace detail

template <typename T>
Matrix<T> encode_lasso_lars(const Dictionary<T>& dictionary, MatrixView<std::type_identity_t<T>> X,
                            const CodingOptions& options) {
  detail::check_coding_input<T>(dictionary, X, options);
  const int64_t K = dictionary.n_atoms(), d = dictionary.dim();
  const detail::ContiguousRows<T> rows(X);
  Matrix<T> codes(X.rows(), K);
  if (X.rows() == 0) return codes;
  const T* D = dictionary.dictionary.data();
  // The elastic net is the lasso on G + λ₂I with the same D x.
  const Matrix<T> G = detail::gram_matrix(dictionary.dictionary, static_cast<T>(options.l2));
  // Without λ₂ at most dim atoms are independent; with it, all of them.
  const int64_t max_active = options.l2 > 0 ? K : std::min(K, d);
  const T alpha = static_cast<T>(options.alpha);
  const T pivot_tol = 100 * std::numeric_limits<T>::epsilon();
  const double work = static_cast<double>(X.rows()) * static_cast<double>(K) *
                      (2.0 * static_cast<double>(d) + 64.0);
  detail::for_row_blocks(
      X.rows(), detail::kCodingBlock, options.threads, work, [&](int64_t begin, int64_t count) {
        std::vector<T> centered;
        const T* x = detail::centered_rows(dictionary, rows.data() + begin * d, count, centered);
        std::vector<T> alpha0(count * K);
        detail::gemm(false, true, count, K, d, x, d, D, d, T(0), alpha0.data(), K);
        detail::LarsWorkspace<T> workspace;
        for (int64_t i = 0; i < count; ++i) {
          detail::lasso_lars_signal(G.data(), K, alpha0.data() + i * K, alpha, options.positive,
                                    static_cast<int64_t>(options.max_iter), max_active, pivot_tol,
                                    workspace, codes.data() + (begin + i) * K);
        }
      });
  return codes;
}

template Matrix<float> encode_lasso_lars<float>(const Dictionary<float>&, MatrixView<float>,
                                                const CodingOptions&);
template Matrix<double> encode_lasso_lars<double>(const Dictionary<double>&, MatrixView<double>,
                                                  const CodingOptions&);

}  // namespace dictlearn
