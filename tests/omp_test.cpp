// The Batch-OMP coder against scikit-learn 1.2's orthogonal_mp_gram (fixtures
// of tests/fixtures/make_omp_fixture.py), its stopping rules, its degenerate
// cases, bad options and thread-count independence.
#include "coders/omp.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "dictlearn/coders.hpp"
#include "dictlearn/io.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

using testing::normal_matrix;

template <typename T>
class OmpTest : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(OmpTest, Types);

Matrix<double> fixture(const std::string& name) { return testing::fixture_matrix("omp", name); }

/// Codes within `tolerance` of scikit-learn's and with the same support.
template <typename T>
void expect_codes(const Matrix<T>& got, const Matrix<double>& want, double tolerance) {
  ASSERT_EQ(got.rows(), want.rows());
  ASSERT_EQ(got.cols(), want.cols());
  for (Eigen::Index i = 0; i < want.rows(); ++i) {
    for (Eigen::Index j = 0; j < want.cols(); ++j) {
      EXPECT_EQ(got(i, j) != 0, want(i, j) != 0) << "support, signal " << i << " atom " << j;
      EXPECT_NEAR(static_cast<double>(got(i, j)), want(i, j), tolerance)
          << "signal " << i << " atom " << j;
    }
  }
}

template <typename T>
double tolerance_for(const Matrix<double>& want) {
  // double: the 1e-5; float: its 1e-4 relative to the largest code.
  return std::is_same_v<T, double> ? 1e-5 : 1e-4 * (1 + testing::max_abs(want));
}

TYPED_TEST(OmpTest, MatchesScikitLearnForEachNumberOfAtoms) {
  using T = TypeParam;
  const Dictionary<T> dictionary{.dictionary = fixture("D").cast<T>()};
  const Matrix<T> X = fixture("X").cast<T>();
  for (const int L : {1, 3, 8}) {
    SCOPED_TRACE(L);
    const Matrix<double> want = fixture("codes_L" + std::to_string(L));
    const Matrix<T> codes =
        sparse_encode(dictionary, X, {.method = CoderKind::omp, .n_nonzero = L});
    expect_codes(codes, want, tolerance_for<T>(want));
    for (Eigen::Index i = 0; i < codes.rows(); ++i) {
      EXPECT_EQ((codes.row(i).array() != 0).count(), L) << "signal " << i;
    }
  }
  // n_nonzero 0: sparse_encode's default max(1, ⌊16/10⌋) = 1 atom.
  expect_codes(encode_omp(dictionary, X, {.n_nonzero = 0}), fixture("codes_L1"),
               tolerance_for<T>(fixture("codes_L1")));
}

TYPED_TEST(OmpTest, StopsByTheSquaredResidualAsScikitLearnsTol) {
  using T = TypeParam;
  const Dictionary<T> dictionary{.dictionary = fixture("D").cast<T>()};
  const Matrix<T> X = fixture("X").cast<T>();
  const double tol = 4.0;  // TOL of make_omp_fixture.py
  const Matrix<double> want = fixture("codes_tol");
  const Matrix<T> codes = encode_omp(dictionary, X, {.max_error = tol});
  expect_codes(codes, want, tolerance_for<T>(want));
  const Matrix<double> residual =
      X.template cast<double>() - want * fixture("D");  // scikit-learn's codes' residuals
  for (Eigen::Index i = 0; i < X.rows(); ++i) {
    EXPECT_LE(residual.row(i).squaredNorm(), tol * (1 + 1e-6)) << "signal " << i;
  }
  // Both rules: L = 3 stops the signals that need more, ε the others.
  const Matrix<double> three = fixture("codes_L3");
  const Matrix<T> both = encode_omp(dictionary, X, {.n_nonzero = 3, .max_error = tol});
  int capped = 0;
  for (Eigen::Index i = 0; i < X.rows(); ++i) {
    const bool by_error = (want.row(i).array() != 0).count() <= 3;
    capped += !by_error;
    const Matrix<double> row = by_error ? want.row(i) : three.row(i);
    expect_codes<T>(both.row(i), row, tolerance_for<T>(row));
  }
  EXPECT_GT(capped, 0);
  EXPECT_LT(capped, X.rows());
}

TYPED_TEST(OmpTest, DegenerateSignalsAndDictionaries) {
  using T = TypeParam;
  // Atom 1 duplicates atom 0; atom 2 is another direction.
  Matrix<T> D(3, 4);
  D << 1, 0, 0, 0, 1, 0, 0, 0, 0, 0.6, 0.8, 0;
  const Dictionary<T> dictionary{.dictionary = D};
  Matrix<T> X(3, 4);
  X << 0, 0, 0, 0,     // zero signal: no atom (scikit-learn warns and stops)
      3, 0, 0, 0,      // a tie of atoms 0 and 1: the first; then the residual is 0
      3, 1.2, 1.6, 0;  // 3·d0 + 2·d2: d0's duplicate then has a zero pivot
  const Matrix<T> codes = encode_omp(dictionary, X, {.n_nonzero = 3});
  Matrix<T> want(3, 3);
  want << 0, 0, 0, 3, 0, 0, 3, 0, 2;
  EXPECT_LT(testing::max_abs_difference(codes, want), 1e-5);
  EXPECT_EQ(codes(1, 1), T(0));
  EXPECT_EQ(codes(2, 1), T(0));
  // One atom of norm 2: the least-squares coefficient <x, d>/‖d‖².
  Matrix<T> one(1, 4);
  one << 2, 0, 0, 0;
  const Matrix<T> single = encode_omp(Dictionary<T>{.dictionary = one}, X.row(2), {});
  ASSERT_EQ(single.rows(), 1);
  EXPECT_NEAR(static_cast<double>(single(0, 0)), 1.5, 1e-6);
  // L > dim (4 atoms in 2 dims): the third atom is dependent and stops it.
  Matrix<T> wide(4, 2);
  wide << 1, 0, 0, 1, 0.6, 0.8, 0.8, -0.6;
  Matrix<T> x(1, 2);
  x << 0.3, -2;
  const Matrix<T> many = encode_omp(Dictionary<T>{.dictionary = wide}, x, {.n_nonzero = 4});
  EXPECT_LE((many.array() != 0).count(), 2);
  const Matrix<T> back = many * wide;
  EXPECT_LT(testing::max_abs_difference(back, x), 1e-5);
}

TYPED_TEST(OmpTest, ExactTiesGoToScikitLearnsFirstSwappedPosition) {
  using T = TypeParam;
  // Atom `dup` duplicates atom 0 in a basis of 40; x = 3·e_first + e_0. The
  // first step takes `first`, which swaps places with atom 0 in
  // scikit-learn's positions; then atoms 0 and dup tie exactly, and the
  // lower position wins: dup when dup < first, else atom 0 (values from
  // orthogonal_mp_gram). The pairs put the tie in other lanes, the same lane
  // of another vector, and 32 atoms apart, at every SIMD width.
  struct Case {
    int first, dup, chosen;
  };
  for (const Case c :
       {Case{5, 3, 3}, Case{9, 8, 8}, Case{33, 32, 32}, Case{3, 5, 0}, Case{8, 9, 0}}) {
    SCOPED_TRACE(c.first);
    Matrix<T> D = Matrix<T>::Identity(40, 40);
    D.row(c.dup) = D.row(0);
    const Matrix<T> x = 3 * D.row(c.first) + D.row(0);
    const Matrix<T> codes = encode_omp(Dictionary<T>{.dictionary = D}, x, {.n_nonzero = 3});
    Matrix<T> want = Matrix<T>::Zero(1, 40);
    want(0, c.first) = 3;
    want(0, c.chosen) = 1;
    EXPECT_EQ(codes, want);
  }
}

TYPED_TEST(OmpTest, ADecoderBiasIsSubtractedFirst) {
  using T = TypeParam;
  Dictionary<T> dictionary{.dictionary = normal_matrix<T>(12, 6, 1)};
  dictionary.decoder_bias = normal_matrix<T>(6, 1, 2).col(0);
  const Matrix<T> X = normal_matrix<T>(30, 6, 3);
  const Matrix<T> centered = X.rowwise() - dictionary.decoder_bias.transpose();
  const Dictionary<T> plain{.dictionary = dictionary.dictionary};
  const CodingOptions options{.method = CoderKind::omp, .n_nonzero = 3};
  EXPECT_EQ(sparse_encode(dictionary, X, options), sparse_encode(plain, centered, options));
}

TYPED_TEST(OmpTest, ResultsDoNotDependOnTheThreadCount) {
  using T = TypeParam;
  Dictionary<T> dictionary{.dictionary = normal_matrix<T>(96, 64, 5)};
  dictionary.decoder_bias = normal_matrix<T>(64, 1, 6).col(0);
  const Matrix<T> X = normal_matrix<T>(2000, 64, 7);  // 8 blocks, the last partial
  for (const double max_error : {0.0, 20.0}) {
    const CodingOptions options{
        .method = CoderKind::omp, .n_nonzero = 6, .max_error = max_error, .threads = 1};
    const Matrix<T> one = sparse_encode(dictionary, X, options);
    CodingOptions three = options;
    three.threads = 3;
    EXPECT_EQ(one, sparse_encode(dictionary, X, three));
    EXPECT_GT((one.array() != 0).count(), 2000);
  }
}

TYPED_TEST(OmpTest, BadOptionsAreRefusedNamingTheFlag) {
  using T = TypeParam;
  const Dictionary<T> dictionary{.dictionary = normal_matrix<T>(5, 3, 8)};
  const Matrix<T> X = normal_matrix<T>(4, 3, 9);
  EXPECT_ERROR_CONTAINS(encode_omp(dictionary, X, {.n_nonzero = -1}),
                        "--n-nonzero: must be >= 1, or 0 for the default, got -1");
  EXPECT_ERROR_CONTAINS(encode_omp(dictionary, X, {.max_error = -0.5}),
                        "--max-error: must be >= 0 and finite (0: not used), got -0.5");
  EXPECT_ERROR_CONTAINS(encode_omp(dictionary, X, {.max_error = NAN}), "--max-error");
  EXPECT_ERROR_CONTAINS(encode_omp(dictionary, X, {.max_error = INFINITY}), "--max-error");
  // scikit-learn refuses more atoms than the dictionary has.
  EXPECT_ERROR_CONTAINS(encode_omp(dictionary, X, {.n_nonzero = 6}),
                        "--n-nonzero: must be at most the dictionary's 5 atoms, got 6");
  EXPECT_EQ(encode_omp(dictionary, X, {.n_nonzero = 5}).rows(), 4);
  EXPECT_EQ(encode_omp(dictionary, Matrix<T>(0, 3), {}).rows(), 0);
}

}  // namespace
}  // namespace dictlearn
