// The fused pass of the trainer (one parallel region a batch, blocks of rows;
// ∂L/∂D and ∂L/∂W either summed from per-block shares or, for large models,
// added pass by pass of rows as products over tiles of atoms): against a plain Eigen
// computation of the same loss and gradients in double, for both ways, and
// bit-identical for 1 and 2 threads.
#include <gtest/gtest.h>

#include <random>

#include "dictlearn/trainer.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

struct Reference {
  double loss = 0;
  Matrix<double> dictionary, weight;
  Vector<double> bias, decoder_bias;
};

/// Softmax codes, optional decoder bias, mean squared error: every step written out.
Reference reference(const Model<float>& model, const Matrix<float>& data) {
  const Matrix<double> D = model.dictionary.cast<double>(), W = model.encoder_weight.cast<double>();
  const Vector<double> b = model.encoder_bias.cast<double>();
  Matrix<double> X = data.cast<double>();
  const bool has_bias = model.decoder_bias.size() > 0;
  if (has_bias) X.rowwise() -= model.decoder_bias.cast<double>().transpose();
  Matrix<double> R = (X * W.transpose()).rowwise() + b.transpose();
  for (Eigen::Index i = 0; i < R.rows(); ++i) {
    R.row(i).array() -= R.row(i).maxCoeff();
    R.row(i) = R.row(i).array().exp().matrix();
    R.row(i) /= R.row(i).sum();
  }
  const Matrix<double> E = R * D - X;
  Reference out;
  out.loss = E.squaredNorm() / static_cast<double>(E.size());
  const Matrix<double> G = E * (2.0 / static_cast<double>(E.size()));
  const Matrix<double> dR = G * D.transpose();
  Matrix<double> dZ = R.cwiseProduct(dR);
  for (Eigen::Index i = 0; i < dZ.rows(); ++i) dZ.row(i) -= R.row(i) * dZ.row(i).sum();
  out.dictionary = R.transpose() * G;
  out.weight = dZ.transpose() * X;
  out.bias = dZ.colwise().sum().transpose();
  if (has_bias) out.decoder_bias = G.colwise().sum().transpose() - W.transpose() * out.bias;
  return out;
}

double relative_gap(const Matrix<float>& got, const Matrix<double>& want) {
  return testing::max_abs_difference(got, want) / testing::max_abs(want);
}

void check_case(int rows, int dim, int atoms, bool decoder_bias) {
  SCOPED_TRACE(::testing::Message() << rows << " x " << dim << ", " << atoms << " atoms"
                                    << (decoder_bias ? ", decoder bias" : ""));
  std::mt19937_64 engine(11);
  std::normal_distribution<float> normal;
  Matrix<float> X(rows, dim);
  for (Eigen::Index i = 0; i < X.size(); ++i) X.data()[i] = normal(engine);
  Model<float> model = init_model<float>(atoms, dim, 3);
  if (decoder_bias) model.decoder_bias = X.colwise().mean().transpose();

  Gradients<float> one, two;
  const double loss_one =
      loss_and_gradients(model, X, one, FitOptions{.n_atoms = atoms, .threads = 1});
  const double loss_two =
      loss_and_gradients(model, X, two, FitOptions{.n_atoms = atoms, .threads = 2});
  EXPECT_EQ(loss_one, loss_two);
  EXPECT_EQ(one.dictionary, two.dictionary);
  EXPECT_EQ(one.encoder_weight, two.encoder_weight);
  EXPECT_EQ(one.encoder_bias, two.encoder_bias);
  EXPECT_EQ(one.decoder_bias, two.decoder_bias);

  const Reference want = reference(model, X);
  EXPECT_NEAR(loss_one, want.loss, 1e-5 * want.loss);
  EXPECT_LT(relative_gap(one.dictionary, want.dictionary), 1e-4);
  EXPECT_LT(relative_gap(one.encoder_weight, want.weight), 1e-4);
  EXPECT_LT(relative_gap(one.encoder_bias, want.bias), 1e-4);
  if (decoder_bias) {
    EXPECT_LT(relative_gap(one.decoder_bias, want.decoder_bias), 1e-4);
  }
}

TEST(FusedPassTest, PerBlockSharesMatchAPlainComputation) {
  // 64 x 32 model, 4 blocks of 256 rows: shares of 8 kB each.
  check_case(1000, 32, 64, false);
  check_case(1000, 32, 64, true);
  // 20 dims: X̂ = R D is no whole number of vectors wide (gemm()), the other
  // products are (block_gemm's own kernel); the last block's 232 rows end
  // in a short register tile.
  check_case(1000, 20, 48, true);
}

TEST(FusedPassTest, AtomTilesMatchAPlainComputation) {
  // 512 x 1024 model: shares would take 16 MB, so the gradients are products
  // over tiles of 128 atoms, added pass by pass: two passes of 128 rows (1 MiB
  // of buffers each), the second adding to the first.
  check_case(256, 1024, 512, false);
  check_case(256, 1024, 512, true);
}

TEST(FusedPassTest, PassesOfRowsAddUpToAPlainComputation) {
  // 700 rows of the same model: five passes of 128 rows (blocks of 64) and a
  // last one of 60 rows, a single short block.
  check_case(700, 1024, 512, false);
  check_case(700, 1024, 512, true);
}

TEST(FusedPassTest, ShuffledBatchesStreamTheRightSamples) {
  // Batches of 600 of 1,200 shuffled rows: each batch gathers its samples into
  // passes (4 x 128 rows, then 88) and again for ∂L/∂W. With a learning rate
  // too small to move a float parameter, the epoch's loss (the batches' mean)
  // is the loss of the whole data; 1 and 2 threads train to the same bits.
  std::mt19937_64 engine(5);
  std::normal_distribution<float> normal;
  Matrix<float> X(1200, 1024);
  for (Eigen::Index i = 0; i < X.size(); ++i) X.data()[i] = normal(engine);
  const Model<float> model = init_model<float>(512, 1024, 3);
  FitOptions still{.n_atoms = 512, .epochs = 1, .threads = 2, .batch_size = 600};
  still.adam.lr = 1e-30;
  Trainer<float> frozen(model, still);
  frozen.fit(X);
  ASSERT_EQ(frozen.model().encoder_weight, model.encoder_weight);
  Gradients<float> unused;
  const double whole = loss_and_gradients(model, X, unused, still);
  EXPECT_NEAR(frozen.losses()[0], whole, 1e-6 * whole);

  FitOptions moving{.n_atoms = 512, .epochs = 1, .threads = 1, .batch_size = 600};
  Trainer<float> one(model, moving);
  one.fit(X);
  moving.threads = 2;
  Trainer<float> two(model, moving);
  two.fit(X);
  EXPECT_EQ(one.model().dictionary, two.model().dictionary);
  EXPECT_EQ(one.model().encoder_weight, two.model().encoder_weight);
  EXPECT_EQ(one.losses(), two.losses());
  EXPECT_NE(one.model().encoder_weight, model.encoder_weight);
}

}  // namespace
}  // namespace dictlearn
