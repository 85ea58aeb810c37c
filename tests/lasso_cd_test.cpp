// The coordinate descent lasso coder: optimality (KKT) and objectives against
// scikit-learn 1.2's lasso_lars and ElasticNet (fixtures of
// tests/fixtures/make_lasso_fixture.py), its stopping rule, warm starts,
// degenerate cases, bad input and thread-count independence.
#include "coders/lasso_cd.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "coders/coding.hpp"
#include "dictlearn/coders.hpp"
#include "lasso_checks.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

using testing::expect_optimal;
using testing::kkt_tolerance;
using testing::kkt_violation;
using testing::lasso_fixture;
using testing::lasso_objectives;
using testing::normal_matrix;
using testing::relative_gaps;

template <typename T>
class LassoCdTest : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(LassoCdTest, Types);

/// Options that drive the solver to the rounding floor of T.
template <typename T>
CodingOptions tight(double alpha, double l2 = 0, bool positive = false) {
  return {.method = CoderKind::lasso_cd,
          .alpha = alpha,
          .positive = positive,
          .l2 = l2,
          .max_iter = 100000,
          .tol = std::is_same_v<T, double> ? 1e-12 : 1e-9};
}

TYPED_TEST(LassoCdTest, MeetsKktAndScikitLearnsObjectiveForEachAlpha) {
  using T = TypeParam;
  for (const char* alpha : {"0.2", "1", "3"}) {
    SCOPED_TRACE(alpha);
    expect_optimal<T>(tight<T>(std::stod(alpha)), lasso_fixture(std::string("codes_a") + alpha));
  }
}

TYPED_TEST(LassoCdTest, PositiveCodesMeetTheOneSidedKkt) {
  using T = TypeParam;
  expect_optimal<T>(tight<T>(1.0, 0, true), lasso_fixture("codes_pos"));
}

TYPED_TEST(LassoCdTest, ElasticNetMeetsKktAndScikitLearnsObjective) {
  using T = TypeParam;
  expect_optimal<T>(tight<T>(1.0, 0.5), lasso_fixture("codes_enet"));
  // l2 with positive: no reference, the conditions alone.
  expect_optimal<T>(tight<T>(0.5, 2.0, true), lasso_fixture("codes_pos") * 0.0);
}

TYPED_TEST(LassoCdTest, TheDefaultTolMeetsTheDocumentedGapBound) {
  using T = TypeParam;
  const Matrix<double> D = lasso_fixture("D"), X = lasso_fixture("X");
  for (const bool positive : {false, true}) {
    const CodingOptions options{
        .method = CoderKind::lasso_cd, .alpha = 0.2, .positive = positive, .l2 = 0.1};
    const Matrix<T> codes =
        sparse_encode(Dictionary<T>{.dictionary = D.cast<T>()}, X.cast<T>().eval(), options);
    const Eigen::VectorXd gaps =
        relative_gaps(D, X, codes.template cast<double>(),
                      {.alpha = options.alpha, .l2 = options.l2, .positive = positive});
    // Float codes re-evaluated in double move the gap by rounding (~1e-7).
    EXPECT_LE(gaps.maxCoeff(), options.tol + (std::is_same_v<T, float> ? 1e-6 : 1e-12));
    EXPECT_GE(gaps.minCoeff(), -1e-6);
  }
}

TYPED_TEST(LassoCdTest, WarmStartsFromTheSolutionOrNearItTakeFewerPasses) {
  using T = TypeParam;
  const Matrix<double> Dd = lasso_fixture("D"), Xd = lasso_fixture("X");
  const Dictionary<T> dictionary{.dictionary = Dd.cast<T>()};
  const Matrix<T> X = Xd.cast<T>();
  const Matrix<T> G = detail::gram_matrix(dictionary.dictionary);
  const Matrix<T> Q = X * dictionary.dictionary.transpose();
  const detail::LassoProblem problem{.alpha = 0.2};
  const double tol = std::is_same_v<T, double> ? 1e-10 : 1e-6;  // reached well within max_iter
  const double close = std::is_same_v<T, double> ? 1e-12 : 1e-6;
  detail::LassoCdWorkspace<T> work;
  int cold_total = 0, near_total = 0;
  for (Eigen::Index i = 0; i < X.rows(); ++i) {
    const double norm2 = Xd.row(i).squaredNorm();
    Matrix<T> code = Matrix<T>::Zero(1, G.rows());
    const auto cold = detail::lasso_cd_signal(G.data(), G.rows(), &Q(i, 0), norm2, problem, 1000,
                                              tol, work, code.data());
    EXPECT_LE(cold.gap, tol * norm2);
    cold_total += cold.passes;
    const Matrix<T> solution = code;
    const auto again = detail::lasso_cd_signal(G.data(), G.rows(), &Q(i, 0), norm2, problem, 1000,
                                               tol, work, code.data());
    // At most one pass: the start's gap, summed afresh, may differ in the
    // last bits from the one the cold run stopped on.
    EXPECT_LE(again.passes, 1);
    EXPECT_LT(testing::max_abs_difference(code, solution), close);
    // Near: the solution of a 5% larger α, as a learner's previous codes.
    Matrix<T> near = Matrix<T>::Zero(1, G.rows());
    detail::LassoProblem larger = problem;
    larger.alpha *= 1.05;
    detail::lasso_cd_signal(G.data(), G.rows(), &Q(i, 0), norm2, larger, 1000, tol, work,
                            near.data());
    const auto warm = detail::lasso_cd_signal(G.data(), G.rows(), &Q(i, 0), norm2, problem, 1000,
                                              tol, work, near.data());
    EXPECT_LE(warm.gap, tol * norm2);
    near_total += warm.passes;
  }
  EXPECT_LT(near_total, cold_total);
  // The public overload: the solution comes back (all but) unchanged, and a
  // start from zeros is the cold start.
  const CodingOptions options{.method = CoderKind::lasso_cd, .alpha = 0.2};
  const Matrix<T> codes = encode_lasso_cd(dictionary, X, options);
  EXPECT_LT(testing::max_abs_difference(encode_lasso_cd(dictionary, X, options, codes), codes),
            close);
  const Matrix<T> zeros = Matrix<T>::Zero(X.rows(), G.rows());
  EXPECT_EQ(encode_lasso_cd(dictionary, X, options, zeros), codes);
}

TYPED_TEST(LassoCdTest, WarmStartsAreCheckedAndProjectedForPositiveCodes) {
  using T = TypeParam;
  const Dictionary<T> dictionary{.dictionary = normal_matrix<T>(6, 4, 1)};
  const Matrix<T> X = normal_matrix<T>(5, 4, 2);
  const CodingOptions options{.method = CoderKind::lasso_cd, .alpha = 0.1, .positive = true};
  EXPECT_ERROR_CONTAINS(
      encode_lasso_cd(dictionary, X, options, Matrix<T>::Zero(5, 5).eval()),
      "initial codes: have shape 5 x 5 but the data has 5 rows and the dictionary 6 atoms");
  Matrix<T> bad = Matrix<T>::Zero(5, 6);
  bad(2, 3) = std::numeric_limits<T>::quiet_NaN();
  EXPECT_ERROR_CONTAINS(encode_lasso_cd(dictionary, X, options, bad),
                        "initial codes: hold non-finite values (row 2, column 3: nan)");
  // A negative start in the positive problem: the same answer as from 0.
  const Matrix<T> negative = -Matrix<T>::Ones(5, 6);
  CodingOptions exact = options;
  exact.tol = 1e-14;
  exact.max_iter = 100000;
  const Matrix<T> from_zero = encode_lasso_cd(dictionary, X, exact);
  EXPECT_GE(from_zero.minCoeff(), T(0));
  EXPECT_LT(testing::max_abs_difference(encode_lasso_cd(dictionary, X, exact, negative), from_zero),
            (std::is_same_v<T, double> ? 1e-10 : 1e-4));
}

TYPED_TEST(LassoCdTest, ZeroSignalsAndLargeAlphaTakeNoPass) {
  using T = TypeParam;
  const Matrix<T> D = lasso_fixture("D").cast<T>();
  const Matrix<T> G = detail::gram_matrix(D);
  const Matrix<T> X = lasso_fixture("X").cast<T>();
  const Matrix<T> Q = X * D.transpose();
  detail::LassoCdWorkspace<T> work;
  Matrix<T> code = Matrix<T>::Zero(1, D.rows());
  const Matrix<T> zero_q = Matrix<T>::Zero(1, D.rows());
  auto result = detail::lasso_cd_signal(G.data(), D.rows(), zero_q.data(), 0.0, {.alpha = 0.1},
                                        1000, 1e-4, work, code.data());
  EXPECT_EQ(result.passes, 0);
  EXPECT_TRUE(code.isZero());
  // α = max |D x|: zero is optimal, and the start already shows it.
  const double alpha = Q.row(0).cwiseAbs().maxCoeff();
  result = detail::lasso_cd_signal(G.data(), D.rows(), &Q(0, 0), X.row(0).squaredNorm(),
                                   {.alpha = alpha}, 1000, 0.0, work, code.data());
  EXPECT_EQ(result.passes, 0);
  EXPECT_EQ(result.gap, 0.0);
  EXPECT_TRUE(code.isZero());
  // Through the coder: zero rows code as zeros, and α above every |D x| too.
  Matrix<T> some = X.topRows(3);
  some.row(1).setZero();
  const Dictionary<T> dictionary{.dictionary = D};
  const Matrix<T> codes = encode_lasso_cd(dictionary, some, {.alpha = 0.2});
  EXPECT_TRUE(codes.row(1).isZero());
  EXPECT_FALSE(codes.row(0).isZero());
  EXPECT_TRUE(encode_lasso_cd(dictionary, some, {.alpha = 1.0 + testing::max_abs(Q)}).isZero());
}

TYPED_TEST(LassoCdTest, DuplicateCollinearScaledAndZeroAtoms) {
  using T = TypeParam;
  const Matrix<double> Dd = lasso_fixture("D"), Xd = lasso_fixture("X");
  const CodingOptions options = tight<T>(0.3);
  const double kkt = kkt_tolerance<T>(Xd);
  const Matrix<T> X = Xd.cast<T>();
  const Matrix<T> base = encode_lasso_cd(Dictionary<T>{.dictionary = Dd.cast<T>()}, X, options);
  const Eigen::VectorXd base_objective =
      lasso_objectives(Dd, Xd, base.template cast<double>(), options.alpha, 0);
  // Atom 0 twice: the first copy takes it all, the objective is unchanged.
  Matrix<double> duplicated(33, 16);
  duplicated << Dd.row(0), Dd;
  const Matrix<T> twice =
      encode_lasso_cd(Dictionary<T>{.dictionary = duplicated.cast<T>()}, X, options);
  EXPECT_TRUE(twice.col(1).isZero());
  EXPECT_LE(kkt_violation(duplicated, Xd, twice.template cast<double>(), options.alpha, 0, false),
            kkt);
  const double objective_tolerance = std::is_same_v<T, double> ? 1e-9 : 1e-5;
  EXPECT_LT((lasso_objectives(duplicated, Xd, twice.template cast<double>(), options.alpha, 0) -
             base_objective)
                .cwiseAbs()
                .maxCoeff(),
            objective_tolerance * base_objective.maxCoeff());
  // A zero atom: its code is 0 and the others are those without it.
  Matrix<double> with_zero = Dd;
  with_zero.row(5).setZero();
  Matrix<double> without(31, 16);
  without << Dd.topRows(5), Dd.bottomRows(26);
  const Matrix<T> zero_codes =
      encode_lasso_cd(Dictionary<T>{.dictionary = with_zero.cast<T>()}, X, options);
  const Matrix<T> fewer =
      encode_lasso_cd(Dictionary<T>{.dictionary = without.cast<T>()}, X, options);
  EXPECT_TRUE(zero_codes.col(5).isZero());
  Matrix<T> rest(X.rows(), 31);
  rest << zero_codes.leftCols(5), zero_codes.rightCols(26);
  EXPECT_LT(testing::max_abs_difference(rest, fewer), (std::is_same_v<T, double> ? 1e-9 : 1e-4));
  // One atom of norm 2 and one collinear with it of norm 1 (-½ of it): the
  // longer atom is cheaper per unit of signal and takes it all; a single
  // atom's code is the closed form soft(d·x, α)/(‖d‖² + λ₂).
  Matrix<T> pair(2, 3);
  pair << 0, 2, 0, 0, -1, 0;
  Matrix<T> x(2, 3);
  x << 1, 3, 0, 0, -0.1, 5;
  const Matrix<T> codes = encode_lasso_cd(Dictionary<T>{.dictionary = pair}, x, options);
  EXPECT_NEAR(static_cast<double>(codes(0, 0)), (6 - 0.3) / 4, 1e-6);
  EXPECT_EQ(codes(0, 1), T(0));
  EXPECT_TRUE(codes.row(1).isZero());  // |d·x| <= 0.2 < α: zero
  for (const double l2 : {0.0, 0.7}) {
    CodingOptions scaled = options;
    scaled.l2 = l2;
    const Matrix<T> one = encode_lasso_cd(Dictionary<T>{.dictionary = pair.topRows(1)}, x, scaled);
    EXPECT_NEAR(static_cast<double>(one(0, 0)), (6 - 0.3) / (4 + l2), 1e-6);
    EXPECT_EQ(one(1, 0), T(0));
  }
}

TYPED_TEST(LassoCdTest, MaxIterReturnsTheIterateOfThatManyPasses) {
  using T = TypeParam;
  const Matrix<T> D = lasso_fixture("D").cast<T>();
  const Matrix<T> X = lasso_fixture("X").cast<T>().topRows(4);
  const T alpha = T(0.2);
  const Matrix<T> one_pass =
      encode_lasso_cd(Dictionary<T>{.dictionary = D}, X, {.alpha = alpha, .max_iter = 1});
  // From 0 the first working set is the 4 atoms of largest |d·x|, and the
  // one pass is scikit-learn's loop over them in atom order.
  const Matrix<T> G = D * D.transpose();
  for (Eigen::Index s = 0; s < X.rows(); ++s) {
    const Matrix<T> q = X.row(s) * D.transpose();
    std::vector<Eigen::Index> order(D.rows());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](Eigen::Index a, Eigen::Index b) {
      return std::abs(q(0, a)) > std::abs(q(0, b));
    });
    order.resize(4);
    std::sort(order.begin(), order.end());
    Matrix<T> r = Matrix<T>::Zero(1, D.rows());
    Matrix<T> Gr = Matrix<T>::Zero(1, D.rows());
    for (const Eigen::Index i : order) {
      const T tmp = q(0, i) - Gr(0, i) + r(0, i) * G(i, i);
      const T value = std::abs(tmp) > alpha ? (tmp - std::copysign(alpha, tmp)) / G(i, i) : T(0);
      Gr += (value - r(0, i)) * G.row(i);
      r(0, i) = value;
    }
    EXPECT_LT(testing::max_abs_difference(one_pass.row(s), r), 1e-5) << "signal " << s;
    EXPECT_EQ((one_pass.row(s).array() != 0).count(), (r.array() != 0).count());
  }
  const Matrix<T> converged = encode_lasso_cd(Dictionary<T>{.dictionary = D}, X, {.alpha = alpha});
  EXPECT_GT(testing::max_abs_difference(one_pass, converged), 1e-3);
}

TYPED_TEST(LassoCdTest, OneSignalNoSignalsAndADecoderBias) {
  using T = TypeParam;
  Dictionary<T> dictionary{.dictionary = normal_matrix<T>(12, 6, 1)};
  dictionary.decoder_bias = normal_matrix<T>(6, 1, 2).col(0);
  const Matrix<T> X = normal_matrix<T>(30, 6, 3);
  const Matrix<T> centered = X.rowwise() - dictionary.decoder_bias.transpose();
  const Dictionary<T> plain{.dictionary = dictionary.dictionary};
  const CodingOptions options{.method = CoderKind::lasso_cd, .alpha = 0.5};
  const Matrix<T> codes = sparse_encode(dictionary, X, options);
  EXPECT_EQ(codes, sparse_encode(plain, centered, options));
  // One signal: D x as a one-row product may round otherwise than in a block.
  EXPECT_LT(testing::max_abs_difference(sparse_encode(dictionary, X.row(7), options), codes.row(7)),
            1e-5);
  EXPECT_EQ(sparse_encode(dictionary, Matrix<T>(0, 6), options).rows(), 0);
  EXPECT_EQ(encode_lasso_cd(dictionary, Matrix<T>(0, 6), options, Matrix<T>(0, 12)).rows(), 0);
}

TYPED_TEST(LassoCdTest, ResultsDoNotDependOnTheThreadCount) {
  using T = TypeParam;
  Dictionary<T> dictionary{.dictionary = normal_matrix<T>(96, 64, 5)};
  dictionary.decoder_bias = normal_matrix<T>(64, 1, 6).col(0);
  const Matrix<T> X = normal_matrix<T>(2000, 64, 7);  // 8 blocks, the last partial
  const CodingOptions options{.method = CoderKind::lasso_cd, .alpha = 8.0, .l2 = 0.1, .threads = 1};
  const Matrix<T> one = sparse_encode(dictionary, X, options);
  CodingOptions three = options;
  three.threads = 3;
  EXPECT_EQ(one, sparse_encode(dictionary, X, three));
  EXPECT_GT((one.array() != 0).count(), 2000);
}

}  // namespace
}  // namespace dictlearn
