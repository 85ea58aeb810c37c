// The Learner seam: a learner that is not the gradient Trainer (a running
// mean, a few lines) is driven by EpochLoop and checkpointed by the shared
// checkpoint code, resuming bit for bit; the Trainer reduces each batch's
// sums exactly once through its Reducer; Trainer copies are independent.
#include "dictlearn/learner.hpp"

#include <gtest/gtest.h>

#include <random>

#include "dictlearn/reduction.hpp"
#include "dictlearn/trainer.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

using testing::TempDir;

Matrix<double> data(int n, int dim, uint64_t seed = 11) {
  std::mt19937_64 engine(seed);
  std::normal_distribution<double> normal(1.0, 2.0);
  Matrix<double> X(n, dim);
  for (Eigen::Index i = 0; i < X.size(); ++i) X.data()[i] = normal(engine);
  return X;
}

/// One atom that moves towards each batch's mean by `rate`: the smallest
/// learner with state (the atom, a step count), settings and statistics.
class MeanLearner final : public Learner<double> {
 public:
  MeanLearner(int dim, double rate, int64_t batch_size, bool shuffle = true, int64_t max_steps = 0)
      : model_(init_model<double>(1, dim, 0)),
        rate_(rate),
        batch_size_(batch_size),
        shuffle_(shuffle),
        max_steps_(max_steps) {
    model_.dictionary.setZero();
  }
  const Model<double>& model() const override { return model_; }
  EpochLoopOptions loop_options() const override {
    return {.batch_size = batch_size_, .patience = 2, .tol = 0.5, .shuffle = shuffle_};
  }
  bool finished() const override { return max_steps_ > 0 && steps_ >= max_steps_; }
  /// The first row of every batch stepped on, in order.
  const std::vector<int64_t>& first_rows() const { return first_rows_; }
  void begin_fit(const DataSource<double>& data, int64_t) override {
    ASSERT_EQ(data.dim(), model_.dim());
  }
  BatchStats step(const Batch<double>& batch) override {
    BatchStats stats;
    first_rows_.push_back(batch.index ? batch.index[0] : -1);
    Vector<double> mean = Vector<double>::Zero(batch.dim);
    for (int64_t i = 0; i < batch.rows; ++i) {
      const int64_t row = batch.index ? batch.index[i] : i;
      const Eigen::Map<const Vector<double>> x(batch.data + row * batch.dim, batch.dim);
      stats.squared_error += (x - model_.dictionary.row(0).transpose()).squaredNorm();
      mean += x;
    }
    mean /= static_cast<double>(batch.rows);
    stats.objective = stats.squared_error / static_cast<double>(batch.rows * batch.dim);
    model_.dictionary.row(0) += rate_ * (mean.transpose() - model_.dictionary.row(0));
    ++steps_;
    return stats;
  }
  EpochStats end_epoch(const EpochTotals& totals) override { return summarize(totals); }
  Settings settings() const override { return {{"rate", fmt_number(rate_)}}; }
  void save_state(TensorFile& file) const override {
    Tensor atom;
    atom.dtype = DType::float64;
    atom.shape = {1, model_.dim()};
    atom.values.assign(model_.dictionary.data(), model_.dictionary.data() + model_.dim());
    file.tensors["dictionary"] = atom;
    file.metadata["mean.steps"] = std::to_string(steps_);
  }
  void load_state(const TensorFile& file, const std::string&) override {
    const Tensor& atom = file.tensors.at("dictionary");
    for (int j = 0; j < model_.dim(); ++j) model_.dictionary(0, j) = atom.values[j];
    steps_ = std::stoll(file.metadata.at("mean.steps"));
  }
  int64_t steps() const { return steps_; }

 private:
  static std::string fmt_number(double value) { return std::to_string(value); }
  Model<double> model_;
  double rate_;
  int64_t batch_size_;
  bool shuffle_;
  int64_t max_steps_;
  int64_t steps_ = 0;
  std::vector<int64_t> first_rows_;
};

TEST(LearnerTest, AnotherLearnerRunsAndResumesThroughTheSharedLoopAndCheckpoint) {
  const Matrix<double> X = data(103, 4);
  const MatrixSource<double> source(X);
  MeanLearner whole(4, 0.3, 10);
  EpochLoop whole_loop(7);
  std::vector<int> epochs;
  whole_loop.run<double>(whole, source, 5, [&](const EpochStats& stats, const Model<double>&) {
    epochs.push_back(stats.epoch);
  });
  EXPECT_EQ(whole.steps(), 11 * static_cast<int64_t>(epochs.size()));  // 11 batches an epoch
  ASSERT_FALSE(epochs.empty());
  EXPECT_EQ(epochs.front(), 1);

  TempDir dir;
  MeanLearner part(4, 0.3, 10);
  EpochLoop part_loop(7);
  part_loop.run<double>(part, source, 1, {});
  save_checkpoint<double>(dir / "mean.ckpt", part, part_loop, source);
  MeanLearner resumed(4, 0.3, 10);
  EpochLoop resumed_loop(1234);  // the checkpoint's shuffle state replaces this seed's
  load_checkpoint<double>(dir / "mean.ckpt", resumed, resumed_loop, source);
  EXPECT_EQ(resumed.steps(), 11);
  resumed_loop.run<double>(resumed, source, static_cast<int>(epochs.size()) - 1, {});
  EXPECT_EQ(resumed.model().dictionary, whole.model().dictionary);
  EXPECT_EQ(resumed_loop.losses(), whole_loop.losses());
  EXPECT_EQ(resumed_loop.stopped_early(), whole_loop.stopped_early());

  MeanLearner other(4, 0.5, 10);
  EpochLoop other_loop;
  EXPECT_ERROR_CONTAINS(load_checkpoint<double>(dir / "mean.ckpt", other, other_loop, source),
                        "checkpoint was made with --rate 0.300000, this run has --rate 0.500000");
  const Matrix<double> Y = data(103, 4, 12);
  EXPECT_ERROR_CONTAINS(
      load_checkpoint<double>(dir / "mean.ckpt", other, other_loop, MatrixSource<double>(Y)),
      "other data of the same shape");
}

TEST(LearnerTest, EarlyStoppingIsTheLoops) {
  // The mean settles within a few epochs; with tol 0.5 and patience 2 the
  // loop stops long before 100 epochs.
  const Matrix<double> X = data(50, 3);
  MeanLearner learner(3, 0.9, 0);
  EpochLoop loop;
  loop.run<double>(learner, MatrixSource<double>(X), 100, {});
  EXPECT_TRUE(loop.stopped_early());
  EXPECT_LT(loop.losses().size(), 10u);
}

TEST(LearnerTest, BatchesInTheDataOrderWithoutShuffle) {
  const Matrix<double> X = data(25, 2);
  MeanLearner learner(2, 0.5, 10, /*shuffle=*/false);
  EpochLoop loop;
  loop.run<double>(learner, MatrixSource<double>(X), 2, {});
  EXPECT_EQ(learner.first_rows(), (std::vector<int64_t>{0, 10, 20, 0, 10, 20}));
  MeanLearner shuffled(2, 0.5, 10);
  EpochLoop shuffled_loop;
  shuffled_loop.run<double>(shuffled, MatrixSource<double>(X), 2, {});
  EXPECT_NE(shuffled.first_rows(), learner.first_rows());
}

TEST(LearnerTest, ALearnerEndsTheRunWithinAnEpoch) {
  // 4 steps of 10 rows: the second epoch ends after its first batch, and its
  // statistics are those of that batch's 10 samples.
  const Matrix<double> X = data(25, 2);
  MeanLearner learner(2, 0.5, 10, false, 4);
  EpochLoop loop;
  std::vector<EpochStats> epochs;
  loop.run<double>(learner, MatrixSource<double>(X), 5,
                   [&](const EpochStats& stats, const Model<double>&) { epochs.push_back(stats); });
  EXPECT_EQ(learner.steps(), 4);
  ASSERT_EQ(epochs.size(), 2u);
  EXPECT_TRUE(loop.stopped_early());
  MeanLearner one_step(2, 0.5, 10, false, 4);
  EpochLoop one_loop;
  one_loop.run<double>(one_step, MatrixSource<double>(X), 1, {});
  const Matrix<double> first = X.topRows(10);
  // The 4th step's batch is rows 0..9 again, seen by the atom after 3 steps.
  const double expected =
      (first.rowwise() - one_step.model().dictionary.row(0)).squaredNorm() / (10.0 * 2);
  EXPECT_DOUBLE_EQ(epochs[1].loss, expected);
  // Resumed (or run again) after it finished, it does nothing.
  loop.run<double>(learner, MatrixSource<double>(X), 3, {});
  EXPECT_EQ(learner.steps(), 4);
  EXPECT_TRUE(loop.stopped_early());
}

/// Counts the reductions and checks their shapes.
class CountingReducer final : public Reducer {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void sum(std::span<const std::span<float>> floats,
           std::span<const std::span<double>> doubles) override {
    ++calls;
    float_arrays = floats.size();
    double_arrays = doubles.size();
    if (!doubles.empty()) last_scalars.assign(doubles.back().begin(), doubles.back().end());
  }
  int calls = 0;
  size_t float_arrays = 0, double_arrays = 0;
  std::vector<double> last_scalars;
};

TEST(ReducerTest, TheTrainerReducesOncePerBatch) {
  const Matrix<double> X64 = data(100, 5);
  const Matrix<float> X = X64.cast<float>();
  for (int64_t batch_size : {0, 30}) {
    const FitOptions options{.n_atoms = 6,
                             .epochs = 3,
                             .encoder = {.kind = EncoderKind::relu},
                             .batch_size = batch_size};
    CountingReducer counter;
    std::vector<double> losses;
    Trainer<float> trainer(initialize(X, options), options);
    trainer.set_reducer(counter);
    trainer.fit(X);
    const int batches = batch_size == 0 ? 1 : 4;
    EXPECT_EQ(counter.calls, 3 * batches);
    EXPECT_EQ(counter.float_arrays, 4u);   // ∂L/∂D, ∂L/∂W, ∂L/∂b, ∂L/∂b_dec
    EXPECT_EQ(counter.double_arrays, 2u);  // fired counts, scalars
    ASSERT_EQ(counter.last_scalars.size(), 3u);
    // A reducer that does nothing leaves the same training as the default.
    Trainer<float> plain(initialize(X, options), options);
    plain.fit(X);
    EXPECT_EQ(plain.model().dictionary, trainer.model().dictionary);
    EXPECT_EQ(plain.losses(), trainer.losses());
  }
  CountingReducer counter;
  Trainer<double> trainer(initialize(X64, FitOptions{.n_atoms = 3, .epochs = 2}),
                          FitOptions{.n_atoms = 3, .epochs = 2});
  trainer.set_reducer(counter);
  trainer.fit(X64);
  trainer.evaluate(X64);
  EXPECT_EQ(counter.calls, 3);  // two epochs of one batch, one evaluation
  EXPECT_EQ(counter.float_arrays, 0u);
  EXPECT_EQ(counter.double_arrays, 6u);  // the four gradients, fired counts, scalars
}

TEST(TrainerTest, CopiesAreIndependentAndMovesKeepTheState) {
  const Matrix<float> X = data(200, 4).cast<float>();
  const FitOptions options{
      .n_atoms = 5, .epochs = 2, .encoder = {.kind = EncoderKind::relu}, .batch_size = 32};
  Trainer<float> first(initialize(X, options), options);
  first.fit(X);
  Trainer<float> copy = first;
  first.fit(X);
  copy.fit(X);
  EXPECT_EQ(copy.model().dictionary, first.model().dictionary);
  EXPECT_EQ(copy.losses(), first.losses());
  Trainer<float> moved = std::move(copy);
  moved.fit(X);
  EXPECT_EQ(moved.losses().size(), 6u);
  EXPECT_EQ(first.losses().size(), 4u);
  copy = moved;  // a moved-from trainer takes a new state
  EXPECT_EQ(copy.steps(), moved.steps());
}

}  // namespace
}  // namespace dictlearn
