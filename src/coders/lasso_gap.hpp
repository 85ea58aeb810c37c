// Internal: the duality gap of the lasso / elastic net on the Gram matrix,
// the stopping rule the lasso_cd and fista coders share (and what the tests
// call to check that a returned code meets the documented bound).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace dictlearn::detail {

/// The lasso's settings as the iterative coders use them.
struct LassoProblem {
  double alpha = 0;       ///< α of α‖r‖₁
  double l2 = 0;          ///< λ₂ of ½λ₂‖r‖²
  bool positive = false;  ///< r >= 0
};

/// The duality gap at r of
///
///   P(r) = ½‖x − rD‖² + α‖r‖₁ + ½λ₂‖r‖²   (r >= 0 when positive)
///
/// from the Gram's quantities: q = D x, Gr = G r (G = D Dᵀ) and norm2 = ‖x‖²,
/// all over the same `count` atoms. scikit-learn's formula (the Gram variant
/// of _cd_fast.pyx's enet_coordinate_descent_gram): with the residual's
/// correlations c = q − Gr − λ₂r, ‖c‖ their largest |value| (the largest
/// value with positive) and s = min(1, α / ‖c‖), the dual point s·(x − rD)
/// gives
///
///   gap = ½‖x − rD‖²(1 + s²) + α‖r‖₁ − s(‖x‖² − qᵀr) + ½λ₂(1 + s²)‖r‖²,
///
/// P(r) minus a dual value: >= 0 up to rounding, 0 exactly at the optimum,
/// and an upper bound on P(r) − min P. ‖x − rD‖² is ‖x‖² − 2qᵀr + rᵀGr.
/// Summed in double whatever T, so that float codes can meet a tight
/// tolerance. Cost: about 6·count flops.
///
/// `residual2`, when given (not NaN), is ‖x − rD‖² computed from the signal
/// itself: the Gram form cancels to about eps_T·‖x‖², which for float is
/// above a tight bound, and the direct form does not.
template <typename T>
double lasso_gap(const T* q, const T* Gr, const T* r, int64_t count, double norm2,
                 const LassoProblem& problem, double residual2 = NAN) {
  double dual_norm = problem.positive ? -INFINITY : 0.0;
  double q_dot_r = 0, r_G_r = 0, l1 = 0, l2_norm = 0;
  for (int64_t i = 0; i < count; ++i) {
    const double ri = r[i];
    const double correlation = static_cast<double>(q[i]) - Gr[i] - problem.l2 * ri;
    dual_norm = std::max(dual_norm, problem.positive ? correlation : std::abs(correlation));
    q_dot_r += q[i] * ri;
    r_G_r += Gr[i] * ri;
    l1 += std::abs(ri);
    l2_norm += ri * ri;
  }
  if (std::isnan(residual2)) residual2 = norm2 - 2 * q_dot_r + r_G_r;
  const double s = dual_norm > problem.alpha ? problem.alpha / dual_norm : 1.0;
  return 0.5 * residual2 * (1 + s * s) + problem.alpha * l1 - s * (norm2 - q_dot_r) +
         0.5 * problem.l2 * (1 + s * s) * l2_norm;
}

}  // namespace dictlearn::detail
