// The coders: the threshold coder against the formula, the registry's coder
// rows, the one sparse_encode() entry, bad input.
#include "dictlearn/coders.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "coders/coding.hpp"
#include "coders/threshold.hpp"
#include "dictlearn/model.hpp"
#include "lasso_checks.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

using testing::normal_matrix;
using testing::Tolerances;

template <typename T>
class CodersTest : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(CodersTest, Types);

/// Integers: every product and sum below is exact in float, so the coder's
/// result must equal the formula bit for bit whatever the product's order.
template <typename T>
Matrix<T> small_integers(Eigen::Index rows, Eigen::Index cols, uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::uniform_int_distribution<int> pick(-4, 4);
  Matrix<T> out(rows, cols);
  for (Eigen::Index i = 0; i < out.size(); ++i) out.data()[i] = static_cast<T>(pick(engine));
  return out;
}

/// scikit-learn's formula, entry by entry in double.
template <typename T>
Matrix<double> threshold_reference(const Matrix<T>& D, const Matrix<T>& X, double alpha,
                                   bool positive) {
  const Matrix<double> P = X.template cast<double>() * D.template cast<double>().transpose();
  Matrix<double> R(P.rows(), P.cols());
  for (Eigen::Index i = 0; i < P.size(); ++i) {
    const double p = P.data()[i];
    const double sign = (p > 0) - (p < 0);
    R.data()[i] = sign * std::max(std::abs(p) - alpha, 0.0);
    if (positive) R.data()[i] = std::max(R.data()[i], 0.0);
  }
  return R;
}

TYPED_TEST(CodersTest, ThresholdEqualsTheFormulaExactlyOnExactData) {
  using T = TypeParam;
  Dictionary<T> dictionary{.dictionary = small_integers<T>(7, 5, 1)};
  const Matrix<T> X = small_integers<T>(600, 5, 2);  // three blocks, the last partial
  for (const bool positive : {false, true}) {
    SCOPED_TRACE(positive);
    const Matrix<T> codes = sparse_encode(
        dictionary, X, {.method = CoderKind::threshold, .alpha = 2.5, .positive = positive});
    ASSERT_EQ(codes.rows(), 600);
    ASSERT_EQ(codes.cols(), 7);
    const Matrix<double> want = threshold_reference(dictionary.dictionary, X, 2.5, positive);
    const Matrix<double> got = codes.template cast<double>();
    EXPECT_EQ(got, want);
    if (positive) {
      EXPECT_GE(codes.minCoeff(), T(0));
    } else {
      EXPECT_LT(codes.minCoeff(), T(0));
    }
    EXPECT_GT((codes.array() == T(0)).count(), 0);  // some entries are shrunk to zero
  }
}

TYPED_TEST(CodersTest, ThresholdMatchesTheFormulaOnRandomData) {
  using T = TypeParam;
  const Dictionary<T> dictionary{.dictionary = normal_matrix<T>(30, 12, 3)};
  const Matrix<T> X = normal_matrix<T>(300, 12, 4);
  const double alpha = 1.5;
  const Matrix<T> codes = encode_threshold(dictionary, X, {.alpha = alpha});
  const Matrix<double> want = threshold_reference(dictionary.dictionary, X, alpha, false);
  const double scale = 1 + testing::max_abs(want);
  const double tolerance = 10 * Tolerances<T>::relative * scale;
  for (Eigen::Index i = 0; i < want.size(); ++i) {
    // Near |p| = alpha the zero pattern may differ by rounding; elsewhere not.
    EXPECT_NEAR(codes.data()[i], want.data()[i], tolerance) << "entry " << i;
  }
  // alpha = 0 keeps X Dᵀ itself; alpha above every |p| gives all zeros.
  const Matrix<double> P =
      X.template cast<double>() * dictionary.dictionary.template cast<double>().transpose();
  EXPECT_LT(testing::max_abs_difference(encode_threshold(dictionary, X, {.alpha = 0}), P),
            tolerance);
  EXPECT_EQ(testing::max_abs(encode_threshold(dictionary, X, {.alpha = 2 * testing::max_abs(P)})),
            0.0);
}

TYPED_TEST(CodersTest, ThresholdMatchesScikitLearnsFixture) {
  // sparse_encode(algorithm='threshold', alpha=0.5[, positive=True]) by
  // Debian's scikit-learn 1.2 (tests/fixtures/make_lasso_fixture.py).
  using T = TypeParam;
  const Matrix<double> D = testing::lasso_fixture("D"), X = testing::lasso_fixture("X");
  const Matrix<double> P = X * D.transpose();
  const double relative = std::is_same_v<T, double> ? 1e-12 : 1e-5;
  for (const bool positive : {false, true}) {
    SCOPED_TRACE(positive);
    const Matrix<double> want =
        testing::lasso_fixture(positive ? "codes_threshold_pos" : "codes_threshold");
    const Matrix<T> got =
        sparse_encode(Dictionary<T>{.dictionary = D.cast<T>()}, X.cast<T>().eval(),
                      {.method = CoderKind::threshold, .alpha = 0.5, .positive = positive});
    ASSERT_EQ(got.rows(), want.rows());
    ASSERT_EQ(got.cols(), want.cols());
    int64_t nonzero = 0;
    for (Eigen::Index i = 0; i < want.size(); ++i) {
      const double a = static_cast<double>(got.data()[i]), b = want.data()[i];
      nonzero += b != 0;
      // The zero pattern is scikit-learn's except where |p| ties α to rounding.
      if (std::abs(std::abs(P.data()[i]) - 0.5) > relative) {
        EXPECT_EQ(a == 0, b == 0) << "entry " << i;
      }
      EXPECT_LE(std::abs(a - b), relative * std::max(1.0, std::abs(P.data()[i]))) << "entry " << i;
    }
    EXPECT_GT(nonzero, 100);  // a real comparison, not one of zeros
  }
}

TYPED_TEST(CodersTest, ResultsDoNotDependOnTheThreadCount) {
  using T = TypeParam;
  // 2,000 x 64 x 96: enough work that two and three threads do start.
  Dictionary<T> dictionary{.dictionary = normal_matrix<T>(96, 64, 5)};
  dictionary.decoder_bias = normal_matrix<T>(64, 1, 6).col(0);
  const Matrix<T> X = normal_matrix<T>(2000, 64, 7);
  const Matrix<T> one = sparse_encode(dictionary, X, {.alpha = 0.5, .threads = 1});
  EXPECT_EQ(one, sparse_encode(dictionary, X, {.alpha = 0.5, .threads = 2}));
  EXPECT_EQ(one, sparse_encode(dictionary, X, {.alpha = 0.5, .threads = 3}));
}

TYPED_TEST(CodersTest, ADecoderBiasIsSubtractedFirst) {
  using T = TypeParam;
  Dictionary<T> dictionary{.dictionary = small_integers<T>(6, 4, 8)};
  dictionary.decoder_bias = small_integers<T>(4, 1, 9).col(0);
  const Matrix<T> X = small_integers<T>(20, 4, 10);
  const Matrix<T> centered = X.rowwise() - dictionary.decoder_bias.transpose();
  const Dictionary<T> plain{.dictionary = dictionary.dictionary};
  EXPECT_EQ(sparse_encode(dictionary, X, {.alpha = 1}),
            sparse_encode(plain, centered, {.alpha = 1}));
}

TYPED_TEST(CodersTest, AModelCodesAsItsDictionaryAndViewsAreReadInPlace) {
  using T = TypeParam;
  Model<T> model = init_model<T>(9, 6, 11);
  Matrix<T> big = normal_matrix<T>(300, 10, 12);
  // A block of a larger matrix: outer stride 10, not 6.
  const auto block = big.block(5, 2, 280, 6);
  const Matrix<T> copy = block;
  const CodingOptions options{.alpha = 0.1};
  const Matrix<T> from_view = encode(model, block, options);  // the coder entry, not the encoder
  EXPECT_EQ(from_view, encode(static_cast<const Dictionary<T>&>(model), copy, options));
  EXPECT_EQ(from_view, encode_threshold(model, copy, options));
  // No signals: no codes.
  EXPECT_EQ(sparse_encode(model, Matrix<T>(0, 6), options).rows(), 0);
}

TYPED_TEST(CodersTest, BadInputIsRefusedNamingWhatIsWrong) {
  using T = TypeParam;
  Dictionary<T> dictionary{.dictionary = normal_matrix<T>(4, 3, 13)};
  Matrix<T> X = normal_matrix<T>(5, 3, 14);
  EXPECT_ERROR_CONTAINS(sparse_encode(dictionary, X, {.alpha = -1}),
                        "--alpha: must be >= 0 and finite, got -1");
  EXPECT_ERROR_CONTAINS(sparse_encode(dictionary, X, {.alpha = NAN}),
                        "--alpha: must be >= 0 and finite");
  EXPECT_ERROR_CONTAINS(sparse_encode(dictionary, X, {.alpha = INFINITY}), "--alpha");
  EXPECT_ERROR_CONTAINS(sparse_encode(dictionary, X, {.threads = -2}), "--threads: must be >= 0");
  EXPECT_ERROR_CONTAINS(sparse_encode(dictionary, Matrix<T>::Ones(5, 4).eval(), {}),
                        "data: has 4 columns but the dictionary's atoms have dimension 3");
  X(3, 2) = std::numeric_limits<T>::infinity();
  EXPECT_ERROR_CONTAINS(sparse_encode(dictionary, X, {}),
                        "data: holds non-finite values (row 3, column 2: inf)");
  X(3, 2) = 0;
  Dictionary<T> bad = dictionary;
  bad.dictionary(1, 1) = std::numeric_limits<T>::quiet_NaN();
  EXPECT_ERROR_CONTAINS(sparse_encode(bad, X, {}),
                        "dictionary: dictionary holds non-finite values");
  EXPECT_ERROR_CONTAINS(sparse_encode(Dictionary<T>{}, X, {}),
                        "dictionary: dictionary is empty (0 x 0)");
  bad = dictionary;
  bad.decoder_bias = Vector<T>::Zero(2);
  EXPECT_ERROR_CONTAINS(sparse_encode(bad, X, {}),
                        "decoder_bias has 2 entries but the atoms have dimension 3");
  EXPECT_ERROR_CONTAINS(sparse_encode(dictionary, X, {.method = static_cast<CoderKind>(99)}),
                        "--coder: unknown coder number 99");
  EXPECT_ERROR_CONTAINS(sparse_encode(dictionary, X, {.method = CoderKind::omp, .positive = true}),
                        "--positive: the omp coder has no positive form");
  EXPECT_ERROR_CONTAINS(sparse_encode(dictionary, X, {.l2 = -0.5}),
                        "--l2: must be >= 0 and finite, got -0.5");
  EXPECT_ERROR_CONTAINS(sparse_encode(dictionary, X, {.max_iter = 0}),
                        "--max-iter: must be >= 1, got 0");
  EXPECT_ERROR_CONTAINS(sparse_encode(dictionary, X, {.tol = -1}),
                        "--coder-tol: must be >= 0 and finite, got -1");
}

TYPED_TEST(CodersTest, CsrCodesAreTheDenseCodesOfEveryCoder) {
  using T = TypeParam;
  Matrix<T> atoms = normal_matrix<T>(12, 6, 21);
  atoms.rowwise().normalize();
  const Dictionary<T> dictionary{.dictionary = atoms};
  const Matrix<T> X = normal_matrix<T>(700, 6, 22);
  for (const CoderTraits& traits : coder_table()) {
    SCOPED_TRACE(traits.name);
    const CodingOptions options{.method = traits.kind, .alpha = 0.3, .n_nonzero = 2};
    const SparseCodes<T> want = to_sparse(sparse_encode(dictionary, X, options));
    ASSERT_GT(want.nnz(), 0);
    for (const int64_t chunk : {int64_t{256}, int64_t{512}}) {
      SCOPED_TRACE(chunk);
      const SparseCodes<T> got = detail::sparse_encode_csr<T>(dictionary, X, options, chunk);
      EXPECT_EQ(got.rows, want.rows);
      EXPECT_EQ(got.cols, want.cols);
      EXPECT_EQ(got.indptr, want.indptr);
      EXPECT_EQ(got.indices, want.indices);
      EXPECT_EQ(got.values, want.values);
    }
    EXPECT_EQ(sparse_encode_csr(dictionary, X, options).values, want.values);
  }
  const SparseCodes<T> none = sparse_encode_csr(dictionary, Matrix<T>(0, 6), {});
  EXPECT_EQ(none.rows, 0);
  EXPECT_EQ(none.cols, 12);
  EXPECT_EQ(none.indptr, std::vector<int64_t>{0});
  EXPECT_ERROR_CONTAINS(sparse_encode_csr(dictionary, Matrix<T>(0, 5), {}),
                        "data: has 5 columns but the dictionary's atoms have dimension 6");
}

TEST(CoderTableTest, OneRowPerKindAndNamesParseBack) {
  const auto& table = coder_table();
  ASSERT_FALSE(table.empty());
  for (size_t i = 0; i < table.size(); ++i) {
    if (i > 0) {
      EXPECT_LT(table[i - 1].kind, table[i].kind);  // in the order of CoderKind
    }
    EXPECT_EQ(parse_coder(table[i].name), table[i].kind);
    EXPECT_STREQ(coder_name(table[i].kind), table[i].name);
  }
  EXPECT_EQ(coder_choices(), "threshold, omp, lars, lasso-lars, lasso-cd or fista");
  EXPECT_ERROR_CONTAINS(parse_coder("omq"),
                        "--coder: unknown coder 'omq' (expected threshold, omp, lars, lasso-lars, "
                        "lasso-cd or fista)");
  EXPECT_EQ(coder_traits(CoderKind::threshold).parameters.size(), 2u);
}

TEST(SoftThresholdTest, ShrinksTowardZeroAndGivesPositiveZeros) {
  double values[] = {3, -3, 1, -1, 0, -0.0, 2};
  detail::soft_threshold(values, 7, 2.0, false);
  const double want[] = {1, -1, 0, 0, 0, 0, 0};
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(values[i], want[i]) << i;
    if (want[i] == 0) {
      EXPECT_FALSE(std::signbit(values[i])) << i;
    }
  }
  float positive[] = {3, -3, 0.5f};
  detail::soft_threshold(positive, 3, 0.25f, true);
  EXPECT_EQ(positive[0], 2.75f);
  EXPECT_EQ(positive[1], 0.0f);
  EXPECT_EQ(positive[2], 0.25f);
}

}  // namespace
}  // namespace dictlearn
