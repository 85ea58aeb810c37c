// The model: initialization, encoding, gradients against finite differences.
#include "dictlearn/model.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>

#include "core/contiguous.hpp"
#include "dictlearn/encoders.hpp"
#include "dictlearn/metrics.hpp"
#include "dictlearn/safetensors.hpp"
#include "dictlearn/trainer.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

template <typename T>
class ModelTest : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(ModelTest, Types);

TYPED_TEST(ModelTest, InitMatchesTheSeedsDistributions) {
  using T = TypeParam;
  const int atoms = 64, dim = 16;
  const Model<T> model = init_model<T>(atoms, dim, 7);
  ASSERT_EQ(model.n_atoms(), atoms);
  ASSERT_EQ(model.dim(), dim);
  const double bound = 1.0 / std::sqrt(static_cast<double>(dim));
  // Eigen's minCoeff/maxCoeff may skip NaN: the bounds below hold only for finite values.
  EXPECT_TRUE(model.dictionary.allFinite() && model.encoder_weight.allFinite() &&
              model.encoder_bias.allFinite());
  EXPECT_GE(model.dictionary.minCoeff(), T(0));
  EXPECT_LT(model.dictionary.maxCoeff(), T(1));
  EXPECT_NEAR(model.dictionary.template cast<double>().mean(), 0.5, 0.05);
  EXPECT_GE(model.encoder_weight.minCoeff(), T(-bound));
  EXPECT_LE(model.encoder_weight.maxCoeff(), T(bound));
  EXPECT_GT(model.encoder_weight.maxCoeff(), T(0.9 * bound));  // spans the interval
  EXPECT_LT(model.encoder_weight.minCoeff(), T(-0.9 * bound));
  EXPECT_GE(model.encoder_bias.minCoeff(), T(-bound));
  EXPECT_LE(model.encoder_bias.maxCoeff(), T(bound));
  // Same seed, same model; another seed, another model.
  EXPECT_EQ(init_model<T>(atoms, dim, 7).dictionary, model.dictionary);
  EXPECT_NE(init_model<T>(atoms, dim, 8).dictionary, model.dictionary);
}

TYPED_TEST(ModelTest, RejectsBadShapes) {
  using T = TypeParam;
  EXPECT_ERROR_CONTAINS(init_model<T>(0, 2, 0), "--atoms: must be >= 1, got 0");
  Model<T> model = init_model<T>(3, 4, 0);
  Matrix<T> X = Matrix<T>::Ones(5, 3);
  EXPECT_ERROR_CONTAINS(encode(model, X),
                        "data has 3 columns but the model's atoms have dimension 4");
  model.encoder_bias.resize(2);
  EXPECT_ERROR_CONTAINS(validate_model(model, "m.safetensors"),
                        "m.safetensors: attributor.0.bias has 2 entries");
}

TYPED_TEST(ModelTest, CodesAreRowsOfTheSimplexAndReconstructionIsRD) {
  using T = TypeParam;
  const Model<T> model = init_model<T>(5, 3, 1);
  Matrix<T> X = Matrix<T>::Random(20, 3);
  const Matrix<T> codes = encode(model, X);
  ASSERT_EQ(codes.rows(), 20);
  ASSERT_EQ(codes.cols(), 5);
  for (int i = 0; i < codes.rows(); ++i) {
    EXPECT_NEAR(codes.row(i).sum(), 1.0, 1e-6);
    EXPECT_GT(codes.row(i).minCoeff(), T(0));
    // Softmax of the affine map, computed the plain way.
    Eigen::Matrix<double, 1, Eigen::Dynamic> z =
        (X.row(i).template cast<double>() *
         model.encoder_weight.template cast<double>().transpose()) +
        model.encoder_bias.template cast<double>().transpose();
    z = z.array().exp();
    z /= z.sum();
    for (int k = 0; k < 5; ++k) EXPECT_NEAR(codes(i, k), z(k), 1e-6);
  }
  const Matrix<T> out = reconstruct(model, X);
  EXPECT_TRUE(out.isApprox(codes * model.dictionary, T(1e-5)));
  const double loss = reconstruction_loss(model, X);
  EXPECT_NEAR(loss, (out - X).template cast<double>().squaredNorm() / X.size(), 1e-6 * loss);
}

// Many blocks of samples (1,000 rows: four blocks of 256), a decoder bias and
// every encoder: equal to the plain computation, the same for 1 and 2 threads.
TEST(ModelTest, InferenceOverBlocksMatchesThePlainComputationForAnyThreadCount) {
  std::mt19937_64 engine(9);
  std::normal_distribution<float> normal;
  Matrix<float> X(1000, 24);
  for (Eigen::Index i = 0; i < X.size(); ++i) X.data()[i] = normal(engine);
  Model<float> model = init_model<float>(40, 24, 2);
  model.decoder_bias = X.colwise().mean().transpose();
  for (const EncoderKind kind :
       {EncoderKind::softmax, EncoderKind::relu, EncoderKind::topk, EncoderKind::sparsemax}) {
    model.encoder = {.kind = kind, .k = 5};
    SCOPED_TRACE(encoder_name(kind));
    Matrix<float> z =
        (X.rowwise() - model.decoder_bias.transpose()) * model.encoder_weight.transpose();
    z.rowwise() += model.encoder_bias.transpose();
    EXPECT_TRUE(pre_activations(model, X, 2).isApprox(z, 1e-5f));
    Matrix<float> want = z;
    activate(model.encoder, want);
    const Matrix<float> one = encode(model, X, 1), two = encode(model, X, 2);
    EXPECT_EQ(one, two);
    EXPECT_LT(testing::max_abs_difference(one, want), 1e-5);
    const Matrix<float> out = reconstruct(model, X, 2);
    EXPECT_EQ(out, reconstruct(model, X, 1));
    const Matrix<float> plain = (one * model.dictionary).rowwise() + model.decoder_bias.transpose();
    EXPECT_TRUE(out.isApprox(plain, 1e-5f));
    EXPECT_EQ(reconstruction_loss(model, X, 1), reconstruction_loss(model, X, 2));
  }
}

// A view into a block of a larger matrix (outer stride 40, not 24) gives the
// same codes, reconstructions, loss and metrics as a copy of the block; the
// contiguous-rows helper copies exactly when the rows are strided.
TEST(ModelTest, ViewsOfABlockGiveWhatACopyGives) {
  const Matrix<double> big = testing::normal_matrix<double>(700, 40, 21);
  const auto block = big.block(3, 7, 600, 24);  // three blocks of 256 rows, the last partial
  const Matrix<double> copy = block;
  Model<double> model = init_model<double>(30, 24, 5);
  model.decoder_bias = copy.colwise().mean().transpose();
  for (const EncoderKind kind : {EncoderKind::softmax, EncoderKind::topk}) {
    model.encoder = {.kind = kind, .k = 4};
    SCOPED_TRACE(encoder_name(kind));
    EXPECT_EQ(encode(model, block, 2), encode(model, copy, 2));
    EXPECT_EQ(pre_activations(model, block), pre_activations(model, copy));
    EXPECT_EQ(reconstruct(model, block), reconstruct(model, copy));
    EXPECT_EQ(reconstruction_loss(model, block), reconstruction_loss(model, copy));
    EXPECT_EQ(evaluate(model, block).mse, evaluate(model, copy).mse);
    EXPECT_EQ(code_stats(encode(model, block)).mean_max, code_stats(encode(model, copy)).mean_max);
  }
  EXPECT_ERROR_CONTAINS(check_data_matches(model, big.leftCols(20), "d.npy"),
                        "d.npy: data has 20 columns but the model's atoms have dimension 24");

  const detail::ContiguousRows<double> strided(block), whole(copy), top(big.topRows(5)),
      one_row(block.topRows(1));
  EXPECT_TRUE(strided.copied());
  EXPECT_EQ(Matrix<double>(strided.matrix()), copy);
  EXPECT_FALSE(whole.copied());
  EXPECT_EQ(whole.data(), copy.data());  // read in place
  EXPECT_FALSE(top.copied());            // leading rows of a row-major matrix are contiguous
  EXPECT_EQ(top.data(), big.data());
  EXPECT_FALSE(one_row.copied());
}

TEST(ModelTest, SoftmaxIsStableForLargeLogits) {
  Model<float> model = init_model<float>(2, 2, 0);
  model.encoder_bias << 1000.0f, -1000.0f;
  Matrix<float> X(1, 2);
  X << 1, 1;
  const Matrix<float> codes = encode(model, X);
  EXPECT_FLOAT_EQ(codes(0, 0), 1.0f);
  EXPECT_FLOAT_EQ(codes(0, 1), 0.0f);
}

TEST(ModelTest, CodeStatsCountsSmallAndZeroEntries) {
  Matrix<double> codes(2, 3);
  codes << 0.9, 0.0005, 0.0995, 0.0, 1.0, 0.0;
  const CodeStats stats = code_stats(codes);
  EXPECT_DOUBLE_EQ(stats.fraction_below, 3.0 / 6.0);
  EXPECT_DOUBLE_EQ(stats.fraction_zero, 2.0 / 6.0);
  EXPECT_DOUBLE_EQ(stats.mean_max, 0.95);
}

// Central finite differences in double for every parameter entry.
TEST(GradientTest, MatchesFiniteDifferencesForEveryParameter) {
  Model<double> model = init_model<double>(4, 3, 11);
  Matrix<double> X = Matrix<double>::Random(17, 3);
  Gradients<double> grad;
  loss_and_gradients(model, X, grad);
  const double h = 1e-6;
  auto check = [&](auto& param, const auto& analytic, const char* name) {
    for (Eigen::Index i = 0; i < param.size(); ++i) {
      const double saved = param.data()[i];
      param.data()[i] = saved + h;
      const double plus = reconstruction_loss(model, X);
      param.data()[i] = saved - h;
      const double minus = reconstruction_loss(model, X);
      param.data()[i] = saved;
      const double numeric = (plus - minus) / (2 * h);
      EXPECT_NEAR(analytic.data()[i], numeric, 1e-7 + 1e-6 * std::abs(numeric))
          << name << " entry " << i;
    }
  };
  check(model.dictionary, grad.dictionary, "dictionary");
  check(model.encoder_weight, grad.encoder_weight, "encoder_weight");
  check(model.encoder_bias, grad.encoder_bias, "encoder_bias");
  // The gradient is not trivially zero.
  EXPECT_GT(grad.encoder_weight.norm(), 1e-4);
}

// Model files are checked when they load: every defect is refused with an
// Error naming the file and the tensor or metadata key, in float and double
// alike. Each case changes one thing of a good file.
class ModelFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Model<float> model = init_model<float>(3, 4, 1);
    model.decoder_bias = Vector<float>::LinSpaced(4, -1.0f, 1.0f);
    save_model(good_, model);
    base_ = read_safetensors(good_);
  }
  /// The good file with `change` applied, written under a new name.
  std::string with(const std::function<void(TensorFile&)>& change) {
    TensorFile file = base_;
    change(file);
    const std::string path = dir_ / ("bad" + std::to_string(count_++) + ".safetensors");
    write_safetensors(path, file);
    return path;
  }
  /// Both types refuse `path` with a message holding the path and `needle`.
  void expect_refused(const std::string& path, const std::string& needle) {
    EXPECT_ERROR_CONTAINS(load_model<float>(path), needle);
    EXPECT_ERROR_CONTAINS(load_model<double>(path), needle);
    EXPECT_ERROR_CONTAINS(load_model<float>(path), path);
  }
  testing::TempDir dir_;
  std::string good_ = dir_ / "good.safetensors";
  TensorFile base_;
  int count_ = 0;
};

TEST_F(ModelFileTest, NonFiniteTensorsAreRefused) {
  ASSERT_NO_THROW(load_model<float>(good_));
  for (const char* name :
       {"dictionary", "attributor.0.weight", "attributor.0.bias", "decoder_bias"}) {
    for (const double value : {std::numeric_limits<double>::quiet_NaN(), HUGE_VAL, -HUGE_VAL}) {
      SCOPED_TRACE(std::string(name) + " " + std::to_string(value));
      const std::string path = with([&](TensorFile& f) { f.tensors.at(name).values[1] = value; });
      expect_refused(path, std::string(name) + " holds non-finite values");
    }
  }
  // A float64 value beyond float's range is infinite once loaded as float.
  const std::string big = with([](TensorFile& f) {
    f.tensors.at("dictionary").dtype = DType::float64;
    f.tensors.at("dictionary").values[0] = 1e300;
  });
  EXPECT_NO_THROW(load_model<double>(big));
  EXPECT_ERROR_CONTAINS(load_model<float>(big), "dictionary holds non-finite values");
}

TEST_F(ModelFileTest, BadMetadataValuesAreRefused) {
  auto meta = [&](const std::string& key, const std::string& value) {
    return with([&](TensorFile& f) { f.metadata[key] = value; });
  };
  expect_refused(meta("encoder", "maxout"), "metadata 'encoder': unknown encoder 'maxout'");
  expect_refused(meta("temperature", "warm"), "metadata 'temperature': 'warm' is not a number");
  expect_refused(meta("temperature", "1e999"), "'temperature'");
  expect_refused(meta("k", "2.5"), "metadata 'k': 2.5 is not a count");
  expect_refused(meta("k", "-1"), "metadata 'k'");
  expect_refused(meta("k", "1e12"), "metadata 'k'");
  expect_refused(meta("threshold", "x1"), "metadata 'threshold': 'x1' is not a number");
  // Numbers out of their ranges (the messages name the setting and the value).
  for (const char* value : {"0", "-1", "nan", "inf"}) {
    SCOPED_TRACE(value);
    const std::string path = meta("temperature", value);
    EXPECT_ERROR_CONTAINS(load_model<float>(path), "temperature");
    EXPECT_ERROR_CONTAINS(load_model<double>(path), "temperature");
  }
  EXPECT_ERROR_CONTAINS(load_model<float>(meta("threshold", "-0.5")), "threshold");
  EXPECT_ERROR_CONTAINS(load_model<float>(meta("threshold", "-0.5")), "-0.5");
  // k against the encoder and the 3 atoms.
  const std::string too_many = with([](TensorFile& f) {
    f.metadata["encoder"] = "topk";
    f.metadata["k"] = "5";
  });
  EXPECT_ERROR_CONTAINS(load_model<float>(too_many), "5 exceeds the number of atoms (3)");
  const std::string none = with([](TensorFile& f) {
    f.metadata["encoder"] = "batchtopk";
    f.metadata.erase("k");
  });
  EXPECT_ERROR_CONTAINS(load_model<float>(none), "needs k >= 1");
  // The seed's state_dict carries no metadata at all: a softmax model.
  const Model<float> seed = load_model<float>(with([](TensorFile& f) { f.metadata.clear(); }));
  EXPECT_EQ(seed.encoder.kind, EncoderKind::softmax);
  EXPECT_EQ(seed.encoder.temperature, 1.0);
}

TEST_F(ModelFileTest, WrongShapesAndMissingTensorsAreRefused) {
  auto reshape = [&](const std::string& name, std::vector<int64_t> shape) {
    return with([&](TensorFile& f) {
      Tensor& tensor = f.tensors.at(name);
      int64_t size = 1;
      for (int64_t n : shape) size *= n;
      tensor.shape = shape;
      tensor.values.assign(size, 0.5);
    });
  };
  expect_refused(reshape("attributor.0.weight", {3, 5}),
                 "attributor.0.weight is 3 x 5 but dictionary is 3 x 4");
  expect_refused(reshape("attributor.0.weight", {2, 4}),
                 "attributor.0.weight is 2 x 4 but dictionary is 3 x 4");
  expect_refused(reshape("attributor.0.bias", {2}), "attributor.0.bias has 2 entries");
  expect_refused(reshape("decoder_bias", {5}), "decoder_bias has 5 entries");
  expect_refused(reshape("dictionary", {12}), "tensor 'dictionary' has 1 dimensions, expected 2");
  expect_refused(reshape("attributor.0.bias", {3, 1}),
                 "tensor 'attributor.0.bias' has 2 dimensions");
  expect_refused(reshape("decoder_bias", {2, 2}), "tensor 'decoder_bias' has 2 dimensions");
  for (const char* name : {"dictionary", "attributor.0.weight", "attributor.0.bias"}) {
    expect_refused(with([&](TensorFile& f) { f.tensors.erase(name); }),
                   std::string("missing tensor '") + name + "'");
  }
  // Without a decoder bias the model simply has none.
  const Model<float> plain =
      load_model<float>(with([](TensorFile& f) { f.tensors.erase("decoder_bias"); }));
  EXPECT_EQ(plain.decoder_bias.size(), 0);
}

}  // namespace
}  // namespace dictlearn
