// Online dictionary learning (include/dictlearn/online.hpp): scikit-learn's
// MiniBatchDictionaryLearning to 1e-6 on a fixture, the dictionary step's
// descent, the stops, streams, thread-count independence, resuming bit for
// bit, the constraints, resampling, a planted dictionary and bad input.
#include "dictlearn/online.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "dictlearn/coders.hpp"
#include "dictlearn/safetensors.hpp"
#include "learners/online/online_step.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

using testing::normal_matrix;
using testing::TempDir;

template <typename T>
Matrix<T> unit_rows(Matrix<T> X) {
  for (Eigen::Index i = 0; i < X.rows(); ++i) X.row(i).normalize();
  return X;
}

/// Signals that are sparse mixtures of `atoms` plus a little noise.
template <typename T>
Matrix<T> mixtures(const Matrix<T>& atoms, int64_t rows, int sparsity, double noise,
                   uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::normal_distribution<double> normal;
  Matrix<T> X = Matrix<T>::Zero(rows, atoms.cols());
  std::vector<int64_t> order(atoms.rows());
  for (int64_t i = 0; i < rows; ++i) {
    std::iota(order.begin(), order.end(), int64_t{0});
    for (int s = 0; s < sparsity; ++s) {
      std::swap(order[s], order[s + engine() % (order.size() - s)]);
      X.row(i) += static_cast<T>(normal(engine)) * atoms.row(order[s]);
    }
    for (Eigen::Index j = 0; j < X.cols(); ++j) X(i, j) += static_cast<T>(noise * normal(engine));
  }
  return X;
}

LearningOptions lasso_options(double alpha, int64_t batch_size) {
  LearningOptions options;
  options.coding = {.method = CoderKind::lasso_lars, .alpha = alpha};
  options.batch_size = batch_size;
  return options;
}

TEST(OnlineTest, EqualsScikitLearnsMiniBatchDictionaryLearning) {
  // tests/fixtures/make_online_fixture.py: 20 steps of 300 x 12 signals in
  // batches of 32 (the tenth of each pass has 12), 8 atoms, no atom resampled.
  const Matrix<double> X = testing::fixture_matrix("online", "X");
  const Matrix<double> D0 = testing::fixture_matrix("online", "D0");
  const Matrix<double> expected = testing::fixture_matrix("online", "D20");
  const Matrix<double> costs = testing::fixture_matrix("online", "costs");
  LearningOptions options = lasso_options(0.2, 32);
  options.forgetting = Forgetting::sklearn;
  options.shuffle = false;
  options.epochs = 2;
  OnlineDictionaryLearner<double> learner(D0, options);
  std::vector<double> batch_costs;
  learner.set_step_observer(
      [&](const StepStats& stats) { batch_costs.push_back(stats.batch_cost); });
  learner.fit(X);
  ASSERT_EQ(learner.steps(), 20);
  EXPECT_LT((learner.model().dictionary - expected).cwiseAbs().maxCoeff(), 1e-6);
  ASSERT_EQ(static_cast<Eigen::Index>(batch_costs.size()), costs.size());
  for (size_t i = 0; i < batch_costs.size(); ++i) {
    EXPECT_NEAR(batch_costs[i], costs.data()[i], 1e-9 * costs.data()[i]) << "step " << i + 1;
  }
  // With SPAMS's schedule the same run ends elsewhere: the schedule is in force.
  options.forgetting = Forgetting::spams;
  OnlineDictionaryLearner<double> spams(D0, options);
  spams.fit(X);
  EXPECT_GT((spams.model().dictionary - expected).cwiseAbs().maxCoeff(), 1e-4);
}

/// ½Tr(D A Dᵀ) − Tr(D Bᵀ): the surrogate ½‖X − R D‖² + const for A = RᵀR, B = RᵀX (rows of D
/// are atoms).
double surrogate(const Matrix<double>& D, const Matrix<double>& A, const Matrix<double>& B) {
  return 0.5 * (D.transpose() * A * D).trace() - (D.transpose() * B).trace();
}

TEST(OnlineTest, EachDictionaryPassLowersTheSurrogate) {
  const Matrix<double> atoms = unit_rows(normal_matrix<double>(24, 10, 3));
  const Matrix<double> X = mixtures(atoms, 400, 3, 0.05, 4);
  for (bool positive : {false, true}) {
    Matrix<double> D = unit_rows(normal_matrix<double>(24, 10, 5));
    if (positive) D = D.cwiseAbs();
    const Matrix<double> R = sparse_encode<double>(
        Dictionary<double>{.dictionary = D}, X,
        {.method = CoderKind::lasso_lars, .alpha = 0.1, .positive = positive});
    const Matrix<double> A = R.transpose() * R / 400.0, B = R.transpose() * X / 400.0;
    double before = surrogate(D, A, B);
    const double start = before;
    for (int pass = 0; pass < 6; ++pass) {
      detail::update_atoms(D, A, B, positive, /*unit_norm=*/false, {});
      const double after = surrogate(D, A, B);
      EXPECT_LE(after, before + 1e-12 * std::abs(before)) << "pass " << pass;
      before = after;
      for (Eigen::Index k = 0; k < D.rows(); ++k) EXPECT_LE(D.row(k).norm(), 1 + 1e-12);
      if (positive) {
        EXPECT_GE(D.minCoeff(), 0.0);
      }
    }
    EXPECT_LT(before, start - 1e-3 * std::abs(start));  // it does descend
  }
}

TEST(OnlineTest, CodesAreTheCodersOwn) {
  const Matrix<double> D = unit_rows(normal_matrix<double>(40, 16, 6));
  const Matrix<double> X = mixtures(D, 300, 4, 0.1, 7);
  const std::vector<CodingOptions> coders = {
      {.method = CoderKind::lasso_lars, .alpha = 0.2},
      {.method = CoderKind::lasso_lars, .alpha = 0.2, .positive = true, .l2 = 0.1},
      {.method = CoderKind::lars, .n_nonzero = 5},
      {.method = CoderKind::omp, .n_nonzero = 4},
      {.method = CoderKind::omp, .max_error = 0.5},
      {.method = CoderKind::lasso_cd, .alpha = 0.2, .tol = 1e-10},
      {.method = CoderKind::threshold, .alpha = 0.3},
      {.method = CoderKind::fista, .alpha = 0.2, .tol = 1e-10}};
  const Dictionary<double> dictionary{.dictionary = D};
  for (const CodingOptions& coding : coders) {
    detail::BatchCoder<double> coder(coding, 40, 16);
    detail::CodedBatch<double> coded;
    coder.code(dictionary, X.data(), X.rows(), 2, coded);
    const Matrix<double> expected = sparse_encode<double>(dictionary, X, coding);
    EXPECT_LT((coded.codes - expected).cwiseAbs().maxCoeff(), 1e-9) << coder_name(coding.method);
    for (int64_t i = 0; i < X.rows(); ++i) {
      const double error = (X.row(i) - coded.codes.row(i) * D).squaredNorm();
      EXPECT_NEAR(coded.squared_error[i], error, 1e-12 * (1 + error));
    }
  }
}

TEST(OnlineTest, SupportCacheStartsEachSampleFromItsLastSupport) {
  // 24 values a sample in double: the cache (34 bytes a sample) fits in a quarter of the data.
  const Matrix<double> D = unit_rows(normal_matrix<double>(40, 24, 70));
  const Matrix<double> X = mixtures(D, 300, 4, 0.1, 71);
  const double data_bytes = 300.0 * 24 * 8;
  std::vector<int64_t> samples(300);
  std::iota(samples.begin(), samples.end(), int64_t{0});
  // The atoms move a little between the passes, as in a learner.
  const Matrix<double> moved =
      unit_rows(Matrix<double>(D + 0.02 * normal_matrix<double>(40, 24, 72)));
  for (const CodingOptions& coding :
       {CodingOptions{.method = CoderKind::lasso_lars, .alpha = 0.2},
        CodingOptions{
            .method = CoderKind::lasso_lars, .alpha = 0.2, .positive = true, .l2 = 0.1}}) {
    detail::BatchCoder<double> coder(coding, 40, 24);
    coder.enable_cache(300, data_bytes);
    ASSERT_EQ(coder.cache_samples(), 300);
    detail::CodedBatch<double> coded;
    coder.code(Dictionary<double>{.dictionary = D}, X.data(), 300, 2, coded, samples.data());
    EXPECT_EQ(std::count(coded.from_cache.begin(), coded.from_cache.end(), 1), 0);
    coder.code(Dictionary<double>{.dictionary = moved}, X.data(), 300, 2, coded, samples.data());
    // Most samples start from their support; every code is the lasso's.
    EXPECT_GT(std::count(coded.from_cache.begin(), coded.from_cache.end(), 1), 200);
    const Matrix<double> expected =
        sparse_encode<double>(Dictionary<double>{.dictionary = moved}, X, coding);
    EXPECT_LT((coded.codes - expected).cwiseAbs().maxCoeff(), 1e-9);
    // A wrong cache costs time, never the answer: random supports and signs.
    std::vector<int16_t> state = coder.cache_state();
    std::mt19937_64 engine(73);
    const int64_t W = detail::BatchCoder<double>::kCacheWidth;
    for (int64_t n = 0; n < 300; ++n) {
      state[n * (W + 1)] = static_cast<int16_t>(engine() % 6);
      for (int64_t s = 1; s <= W; ++s) {
        const auto atom = static_cast<int16_t>(engine() % 40);
        state[n * (W + 1) + s] = engine() % 2 ? atom : static_cast<int16_t>(~atom);
      }
    }
    ASSERT_TRUE(coder.set_cache(state));
    coder.code(Dictionary<double>{.dictionary = moved}, X.data(), 300, 1, coded, samples.data());
    EXPECT_LT((coded.codes - expected).cwiseAbs().maxCoeff(), 1e-9);
    // A cache of other atoms or another width is refused, the cache unchanged.
    state = coder.cache_state();
    std::vector<int16_t> bad = state;
    bad[1] = 40;
    bad[0] = 1;
    EXPECT_FALSE(coder.set_cache(bad));
    bad = state;
    bad[0] = static_cast<int16_t>(W + 1);
    EXPECT_FALSE(coder.set_cache(bad));
    bad.pop_back();
    EXPECT_FALSE(coder.set_cache(bad));
    EXPECT_EQ(coder.cache_state(), state);
  }
  // No cache for other coders or where it would pass a quarter of the data.
  detail::BatchCoder<double> omp({.method = CoderKind::omp, .n_nonzero = 3}, 40, 24);
  omp.enable_cache(300, data_bytes);
  EXPECT_EQ(omp.cache_samples(), 0);
  detail::BatchCoder<double> lasso({.method = CoderKind::lasso_lars, .alpha = 0.2}, 40, 24);
  lasso.enable_cache(300, 300.0 * 8 * 8);
  EXPECT_EQ(lasso.cache_samples(), 0);
}

TEST(OnlineTest, ResumesBitForBitWithTheSupportCache) {
  const Matrix<double> atoms = unit_rows(normal_matrix<double>(20, 24, 74));
  const Matrix<double> X = mixtures(atoms, 1200, 3, 0.05, 75);
  const Matrix<double> D0 = unit_rows(normal_matrix<double>(20, 24, 76));
  LearningOptions options = lasso_options(0.1, 100);
  options.epochs = 5;
  OnlineDictionaryLearner<double> whole(D0, options);
  whole.fit(X);
  TempDir dir;
  options.epochs = 2;
  OnlineDictionaryLearner<double> first(D0, options);
  first.fit(X);
  first.save_checkpoint(dir / "online.ckpt", X);
  const TensorFile file = read_safetensors(dir / "online.ckpt");
  ASSERT_EQ(file.tensors.count("online.support_cache"), 1u);
  OnlineDictionaryLearner<double> second(D0, options);
  second.load_checkpoint(dir / "online.ckpt", X);
  second.set_epochs(3);
  second.fit(X);
  EXPECT_EQ(second.model().dictionary, whole.model().dictionary);
  EXPECT_EQ(second.losses(), whole.losses());
  // Non-finite atoms or statistics are refused (found by fuzz_checkpoint's '^' mode).
  for (const char* name : {"dictionary", "online.A", "online.B_previous"}) {
    TensorFile changed = file;
    changed.tensors.at(name).values[2] = std::numeric_limits<double>::quiet_NaN();
    write_safetensors(dir / "nan.ckpt", changed);
    OnlineDictionaryLearner<double> refused(D0, options);
    EXPECT_ERROR_CONTAINS(refused.load_checkpoint(dir / "nan.ckpt", X),
                          dir / "nan.ckpt" + ": checkpoint tensor '" + name + "' holds nan");
  }
  // A damaged cache is refused, naming the file and the tensor.
  for (const double bad : {20.0, 0.5, 40000.0}) {
    TensorFile changed = file;
    changed.tensors["online.support_cache"].values[1] = bad;
    changed.tensors["online.support_cache"].values[0] = 1;
    write_safetensors(dir / "bad.ckpt", changed);
    OnlineDictionaryLearner<double> refused(D0, options);
    EXPECT_ERROR_CONTAINS(refused.load_checkpoint(dir / "bad.ckpt", X),
                          dir / "bad.ckpt" + ": checkpoint tensor 'online.support_cache'");
  }
}

TEST(OnlineTest, PartialFitOverTheBatchesEqualsFitWithoutShuffle) {
  const Matrix<double> atoms = unit_rows(normal_matrix<double>(12, 8, 8));
  const Matrix<double> X = mixtures(atoms, 150, 2, 0.05, 9);
  LearningOptions options = lasso_options(0.1, 32);
  options.forgetting = Forgetting::sklearn;
  options.shuffle = false;
  options.epochs = 3;
  const Matrix<double> D0 = unit_rows(normal_matrix<double>(10, 8, 10));
  OnlineDictionaryLearner<double> whole(D0, options);
  whole.fit(X);
  OnlineDictionaryLearner<double> stream(D0, options);
  for (int epoch = 0; epoch < 3; ++epoch) {
    for (int64_t begin = 0; begin < X.rows(); begin += 32) {
      stream.partial_fit(X.middleRows(begin, std::min<int64_t>(32, X.rows() - begin)));
    }
  }
  EXPECT_EQ(stream.steps(), whole.steps());
  EXPECT_EQ(stream.model().dictionary, whole.model().dictionary);
}

TEST(OnlineTest, GatheredBatchesGiveTheSameDictionary) {
  // Rows that are not contiguous (a block of a wider matrix): the loop
  // gathers each batch into a buffer; the learner computes the same.
  const Matrix<double> atoms = unit_rows(normal_matrix<double>(12, 8, 44));
  const Matrix<double> X = mixtures(atoms, 150, 2, 0.05, 45);
  Matrix<double> wide = Matrix<double>::Zero(150, 11);
  wide.leftCols(8) = X;
  const MatrixSource<double> strided(wide.leftCols(8));
  ASSERT_EQ(strided.contiguous(), nullptr);
  LearningOptions options = lasso_options(0.1, 32);
  options.epochs = 2;
  const Matrix<double> D0 = unit_rows(normal_matrix<double>(10, 8, 46));
  OnlineDictionaryLearner<double> in_place(D0, options), gathered(D0, options);
  in_place.fit(X);
  gathered.fit(strided);
  EXPECT_EQ(gathered.model().dictionary, in_place.model().dictionary);
}

template <typename T>
void expect_thread_count_independent() {
  const Matrix<T> atoms = unit_rows(normal_matrix<T>(64, 32, 11));
  const Matrix<T> X = mixtures(atoms, 600, 4, 0.05, 12);
  const Matrix<T> D0 = unit_rows(normal_matrix<T>(64, 32, 13));
  for (CoderKind coder : {CoderKind::lasso_lars, CoderKind::omp, CoderKind::lasso_cd}) {
    LearningOptions options = lasso_options(0.1, 256);
    options.coding.method = coder;
    if (coder == CoderKind::omp) options.coding = {.method = CoderKind::omp, .n_nonzero = 4};
    options.epochs = 2;
    Matrix<T> first;
    for (int threads : {1, 2}) {
      options.threads = threads;
      OnlineDictionaryLearner<T> learner(D0, options);
      learner.fit(X);
      if (threads == 1) {
        first = learner.model().dictionary;
      } else {
        EXPECT_EQ(learner.model().dictionary, first) << coder_name(coder) << ", " << threads;
      }
    }
  }
}

TEST(OnlineTest, ResultsDoNotDependOnTheThreadCount) {
  expect_thread_count_independent<float>();
  expect_thread_count_independent<double>();
}

TEST(OnlineTest, MaxStepsStopsWithinAnEpoch) {
  const Matrix<double> X = normal_matrix<double>(100, 6, 14);
  LearningOptions options = lasso_options(0.3, 10);
  options.max_steps = 15;
  options.epochs = 5;
  OnlineDictionaryLearner<double> learner(unit_rows(normal_matrix<double>(8, 6, 15)), options);
  std::vector<EpochStats> epochs;
  learner.fit(X, [&](const EpochStats& stats, const Model<double>&) { epochs.push_back(stats); });
  EXPECT_EQ(learner.steps(), 15);
  EXPECT_TRUE(learner.stopped_early());
  ASSERT_EQ(epochs.size(), 2u);
  EXPECT_EQ(learner.losses().size(), 2u);
  // A time budget counts from fit()'s start and is checked before every step
  // (as SPAMS checks its negative iter): 1 ns is spent before the first one.
  options.max_steps = 0;
  options.max_seconds = 1e-9;
  OnlineDictionaryLearner<double> timed(unit_rows(normal_matrix<double>(8, 6, 15)), options);
  timed.fit(X);
  EXPECT_EQ(timed.steps(), 0);
  EXPECT_TRUE(timed.stopped_early());
}

TEST(OnlineTest, ConvergenceTestsStopTheRun) {
  const Matrix<double> atoms = unit_rows(normal_matrix<double>(8, 6, 16));
  const Matrix<double> X = mixtures(atoms, 100, 2, 0.01, 17);
  const Matrix<double> D0 = unit_rows(normal_matrix<double>(8, 6, 18));
  // A dictionary that moves less than 10 (every one) stops at the first step
  // after the warm-up of min(100, N/b) = 10 steps.
  LearningOptions options = lasso_options(0.05, 10);
  options.epochs = 50;
  options.dict_tol = 10;
  OnlineDictionaryLearner<double> moved(D0, options);
  moved.fit(X);
  EXPECT_EQ(moved.steps(), 11);
  EXPECT_TRUE(moved.stopped_early());
  EXPECT_TRUE(moved.finished());
  // No improvement of the smoothed cost for 3 steps: some step before 500.
  options.dict_tol = 0;
  options.max_no_improvement = 3;
  OnlineDictionaryLearner<double> flat(D0, options);
  std::vector<StepStats> steps;
  flat.set_step_observer([&](const StepStats& stats) { steps.push_back(stats); });
  flat.fit(X);
  EXPECT_TRUE(flat.stopped_early());
  EXPECT_GT(flat.steps(), 13);
  EXPECT_LT(flat.steps(), 500);
  // The last three smoothed costs were none below the smallest before them.
  ASSERT_GE(steps.size(), 14u);
  double best = INFINITY;
  for (size_t i = 10; i + 3 < steps.size(); ++i) best = std::min(best, steps[i].smoothed_cost);
  for (size_t i = steps.size() - 3; i < steps.size(); ++i) EXPECT_GE(steps[i].smoothed_cost, best);
  // Neither test: all 50 epochs.
  options.max_no_improvement = 0;
  OnlineDictionaryLearner<double> all(D0, options);
  all.fit(X);
  EXPECT_EQ(all.steps(), 500);
  EXPECT_FALSE(all.stopped_early());
}

template <typename T>
void expect_resumes_bit_for_bit(Forgetting forgetting) {
  const Matrix<T> atoms = unit_rows(normal_matrix<T>(16, 8, 19));
  const Matrix<T> X = mixtures(atoms, 2300, 3, 0.05, 20);
  // An atom no signal uses (the data has no last coordinate): resampled, so
  // the generator's state is part of what resumes.
  Matrix<T> D0 = unit_rows(normal_matrix<T>(14, 8, 21));
  Matrix<T> data = X;
  data.col(7).setZero();
  D0.col(7).setZero();
  D0.row(3).setZero();
  D0(3, 7) = 1;
  // 23 steps an epoch: SPAMS's schedule resamples from step 100 (t·b >= 10,000) on.
  LearningOptions options = lasso_options(0.1, 100);
  options.forgetting = forgetting;
  options.max_no_improvement = 1000;  // its state is saved too
  options.epochs = 5;
  OnlineDictionaryLearner<T> whole(D0, options);
  int64_t replaced = 0;
  whole.fit(data,
            [&](const EpochStats& stats, const Model<T>&) { replaced += stats.atoms_replaced; });
  EXPECT_GE(replaced, 1);

  TempDir dir;
  options.epochs = 2;
  OnlineDictionaryLearner<T> first(D0, options);
  first.fit(data);
  first.save_checkpoint(dir / "online.ckpt", data);
  OnlineDictionaryLearner<T> second(unit_rows(normal_matrix<T>(14, 8, 99)), options);
  second.load_checkpoint(dir / "online.ckpt", data);
  EXPECT_EQ(second.steps(), first.steps());
  // Every field of the state came back (the resampling generator's too,
  // which draws only now and then).
  TensorFile saved, restored;
  first.save_state(saved);
  second.save_state(restored);
  EXPECT_EQ(saved.metadata, restored.metadata);
  ASSERT_EQ(saved.tensors.size(), restored.tensors.size());
  for (const auto& [name, tensor] : saved.tensors) {
    EXPECT_EQ(tensor.values, restored.tensors.at(name).values) << name;
  }
  second.set_epochs(3);
  second.fit(data);
  EXPECT_EQ(second.steps(), whole.steps());
  EXPECT_EQ(second.model().dictionary, whole.model().dictionary);
  EXPECT_EQ(second.losses(), whole.losses());
  // The atoms are the checkpoint's tensor "dictionary", as in a model file.
  const Tensor atoms_saved = read_safetensors(dir / "online.ckpt").tensors.at("dictionary");
  ASSERT_EQ(atoms_saved.values.size(), static_cast<size_t>(first.model().dictionary.size()));
  for (size_t i = 0; i < atoms_saved.values.size(); ++i) {
    EXPECT_EQ(static_cast<T>(atoms_saved.values[i]), first.model().dictionary.data()[i]);
  }
  // Other settings are refused, naming them.
  LearningOptions other = options;
  other.coding.alpha = 0.2;
  OnlineDictionaryLearner<T> refused(D0, other);
  EXPECT_ERROR_CONTAINS(refused.load_checkpoint(dir / "online.ckpt", data), "alpha");
}

TEST(OnlineTest, ResumesBitForBit) {
  expect_resumes_bit_for_bit<double>(Forgetting::spams);
  expect_resumes_bit_for_bit<double>(Forgetting::sklearn);
  expect_resumes_bit_for_bit<float>(Forgetting::spams);
  expect_resumes_bit_for_bit<double>(Forgetting::capped);
}

TEST(OnlineTest, CappedScheduleIsSpamsWithItsHorizonCapped) {
  // β = (m + 1 − b) / (m + 1) with SPAMS's m capped at the memory M: SPAMS's
  // below M, constant once m reaches it.
  EXPECT_DOUBLE_EQ(detail::spams_forgetting(3, 10, 1000, 40), 21.0 / 31.0);
  EXPECT_DOUBLE_EQ(detail::spams_forgetting(3, 10, 1000, 25), 16.0 / 26.0);
  EXPECT_DOUBLE_EQ(detail::spams_forgetting(50, 10, 1000, 40), 31.0 / 41.0);
  EXPECT_DOUBLE_EQ(detail::spams_forgetting(5000, 10, 0, 40), 31.0 / 41.0);
  // The default memory: 5,000 samples, or 20 per atom for more than 250 atoms.
  LearningOptions options;
  EXPECT_EQ(options.forgetting, Forgetting::capped);
  EXPECT_EQ(capped_memory(options, 50), 5000);
  EXPECT_EQ(capped_memory(options, 1000), 20000);
  options.memory = 7;
  EXPECT_EQ(capped_memory(options, 1000), 7);

  // A fit: with a memory no m of the run reaches it is SPAMS's run bit for
  // bit; with a short one it ends elsewhere.
  const Matrix<double> atoms = unit_rows(normal_matrix<double>(12, 10, 60));
  const Matrix<double> X = mixtures(atoms, 400, 3, 0.05, 61);
  const Matrix<double> D0 = unit_rows(normal_matrix<double>(12, 10, 62));
  LearningOptions spams = lasso_options(0.1, 40);
  spams.forgetting = Forgetting::spams;
  spams.epochs = 3;
  OnlineDictionaryLearner<double> reference(D0, spams);
  reference.fit(X);
  LearningOptions capped = spams;
  capped.forgetting = Forgetting::capped;
  capped.memory = 800;  // m <= 2N = 800
  OnlineDictionaryLearner<double> same(D0, capped);
  same.fit(X);
  EXPECT_EQ(same.model().dictionary, reference.model().dictionary);
  EXPECT_EQ(same.losses(), reference.losses());
  capped.memory = 200;
  OnlineDictionaryLearner<double> shorter(D0, capped);
  shorter.fit(X);
  EXPECT_GT((shorter.model().dictionary - reference.model().dictionary).cwiseAbs().maxCoeff(),
            1e-6);
  // Only the capped schedule reads --memory.
  capped.forgetting = Forgetting::sklearn;
  EXPECT_ERROR_CONTAINS(validate(capped),
                        "--memory: only --forgetting capped reads it (this run: --forgetting "
                        "sklearn)");
}

TEST(OnlineTest, SpamsWindowMovesWithTheEpochs) {
  // β as SPAMS computes it: (m + 1 − b) / (m + 1), m = min(2N, t·b) for t < b, else
  // min(2N, b² + t − b).
  EXPECT_DOUBLE_EQ(detail::spams_forgetting(0, 10, 1000), -9.0);
  EXPECT_DOUBLE_EQ(detail::spams_forgetting(3, 10, 1000), 21.0 / 31.0);
  EXPECT_DOUBLE_EQ(detail::spams_forgetting(50, 10, 1000), 131.0 / 141.0);
  EXPECT_DOUBLE_EQ(detail::spams_forgetting(50, 10, 60), 111.0 / 121.0);
  EXPECT_DOUBLE_EQ(detail::sklearn_forgetting(2, 10), 21.0 / 31.0);
  EXPECT_DOUBLE_EQ(detail::sklearn_forgetting(20, 10), 102.0 / 112.0);
  // SPAMS's loop (dicts.h, train()) written out literally for N = 25 and b =
  // 10: Aeven, Aodd, Aorig, the parity of ((i + 1)·b) / N; the learner's
  // statistics must equal its A after every step.
  const int64_t N = 25, b = 10, K = 6;
  const Matrix<double> atoms = unit_rows(normal_matrix<double>(K, 5, 22));
  const Matrix<double> D = unit_rows(normal_matrix<double>(K, 5, 23));
  // SPAMS's schedule, then the capped one (m capped at 35 samples).
  for (const int64_t memory : {int64_t{0}, int64_t{35}}) {
    const Forgetting forgetting = memory > 0 ? Forgetting::capped : Forgetting::spams;
    detail::SufficientStatistics<double> stats;
    stats.reset(forgetting, D);
    detail::BatchCoder<double> coder({.method = CoderKind::lasso_lars, .alpha = 0.05}, K, 5);
    detail::CodedBatch<double> coded;
    Matrix<double> Aorig = 1e-5 * Matrix<double>::Identity(K, K);
    Matrix<double> Aodd = Matrix<double>::Zero(K, K), Aeven = Aodd;
    bool even = true;
    for (int64_t i = 0; i < 9; ++i) {
      const Matrix<double> X = mixtures(atoms, b, 2, 0.01, 30 + i);
      coder.code(Dictionary<double>{.dictionary = D}, X.data(), b, 1, coded);
      stats.add(forgetting, coded, X.data(), i, i * b, b, N, memory, 1);
      const int64_t epoch = ((i + 1) * b) / N;
      if ((even && epoch % 2 == 1) || (!even && epoch % 2 == 0)) {
        Aodd = Aeven;
        Aeven.setZero();
        even = !even;
      }
      double seen = std::min<double>(2 * N, i < b ? i * b : b * b + i - b);
      if (memory > 0) seen = std::min<double>(seen, memory);
      const double scal = (seen + 1 - b) / (seen + 1);
      Aeven *= scal;
      Aodd *= scal;
      Matrix<double> A = Matrix<double>::Zero(K, K);
      if (i * b < 10000) {
        Aorig *= scal;
        A = Aorig;
      }
      Aeven += coded.codes.transpose() * coded.codes / static_cast<double>(b);
      A += Aodd + Aeven;
      EXPECT_LT((stats.A - A).cwiseAbs().maxCoeff(), 1e-14 * (1 + A.cwiseAbs().maxCoeff()))
          << "step " << i;
      EXPECT_EQ(stats.odd_window, !even) << "step " << i;
    }
  }
}

TEST(OnlineTest, StatisticsFromSparseAndDenseCodes) {
  // Sparse codes (lasso) are summed from their nonzeros, dense ones
  // (threshold at 0) as products: both give β A + RᵀR / b and β B + RᵀX / b.
  const Matrix<double> D = unit_rows(normal_matrix<double>(20, 12, 40));
  const Matrix<double> X = mixtures(D, 50, 3, 0.05, 41);
  for (const CodingOptions& coding :
       {CodingOptions{.method = CoderKind::lasso_lars, .alpha = 0.3},
        CodingOptions{.method = CoderKind::threshold, .alpha = 0.0}}) {
    detail::BatchCoder<double> coder(coding, 20, 12);
    detail::CodedBatch<double> coded;
    coder.code(Dictionary<double>{.dictionary = D}, X.data(), 50, 2, coded);
    detail::SufficientStatistics<double> stats;
    stats.reset(Forgetting::sklearn, D);
    stats.A = normal_matrix<double>(20, 20, 42);
    stats.B = normal_matrix<double>(20, 12, 43);
    const Matrix<double> A0 = stats.A, B0 = stats.B;
    stats.add(Forgetting::sklearn, coded, X.data(), 7, 350, 50, 1000, 0, 2);
    const double beta = detail::sklearn_forgetting(7, 50);
    const Matrix<double>& R = coded.codes;
    EXPECT_LT((stats.A - (beta * A0 + R.transpose() * R / 50.0)).cwiseAbs().maxCoeff(), 1e-13)
        << coder_name(coding.method);
    EXPECT_LT((stats.B - (beta * B0 + R.transpose() * X / 50.0)).cwiseAbs().maxCoeff(), 1e-13)
        << coder_name(coding.method);
  }
}

TEST(OnlineTest, StatisticsOnThreadsEqualOneThreads) {
  // Large enough for the statistics to take 2 and 3 threads (ranges of rows
  // of A and B, every thread reading all the signals): the same bits as on
  // one, under both schedules, and β A + RᵀR / b under scikit-learn's.
  const int64_t K = 128, d = 48, rows = 400;
  const Matrix<double> D = unit_rows(normal_matrix<double>(K, d, 44));
  const Matrix<double> X = mixtures(D, rows, 4, 0.05, 45);
  detail::BatchCoder<double> coder(CodingOptions{.method = CoderKind::lasso_lars, .alpha = 0.1}, K,
                                   d);
  detail::CodedBatch<double> coded;
  coder.code(Dictionary<double>{.dictionary = D}, X.data(), rows, 2, coded);
  for (const Forgetting forgetting : {Forgetting::sklearn, Forgetting::capped}) {
    std::vector<detail::SufficientStatistics<double>> stats(3);
    for (int threads = 1; threads <= 3; ++threads) {
      detail::SufficientStatistics<double>& s = stats[threads - 1];
      s.reset(forgetting, D);
      s.A = normal_matrix<double>(K, K, 46);
      s.B = normal_matrix<double>(K, d, 47);
      if (forgetting == Forgetting::capped) {
        s.A_current = s.A;
        s.B_current = s.B;
      }
      s.add(forgetting, coded, X.data(), 7, 7 * rows, rows, 20 * rows, 5000, threads);
    }
    for (int threads = 2; threads <= 3; ++threads) {
      EXPECT_TRUE(stats[threads - 1].A == stats[0].A && stats[threads - 1].B == stats[0].B)
          << "threads " << threads;
    }
    if (forgetting == Forgetting::sklearn) {
      const double beta = detail::sklearn_forgetting(7, rows);
      const Matrix<double> A0 = normal_matrix<double>(K, K, 46);
      const Matrix<double> B0 = normal_matrix<double>(K, d, 47);
      const Matrix<double>& R = coded.codes;
      EXPECT_LT((stats[2].A - (beta * A0 + R.transpose() * R / double(rows))).cwiseAbs().maxCoeff(),
                1e-12);
      EXPECT_LT((stats[2].B - (beta * B0 + R.transpose() * X / double(rows))).cwiseAbs().maxCoeff(),
                1e-12);
    }
  }
}

TEST(OnlineTest, ABatchReadInPlaceEqualsItsGatheredRows) {
  // The learner reads a shuffled batch where it lies (BatchRows with an
  // index): codes, statistics and the atoms' update must equal those of the
  // same rows gathered first, bit for bit, for sparse and dense codes and for
  // fista (which gathers inside).
  const Matrix<double> D = unit_rows(normal_matrix<double>(20, 12, 60));
  const Matrix<double> X = mixtures(D, 90, 3, 0.05, 61);
  const std::vector<int64_t> index{88, 3, 41, 41, 7, 60, 12, 0, 75, 19, 33, 54, 2, 89, 46, 27};
  const int64_t rows = static_cast<int64_t>(index.size());
  Matrix<double> gathered(rows, 12);
  for (int64_t i = 0; i < rows; ++i) gathered.row(i) = X.row(index[i]);
  for (const CodingOptions& coding : {CodingOptions{.method = CoderKind::lasso_lars, .alpha = 0.2},
                                      CodingOptions{.method = CoderKind::threshold, .alpha = 0.0},
                                      CodingOptions{.method = CoderKind::fista, .alpha = 0.2}}) {
    for (const int threads : {1, 2}) {
      detail::BatchCoder<double> in_place(coding, 20, 12), copied(coding, 20, 12);
      detail::CodedBatch<double> a, b;
      in_place.code(Dictionary<double>{.dictionary = D},
                    detail::BatchRows<double>{
                        .data = X.data(), .index = index.data(), .rows = rows, .dim = 12},
                    threads, a);
      copied.code(Dictionary<double>{.dictionary = D}, gathered.data(), rows, threads, b);
      EXPECT_TRUE(a.codes == b.codes) << coder_name(coding.method) << ", " << threads;
      EXPECT_EQ(a.count, b.count);
      EXPECT_EQ(a.squared_error, b.squared_error);
      detail::SufficientStatistics<double> s, t;
      s.reset(Forgetting::capped, D);
      t.reset(Forgetting::capped, D);
      s.add(Forgetting::capped, a,
            detail::BatchRows<double>{
                .data = X.data(), .index = index.data(), .rows = rows, .dim = 12},
            3, 48, rows, 90, 5000, threads);
      t.add(Forgetting::capped, b, gathered.data(), 3, 48, rows, 90, 5000, threads);
      EXPECT_TRUE(s.A == t.A && s.B == t.B) << coder_name(coding.method) << ", " << threads;
    }
  }
}

/// A signal's codes at every place of a batch: its X Dᵀ is computed by
/// tiles of four signals and one at a time for the block's rest. 150
/// signals of 64 atoms are enough work for the coder to take 2 threads
/// (each coding into its own row, the dense codes spread after).
template <typename T>
void expect_codes_independent_of_place() {
  const int64_t K = 64, d = 32, rows = 150;
  const Matrix<T> D = unit_rows(normal_matrix<T>(K, d, 62));
  const Matrix<T> X = mixtures(D, rows, 3, 0.05, 63);
  for (const CodingOptions& coding :
       {CodingOptions{.method = CoderKind::lasso_lars, .alpha = 0.2},
        CodingOptions{.method = CoderKind::omp, .n_nonzero = 3},
        CodingOptions{.method = CoderKind::threshold, .alpha = 0.1}}) {
    detail::BatchCoder<T> coder(coding, K, d);
    detail::CodedBatch<T> first;
    coder.code(Dictionary<T>{.dictionary = D}, X.data(), rows, 1, first);
    // Rotations move signals between a tile of four, the next tile and the
    // one-at-a-time rest (150 signals: 18 blocks of 8, then 4 + 2).
    for (const int64_t shift : {1, 3, 6}) {
      Matrix<T> rotated(rows, d);
      for (int64_t i = 0; i < rows; ++i) rotated.row(i) = X.row((i + shift) % rows);
      for (const int threads : {1, 2}) {
        detail::CodedBatch<T> moved;
        coder.code(Dictionary<T>{.dictionary = D}, rotated.data(), rows, threads, moved);
        for (int64_t i = 0; i < rows; ++i) {
          const int64_t from = (i + shift) % rows;
          EXPECT_TRUE(moved.codes.row(i) == first.codes.row(from))
              << coder_name(coding.method) << ", shift " << shift << ", signal " << from
              << ", threads " << threads;
          EXPECT_EQ(moved.squared_error[i], first.squared_error[from]);
        }
      }
    }
  }
}

TEST(OnlineTest, ASignalsCodesDoNotDependOnItsPlaceInTheBatch) {
  expect_codes_independent_of_place<double>();
  expect_codes_independent_of_place<float>();
}

TEST(OnlineTest, ConstraintsHold) {
  const Matrix<double> atoms = unit_rows(normal_matrix<double>(10, 8, 24)).cwiseAbs();
  const Matrix<double> X = mixtures(atoms, 200, 3, 0.05, 25);
  LearningOptions options = lasso_options(0.1, 20);
  options.positive_dict = true;
  options.epochs = 3;
  OnlineDictionaryLearner<double> positive(unit_rows(normal_matrix<double>(10, 8, 26)), options);
  positive.fit(X);
  EXPECT_GE(positive.model().dictionary.minCoeff(), 0.0);
  options.positive_dict = false;
  options.unit_norm = true;
  Matrix<double> D0 = 0.3 * unit_rows(normal_matrix<double>(10, 8, 27));
  OnlineDictionaryLearner<double> sphere(D0, options);
  sphere.fit(X);
  for (Eigen::Index k = 0; k < 10; ++k) {
    EXPECT_NEAR(sphere.model().dictionary.row(k).norm(), 1.0, 1e-12) << k;
  }
  options.unit_norm = false;
  OnlineDictionaryLearner<double> ball(D0 * 5.0, options);
  ball.fit(X);
  for (Eigen::Index k = 0; k < 10; ++k) EXPECT_LE(ball.model().dictionary.row(k).norm(), 1 + 1e-12);
}

TEST(OnlineTest, AnUnusedAtomIsResampledAndCounted) {
  const Matrix<double> atoms = unit_rows(normal_matrix<double>(6, 5, 28));
  Matrix<double> X = mixtures(atoms, 120, 2, 0.05, 29);
  X.col(4).setZero();  // nothing in the last coordinate
  Matrix<double> D0 = unit_rows(normal_matrix<double>(6, 5, 30));
  D0.col(4).setZero();
  D0.row(2).setZero();
  D0(2, 4) = 1;  // orthogonal to every signal: never coded
  LearningOptions options = lasso_options(0.05, 40);
  options.forgetting = Forgetting::sklearn;
  options.epochs = 1;
  OnlineDictionaryLearner<double> learner(D0, options);
  std::vector<StepStats> steps;
  learner.set_step_observer([&](const StepStats& stats) { steps.push_back(stats); });
  int64_t replaced = 0;
  learner.fit(
      X, [&](const EpochStats& stats, const Model<double>&) { replaced = stats.atoms_replaced; });
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps[0].atoms_replaced, 1);
  EXPECT_GE(replaced, 1);
  // It is a signal of the batch now (plus 1% noise), in the data's span.
  EXPECT_LT(std::abs(learner.model().dictionary(2, 4)), 0.05);
  EXPECT_GT(learner.model().dictionary.row(2).head(4).norm(), 0.5);
  // Under SPAMS's schedule not while t0's start is in A (t·b < 10,000).
  options.forgetting = Forgetting::spams;
  OnlineDictionaryLearner<double> warming(D0, options);
  warming.fit(
      X, [&](const EpochStats& stats, const Model<double>&) { replaced = stats.atoms_replaced; });
  EXPECT_EQ(replaced, 0);
  options.forgetting = Forgetting::sklearn;
  options.resample_unused = false;
  OnlineDictionaryLearner<double> kept(D0, options);
  kept.fit(X,
           [&](const EpochStats& stats, const Model<double>&) { replaced = stats.atoms_replaced; });
  EXPECT_EQ(replaced, 0);
  EXPECT_EQ(kept.model().dictionary.row(2), D0.row(2));
}

TEST(OnlineTest, RecoversAPlantedDictionary) {
  // Aharon et al.'s synthetic experiment: 50 unit atoms of dimension 20,
  // 1,500 signals of 3 atoms each at 20 dB SNR; an atom counts as recovered
  // when a learnt one has |cos| >= 0.99 with it.
  double recovered = 0;
  const int seeds = 5;
  for (int seed = 0; seed < seeds; ++seed) {
    const Matrix<double> atoms = unit_rows(normal_matrix<double>(50, 20, 100 + seed));
    Matrix<double> X = mixtures(atoms, 1500, 3, 0.0, 200 + seed);
    const double signal = X.squaredNorm() / static_cast<double>(X.size());
    X += std::sqrt(signal / 100.0) * normal_matrix<double>(1500, 20, 300 + seed);
    Matrix<double> D0(50, 20);
    for (int k = 0; k < 50; ++k) D0.row(k) = X.row(k * 30).normalized();
    LearningOptions options;
    options.coding = {.method = CoderKind::omp, .n_nonzero = 3};
    options.batch_size = 32;
    options.epochs = 40;  // 1,880 steps; 0.96 of the atoms (0.94 after 25 epochs)
    options.seed = static_cast<uint64_t>(seed);
    // OMP picks atoms by correlation, which favours the longer ones: in the
    // ball (not on the sphere) 0.69 of the atoms are found.
    options.unit_norm = true;
    OnlineDictionaryLearner<double> learner(D0, options);
    learner.fit(X);
    const Matrix<double> cosines = (atoms * learner.model().dictionary.transpose()).cwiseAbs();
    int found = 0;
    for (int k = 0; k < 50; ++k) found += cosines.row(k).maxCoeff() >= 0.99 ? 1 : 0;
    recovered += found / 50.0;
  }
  EXPECT_GE(recovered / seeds, 0.9);
}

TEST(OnlineTest, BadInputIsNamed) {
  const Matrix<double> D0 = unit_rows(normal_matrix<double>(4, 3, 31));
  const Matrix<double> X = normal_matrix<double>(20, 3, 32);
  LearningOptions options = lasso_options(0.1, 8);
  OnlineDictionaryLearner<double> learner(D0, options);
  EXPECT_ERROR_CONTAINS(learner.fit(normal_matrix<double>(20, 5, 33)),
                        "data: has 5 columns, the dictionary's atoms have 3");
  Matrix<double> bad = X;
  bad(6, 1) = NAN;
  EXPECT_ERROR_CONTAINS(learner.fit(bad), "data: holds non-finite values (row 7, column 2");
  EXPECT_ERROR_CONTAINS(learner.partial_fit(bad),
                        "batch: holds non-finite values (row 7, column 2");
  EXPECT_ERROR_CONTAINS(learner.partial_fit(normal_matrix<double>(4, 2, 34)),
                        "batch: has 2 columns");
  EXPECT_ERROR_CONTAINS(learner.partial_fit(X.topRows(0)), "batch: has no rows");
  EXPECT_EQ(learner.steps(), 0);
  EXPECT_EQ(learner.model().dictionary, D0);

  LearningOptions wrong = options;
  wrong.method = LearningMethod::ksvd;
  EXPECT_ERROR_CONTAINS(OnlineDictionaryLearner<double>(D0, wrong), "--method");
  wrong = options;
  wrong.batch_size = 0;
  EXPECT_ERROR_CONTAINS(OnlineDictionaryLearner<double>(D0, wrong), "--batch-size");
  wrong = options;
  wrong.coding.alpha = -1;
  EXPECT_ERROR_CONTAINS(OnlineDictionaryLearner<double>(D0, wrong), "--alpha");
  wrong = options;
  wrong.coding = {.method = CoderKind::omp, .n_nonzero = 5};
  EXPECT_ERROR_CONTAINS(OnlineDictionaryLearner<double>(D0, wrong), "--n-nonzero");
  wrong = options;
  wrong.dict_tol = -1;
  EXPECT_ERROR_CONTAINS(OnlineDictionaryLearner<double>(D0, wrong), "--dict-tol");
  wrong = options;
  wrong.max_seconds = NAN;
  EXPECT_ERROR_CONTAINS(OnlineDictionaryLearner<double>(D0, wrong), "--max-seconds");
  wrong = options;
  wrong.n_atoms = 7;
  EXPECT_ERROR_CONTAINS(OnlineDictionaryLearner<double>(D0, wrong), "--atoms");
  EXPECT_ERROR_CONTAINS(OnlineDictionaryLearner<double>(Matrix<double>(0, 3), options), "--init");
  Matrix<double> infinite = D0;
  infinite(1, 2) = INFINITY;
  EXPECT_ERROR_CONTAINS(OnlineDictionaryLearner<double>(infinite, options),
                        "--init: the initial dictionary holds non-finite values (atom 2, value 3");
  // A checkpoint on other data is refused.
  TempDir dir;
  OnlineDictionaryLearner<double> saved(D0, options);
  saved.fit(X);
  saved.save_checkpoint(dir / "a.ckpt", X);
  EXPECT_ERROR_CONTAINS(saved.load_checkpoint(dir / "a.ckpt", normal_matrix<double>(20, 3, 35)),
                        "other data of the same shape");
}

}  // namespace
}  // namespace dictlearn
