// Adam against its closed form, and the trainer's use of it.
#include "dictlearn/adam.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "dictlearn/trainer.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

TEST(AdamTest, FirstStepMovesEachParameterByLrTimesSignOfGradient) {
  // After one step m̂ = g and v̂ = g², so the update is lr · g / (|g| + eps).
  AdamOptions options{.lr = 0.01};
  double param[3] = {1.0, -2.0, 0.5};
  const double grad[3] = {0.3, -4.0, 1e-3};
  double m[3] = {0, 0, 0}, v[3] = {0, 0, 0};
  adam_update(options, adam_step_factors(options, 1), param, grad, m, v, 3);
  const double start[3] = {1.0, -2.0, 0.5};
  for (int i = 0; i < 3; ++i) {
    const double expected = start[i] - 0.01 * grad[i] / (std::abs(grad[i]) + 1e-8);
    EXPECT_NEAR(param[i], expected, 1e-15) << i;
    EXPECT_NEAR(m[i], 0.1 * grad[i], 1e-15);
    EXPECT_NEAR(v[i], 0.001 * grad[i] * grad[i], 1e-15 * grad[i] * grad[i]);
  }
}

TEST(AdamTest, ThirdStepMatchesTheClosedForm) {
  AdamOptions options{.lr = 0.1, .beta1 = 0.8, .beta2 = 0.9, .eps = 1e-3};
  const double grads[3] = {0.5, -1.0, 2.0};
  double param = 3.0, m = 0, v = 0;
  double expected = 3.0, m_ref = 0, v_ref = 0;
  for (int t = 1; t <= 3; ++t) {
    adam_update(options, adam_step_factors(options, t), &param, &grads[t - 1], &m, &v, 1);
    m_ref = 0.8 * m_ref + 0.2 * grads[t - 1];
    v_ref = 0.9 * v_ref + 0.1 * grads[t - 1] * grads[t - 1];
    const double m_hat = m_ref / (1 - std::pow(0.8, t));
    const double v_hat = v_ref / (1 - std::pow(0.9, t));
    // PyTorch's arrangement: eps is added to √v / √(1−β2ᵗ), not to √v̂ after scaling m.
    expected -= 0.1 * m_hat / (std::sqrt(v_hat) + 1e-3);
    EXPECT_NEAR(param, expected, 1e-12) << "step " << t;
  }
}

TEST(AdamTest, FitOptionsAreValidated) {
  EXPECT_ERROR_CONTAINS(validate(FitOptions{.n_atoms = 0}), "--atoms: must be >= 1, got 0");
  EXPECT_ERROR_CONTAINS(validate(FitOptions{.epochs = -1}), "--epochs: must be >= 0, got -1");
  EXPECT_ERROR_CONTAINS(validate(FitOptions{.adam = {.lr = 0}}), "--lr: must be > 0");
  EXPECT_ERROR_CONTAINS(validate(FitOptions{.adam = {.lr = -1}}), "--lr: must be > 0");
  EXPECT_ERROR_CONTAINS(validate(FitOptions{.adam = {.lr = NAN}}), "--lr: must be > 0 and finite");
  EXPECT_ERROR_CONTAINS(validate(FitOptions{.adam = {.lr = INFINITY}}), "finite, got inf");
}

TEST(TrainerTest, RecordsEveryEpochsLossBeforeItsUpdateAndCanContinue) {
  Matrix<double> X = Matrix<double>::Random(50, 3);
  const Model<double> start = init_model<double>(4, 3, 2);
  Trainer<double> trainer(start, FitOptions{.epochs = 5, .adam = {.lr = 0.01}});
  std::vector<int> epochs;
  trainer.fit(
      X, [&](const EpochStats& stats, const Model<double>&) { epochs.push_back(stats.epoch); });
  ASSERT_EQ(trainer.losses().size(), 5u);
  EXPECT_EQ(epochs, (std::vector<int>{1, 2, 3, 4, 5}));
  EXPECT_NEAR(trainer.losses()[0], reconstruction_loss(start, X), 1e-12);
  trainer.fit(X);
  EXPECT_EQ(trainer.losses().size(), 10u);
  EXPECT_EQ(trainer.steps(), 10);
  // Ten epochs in one call give the same parameters as two calls of five.
  const Model<double> once = fit(X, FitOptions{.epochs = 10, .adam = {.lr = 0.01}}, &start);
  EXPECT_EQ(once.dictionary, trainer.model().dictionary);
  EXPECT_LT(trainer.losses().back(), trainer.losses().front());
}

TEST(TrainerTest, NonFiniteLossStopsWithTheEpochAndARemedy) {
  // A step of 1e200 makes the reconstruction's square overflow at the next epoch.
  Matrix<double> X = Matrix<double>::Random(10, 2);
  EXPECT_ERROR_CONTAINS(fit(X, FitOptions{.epochs = 5, .adam = {.lr = 1e200}}),
                        "training: loss is inf at epoch 2; lower the learning rate (--lr) or "
                        "standardize the data");
}

}  // namespace
}  // namespace dictlearn
