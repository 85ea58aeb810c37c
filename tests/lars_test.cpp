// The lars and lasso_lars coders against scikit-learn 1.2 (fixtures of
// tests/fixtures/make_lars_fixture.py): lars_path's order of atoms and
// coefficients; the lasso's optimality (KKT) conditions and an objective no
// worse than sparse_encode(algorithm='lasso_lars')'s; the degenerate cases,
// bad options and thread-count independence.
#include "coders/lars.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "dictlearn/coders.hpp"
#include "dictlearn/io.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

using testing::normal_matrix;

template <typename T>
class LarsTest : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(LarsTest, Types);

Matrix<double> fixture(const std::string& name) { return testing::fixture_matrix("lars", name); }

template <typename T>
bool is_double() {
  return std::is_same_v<T, double>;
}

/// Checks the KKT conditions of ½‖x − rD‖² + ½λ₂‖r‖² + α‖r‖₁ (r >= 0 with
/// `positive`) for every signal: with c = D(x − rD)ᵀ − λ₂r, |c_j| <= α off
/// the support and c_j = α·sign(r_j) on it, within `tolerance`.
template <typename T>
void expect_kkt(const Matrix<double>& D, const Matrix<double>& X, const Matrix<T>& codes,
                double alpha, double l2, bool positive, double tolerance) {
  ASSERT_EQ(codes.rows(), X.rows());
  ASSERT_EQ(codes.cols(), D.rows());
  const Matrix<double> R = codes.template cast<double>();
  ASSERT_TRUE(R.allFinite());
  const Matrix<double> C = (X - R * D) * D.transpose() - l2 * R;
  int violations = 0;
  for (Eigen::Index i = 0; i < X.rows(); ++i) {
    for (Eigen::Index j = 0; j < D.rows(); ++j) {
      const double r = R(i, j), c = C(i, j);
      bool ok;
      if (r != 0) {
        ok = std::abs(c - alpha * (r > 0 ? 1 : -1)) <= tolerance && (!positive || r > 0);
      } else {
        ok = (positive ? c : std::abs(c)) <= alpha + tolerance;
      }
      if (!ok && ++violations <= 5) {
        ADD_FAILURE() << "KKT, signal " << i << " atom " << j << ": r = " << r << ", c = " << c
                      << ", alpha = " << alpha;
      }
    }
  }
  EXPECT_EQ(violations, 0);
}

/// ½‖x − rD‖² + ½λ₂‖r‖² + α‖r‖₁ per signal.
Eigen::VectorXd objective(const Matrix<double>& D, const Matrix<double>& X, const Matrix<double>& R,
                          double alpha, double l2) {
  const Matrix<double> residual = X - R * D;
  return 0.5 * residual.rowwise().squaredNorm() + 0.5 * l2 * R.rowwise().squaredNorm() +
         alpha * R.cwiseAbs().rowwise().sum();
}

/// Our objective at most scikit-learn's + 1e-9 relative, signal by signal.
template <typename T>
void expect_objective_at_most(const Matrix<double>& D, const Matrix<double>& X,
                              const Matrix<T>& codes, const Matrix<double>& reference, double alpha,
                              double l2) {
  const Eigen::VectorXd ours = objective(D, X, codes.template cast<double>(), alpha, l2);
  const Eigen::VectorXd theirs = objective(D, X, reference, alpha, l2);
  // float: its rounding of the codes and of x, relative to the objective.
  const double relative = is_double<T>() ? 1e-9 : 1e-5;
  for (Eigen::Index i = 0; i < X.rows(); ++i) {
    EXPECT_LE(ours(i), theirs(i) * (1 + relative) + 1e-12) << "signal " << i;
  }
}

template <typename T>
double kkt_tolerance(const Matrix<double>& X) {
  return is_double<T>() ? 1e-6 : 1e-4 * (1 + testing::max_abs(X));
}

// ---- lars ---------------------------------------------------------------

TYPED_TEST(LarsTest, LarsFollowsLarsPathsOrderAndCoefficients) {
  using T = TypeParam;
  const Matrix<double> D = fixture("D"), X = fixture("X");
  const Matrix<T> G = (D * D.transpose()).cast<T>();
  const Matrix<T> alpha0 = (X * D.transpose()).cast<T>();
  const T eps = std::numeric_limits<T>::epsilon();
  const T stop = std::max<T>(16 * std::numeric_limits<float>::epsilon(), 64 * eps);
  int flips = 0, orders = 0;
  for (const int L : {1, 3, 8, 12}) {
    SCOPED_TRACE(L);
    const Matrix<double> want = fixture("lars_L" + std::to_string(L));
    const Matrix<double> order = fixture("order_L" + std::to_string(L));
    detail::LarsWorkspace<T> work;
    Matrix<T> codes(X.rows(), D.rows());
    for (Eigen::Index i = 0; i < X.rows(); ++i) {
      const int64_t active =
          detail::lars_signal(G.data(), G.rows(), alpha0.data() + i * G.rows(), L, 16, stop,
                              100 * eps, work, codes.data() + i * G.rows());
      int64_t expected = 0;
      while (expected < L && order(i, expected) >= 0) ++expected;
      flips += active < L;
      ASSERT_EQ(active, expected) << "signal " << i;
      for (int64_t p = 0; p < active; ++p) {
        EXPECT_EQ(work.active[p], static_cast<int64_t>(order(i, p)))
            << "signal " << i << " position " << p;
        ++orders;
      }
    }
    // double: the 1e-5; float: 1e-4 relative to the largest code.
    const double tolerance = is_double<T>() ? 1e-5 : 1e-4 * (1 + testing::max_abs(want));
    EXPECT_LT(testing::max_abs_difference(codes, want), tolerance);
    // The coder gives the same codes as its per-signal step.
    const Dictionary<T> dictionary{.dictionary = D.cast<T>()};
    const Matrix<T> encoded =
        sparse_encode(dictionary, X.cast<T>(), {.method = CoderKind::lars, .n_nonzero = L});
    EXPECT_LT(testing::max_abs_difference(encoded, want), tolerance);
  }
  // The fixture has signals where a coefficient crossed zero (fewer atoms
  // than steps: scikit-learn's sign flip), so that path is compared too.
  EXPECT_GT(flips, 0);
  EXPECT_GT(orders, 40 * (1 + 3 + 7 + 10));
}

TYPED_TEST(LarsTest, LarsDefaultsAndStopsWhenTheResidualIsOrthogonal) {
  using T = TypeParam;
  const Matrix<double> D = fixture("D"), X = fixture("X");
  const Dictionary<T> dictionary{.dictionary = D.cast<T>()};
  // n_nonzero 0: max(1, ⌊16/10⌋) = 1 atom, as sparse_encode's default.
  const double tolerance =
      is_double<T>() ? 1e-5 : 1e-4 * (1 + testing::max_abs(fixture("lars_L1")));
  EXPECT_LT(
      testing::max_abs_difference(encode_lars(dictionary, X.cast<T>(), {}), fixture("lars_L1")),
      tolerance);
  // L = 32 > dim = 16: once 16 atoms are active (they span the space) the
  // path ends at their least-squares fit, exact (float: up to its rounding
  // times the set's condition).
  const Matrix<T> all = encode_lars(dictionary, X.cast<T>(), {.n_nonzero = 32});
  ASSERT_TRUE(all.allFinite());
  for (Eigen::Index i = 0; i < X.rows(); ++i) {
    EXPECT_LE((all.row(i).array() != 0).count(), 16) << "signal " << i;
  }
  const Matrix<double> residual = X - all.template cast<double>() * D;
  EXPECT_LT(testing::max_abs(residual), is_double<T>() ? 1e-9 : 1e-2);
}

// ---- lasso_lars against scikit-learn -----------------------------------

TYPED_TEST(LarsTest, LassoLarsMeetsKktAndScikitLearnsObjectiveForEachAlpha) {
  using T = TypeParam;
  const Matrix<double> D = fixture("D"), X = fixture("X");
  const Dictionary<T> dictionary{.dictionary = D.cast<T>()};
  int zeros = 0;
  for (const auto& [name, alpha] :
       {std::pair<std::string, double>{"0.1", 0.1}, {"1", 1.0}, {"3", 3.0}}) {
    SCOPED_TRACE(name);
    const Matrix<T> codes =
        sparse_encode(dictionary, X.cast<T>(), {.method = CoderKind::lasso_lars, .alpha = alpha});
    expect_kkt(D, X, codes, alpha, 0, false, kkt_tolerance<T>(X));
    const Matrix<double> reference = fixture("lasso_a" + name);
    expect_objective_at_most(D, X, codes, reference, alpha, 0);
    if (is_double<T>()) {
      // The lasso's solution is unique here: scikit-learn's, to its precision.
      EXPECT_LT(testing::max_abs_difference(codes, reference), 1e-5);
    }
    zeros += static_cast<int>((codes.rowwise().squaredNorm().array() == 0).count());
  }
  EXPECT_GT(zeros, 0);  // α = 3 is above max|D x| for some signals
  // At α = 0.1 some paths drop atoms (a step that neither adds an atom nor
  // ends the path), so the KKT checks above cover the downdates.
  const Matrix<T> G = (D * D.transpose()).cast<T>();
  const Matrix<T> alpha0 = (X * D.transpose()).cast<T>();
  detail::LarsWorkspace<T> work;
  std::vector<T> code(32);
  int with_drops = 0;
  for (Eigen::Index i = 0; i < X.rows(); ++i) {
    const int64_t steps =
        detail::lasso_lars_signal<T>(G.data(), 32, alpha0.data() + i * 32, T(0.1), false, 1000, 16,
                                     100 * std::numeric_limits<T>::epsilon(), work, code.data());
    const auto nonzeros = std::count_if(code.begin(), code.end(), [](T v) { return v != 0; });
    with_drops += steps > nonzeros + 1;
  }
  EXPECT_GT(with_drops, 0);
}

TYPED_TEST(LarsTest, LassoLarsPositiveAndElasticNet) {
  using T = TypeParam;
  const Matrix<double> D = fixture("D"), X = fixture("X");
  const Dictionary<T> dictionary{.dictionary = D.cast<T>()};
  const Matrix<T> positive =
      encode_lasso_lars(dictionary, X.cast<T>(), {.alpha = 1.0, .positive = true});
  EXPECT_GE(positive.minCoeff(), T(0));
  expect_kkt(D, X, positive, 1.0, 0, true, kkt_tolerance<T>(X));
  expect_objective_at_most(D, X, positive, fixture("lasso_positive"), 1.0, 0);
  const Matrix<T> net = encode_lasso_lars(dictionary, X.cast<T>(), {.alpha = 1.0, .l2 = 0.5});
  expect_kkt(D, X, net, 1.0, 0.5, false, kkt_tolerance<T>(X));
  expect_objective_at_most(D, X, net, fixture("lasso_l2"), 1.0, 0.5);
  // λ₂ shrinks: the elastic net's codes are not the lasso's.
  EXPECT_GT(testing::max_abs_difference(net, fixture("lasso_a1")), 1e-2);
}

TYPED_TEST(LarsTest, LassoLarsOnDuplicateAndCollinearAtoms) {
  using T = TypeParam;
  // Atom 5 = atom 2, atom 7 = −atom 3, atom 9 along atom 0 + atom 1, atom
  // 11 = 2·atom 10; scikit-learn warns of degenerate regressors here.
  const Matrix<double> D = fixture("D_degenerate"), X = fixture("X");
  const Dictionary<T> dictionary{.dictionary = D.cast<T>()};
  for (const bool positive : {false, true}) {
    const Matrix<T> codes =
        encode_lasso_lars(dictionary, X.cast<T>(), {.alpha = 0.5, .positive = positive});
    expect_kkt(D, X, codes, 0.5, 0, positive, kkt_tolerance<T>(X));
    if (!positive) expect_objective_at_most(D, X, codes, fixture("lasso_degenerate"), 0.5, 0);
    // Never both of a duplicated pair.
    for (Eigen::Index i = 0; i < X.rows(); ++i) {
      EXPECT_FALSE(codes(i, 2) != 0 && codes(i, 5) != 0) << "signal " << i;
      EXPECT_FALSE(codes(i, 3) != 0 && codes(i, 7) != 0) << "signal " << i;
    }
  }
  // lars passes over the dependent atoms: finite codes, never both of a
  // pair, and with L = 32 the exact fit of 16 independent atoms.
  for (const int L : {8, 32}) {
    const Matrix<T> codes = encode_lars(dictionary, X.cast<T>(), {.n_nonzero = L});
    ASSERT_TRUE(codes.allFinite());
    for (Eigen::Index i = 0; i < X.rows(); ++i) {
      EXPECT_FALSE(codes(i, 2) != 0 && codes(i, 5) != 0) << "signal " << i;
      EXPECT_FALSE(codes(i, 10) != 0 && codes(i, 11) != 0) << "signal " << i;
      EXPECT_LE((codes.row(i).array() != 0).count(), 16);
    }
    if (L == 32) {
      // (float: its rounding times the condition of 16 of these atoms.)
      const Matrix<double> residual = X - codes.template cast<double>() * D;
      EXPECT_LT(testing::max_abs(residual), is_double<T>() ? 1e-9 : 5e-2);
    }
  }
}

// ---- degenerate cases ----------------------------------------------------

TYPED_TEST(LarsTest, ZeroSignalsAndAlphaAboveEveryCorrelationGiveZeros) {
  using T = TypeParam;
  const Matrix<double> D = fixture("D");
  const Dictionary<T> dictionary{.dictionary = D.cast<T>()};
  const Matrix<T> zero = Matrix<T>::Zero(3, 16);
  for (const CoderKind kind : {CoderKind::lars, CoderKind::lasso_lars}) {
    for (const double alpha : {0.0, 1.0}) {
      const Matrix<T> codes = sparse_encode(dictionary, zero, {.method = kind, .alpha = alpha});
      EXPECT_EQ(codes, Matrix<T>::Zero(3, 32));
    }
  }
  const Matrix<double> X = fixture("X");
  const double top = (X * D.transpose()).cwiseAbs().maxCoeff();
  EXPECT_EQ(encode_lasso_lars(dictionary, X.cast<T>(), {.alpha = top * 1.0001}),
            Matrix<T>::Zero(X.rows(), 32));
  // Just below the largest correlation: exactly that one atom is used.
  const Matrix<T> one = encode_lasso_lars(dictionary, X.cast<T>(), {.alpha = top * 0.99});
  EXPECT_EQ((one.array() != 0).count(), 1);
}

TYPED_TEST(LarsTest, AtomsOfOtherNormsAndAZeroAtomSolveThePlainObjective) {
  using T = TypeParam;
  Matrix<double> D = fixture("D");
  for (Eigen::Index j = 0; j < D.rows(); ++j) D.row(j) *= 0.25 + 0.1 * static_cast<double>(j);
  D.row(3).setZero();
  const Matrix<double> X = fixture("X");
  const Dictionary<T> dictionary{.dictionary = D.cast<T>()};
  for (const bool positive : {false, true}) {
    const Matrix<T> codes =
        encode_lasso_lars(dictionary, X.cast<T>(), {.alpha = 0.5, .positive = positive});
    expect_kkt(D, X, codes, 0.5, 0, positive, kkt_tolerance<T>(X));
    EXPECT_EQ(codes.col(3), Matrix<T>::Zero(X.rows(), 1));
  }
  // L = 32 steps reach 16 atoms despite the steps that add none: an exact fit.
  const Matrix<T> lars = encode_lars(dictionary, X.cast<T>(), {.n_nonzero = 32});
  ASSERT_TRUE(lars.allFinite());
  EXPECT_EQ(lars.col(3), Matrix<T>::Zero(X.rows(), 1));
  const Matrix<double> residual = X - lars.template cast<double>() * D;
  EXPECT_LT(testing::max_abs(residual), is_double<T>() ? 1e-9 : 1e-2);
}

TYPED_TEST(LarsTest, OneAtomOneSignalAndNoSignals) {
  using T = TypeParam;
  // One atom d of norm 2: the lasso's r = sign(c)·max(|c| − α, 0)/‖d‖², c = ⟨x, d⟩.
  Matrix<T> d(1, 3);
  d << 0, 2, 0;
  Matrix<T> x(1, 3);
  x << 1, 3, -1;
  const Dictionary<T> single{.dictionary = d};
  EXPECT_NEAR(static_cast<double>(encode_lasso_lars(single, x, {.alpha = 2})(0, 0)), 1.0, 1e-6);
  EXPECT_NEAR(static_cast<double>(encode_lasso_lars(single, x, {.alpha = 2, .l2 = 1})(0, 0)), 0.8,
              1e-6);
  EXPECT_EQ(encode_lasso_lars(single, x, {.alpha = 6})(0, 0), T(0));
  EXPECT_NEAR(static_cast<double>(encode_lars(single, x, {})(0, 0)), 1.5, 1e-6);
  // One signal and no signals, through the same blocks as many.
  const Dictionary<T> dictionary{.dictionary = fixture("D").cast<T>()};
  const Matrix<T> X = fixture("X").cast<T>();
  for (const CoderKind kind : {CoderKind::lars, CoderKind::lasso_lars}) {
    const CodingOptions options{.method = kind, .n_nonzero = 3};
    // (D xᵀ of one row and of 40 round differently in the product.)
    EXPECT_LT(testing::max_abs_difference(sparse_encode(dictionary, X.topRows(1), options),
                                          sparse_encode(dictionary, X, options).topRows(1)),
              is_double<T>() ? 1e-12 : 1e-5);
    EXPECT_EQ(sparse_encode(dictionary, Matrix<T>(0, 16), options).rows(), 0);
  }
}

TYPED_TEST(LarsTest, ADecoderBiasIsSubtractedFirst) {
  using T = TypeParam;
  Dictionary<T> dictionary{.dictionary = normal_matrix<T>(12, 6, 1)};
  dictionary.decoder_bias = normal_matrix<T>(6, 1, 2).col(0);
  const Matrix<T> X = normal_matrix<T>(30, 6, 3);
  const Matrix<T> centered = X.rowwise() - dictionary.decoder_bias.transpose();
  const Dictionary<T> plain{.dictionary = dictionary.dictionary};
  for (const CoderKind kind : {CoderKind::lars, CoderKind::lasso_lars}) {
    const CodingOptions options{.method = kind, .alpha = 0.3, .n_nonzero = 3};
    EXPECT_EQ(sparse_encode(dictionary, X, options), sparse_encode(plain, centered, options));
  }
}

TYPED_TEST(LarsTest, ResultsDoNotDependOnTheThreadCount) {
  using T = TypeParam;
  Dictionary<T> dictionary{.dictionary = normal_matrix<T>(96, 64, 5)};
  dictionary.decoder_bias = normal_matrix<T>(64, 1, 6).col(0);
  const Matrix<T> X = normal_matrix<T>(2000, 64, 7);  // 8 blocks, the last partial
  for (const CodingOptions options :
       {CodingOptions{.method = CoderKind::lars, .n_nonzero = 6, .threads = 1},
        CodingOptions{.method = CoderKind::lasso_lars, .alpha = 30, .threads = 1},
        CodingOptions{.method = CoderKind::lasso_lars,
        .alpha = 3,
        .positive = true,
        .l2 = 0.5,
        .threads = 1}}) {
    const Matrix<T> one = sparse_encode(dictionary, X, options);
    CodingOptions three = options;
    three.threads = 3;
    EXPECT_EQ(one, sparse_encode(dictionary, X, three));
    EXPECT_GT((one.array() != 0).count(), 2000);
  }
}

TYPED_TEST(LarsTest, BadOptionsAreRefusedNamingTheFlag) {
  using T = TypeParam;
  const Dictionary<T> dictionary{.dictionary = normal_matrix<T>(5, 3, 8)};
  const Matrix<T> X = normal_matrix<T>(4, 3, 9);
  // scikit-learn refuses more atoms than the dictionary has, and positive LAR.
  EXPECT_ERROR_CONTAINS(sparse_encode(dictionary, X, {.method = CoderKind::lars, .n_nonzero = 6}),
                        "--n-nonzero: must be at most the dictionary's 5 atoms, got 6");
  EXPECT_ERROR_CONTAINS(sparse_encode(dictionary, X, {.method = CoderKind::lars, .positive = true}),
                        "--positive: the lars coder has no positive form");
  EXPECT_EQ(sparse_encode(dictionary, X, {.method = CoderKind::lars, .n_nonzero = 5}).rows(), 4);
  EXPECT_ERROR_CONTAINS(
      sparse_encode(dictionary, X, {.method = CoderKind::lasso_lars, .alpha = -1}),
      "--alpha: must be >= 0 and finite, got -1");
  EXPECT_ERROR_CONTAINS(sparse_encode(dictionary, X, {.method = CoderKind::lasso_lars, .l2 = NAN}),
                        "--l2");
  EXPECT_ERROR_CONTAINS(
      sparse_encode(dictionary, X, {.method = CoderKind::lasso_lars, .max_iter = 0}),
      "--max-iter: must be >= 1, got 0");
  Matrix<T> bad = X;
  bad(2, 1) = NAN;
  EXPECT_ERROR_CONTAINS(sparse_encode(dictionary, bad, {.method = CoderKind::lasso_lars}),
                        "data: holds non-finite values (row 2, column 1");
}

TYPED_TEST(LarsTest, MaxIterStopsThePathAtAPointOnIt) {
  using T = TypeParam;
  const Matrix<double> D = fixture("D"), X = fixture("X");
  const Dictionary<T> dictionary{.dictionary = D.cast<T>()};
  // One step: from the first atom's entry to the second's, so the codes are
  // the lasso's for the λ where the second atom enters (above α): KKT at
  // that λ, the largest |c|, with at most those two atoms.
  const Matrix<T> one = encode_lasso_lars(dictionary, X.cast<T>(), {.alpha = 0.1, .max_iter = 1});
  const Matrix<double> C = (X - one.template cast<double>() * D) * D.transpose();
  for (Eigen::Index i = 0; i < X.rows(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_GE((one.row(i).array() != 0).count(), 1);
    EXPECT_LE((one.row(i).array() != 0).count(), 2);
    const double lambda = C.row(i).cwiseAbs().maxCoeff();
    EXPECT_GT(lambda, 0.1 + 1e-3);
    expect_kkt<T>(D, X.row(i), one.row(i), lambda, 0, false, kkt_tolerance<T>(X));
  }
}

}  // namespace
}  // namespace dictlearn
