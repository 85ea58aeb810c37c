#include "coders/lasso_cd.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "coders/coding.hpp"
#include "core/blocks.hpp"
#include "core/check.hpp"
#include "core/contiguous.hpp"
#include "kernels/gemm.hpp"
#include "kernels/simd_dispatch.hpp"

namespace dictlearn {

namespace detail {

namespace {

/// Atoms a round adds to the working set at least (more when the support is
/// larger: it may double).
constexpr int64_t kGrow = 4;

/// scikit-learn's coordinate update: the minimizer over r_i of the problem
/// with the other coordinates fixed, where tmp = q_i − (Gr)_i + r_i G_ii.
template <typename T>
inline T coordinate_value(T tmp, T alpha, T denominator, bool positive) {
  if (tmp > alpha) return (tmp - alpha) / denominator;
  if (!positive && tmp < -alpha) return (tmp + alpha) / denominator;
  return T(0);
}

template <typename T>
inline void axpy(int64_t count, T a, const T* x, T* y) {
#pragma omp simd
  for (int64_t i = 0; i < count; ++i) y[i] += a * x[i];
}

}  // namespace

// The loops over every atom, once per round: one clone per x86-64 level,
// picked by the CPU when the library loads (as src/kernels/row_kernels.cpp).

template <typename T>
inline void gram_times_codes_body(const T* G, int64_t K, const int64_t* support, int64_t count,
                                  const T* r, T* Gr) {
  std::fill(Gr, Gr + K, T(0));
  for (int64_t a = 0; a < count; ++a) {
    const T value = r[support[a]];
    const T* g = G + support[a] * K;
#pragma omp simd
    for (int64_t i = 0; i < K; ++i) Gr[i] += value * g[i];
  }
}

/// Gr = G r for r nonzero on `support` alone (rows of the symmetric G).
DICTLEARN_LEVEL_CLONES void gram_times_codes(const float* G, int64_t K, const int64_t* support,
                                             int64_t count, const float* r, float* Gr) {
  gram_times_codes_body(G, K, support, count, r, Gr);
}
DICTLEARN_LEVEL_CLONES void gram_times_codes(const double* G, int64_t K, const int64_t* support,
                                             int64_t count, const double* r, double* Gr) {
  gram_times_codes_body(G, K, support, count, r, Gr);
}

template <typename T>
inline T correlations_body(const T* q, const T* Gr, const T* r, int64_t K, T l2, bool positive,
                           T* violation) {
  // Two plain loops (no choice inside), so that both vectorize.
  if (positive) {
    T dual_norm = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : dual_norm)
    for (int64_t i = 0; i < K; ++i) {
      const T c = q[i] - Gr[i] - l2 * r[i];
      dual_norm = std::max(dual_norm, c);
      violation[i] = r[i] == T(0) ? c : T(0);
    }
    return dual_norm;
  }
  T dual_norm = 0;
#pragma omp simd reduction(max : dual_norm)
  for (int64_t i = 0; i < K; ++i) {
    const T size = std::abs(q[i] - Gr[i] - l2 * r[i]);
    dual_norm = std::max(dual_norm, size);
    violation[i] = r[i] == T(0) ? size : T(0);
  }
  return dual_norm;
}

/// The residual's correlations c = q − Gr − λ₂r of every atom: returns the
/// dual norm of lasso_gap(), max |c_i| (max c_i with positive), and writes
/// each atom's violation of the optimality conditions at r_i = 0, |c_i|
/// (c_i with positive), 0 where r_i ≠ 0.
DICTLEARN_LEVEL_CLONES float correlations(const float* q, const float* Gr, const float* r,
                                          int64_t K, float l2, bool positive, float* violation) {
  return correlations_body(q, Gr, r, K, l2, positive, violation);
}
DICTLEARN_LEVEL_CLONES double correlations(const double* q, const double* Gr, const double* r,
                                           int64_t K, double l2, bool positive, double* violation) {
  return correlations_body(q, Gr, r, K, l2, positive, violation);
}

template <typename T>
inline int64_t top_violators_body(const T* violation, int64_t K, T alpha, int64_t most,
                                  int64_t* out) {
  // A sorted list of at most `most` (small): by decreasing violation, ties to
  // the lower index (atoms come in order, so a later equal one loses). Once
  // it is full, chunks of 32 whose largest value is <= its last are skipped
  // by one vector reduction: violators are many only in the first round.
  constexpr int64_t kChunk = 32;
  int64_t count = 0;
  T bar = alpha;
  for (int64_t begin = 0; begin < K; begin += kChunk) {
    const int64_t end = std::min(K, begin + kChunk);
    T largest = 0;
#pragma omp simd reduction(max : largest)
    for (int64_t i = begin; i < end; ++i) largest = std::max(largest, violation[i]);
    if (!(largest > bar)) continue;
    for (int64_t i = begin; i < end; ++i) {
      const T value = violation[i];
      if (!(value > bar)) continue;
      int64_t position = count < most ? count++ : most - 1;
      while (position > 0 && violation[out[position - 1]] < value) {
        out[position] = out[position - 1];
        --position;
      }
      out[position] = i;
      if (count == most) bar = violation[out[most - 1]];
    }
  }
  return count;
}

/// The (at most) `most` atoms whose violation exceeds α most, into `out`;
/// returns their number.
DICTLEARN_LEVEL_CLONES int64_t top_violators(const float* violation, int64_t K, float alpha,
                                             int64_t most, int64_t* out) {
  return top_violators_body(violation, K, alpha, most, out);
}
DICTLEARN_LEVEL_CLONES int64_t top_violators(const double* violation, int64_t K, double alpha,
                                             int64_t most, int64_t* out) {
  return top_violators_body(violation, K, alpha, most, out);
}

namespace {

/// One cyclic pass over `count` coordinates of G (row stride `stride`),
/// keeping Gr = G r up to date; returns whether any coordinate changed.
/// `l2` joins G_ii in the denominator (the elastic net).
template <typename T>
bool cyclic_pass(const T* G, int64_t count, int64_t stride, const T* q, T alpha, T l2,
                 bool positive, T* r, T* Gr) {
  bool changed = false;
  for (int64_t i = 0; i < count; ++i) {
    const T* g = G + i * stride;
    const T gii = g[i];
    const T ri = r[i];
    T value;
    if (gii == T(0)) {
      // A zero atom (as scikit-learn, which skips it): any code there only
      // adds to the penalty, so it is 0.
      value = T(0);
    } else {
      const T tmp = q[i] - Gr[i] + ri * gii;
      // The common case of a sparse code: a zero coordinate that stays zero,
      // decided without touching G's row.
      if (ri == T(0) && tmp <= alpha && (positive || tmp >= -alpha)) continue;
      value = coordinate_value(tmp, alpha, gii + l2, positive);
    }
    if (value != ri) {
      axpy(count, value - ri, g, Gr);
      r[i] = value;
      changed = true;
    }
  }
  return changed;
}

/// The sign of each working-set code (-1, 0, 1) into `signs`.
template <typename T>
void sign_pattern(const T* r, int64_t count, std::vector<signed char>& signs) {
  signs.resize(count);
  for (int64_t a = 0; a < count; ++a) signs[a] = static_cast<signed char>((r[a] > 0) - (r[a] < 0));
}

/// P(r) − ½‖x‖² on the working set, in double: −qᵀr + ½rᵀGr + α‖r‖₁ + ½λ₂‖r‖².
template <typename T>
double working_objective(const T* q, const T* Gr, const T* r, int64_t count,
                         const LassoProblem& problem) {
  double sum = 0;
  for (int64_t a = 0; a < count; ++a) {
    const double ra = r[a];
    sum += ra * (0.5 * Gr[a] - q[a]) + problem.alpha * std::abs(ra) + 0.5 * problem.l2 * ra * ra;
  }
  return sum;
}

/// What feature_sign_step() did.
enum class SignStep { none, solved, moved };

/// One feature-sign search (Lee, Battle, Raina, Ng 2007) on the working set:
/// the minimizer z of the problem on the codes' support S with their signs s
/// fixed, (G_SS + λ₂I) z = q_S − α s, by LDLᵀ. If z keeps every sign it
/// is the optimum for that pattern (`solved`); otherwise the codes move
/// toward z up to the first sign change, where that code becomes 0, and the
/// search repeats on the smaller support (`moved`): along the way the
/// objective equals the pattern's quadratic, so it only goes down. Nothing
/// changes (`none`) when an LDLᵀ pivot falls below 1e-10 of its diagonal
/// (dependent atoms: CD handles them) or the objective would not go down.
/// CD converges linearly, slowly for correlated atoms; once its sign pattern
/// has settled, this lands on the pattern's optimum in |S|³/3 flops a solve.
template <typename T>
SignStep feature_sign_step(int64_t A, const LassoProblem& problem, LassoCdWorkspace<T>& work) {
  const T* G = work.G_active.data();
  const T* q = work.q_active.data();
  T* r = work.r_active.data();
  T* Gr = work.Gr_active.data();
  const double before = working_objective(q, Gr, r, A, problem);
  work.saved_r.assign(r, r + A);
  work.saved_Gr.assign(Gr, Gr + A);
  std::vector<int64_t>& support = work.support;
  std::vector<double>& L = work.cholesky;
  std::vector<double>& z = work.solution;
  SignStep step = SignStep::none;
  while (true) {
    support.clear();
    for (int64_t a = 0; a < A; ++a) {
      if (r[a] != T(0)) support.push_back(a);
    }
    const int64_t m = static_cast<int64_t>(support.size());
    if (m == 0) break;
    // L P Lᵀ = G_SS + λ₂I (LDLᵀ: L unit lower, row-major; P diagonal, kept
    // inverted): one division per row and no root, which cost a dozen
    // products each.
    L.assign(m * m, 0.0);
    z.resize(m);
    std::vector<double>& inverse = work.inverse_pivots;
    std::vector<double>& scaled = work.scaled_row;
    inverse.resize(m);
    scaled.resize(m);
    bool singular = false;
    for (int64_t a = 0; a < m && !singular; ++a) {
      const int64_t i = support[a];
      z[a] = static_cast<double>(q[i]) - problem.alpha * (r[i] > 0 ? 1.0 : -1.0);
      const T* g = G + i * A;
      double* La = L.data() + a * m;
      double pivot = static_cast<double>(g[i]) + problem.l2;
      for (int64_t b = 0; b < a; ++b) {
        // scaled[b] = L_ab·P_b, then L_ab.
        const double* Lb = L.data() + b * m;
        double sum = g[support[b]];
        for (int64_t k = 0; k < b; ++k) sum -= scaled[k] * Lb[k];
        scaled[b] = sum;
        La[b] = sum * inverse[b];
        pivot -= sum * La[b];
      }
      if (!(pivot > 1e-10 * (static_cast<double>(g[i]) + problem.l2))) singular = true;
      inverse[a] = 1 / pivot;
    }
    if (singular) break;
    for (int64_t a = 0; a < m; ++a) {
      for (int64_t k = 0; k < a; ++k) z[a] -= L[a * m + k] * z[k];
    }
    for (int64_t a = m - 1; a >= 0; --a) {
      z[a] *= inverse[a];
      for (int64_t k = a + 1; k < m; ++k) z[a] -= L[k * m + a] * z[k];
    }
    // The first sign change on the way from r to z, at r + t(z − r).
    double t = 1;
    int64_t crossing = -1;
    for (int64_t a = 0; a < m; ++a) {
      const double ra = r[support[a]];
      if (ra > 0 ? z[a] > 0 : z[a] < 0) continue;
      const double at = ra / (ra - z[a]);
      if (at < t || crossing < 0) {
        t = at;
        crossing = a;
      }
    }
    for (int64_t a = 0; a < m; ++a) {
      const int64_t i = support[a];
      const double ra = r[i];
      r[i] = a == crossing ? T(0) : static_cast<T>(ra + t * (z[a] - ra));
      // Rounding must not flip a sign the step keeps.
      if (r[i] != T(0) && (r[i] > 0) != (ra > 0)) r[i] = T(0);
    }
    if (crossing < 0) {
      step = SignStep::solved;
      break;
    }
    step = SignStep::moved;
  }
  if (step == SignStep::none) return step;
  support.clear();
  for (int64_t a = 0; a < A; ++a) {
    if (r[a] != T(0)) support.push_back(a);
  }
  for (int64_t i = 0; i < A; ++i) {
    const T* g = G + i * A;
    double sum = 0;
    for (const int64_t a : support) sum += static_cast<double>(g[a]) * r[a];
    Gr[i] = static_cast<T>(sum);
  }
  if (working_objective(q, Gr, r, A, problem) <= before) return step;
  std::copy(work.saved_r.begin(), work.saved_r.end(), r);
  std::copy(work.saved_Gr.begin(), work.saved_Gr.end(), Gr);
  return SignStep::none;
}

/// lasso_gap() from the dual norm and sums over the support alone (the
/// codes are 0 elsewhere), and the objective P(r) − ½‖x‖² beside it.
template <typename T>
double support_gap(const T* q, const T* Gr, const T* r, const std::vector<int64_t>& support,
                   double dual_norm, double norm2, const LassoProblem& problem, double* objective) {
  double q_dot_r = 0, r_G_r = 0, l1 = 0, l2_norm = 0;
  for (const int64_t i : support) {
    const double ri = r[i];
    q_dot_r += q[i] * ri;
    r_G_r += Gr[i] * ri;
    l1 += std::abs(ri);
    l2_norm += ri * ri;
  }
  *objective = 0.5 * r_G_r - q_dot_r + problem.alpha * l1 + 0.5 * problem.l2 * l2_norm;
  const double residual2 = norm2 - 2 * q_dot_r + r_G_r;
  const double s = dual_norm > problem.alpha ? problem.alpha / dual_norm : 1.0;
  return 0.5 * residual2 * (1 + s * s) + problem.alpha * l1 - s * (norm2 - q_dot_r) +
         0.5 * problem.l2 * (1 + s * s) * l2_norm;
}

/// Coordinate descent passes on the working set (gathered in `work`), with
/// a feature-sign step whenever a pass keeps every sign, until the working
/// set's gap is <= `goal`, a pass changes nothing or lowers the gap by under
/// 1%, or `passes` reaches max_iter.
template <typename T>
void solve_working_set(int64_t A, double norm2, const LassoProblem& problem, double goal,
                       int max_iter, LassoCdWorkspace<T>& work, int& passes) {
  const T alpha = static_cast<T>(problem.alpha), l2 = static_cast<T>(problem.l2);
  bool solved_this_pattern = false;
  double best_gap = INFINITY;
  while (passes < max_iter) {
    sign_pattern(work.r_active.data(), A, work.signs_before);
    const bool changed = cyclic_pass(work.G_active.data(), A, A, work.q_active.data(), alpha, l2,
                                     problem.positive, work.r_active.data(), work.Gr_active.data());
    ++passes;
    const double gap = lasso_gap(work.q_active.data(), work.Gr_active.data(), work.r_active.data(),
                                 A, norm2, problem);
    // Under 1% progress: slow, or creeping at T's rounding floor while G r
    // drifts from the codes' (the round recomputes it, and stops at the
    // floor).
    if (!changed || gap <= goal || gap >= 0.99 * best_gap) return;
    best_gap = gap;
    sign_pattern(work.r_active.data(), A, work.signs);
    if (work.signs != work.signs_before) {
      solved_this_pattern = false;
    } else if (!solved_this_pattern) {
      // A pass that kept every sign: search from this pattern once.
      solved_this_pattern = true;
      const SignStep step = feature_sign_step(A, problem, work);
      if (step == SignStep::solved) return;
      if (step == SignStep::moved) solved_this_pattern = false;
    }
  }
}

}  // namespace

template <typename T>
LassoCdResult lasso_cd_signal(const T* G, int64_t n_atoms, const T* q, double norm2,
                              const LassoProblem& problem, int max_iter, double tol,
                              LassoCdWorkspace<T>& work, T* code) {
  const int64_t K = n_atoms;
  const double target = tol * norm2;
  work.Gr.resize(K);
  work.violation.resize(K);
  T* Gr = work.Gr.data();
  T* c = work.violation.data();
  std::vector<int64_t>& support = work.code_support;
  support.clear();
  for (int64_t j = 0; j < K; ++j) {
    if (code[j] != T(0)) support.push_back(j);
  }
  LassoCdResult result;
  double previous_objective = INFINITY;
  while (true) {
    gram_times_codes(G, K, support.data(), static_cast<int64_t>(support.size()), code, Gr);
    const double dual_norm =
        correlations(q, Gr, code, K, static_cast<T>(problem.l2), problem.positive, c);
    double objective;
    result.gap = support_gap(q, Gr, code, support, dual_norm, norm2, problem, &objective);
    // Unless at the optimum, a round lowers the objective in exact
    // arithmetic; one that does not has reached T's rounding floor, below
    // which the gap cannot be resolved.
    if (result.gap <= target || result.passes >= max_iter || objective >= previous_objective) {
      break;
    }
    previous_objective = objective;
    // The working set: the support and the atoms that violate the optimality
    // conditions most (|c_i| > α at r_i = 0), as many as the support has
    // and at least kGrow, by decreasing violation, ties to the lower index.
    std::vector<int64_t>& grow = work.violators;
    grow.resize(K);
    const int64_t add =
        top_violators(c, K, static_cast<T>(problem.alpha),
                      std::max<int64_t>(kGrow, static_cast<int64_t>(support.size())), grow.data());
    std::vector<int64_t>& active = work.active;
    active.assign(support.begin(), support.end());
    active.insert(active.end(), grow.begin(), grow.begin() + add);
    // In the order of the atoms: the cyclic order of scikit-learn's passes.
    std::sort(active.begin(), active.end());
    const int64_t A = static_cast<int64_t>(active.size());
    if (A == 0) break;  // r = 0 and no violator: optimal (gap 0 up to rounding)
    work.G_active.resize(A * A);
    work.q_active.resize(A);
    work.r_active.resize(A);
    work.Gr_active.resize(A);
    for (int64_t a = 0; a < A; ++a) {
      const int64_t i = active[a];
      const T* g = G + i * K;
      for (int64_t b = 0; b < A; ++b) work.G_active[a * A + b] = g[active[b]];
      work.q_active[a] = q[i];
      work.r_active[a] = code[i];
      work.Gr_active[a] = Gr[i];  // exact: r is 0 off the support
    }
    solve_working_set(A, norm2, problem, 0.5 * target, max_iter, work, result.passes);
    support.clear();
    for (int64_t a = 0; a < A; ++a) {
      code[active[a]] = work.r_active[a];
      if (work.r_active[a] != T(0)) support.push_back(active[a]);
    }
  }
  return result;
}

template LassoCdResult lasso_cd_signal<float>(const float*, int64_t, const float*, double,
                                              const LassoProblem&, int, double,
                                              LassoCdWorkspace<float>&, float*);
template LassoCdResult lasso_cd_signal<double>(const double*, int64_t, const double*, double,
                                               const LassoProblem&, int, double,
                                               LassoCdWorkspace<double>&, double*);

namespace {

/// The coder with or without initial codes (nullptr: zeros).
template <typename T>
Matrix<T> encode_lasso_cd_from(const Dictionary<T>& dictionary, MatrixView<T> X,
                               const CodingOptions& options, const MatrixView<T>* initial) {
  check_coding_input<T>(dictionary, X, options);
  const int64_t K = dictionary.n_atoms(), d = dictionary.dim();
  Matrix<T> codes = Matrix<T>::Zero(X.rows(), K);
  if (initial != nullptr) {
    DICTLEARN_CHECK(initial->rows() == X.rows() && initial->cols() == K,
                    "initial codes: have shape {} x {} but the data has {} rows and the "
                    "dictionary {} atoms",
                    initial->rows(), initial->cols(), X.rows(), K);
    for (Eigen::Index i = 0; i < initial->rows(); ++i) {
      for (int64_t j = 0; j < K; ++j) {
        const T value = (*initial)(i, j);
        DICTLEARN_CHECK(std::isfinite(value),
                        "initial codes: hold non-finite values (row {}, column {}: {})", i, j,
                        value);
        // Codes below 0 lie outside the positive problem: start from their
        // projection onto it.
        codes(i, j) = options.positive && value < T(0) ? T(0) : value;
      }
    }
  }
  if (X.rows() == 0) return codes;
  const ContiguousRows<T> rows(X);
  const T* D = dictionary.dictionary.data();
  const Matrix<T> G = gram_matrix(dictionary.dictionary);
  const LassoProblem problem{
      .alpha = options.alpha, .l2 = options.l2, .positive = options.positive};
  const double work = static_cast<double>(X.rows()) * static_cast<double>(K) *
                      (2.0 * static_cast<double>(d) + 32.0);
  for_row_blocks(X.rows(), kCodingBlock, options.threads, work, [&](int64_t begin, int64_t count) {
    std::vector<T> centered;
    const T* x = centered_rows(dictionary, rows.data() + begin * d, count, centered);
    std::vector<T> q(count * K);
    gemm(false, true, count, K, d, x, d, D, d, T(0), q.data(), K);
    LassoCdWorkspace<T> workspace;
    for (int64_t i = 0; i < count; ++i) {
      double norm2 = 0;
      for (int64_t j = 0; j < d; ++j) norm2 += static_cast<double>(x[i * d + j]) * x[i * d + j];
      lasso_cd_signal(G.data(), K, q.data() + i * K, norm2, problem, options.max_iter, options.tol,
                      workspace, codes.data() + (begin + i) * K);
    }
  });
  return codes;
}

}  // namespace

}  // namespace detail

template <typename T>
Matrix<T> encode_lasso_cd(const Dictionary<T>& dictionary, MatrixView<std::type_identity_t<T>> X,
                          const CodingOptions& options) {
  return detail::encode_lasso_cd_from<T>(dictionary, X, options, nullptr);
}

template <typename T>
Matrix<T> encode_lasso_cd(const Dictionary<T>& dictionary, MatrixView<std::type_identity_t<T>> X,
                          const CodingOptions& options,
                          MatrixView<std::type_identity_t<T>> initial_codes) {
  return detail::encode_lasso_cd_from<T>(dictionary, X, options, &initial_codes);
}

template Matrix<float> encode_lasso_cd<float>(const Dictionary<float>&, MatrixView<float>,
                                              const CodingOptions&);
template Matrix<double> encode_lasso_cd<double>(const Dictionary<double>&, MatrixView<double>,
                                                const CodingOptions&);
template Matrix<float> encode_lasso_cd<float>(const Dictionary<float>&, MatrixView<float>,
                                              const CodingOptions&, MatrixView<float>);
template Matrix<double> encode_lasso_cd<double>(const Dictionary<double>&, MatrixView<double>,
                                                const CodingOptions&, MatrixView<double>);

}  // namespace dictlearn
