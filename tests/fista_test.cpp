// The FISTA lasso coder: optimality (KKT) and objectives against scikit-learn
// 1.2's lasso_lars and ElasticNet (fixtures of
// tests/fixtures/make_lasso_fixture.py), its step (an upper bound of
// λ_max), its stopping rule, degenerate cases and thread-count independence.
#include "coders/fista.hpp"

#include <gtest/gtest.h>

#include <Eigen/Eigenvalues>
#include <cmath>
#include <string>

#include "coders/coding.hpp"
#include "coders/lasso_cd.hpp"
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
class FistaTest : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(FistaTest, Types);

template <typename T>
CodingOptions tight(double alpha, double l2 = 0, bool positive = false) {
  return {.method = CoderKind::fista,
          .alpha = alpha,
          .positive = positive,
          .l2 = l2,
          // float's gap resolves about 1e-9 relative: below it, max_iter.
          .max_iter = std::is_same_v<T, double> ? 100000 : 20000,
          // A gap of ε·‖x‖² bounds the KKT error by about sqrt(2ε)·‖x‖ only.
          .tol = std::is_same_v<T, double> ? 1e-15 : 1e-9};
}

TYPED_TEST(FistaTest, MeetsKktAndScikitLearnsObjectiveForEachAlpha) {
  using T = TypeParam;
  for (const char* alpha : {"0.2", "1", "3"}) {
    SCOPED_TRACE(alpha);
    expect_optimal<T>(tight<T>(std::stod(alpha)), lasso_fixture(std::string("codes_a") + alpha));
  }
}

TYPED_TEST(FistaTest, PositiveCodesAndTheElasticNet) {
  using T = TypeParam;
  expect_optimal<T>(tight<T>(1.0, 0, true), lasso_fixture("codes_pos"));
  expect_optimal<T>(tight<T>(1.0, 0.5), lasso_fixture("codes_enet"));
}

TYPED_TEST(FistaTest, TheDefaultTolMeetsTheDocumentedGapBound) {
  using T = TypeParam;
  const Matrix<double> D = lasso_fixture("D"), X = lasso_fixture("X");
  for (const bool positive : {false, true}) {
    const CodingOptions options{
        .method = CoderKind::fista, .alpha = 0.2, .positive = positive, .l2 = 0.1};
    const Matrix<T> codes =
        sparse_encode(Dictionary<T>{.dictionary = D.cast<T>()}, X.cast<T>().eval(), options);
    const Eigen::VectorXd gaps =
        relative_gaps(D, X, codes.template cast<double>(),
                      {.alpha = options.alpha, .l2 = options.l2, .positive = positive});
    EXPECT_LE(gaps.maxCoeff(), options.tol + (std::is_same_v<T, float> ? 1e-6 : 1e-12));
    EXPECT_GE(gaps.minCoeff(), -1e-6);
  }
}

TYPED_TEST(FistaTest, TheStepBoundsTheLargestEigenvalueFromAbove) {
  using T = TypeParam;
  // Random atoms (fewer and more than dim), and atoms whose two largest
  // singular values are equal or 0.5% apart: the slow cases of the power
  // iteration.
  Matrix<T> equal = Matrix<T>::Zero(6, 4);
  equal << 3, 0, 0, 0, 0, 3, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0.5, 0.5, 1, 1, 0, 0;
  Matrix<T> close = equal;
  close(1, 1) = T(3.015);
  for (const Matrix<T>& atoms : {normal_matrix<T>(40, 16, 1), normal_matrix<T>(8, 30, 2),
                                 lasso_fixture("D").cast<T>().eval(), equal, close}) {
    const Matrix<T> G = detail::gram_matrix(atoms);
    const double exact = Eigen::SelfAdjointEigenSolver<Matrix<double>>(G.template cast<double>())
                             .eigenvalues()
                             .maxCoeff();
    for (const double l2 : {0.0, 0.3}) {
      const double L = detail::fista_lipschitz(atoms, G, l2);
      EXPECT_GE(L, (exact + l2) * (1 - 1e-12));
      EXPECT_LE(L, exact * 1.03 + l2);
    }
  }
  // Zero atoms: 0, and λ₂ without them.
  const Matrix<T> zeros = Matrix<T>::Zero(3, 5);
  EXPECT_EQ(detail::fista_lipschitz(zeros, detail::gram_matrix(zeros), 0.0), 0.0);
  EXPECT_EQ(detail::fista_lipschitz(zeros, detail::gram_matrix(zeros), 0.5), 0.5);
}

TYPED_TEST(FistaTest, OneIterationIsOneProximalStepFromZero) {
  using T = TypeParam;
  const Matrix<T> D = lasso_fixture("D").cast<T>();
  const Matrix<T> X = lasso_fixture("X").cast<T>().topRows(5);
  const double alpha = 0.2, l2 = 0.1;
  for (const bool positive : {false, true}) {
    const Matrix<T> codes =
        encode_fista(Dictionary<T>{.dictionary = D}, X,
                     {.alpha = alpha, .positive = positive, .l2 = l2, .max_iter = 1});
    const double L = detail::fista_lipschitz(D, detail::gram_matrix(D), l2);
    // x₁ = prox(0 − (0 − D x)/L) = soft(D x / L, α/L).
    const Matrix<double> z = (X * D.transpose()).template cast<double>() / L;
    for (Eigen::Index i = 0; i < z.rows(); ++i) {
      for (Eigen::Index j = 0; j < z.cols(); ++j) {
        const double t = alpha / L, v = z(i, j);
        const double want = v > t ? v - t : (!positive && v < -t ? v + t : 0.0);
        EXPECT_NEAR(static_cast<double>(codes(i, j)), want, 1e-6) << i << ", " << j;
      }
    }
  }
}

TYPED_TEST(FistaTest, DegenerateSignalsAndAtoms) {
  using T = TypeParam;
  const Matrix<double> Dd = lasso_fixture("D"), Xd = lasso_fixture("X");
  const Matrix<T> X = Xd.cast<T>();
  const CodingOptions options = tight<T>(0.3);
  const double kkt = kkt_tolerance<T>(Xd);
  // Zero rows and α above every |D x|: zeros.
  Matrix<T> some = X.topRows(3);
  some.row(1).setZero();
  const Dictionary<T> dictionary{.dictionary = Dd.cast<T>()};
  const Matrix<T> codes = encode_fista(dictionary, some, {.alpha = 0.2});
  EXPECT_TRUE(codes.row(1).isZero());
  EXPECT_FALSE(codes.row(0).isZero());
  const double above = 1.0 + testing::max_abs((Xd * Dd.transpose()).eval());
  EXPECT_TRUE(encode_fista(dictionary, X, {.alpha = above, .max_iter = 1}).isZero());
  // A duplicated atom: the optimality conditions and the objective hold
  // (FISTA may split the code between the copies).
  Matrix<double> duplicated(33, 16);
  duplicated << Dd.row(0), Dd;
  const Matrix<T> twice =
      encode_fista(Dictionary<T>{.dictionary = duplicated.cast<T>()}, X, options);
  EXPECT_LE(kkt_violation(duplicated, Xd, twice.template cast<double>(), options.alpha, 0, false),
            kkt);
  const Matrix<T> base = encode_fista(dictionary, X, options);
  const double objective_tolerance = std::is_same_v<T, double> ? 1e-9 : 1e-5;
  const Eigen::VectorXd base_objective =
      lasso_objectives(Dd, Xd, base.template cast<double>(), options.alpha, 0);
  EXPECT_LT((lasso_objectives(duplicated, Xd, twice.template cast<double>(), options.alpha, 0) -
             base_objective)
                .cwiseAbs()
                .maxCoeff(),
            objective_tolerance * base_objective.maxCoeff());
  // A zero atom: code 0, the others as without it.
  Matrix<double> with_zero = Dd;
  with_zero.row(5).setZero();
  const Matrix<T> zero_codes =
      encode_fista(Dictionary<T>{.dictionary = with_zero.cast<T>()}, X, options);
  EXPECT_TRUE(zero_codes.col(5).isZero());
  EXPECT_LE(
      kkt_violation(with_zero, Xd, zero_codes.template cast<double>(), options.alpha, 0, false),
      kkt);
  // One atom of norm 2: soft(d·x, α)/(‖d‖² + λ₂); every atom zero: zeros.
  Matrix<T> one(1, 3);
  one << 0, 2, 0;
  Matrix<T> x(2, 3);
  x << 1, 3, 0, 0, -0.1, 5;
  for (const double l2 : {0.0, 0.7}) {
    CodingOptions scaled = options;
    scaled.l2 = l2;
    const Matrix<T> single = encode_fista(Dictionary<T>{.dictionary = one}, x, scaled);
    EXPECT_NEAR(static_cast<double>(single(0, 0)), (6 - 0.3) / (4 + l2), 1e-5);
    EXPECT_EQ(single(1, 0), T(0));
  }
  EXPECT_TRUE(
      encode_fista(Dictionary<T>{.dictionary = Matrix<T>::Zero(2, 3)}, x, options).isZero());
}

TYPED_TEST(FistaTest, AgreesWithCoordinateDescent) {
  using T = TypeParam;
  const Matrix<T> D = lasso_fixture("D").cast<T>();
  const Matrix<T> X = lasso_fixture("X").cast<T>();
  for (const double l2 : {0.0, 0.5}) {
    CodingOptions options = tight<T>(0.5, l2);
    const Matrix<T> fista = sparse_encode(Dictionary<T>{.dictionary = D}, X, options);
    options.method = CoderKind::lasso_cd;
    const Matrix<T> cd = sparse_encode(Dictionary<T>{.dictionary = D}, X, options);
    EXPECT_LT(testing::max_abs_difference(fista, cd), (std::is_same_v<T, double> ? 1e-6 : 1e-3));
  }
}

TYPED_TEST(FistaTest, OneSignalNoSignalsADecoderBiasAndThreads) {
  using T = TypeParam;
  Dictionary<T> dictionary{.dictionary = normal_matrix<T>(96, 64, 5)};
  dictionary.decoder_bias = normal_matrix<T>(64, 1, 6).col(0);
  const Matrix<T> X = normal_matrix<T>(600, 64, 7);  // 3 blocks, the last partial
  const CodingOptions options{.method = CoderKind::fista, .alpha = 8.0, .l2 = 0.1, .threads = 1};
  const Matrix<T> one = sparse_encode(dictionary, X, options);
  CodingOptions three = options;
  three.threads = 3;
  EXPECT_EQ(one, sparse_encode(dictionary, X, three));
  EXPECT_GT((one.array() != 0).count(), 600);
  const Matrix<T> centered = X.rowwise() - dictionary.decoder_bias.transpose();
  EXPECT_EQ(sparse_encode(Dictionary<T>{.dictionary = dictionary.dictionary}, centered, options),
            one);
  // One signal: its own block rounds otherwise, so both are compared near
  // the optimum.
  CodingOptions near = tight<T>(8.0, 0.1);
  const Matrix<T> first = X.topRows(20);
  EXPECT_LT(testing::max_abs_difference(sparse_encode(dictionary, first.row(9), near),
                                        sparse_encode(dictionary, first, near).row(9)),
            (std::is_same_v<T, double> ? 1e-6 : 1e-3));
  EXPECT_EQ(sparse_encode(dictionary, Matrix<T>(0, 64), options).rows(), 0);
}

}  // namespace
}  // namespace dictlearn
