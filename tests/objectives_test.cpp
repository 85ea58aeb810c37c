// The library's maps and losses against plain computations of their formulas
// (tests/reference_objective.hpp): every encoder's codes at inference, the
// reconstruction, the loss and metrics; and AuxK's loss and gradient, taken
// from the training engine directly and checked against a plain AuxK loss and
// its finite differences.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "dictlearn/metrics.hpp"
#include "dictlearn/model.hpp"
#include "dictlearn/trainer.hpp"
#include "learners/autoencoder/engine.hpp"
#include "reference_objective.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

namespace ref = testing::reference;

template <typename T>
class ObjectiveTest : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(ObjectiveTest, Types);

/// Largest |a − b| over the entries, NaN when any entry is NaN.
template <typename T>
double worst_difference(const Matrix<T>& got, const ref::Rows& want) {
  EXPECT_EQ(got.rows(), want.rows());
  EXPECT_EQ(got.cols(), want.cols());
  return testing::max_abs_difference(got, want);
}

TYPED_TEST(ObjectiveTest, EncodeReconstructLossAndMetricsAreThePlainComputation) {
  using T = TypeParam;
  const double tolerance = std::is_same_v<T, float> ? 2e-5 : 1e-12;
  const Matrix<T> X = testing::normal_matrix<T>(300, 6, 31);
  Model<T> model = init_model<T>(9, 6, 4);
  model.encoder_weight *= T(3);  // pre-activations of both signs, with margins
  model.encoder_bias.setLinSpaced(T(-0.5), T(0.4));
  model.decoder_bias = Vector<T>::LinSpaced(6, T(-0.3), T(0.2));
  const std::vector<EncoderOptions> encoders = {
      {.kind = EncoderKind::softmax},
      {.kind = EncoderKind::softmax, .temperature = 0.3},
      {.kind = EncoderKind::sparsemax},
      {.kind = EncoderKind::relu},
      {.kind = EncoderKind::topk, .k = 3},
      {.kind = EncoderKind::batchtopk, .k = 2, .threshold = 0.4}};
  for (const EncoderOptions& encoder : encoders) {
    model.encoder = encoder;
    SCOPED_TRACE(std::string(encoder_name(encoder.kind)) + " temperature " +
                 std::to_string(encoder.temperature));
    const ref::Rows codes = ref::activate(encoder, ref::pre_activations(model, X), false);
    const ref::Rows out = ref::reconstruct(model, codes);
    // The case is not degenerate: some codes are zero (but for softmax), some not.
    const Eigen::Index zeros = (codes.array() == 0).count();
    if (encoder.kind != EncoderKind::softmax) {
      EXPECT_GT(zeros, codes.size() / 10);
    }
    EXPECT_LT(zeros, codes.size());
    EXPECT_LT(worst_difference(encode(model, X, 2), codes), tolerance);
    EXPECT_LT(worst_difference(reconstruct(model, X, 2), out), tolerance);
    const double mse = ref::mse(X, out);
    EXPECT_NEAR(reconstruction_loss(model, X, 2), mse, tolerance * mse);
    const Metrics metrics = evaluate(model, X);
    EXPECT_NEAR(metrics.mse, mse, tolerance * mse);
    // FVU: Σ‖x − x̂‖² / Σ‖x − x̄‖²; L0: nonzero codes per sample.
    const Matrix<double> Xd = X.template cast<double>();
    const double variance = (Xd.rowwise() - Xd.colwise().mean()).squaredNorm();
    EXPECT_NEAR(metrics.fvu, mse * static_cast<double>(X.size()) / variance, tolerance);
    if (encoder.kind != EncoderKind::softmax) {  // float softmax may underflow to exact zeros
      EXPECT_NEAR(metrics.l0, static_cast<double>(codes.size() - zeros) / X.rows(), 1e-12);
    }
  }
}

// ----------------------------------------------------------------- AuxK

struct AuxkCase {
  std::string name;
  EncoderOptions encoder;
  int atoms = 8;
  DecoderBiasInit decoder_bias = DecoderBiasInit::none;
};

void PrintTo(const AuxkCase& c, std::ostream* os) { *os << c.name; }

class AuxkTest : public ::testing::TestWithParam<AuxkCase> {};

/// The engine's objective and gradient of one full batch (compute_batch, the
/// path training takes) with the atoms of `dead` marked dead.
struct EngineResult {
  double objective = 0;
  Gradients<double> gradients;
};
EngineResult engine_batch(const Model<double>& model, const Matrix<double>& X,
                          const FitOptions& options, const std::vector<int>& dead) {
  detail::TrainerState<double> state;
  state.model = model;
  state.options = options;
  state.gradients = {.dictionary = Matrix<double>::Zero(model.n_atoms(), model.dim()),
                     .encoder_weight = Matrix<double>::Zero(model.n_atoms(), model.dim()),
                     .encoder_bias = Vector<double>::Zero(model.n_atoms()),
                     .decoder_bias = Vector<double>::Zero(model.decoder_bias.size())};
  state.samples_since_fired.assign(model.n_atoms(), 0);
  for (int atom : dead) state.samples_since_fired[atom] = 1000;
  detail::Workspace<double> work;
  detail::prepare(state, work, X.rows(), X.rows());
  const detail::BatchResult result =
      detail::compute_batch(state, X.data(), nullptr, X.rows(), work);
  return {result.objective, state.gradients};
}

// AuxK's term of the objective equals the plain AuxK loss (the residual of the
// main reconstruction held fixed), and the gradient it adds (the engine's
// gradient with AuxK minus without) matches central differences of that plain
// loss for every parameter entry. The dense, sparse and batch paths each.
TEST_P(AuxkTest, LossIsThePlainOneAndItsGradientMatchesFiniteDifferences) {
  const AuxkCase& c = GetParam();
  const Matrix<double> X = testing::normal_matrix<double>(19, 6, 7);
  FitOptions options{.n_atoms = c.atoms,
                     .seed = 3,
                     .threads = 1,
                     .encoder = c.encoder,
                     .decoder_bias = c.decoder_bias,
                     .dead_after = 10,
                     .auxk = 0.7,
                     .auxk_k = 2};
  Model<double> model = initialize(X, options);
  model.encoder_weight *= 3.0;
  model.encoder_bias.setLinSpaced(-0.4, 0.5);
  if (model.decoder_bias.size() > 0) model.decoder_bias.setLinSpaced(-0.2, 0.3);
  const std::vector<int> dead = {0, 3, 5};  // three dead atoms, two used per sample

  const EngineResult with = engine_batch(model, X, options, dead);
  FitOptions without_auxk = options;
  without_auxk.auxk = 0;
  const EngineResult without = engine_batch(model, X, without_auxk, dead);
  const double main = ref::objective(model, X, 0, 0);
  EXPECT_NEAR(without.objective, main, 1e-12 * main);

  // e = X − X̂ of the main reconstruction at these parameters, held fixed.
  const ref::Rows error =
      X -
      ref::reconstruct(model, ref::activate(model.encoder, ref::pre_activations(model, X), true));
  const double aux = ref::auxk_loss(model, X, error, dead, 2, options.auxk);
  EXPECT_GT(aux, 1e-3) << "the dead atoms reconstruct nothing: the case tests nothing";
  EXPECT_NEAR(with.objective - without.objective, aux, 1e-12 * with.objective);

  const double h = 1e-6;
  int checked = 0;
  auto check = [&](auto& param, const auto& with_grad, const auto& without_grad, const char* name) {
    ASSERT_EQ(param.size(), with_grad.size()) << name;
    for (Eigen::Index i = 0; i < param.size(); ++i) {
      const double saved = param.data()[i];
      param.data()[i] = saved + h;
      const double plus = ref::auxk_loss(model, X, error, dead, 2, options.auxk);
      param.data()[i] = saved - h;
      const double minus = ref::auxk_loss(model, X, error, dead, 2, options.auxk);
      param.data()[i] = saved;
      const double numeric = (plus - minus) / (2 * h);
      const double analytic = with_grad.data()[i] - without_grad.data()[i];
      EXPECT_NEAR(analytic, numeric, 2e-7 + 1e-5 * std::abs(numeric))
          << c.name << ": " << name << " entry " << i;
      ++checked;
    }
  };
  check(model.dictionary, with.gradients.dictionary, without.gradients.dictionary, "dictionary");
  check(model.encoder_weight, with.gradients.encoder_weight, without.gradients.encoder_weight,
        "encoder_weight");
  check(model.encoder_bias, with.gradients.encoder_bias, without.gradients.encoder_bias,
        "encoder_bias");
  check(model.decoder_bias, with.gradients.decoder_bias, without.gradients.decoder_bias,
        "decoder_bias");
  EXPECT_GE(checked, 2 * 8 * 6 + 8);
  // AuxK moves the dead atoms only (through D; W and b feed them too); the
  // live atoms' rows differ by rounding at most (the sums are added in
  // another order when AuxK's part is there).
  const Matrix<double> dictionary_change = with.gradients.dictionary - without.gradients.dictionary;
  for (int k = 0; k < model.n_atoms(); ++k) {
    const bool is_dead = std::find(dead.begin(), dead.end(), k) != dead.end();
    if (!is_dead) {
      EXPECT_LT(dictionary_change.row(k).norm(), 1e-12) << "atom " << k;
    }
  }
  EXPECT_GT(dictionary_change.norm(), 1e-4);
}

INSTANTIATE_TEST_SUITE_P(
    DenseSparseAndBatch, AuxkTest,
    ::testing::Values(AuxkCase{"topk_dense", {.kind = EncoderKind::topk, .k = 3}},
                      AuxkCase{"topk_sparse_decoder_bias",
                               {.kind = EncoderKind::topk, .k = 2},
                               8,
                               DecoderBiasInit::mean},
                      AuxkCase{"batchtopk", {.kind = EncoderKind::batchtopk, .k = 2}}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace dictlearn
