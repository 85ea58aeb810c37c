// Checks the lasso coders' tests share: the objective, the optimality (KKT)
// conditions and the duality gap, all in double from the math, and the
// fixtures of tests/fixtures/make_lasso_fixture.py.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>

#include "coders/lasso_gap.hpp"
#include "dictlearn/coders.hpp"
#include "dictlearn/io.hpp"
#include "dictlearn/types.hpp"
#include "test_util.hpp"

namespace dictlearn::testing {

inline Matrix<double> lasso_fixture(const std::string& name) {
  return fixture_matrix("lasso", name);
}

/// ½‖x − rD‖² + α‖r‖₁ + ½λ₂‖r‖² of each row (x, r).
inline Eigen::VectorXd lasso_objectives(const Matrix<double>& D, const Matrix<double>& X,
                                        const Matrix<double>& R, double alpha, double l2) {
  Eigen::VectorXd out(X.rows());
  for (Eigen::Index i = 0; i < X.rows(); ++i) {
    const Eigen::RowVectorXd residual = X.row(i) - R.row(i) * D;
    out(i) = 0.5 * residual.squaredNorm() + alpha * R.row(i).lpNorm<1>() +
             0.5 * l2 * R.row(i).squaredNorm();
  }
  return out;
}

/// The largest violation of the optimality conditions of the lasso / elastic
/// net over the rows: with c = dᵢ·(x − rD) − λ₂rᵢ, |c| <= α off the support
/// (c <= α with positive) and c = α·sign(rᵢ) on it; and rᵢ >= 0 with positive.
inline double kkt_violation(const Matrix<double>& D, const Matrix<double>& X,
                            const Matrix<double>& R, double alpha, double l2, bool positive) {
  double worst = 0;
  for (Eigen::Index i = 0; i < X.rows(); ++i) {
    const Eigen::RowVectorXd residual = X.row(i) - R.row(i) * D;
    const Eigen::RowVectorXd c = residual * D.transpose() - l2 * R.row(i);
    for (Eigen::Index j = 0; j < R.cols(); ++j) {
      const double r = R(i, j);
      double violation;
      if (r == 0) {
        violation = positive ? c(j) - alpha : std::abs(c(j)) - alpha;
      } else {
        violation = std::abs(c(j) - alpha * (r > 0 ? 1.0 : -1.0));
        if (positive && r < 0) violation = std::max(violation, -r);
      }
      worst = std::max(worst, violation);
    }
  }
  return worst;
}

/// The duality gap of each row (detail::lasso_gap in double) over its
/// bound ‖x‖²: the stopping rule's left side divided by its tol.
inline Eigen::VectorXd relative_gaps(const Matrix<double>& D, const Matrix<double>& X,
                                     const Matrix<double>& R, const detail::LassoProblem& problem) {
  const Matrix<double> G = D * D.transpose();
  Eigen::VectorXd out(X.rows());
  for (Eigen::Index i = 0; i < X.rows(); ++i) {
    const Eigen::RowVectorXd q = X.row(i) * D.transpose();
    const Eigen::RowVectorXd Gr = R.row(i) * G;
    const Eigen::RowVectorXd r = R.row(i);
    const double norm2 = X.row(i).squaredNorm();
    const double gap = detail::lasso_gap(q.data(), Gr.data(), r.data(), r.size(), norm2, problem);
    out(i) = norm2 > 0 ? gap / norm2 : gap;
  }
  return out;
}

/// The KKT tolerance: 1e-6 in double, 1e-4·(1 + max|x|) in float.
template <typename T>
double kkt_tolerance(const Matrix<double>& X) {
  return std::is_same_v<T, double> ? 1e-6 : 1e-4 * (1 + max_abs(X));
}

/// Codes of `options` on the fixture: KKT within the tolerance and,
/// per signal, an objective no worse than the reference codes' (+1e-9
/// relative in double, 1e-5 in float, whose objective rounds at 1e-7).
template <typename T>
void expect_optimal(const CodingOptions& options, const Matrix<double>& reference) {
  const Matrix<double> D = lasso_fixture("D"), X = lasso_fixture("X");
  const Matrix<T> codes =
      sparse_encode(Dictionary<T>{.dictionary = D.cast<T>()}, X.cast<T>().eval(), options);
  const Matrix<double> R = codes.template cast<double>();
  EXPECT_LE(kkt_violation(D, X, R, options.alpha, options.l2, options.positive),
            kkt_tolerance<T>(X));
  const Eigen::VectorXd ours = lasso_objectives(D, X, R, options.alpha, options.l2);
  const Eigen::VectorXd theirs = lasso_objectives(D, X, reference, options.alpha, options.l2);
  const double relative = std::is_same_v<T, double> ? 1e-9 : 1e-5;
  for (Eigen::Index i = 0; i < X.rows(); ++i) {
    EXPECT_LE(ours(i), theirs(i) * (1 + relative)) << "signal " << i;
  }
  if (options.positive) {
    EXPECT_GE(R.minCoeff(), 0.0);
  }
}

}  // namespace dictlearn::testing
