// Parity with PyTorch 1.13: the fixtures under tests/fixtures/ were written by
// tests/fixtures/make_fixtures.py, which trains the seed's module with
// torch.optim.Adam. Training the same initial parameters on the same data in
// float32 must give every epoch's loss within 1e-4 relative and the final
// parameters within 1e-3.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "dictlearn/io.hpp"
#include "dictlearn/model.hpp"
#include "dictlearn/trainer.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

struct ParityCase {
  std::string name;
  double lr;
};

void PrintTo(const ParityCase& c, std::ostream* os) { *os << c.name << ", lr " << c.lr; }

class ParityTest : public ::testing::TestWithParam<ParityCase> {};

std::string fixture(const std::string& name) {
  return std::string(DICTLEARN_FIXTURES) + "/" + name;
}

TEST_P(ParityTest, LossOfEveryEpochAndFinalParametersMatchPyTorch) {
  const ParityCase& c = GetParam();
  const Matrix<float> X = read_matrix<float>(fixture(c.name + "_data.npy"));
  const Model<float> initial = load_model<float>(fixture(c.name + "_init.safetensors"));
  const Model<float> expected = load_model<float>(fixture(c.name + "_final.safetensors"));
  const Matrix<double> reference = read_npy<double>(fixture(c.name + "_loss.npy"));
  const int epochs = static_cast<int>(reference.rows());
  ASSERT_GT(epochs, 0);

  Trainer<float> trainer(initial, FitOptions{.epochs = epochs, .adam = {.lr = c.lr}});
  trainer.fit(X);
  const std::vector<double>& losses = trainer.losses();
  ASSERT_EQ(static_cast<int>(losses.size()), epochs);
  double worst = 0;
  int worst_epoch = 0;
  for (int e = 0; e < epochs; ++e) {
    const double relative = std::abs(losses[e] - reference(e, 0)) / std::abs(reference(e, 0));
    // NaN counts as the worst (a comparison with NaN is false: it would be skipped).
    if (!(relative <= worst)) worst = relative, worst_epoch = e + 1;
  }
  EXPECT_LT(worst, 1e-4) << "worst relative loss difference at epoch " << worst_epoch << ": "
                         << losses[worst_epoch - 1] << " vs PyTorch "
                         << reference(worst_epoch - 1, 0);
  RecordProperty("worst_relative_loss_difference", std::to_string(worst));

  const Model<float>& model = trainer.model();
  EXPECT_LT(testing::max_abs_difference(model.dictionary, expected.dictionary), 1e-3);
  EXPECT_LT(testing::max_abs_difference(model.encoder_weight, expected.encoder_weight), 1e-3);
  EXPECT_LT(testing::max_abs_difference(model.encoder_bias, expected.encoder_bias), 1e-3);
  // The run really trained: the parameters moved well beyond the tolerance.
  EXPECT_GT(testing::max_abs_difference(expected.dictionary, initial.dictionary), 0.05);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ParityTest,
                         ::testing::Values(ParityCase{"seed", 1e-3}, ParityCase{"wide", 5e-3}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace dictlearn
