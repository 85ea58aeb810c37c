// The fused pass of the trainer (one parallel region a batch, blocks of rows;
// ∂L/∂D and ∂L/∂W either summed from per-block shares or computed as products
// over tiles of atoms, chosen by the model's size): against a plain Eigen
// computation of the same loss and gradients in double, for both ways, and
// bit-identical for 1 and 2 threads.
#include <gtest/gtest.h>

#include <random>

#include "dictlearn/trainer.hpp"

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
  return (got.cast<double>() - want).cwiseAbs().maxCoeff() / want.cwiseAbs().maxCoeff();
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
  const double loss_one = loss_and_gradients(model, X, one, FitOptions{.n_atoms = atoms, .threads = 1});
  const double loss_two = loss_and_gradients(model, X, two, FitOptions{.n_atoms = atoms, .threads = 2});
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
  if (decoder_bias) EXPECT_LT(relative_gap(one.decoder_bias, want.decoder_bias), 1e-4);
}

TEST(FusedPassTest, PerBlockSharesMatchAPlainComputation) {
  // 64 x 32 model, 4 blocks of 256 rows: shares of 8 kB each.
  check_case(1000, 32, 64, false);
  check_case(1000, 32, 64, true);
}

TEST(FusedPassTest, AtomTilesMatchAPlainComputation) {
  // 512 x 1024 model, 4 blocks of 64 rows: shares would take 16 MB, so the
  // gradients are products over tiles of 128 atoms.
  check_case(256, 1024, 512, false);
  check_case(256, 1024, 512, true);
}

}  // namespace
}  // namespace dictlearn
