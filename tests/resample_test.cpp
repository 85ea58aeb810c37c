// Resampling of dead atoms (--resample-every, src/learners/autoencoder/resample.cpp):
// which atoms restart, from which samples, with what encoder row; when; and
// that a run with it is the same for any thread count and data source.
#include <gtest/gtest.h>

#include <random>

#include "dictlearn/data_source.hpp"
#include "dictlearn/trainer.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

using testing::expect_same_model;
using testing::max_abs_difference;

template <typename T>
class ResampleTest : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(ResampleTest, Types);

/// A topk model (k = 1) whose atoms can never fire: every bias is −100.
/// Nothing fires, so nothing trains: only resampling changes the model.
template <typename T>
Model<T> silent_model(int atoms, int dim) {
  Model<T> model;
  std::mt19937_64 engine(11);
  std::normal_distribution<double> normal;
  model.dictionary.resize(atoms, dim);
  model.encoder_weight.resize(atoms, dim);
  for (int k = 0; k < atoms; ++k) {
    for (int j = 0; j < dim; ++j) {
      model.dictionary(k, j) = static_cast<T>(normal(engine));
      model.encoder_weight(k, j) = static_cast<T>(normal(engine));
    }
  }
  model.encoder_bias = Vector<T>::Constant(atoms, T(-100));
  model.encoder = {.kind = EncoderKind::topk, .k = 1};
  return model;
}

/// Full batch, every atom dead after one batch, resampling after every step.
FitOptions resample_options(int atoms, int epochs, int64_t every, uint64_t seed = 0) {
  return {.n_atoms = atoms,
          .epochs = epochs,
          .adam = {.lr = 0.01},
          .seed = seed,
          .encoder = {.kind = EncoderKind::topk, .k = 1},
          .dead_after = 1,
          .resample_every = every};
}

TYPED_TEST(ResampleTest, RestartsDeadAtomsFromSamplesWithError) {
  using T = TypeParam;
  // Nothing fires, so X̂ = 0 and each sample's error is ‖x‖²: only row 7 can be drawn.
  Matrix<T> X = Matrix<T>::Zero(100, 4);
  X.row(7) << T(3), T(0), T(-4), T(0);
  const Model<T> start = silent_model<T>(3, 4);
  Trainer<T> trainer(start, resample_options(3, 2, 1));
  trainer.set_epochs(1);  // one step of two: within the first half
  trainer.fit(X);
  const Model<T>& model = trainer.model();
  // Atom 0 restarts from row 7: unit atom, encoder row 0.2 x the mean norm of
  // the encoder rows (all dead: all of them), bias 0.
  const Vector<T> atom = X.row(7).transpose() / T(5);
  const double mean_norm = start.encoder_weight.rowwise().norm().template cast<double>().mean();
  const double tolerance = 10 * testing::Tolerances<T>::relative;
  EXPECT_LE(max_abs_difference(model.dictionary.row(0).transpose(), atom), tolerance);
  EXPECT_LE(max_abs_difference(model.encoder_weight.row(0).transpose(),
                               static_cast<T>(0.2 * mean_norm) * atom),
            tolerance);
  EXPECT_EQ(model.encoder_bias[0], T(0));
  EXPECT_EQ(trainer.samples_since_fired()[0], 0);
  // No second sample with an error (drawn without replacement): atoms 1 and 2 stay.
  for (int k : {1, 2}) {
    EXPECT_EQ(model.dictionary.row(k), start.dictionary.row(k)) << k;
    EXPECT_EQ(model.encoder_weight.row(k), start.encoder_weight.row(k)) << k;
    EXPECT_EQ(model.encoder_bias[k], T(-100)) << k;
    EXPECT_EQ(trainer.samples_since_fired()[k], 100) << k;
  }
  // --resample-scale sets the encoder row's length.
  FitOptions scaled = resample_options(3, 2, 1);
  scaled.resample_scale = 1.5;
  Trainer<T> long_row(start, scaled);
  long_row.set_epochs(1);
  long_row.fit(X);
  EXPECT_LE(max_abs_difference(long_row.model().encoder_weight.row(0).transpose(),
                               static_cast<T>(1.5 * mean_norm) * atom),
            tolerance);
  // With the decoder bias, the atom is x − b_dec.
  Model<T> biased = start;
  biased.decoder_bias = Vector<T>::Constant(4, T(1));
  Trainer<T> with_bias(biased, resample_options(3, 2, 1));
  with_bias.set_epochs(1);
  with_bias.fit(X);
  // X̂ = b_dec now (after this step's update of b_dec): every row has an error.
  const Vector<T> row = with_bias.model().dictionary.row(0).transpose();
  bool from_a_sample = false;
  for (int64_t i = 0; i < X.rows(); ++i) {
    const Vector<T> v = X.row(i).transpose() - with_bias.model().decoder_bias;
    from_a_sample |= max_abs_difference(row, v / v.norm()) <= tolerance;
  }
  EXPECT_TRUE(from_a_sample);
}

TYPED_TEST(ResampleTest, DrawsSamplesInProportionToTheirSquaredError) {
  using T = TypeParam;
  // Errors 4 (row 3) and 1 (row 9): the first atom takes row 3 with probability 0.8.
  Matrix<T> X = Matrix<T>::Zero(20, 2);
  X.row(3) << T(2), T(0);
  X.row(9) << T(0), T(1);
  int first_is_row_3 = 0;
  const int seeds = 400;
  for (int seed = 0; seed < seeds; ++seed) {
    Trainer<T> trainer(silent_model<T>(2, 2), resample_options(2, 2, 1, seed));
    trainer.set_epochs(1);
    trainer.fit(X);
    const Matrix<T>& D = trainer.model().dictionary;
    const bool first = D(0, 0) == T(1);
    first_is_row_3 += first;
    // Without replacement: the second atom takes the other row.
    EXPECT_EQ(D(1, 0), first ? T(0) : T(1));
    EXPECT_EQ(D(1, 1), first ? T(1) : T(0));
  }
  // 0.8 ± 4 standard deviations (0.02).
  EXPECT_NEAR(static_cast<double>(first_is_row_3) / seeds, 0.8, 0.08);
}

TYPED_TEST(ResampleTest, OnlyEveryNStepsInTheFirstHalf) {
  using T = TypeParam;
  Matrix<T> X = Matrix<T>::Zero(10, 2);
  X.row(0) << T(1), T(1);
  const Model<T> start = silent_model<T>(2, 2);
  auto train = [&](int epochs, int64_t every) {
    Trainer<T> trainer(start, resample_options(2, epochs, every));
    trainer.fit(X);
    return trainer.model();
  };
  // Step 3 of 4 lies in the second half: nothing; step 2 of 4 does.
  expect_same_model(train(4, 3), start);
  EXPECT_NE(train(4, 2).dictionary, start.dictionary);
  // Off: nothing.
  expect_same_model(train(4, 0), start);
}

TYPED_TEST(ResampleTest, SameForAnyThreadCountAndDataSource) {
  using T = TypeParam;
  std::mt19937_64 engine(5);
  std::normal_distribution<double> normal;
  Matrix<T> X(2000, 8);
  for (Eigen::Index i = 0; i < X.size(); ++i) X.data()[i] = static_cast<T>(normal(engine));
  FitOptions options{.n_atoms = 32,
                     .epochs = 6,
                     .adam = {.lr = 0.01},
                     .seed = 4,
                     .encoder = {.kind = EncoderKind::topk, .k = 2},
                     .batch_size = 128,
                     .unit_atoms = true,
                     .dictionary_init = DictionaryInit::data,
                     .tied = true,
                     .decoder_bias = DecoderBiasInit::mean,
                     .dead_after = 256,
                     .auxk = 0.1,
                     .resample_every = 10};
  // A quarter of the atoms start dead (bias −10): resampling has work to do.
  Model<T> start = initialize<T>(X, options);
  start.encoder_bias.head(8).setConstant(T(-10));
  auto train = [&](int threads, bool gathered, int64_t every) {
    FitOptions o = options;
    o.threads = threads;
    o.resample_every = every;
    Trainer<T> trainer(start, o);
    // A source without contiguous rows: the loop gathers each batch.
    struct Gathered final : DataSource<T> {
      const Matrix<T>& X;
      explicit Gathered(const Matrix<T>& data) : X(data) {}
      int64_t rows() const override { return X.rows(); }
      int64_t dim() const override { return X.cols(); }
      void gather(const int64_t* index, int64_t count, T* out) const override {
        for (int64_t i = 0; i < count; ++i) {
          std::copy_n(X.data() + index[i] * X.cols(), X.cols(), out + i * X.cols());
        }
      }
    };
    if (gathered) {
      trainer.fit(Gathered(X));
    } else {
      trainer.fit(X);
    }
    return trainer.model();
  };
  const Model<T> one = train(1, false, 10);
  expect_same_model(train(3, false, 10), one);
  expect_same_model(train(2, true, 10), one);
  // Atoms died and were restarted: the run differs from one without resampling.
  EXPECT_NE(train(1, false, 0).dictionary, one.dictionary);
}

}  // namespace
}  // namespace dictlearn
