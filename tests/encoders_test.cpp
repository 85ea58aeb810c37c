// Encoders and penalties: the training objective against a plain computation
// of it (tests/reference_objective.hpp) and its gradient against finite
// differences of that plain objective, sparsemax against a plain projection, the selection rules of
// topk and batchtopk, and the options' checks.
#include "dictlearn/encoders.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "dictlearn/trainer.hpp"
#include "reference_objective.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

struct GradientCase {
  std::string name;
  EncoderOptions encoder;
  double l1 = 0;
  double ortho = 0;
  DecoderBiasInit decoder_bias = DecoderBiasInit::none;
};

void PrintTo(const GradientCase& c, std::ostream* os) { *os << c.name; }

class EncoderGradientTest : public ::testing::TestWithParam<GradientCase> {};

// The objective training computes equals the plain one of the formulas, and
// its gradient matches central differences of that plain objective (in
// double, every entry of every parameter): differences of the library's own
// loss would pass a wrong L1, ortho or selection term.
TEST_P(EncoderGradientTest, ObjectiveIsThePlainOneAndGradientMatchesItsFiniteDifferences) {
  const GradientCase& c = GetParam();
  Matrix<double> X = Matrix<double>::Random(23, 5);
  FitOptions options{.n_atoms = 7,
                     .epochs = 1,
                     .seed = 4,
                     .encoder = c.encoder,
                     .l1 = c.l1,
                     .ortho = c.ortho,
                     .decoder_bias = c.decoder_bias};
  Model<double> model = initialize(X, options);
  // Spread the pre-activations so ReLU, top-k and sparsemax have clear margins.
  model.encoder_weight *= 3.0;
  model.encoder_bias.setLinSpaced(-0.4, 0.5);
  if (model.decoder_bias.size() > 0) model.decoder_bias.setLinSpaced(-0.2, 0.3);
  Gradients<double> grad;
  const double loss = loss_and_gradients(model, X, grad, options);
  const double plain = testing::reference::objective(model, X, c.l1, c.ortho);
  EXPECT_NEAR(loss, plain, 1e-12 * plain) << c.name;
  // The penalties weigh in (a case whose term vanished would test nothing).
  if (c.l1 > 0) {
    EXPECT_GT(plain - testing::reference::objective(model, X, 0, c.ortho), 1e-3);
  }
  if (c.ortho > 0) {
    EXPECT_GT(plain - testing::reference::objective(model, X, c.l1, 0), 1e-3);
  }
  const double h = 1e-6;
  int checked = 0;
  auto check = [&](auto& param, const auto& analytic, const char* name) {
    ASSERT_EQ(param.size(), analytic.size()) << name;
    for (Eigen::Index i = 0; i < param.size(); ++i) {
      const double saved = param.data()[i];
      param.data()[i] = saved + h;
      const double plus = testing::reference::objective(model, X, c.l1, c.ortho);
      param.data()[i] = saved - h;
      const double minus = testing::reference::objective(model, X, c.l1, c.ortho);
      param.data()[i] = saved;
      const double numeric = (plus - minus) / (2 * h);
      EXPECT_NEAR(analytic.data()[i], numeric, 2e-7 + 1e-5 * std::abs(numeric))
          << c.name << ": " << name << " entry " << i;
      ++checked;
    }
  };
  check(model.dictionary, grad.dictionary, "dictionary");
  check(model.encoder_weight, grad.encoder_weight, "encoder_weight");
  check(model.encoder_bias, grad.encoder_bias, "encoder_bias");
  check(model.decoder_bias, grad.decoder_bias, "decoder_bias");
  EXPECT_GT(grad.encoder_weight.norm(), 1e-6) << c.name;
  EXPECT_GE(checked, 77);  // 2 · 7 · 5 weights + 7 biases, + 5 with a decoder bias
}

INSTANTIATE_TEST_SUITE_P(
    AllEncodersAndPenalties, EncoderGradientTest,
    ::testing::Values(GradientCase{"softmax", {}},
                      GradientCase{"softmax_temperature", {.temperature = 0.5}},
                      GradientCase{"sparsemax", {.kind = EncoderKind::sparsemax}},
                      GradientCase{"relu", {.kind = EncoderKind::relu}},
                      GradientCase{"relu_l1", {.kind = EncoderKind::relu}, 0.05},
                      GradientCase{"topk", {.kind = EncoderKind::topk, .k = 3}},
                      GradientCase{"batchtopk", {.kind = EncoderKind::batchtopk, .k = 2}},
                      // k <= n_atoms / 4: the sparse decoder and sparse gradient products.
                      GradientCase{"topk_sparse_path_l1_decoder_bias",
                                   {.kind = EncoderKind::topk, .k = 1},
                                   0.05,
                                   0,
                                   DecoderBiasInit::mean},
                      GradientCase{"batchtopk_sparse_path",
                                   {.kind = EncoderKind::batchtopk, .k = 1}},
                      GradientCase{"softmax_ortho", {}, 0, 0.3},
                      GradientCase{"topk_ortho_decoder_bias",
                                   {.kind = EncoderKind::topk, .k = 2},
                                   0,
                                   0.1,
                                   DecoderBiasInit::mean},
                      GradientCase{"sparsemax_decoder_bias",
                                   {.kind = EncoderKind::sparsemax},
                                   0,
                                   0,
                                   DecoderBiasInit::zero}),
    [](const auto& info) { return info.param.name; });

// Sparsemax by bisection on τ: Σ max(z − τ, 0) = 1 is decreasing in τ.
std::vector<double> project_by_bisection(const std::vector<double>& z) {
  double low = *std::min_element(z.begin(), z.end()) - 1,
         high = *std::max_element(z.begin(), z.end());
  for (int i = 0; i < 200; ++i) {
    const double tau = (low + high) / 2;
    double sum = 0;
    for (double v : z) sum += std::max(v - tau, 0.0);
    (sum > 1 ? low : high) = tau;
  }
  std::vector<double> r;
  for (double v : z) r.push_back(std::max(v - (low + high) / 2, 0.0));
  return r;
}

TEST(SparsemaxTest, IsTheEuclideanProjectionOntoTheSimplex) {
  Matrix<double> z = 2.0 * Matrix<double>::Random(50, 9);
  Matrix<double> r = z;
  sparsemax_rows(r);
  int zeros = 0;
  for (int i = 0; i < z.rows(); ++i) {
    const std::vector<double> row(z.row(i).data(), z.row(i).data() + z.cols());
    const std::vector<double> expected = project_by_bisection(row);
    EXPECT_NEAR(r.row(i).sum(), 1.0, 1e-12);
    for (int k = 0; k < z.cols(); ++k) {
      EXPECT_NEAR(r(i, k), expected[k], 1e-9);
      EXPECT_GE(r(i, k), 0.0);
      zeros += r(i, k) == 0.0;
    }
  }
  EXPECT_GT(zeros, 100);  // exact zeros, unlike softmax
  // Far-apart logits give a one-hot code; equal logits the uniform one.
  Matrix<float> far(1, 3), equal = Matrix<float>::Constant(1, 4, 0.3f);
  far << 5, 0, -1;
  sparsemax_rows(far);
  sparsemax_rows(equal);
  EXPECT_EQ(far(0, 0), 1.0f);
  EXPECT_EQ(far(0, 1), 0.0f);
  EXPECT_FLOAT_EQ(equal(0, 2), 0.25f);
}

TEST(TopKTest, KeepsTheKLargestPerRowThenReLU) {
  Matrix<double> z(2, 5);
  z << 0.5, -1, 2, 0.1, 3,  //
      -0.5, -0.2, -3, 0.4, -0.1;
  activate(EncoderOptions{.kind = EncoderKind::topk, .k = 2}, z);
  Matrix<double> expected(2, 5);
  expected << 0, 0, 2, 0, 3,  //
      0, 0, 0, 0.4, 0;        // the second largest, -0.1, is kept then ReLU'd to 0
  EXPECT_EQ(z, expected);
}

TEST(BatchTopKTest, KeepsKTimesBOverTheBatchAndUsesTheThresholdAtInference) {
  Matrix<double> z(3, 4);
  z << 5, 4, 3, 2,         //
      0.1, 0.2, 0.3, 0.4,  //
      6, -1, -2, 1;
  Matrix<double> training = z;
  const EncoderOptions options{.kind = EncoderKind::batchtopk, .k = 2, .threshold = 0.35};
  const double smallest = activate_training(options, training);
  // k·B = 6 largest of the batch: 6, 5, 4, 3, 2, 1; the middle row gets nothing.
  EXPECT_EQ((training.array() != 0).count(), 6);
  EXPECT_EQ(training.row(1).norm(), 0.0);
  EXPECT_EQ(smallest, 1.0);
  // At inference each row on its own: entries above the threshold survive.
  Matrix<double> inference = z;
  activate(options, inference);
  EXPECT_EQ(inference(1, 3), 0.4);
  EXPECT_EQ(inference(1, 2), 0.0);
  Matrix<double> one_row = z.row(1);
  activate(options, one_row);
  EXPECT_EQ(one_row, inference.row(1));  // a sample's code does not depend on its batch
}

// The table is the one list of encoders: every kind has its row, in enum
// order, names parse back, and the texts built from it are the ones the CLI
// printed before the table existed (the compare script checks stderr).
TEST(EncoderTraitsTest, OneRowPerKindAndTextsBuiltFromTheTable) {
  const auto& table = encoder_table();
  ASSERT_EQ(table.size(), 5u);
  for (size_t i = 0; i < table.size(); ++i) {
    EXPECT_EQ(static_cast<size_t>(table[i].kind), i);
    EXPECT_EQ(&encoder_traits(table[i].kind), &table[i]);
    EXPECT_EQ(parse_encoder(table[i].name), table[i].kind);
    EXPECT_STREQ(encoder_name(table[i].kind), table[i].name);
    EXPECT_GT(std::string(table[i].help).size(), 10u);
  }
  EXPECT_EQ(encoder_choices(), "softmax, sparsemax, relu, topk or batchtopk");
  EXPECT_ERROR_CONTAINS(parse_encoder("maxout", "m.safetensors: metadata 'encoder'"),
                        "m.safetensors: metadata 'encoder': unknown encoder 'maxout' (expected "
                        "softmax, sparsemax, relu, topk or batchtopk)");
  // The traits the library routes on.
  EXPECT_TRUE(encoder_traits(EncoderKind::topk).needs_k &&
              encoder_traits(EncoderKind::batchtopk).needs_k);
  EXPECT_FALSE(encoder_traits(EncoderKind::relu).needs_k);
  EXPECT_TRUE(encoder_traits(EncoderKind::topk).selects_top_k);
  EXPECT_FALSE(encoder_traits(EncoderKind::sparsemax).selects_top_k);
  EXPECT_FALSE(encoder_traits(EncoderKind::batchtopk).row_local);
  EXPECT_TRUE(encoder_traits(EncoderKind::topk).row_local);
  EXPECT_FALSE(encoder_traits(EncoderKind::softmax).sparse_output);
  EXPECT_TRUE(encoder_traits(EncoderKind::relu).sparse_output);
  EXPECT_TRUE(encoder_traits(EncoderKind::softmax).has_temperature);
  EXPECT_FALSE(encoder_traits(EncoderKind::topk).has_temperature);
  // needs_k drives validation: k is checked for topk and batchtopk only.
  EXPECT_ERROR_CONTAINS(validate(EncoderOptions{.kind = EncoderKind::batchtopk}, 8),
                        "--k: batchtopk needs k >= 1");
  EXPECT_NO_THROW(validate(EncoderOptions{.kind = EncoderKind::relu}, 8));
}

TEST(EncoderOptionsTest, BadValuesAreRefusedNamingTheFlag) {
  EXPECT_ERROR_CONTAINS(validate(EncoderOptions{.kind = EncoderKind::topk}, 8),
                        "--k: topk needs k >= 1");
  EXPECT_ERROR_CONTAINS(validate(EncoderOptions{.kind = EncoderKind::topk, .k = 9}, 8),
                        "--k: 9 exceeds the number of atoms (8)");
  EXPECT_ERROR_CONTAINS(validate(EncoderOptions{.temperature = 0}, 8),
                        "--temperature: must be > 0");
  EXPECT_ERROR_CONTAINS(parse_encoder("maxout"), "--encoder: unknown encoder 'maxout'");
  EXPECT_ERROR_CONTAINS(validate(FitOptions{.l1 = -1}), "--l1: must be >= 0");
  EXPECT_ERROR_CONTAINS(validate(FitOptions{.ortho = NAN}), "--ortho: must be >= 0 and finite");
  EXPECT_ERROR_CONTAINS(validate(FitOptions{.batch_size = -5}), "--batch-size: must be >= 0");
  EXPECT_ERROR_CONTAINS(validate(FitOptions{.lr_decay = 1.5}), "--lr-decay: must be a fraction");
  EXPECT_ERROR_CONTAINS(validate(FitOptions{.patience = -1}), "--patience");
  EXPECT_ERROR_CONTAINS(validate(FitOptions{.tol = 1}), "--tol");
  EXPECT_ERROR_CONTAINS(validate(FitOptions{.auxk = -0.1}), "--auxk");
  EXPECT_ERROR_CONTAINS(validate(FitOptions{.threads = -2}), "--threads");
  Matrix<double> X = Matrix<double>::Random(3, 2);
  EXPECT_ERROR_CONTAINS(
      initialize(X, FitOptions{.n_atoms = 4, .dictionary_init = DictionaryInit::data}),
      "--init-dict: data initialization needs at least as many samples as atoms");
}

}  // namespace
}  // namespace dictlearn
