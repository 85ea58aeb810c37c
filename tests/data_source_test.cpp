// Data sources: a source that hides that its rows lie contiguously in memory
// (so the epoch loop gathers every batch into a buffer) trains the same model,
// bit for bit, as the in-place MatrixSource, on every engine; a strided view
// trains as its contiguous copy; the data hash is the same from any source,
// so checkpoints resume across them.
#include "dictlearn/data_source.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <stdexcept>

#include "dictlearn/trainer.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

using testing::expect_same_model;
using testing::TempDir;

template <typename T>
Matrix<T> data(int n, int dim) {
  return testing::normal_matrix<T>(n, dim, 5);
}

/// The same rows as a MatrixSource, without a contiguous view: every read
/// goes through gather(), as for data that is not in memory.
template <typename T>
class HiddenSource final : public DataSource<T> {
 public:
  explicit HiddenSource(MatrixView<T> X) : inner_(X) {}
  int64_t rows() const override { return inner_.rows(); }
  int64_t dim() const override { return inner_.dim(); }
  void gather(const int64_t* index, int64_t count, T* out) const override {
    ++gathers;
    inner_.gather(index, count, out);
  }
  mutable int64_t gathers = 0;

 private:
  MatrixSource<T> inner_;
};

struct SourceCase {
  std::string name;
  int n, dim;
  FitOptions options;
};

class SourceTest : public ::testing::TestWithParam<SourceCase> {};

template <typename T>
void expect_hidden_equals_in_place(const SourceCase& c) {
  const Matrix<T> X = data<T>(c.n, c.dim);
  const Model<T> start = initialize(X, c.options);
  std::vector<EpochStats> in_place_stats, hidden_stats;
  Trainer<T> in_place(start, c.options);
  in_place.fit(MatrixSource<T>(X),
               [&](const EpochStats& s, const Model<T>&) { in_place_stats.push_back(s); });
  Trainer<T> hidden(start, c.options);
  const HiddenSource<T> source(X);
  hidden.fit(source, [&](const EpochStats& s, const Model<T>&) { hidden_stats.push_back(s); });
  EXPECT_GT(source.gathers, 0);
  expect_same_model(hidden.model(), in_place.model());
  EXPECT_EQ(hidden.losses(), in_place.losses());
  ASSERT_EQ(hidden_stats.size(), in_place_stats.size());
  for (size_t e = 0; e < hidden_stats.size(); ++e) {
    EXPECT_EQ(hidden_stats[e].fvu, in_place_stats[e].fvu);
    EXPECT_EQ(hidden_stats[e].l0, in_place_stats[e].l0);
    EXPECT_EQ(hidden_stats[e].dead_fraction, in_place_stats[e].dead_fraction);
  }
}

TEST_P(SourceTest, GatheredBatchesTrainBitForBitAsInPlace) {
  expect_hidden_equals_in_place<float>(GetParam());
}

TEST_P(SourceTest, GatheredBatchesTrainBitForBitAsInPlaceInDouble) {
  expect_hidden_equals_in_place<double>(GetParam());
}

// One case per engine: the small kernel (full batch and mini-batches), the
// fused pass (per-block shares and streaming passes, with decoder bias), the
// matrix products (BatchTopK, TopK with AuxK), the sparse codes.
INSTANTIATE_TEST_SUITE_P(
    Engines, SourceTest,
    ::testing::Values(
        SourceCase{"small_full", 300, 2, {.n_atoms = 2, .epochs = 4}},
        SourceCase{"small_batches", 300, 2, {.n_atoms = 2, .epochs = 3, .batch_size = 64}},
        SourceCase{"fused_shares",
                   600,
                   12,
                   {.n_atoms = 24,
                    .epochs = 3,
                    .encoder = {.kind = EncoderKind::relu},
                    .batch_size = 128,
                    .l1 = 0.01,
                    .decoder_bias = DecoderBiasInit::mean}},
        // 1,000 atoms x 300: the blocks' shares would exceed 8 MiB, so passes stream.
        SourceCase{"fused_streaming",
                   300,
                   300,
                   {.n_atoms = 1000,
                    .epochs = 1,
                    .encoder = {.kind = EncoderKind::relu},
                    .batch_size = 256}},
        SourceCase{"fused_full_batch",
                   400,
                   10,
                   {.n_atoms = 40, .epochs = 3, .encoder = {.kind = EncoderKind::sparsemax}}},
        SourceCase{"batchtopk_auxk",
                   500,
                   8,
                   {.n_atoms = 16,
                    .epochs = 3,
                    .encoder = {.kind = EncoderKind::batchtopk, .k = 3},
                    .batch_size = 100,
                    .decoder_bias = DecoderBiasInit::zero,
                    .dead_after = 50,
                    .auxk = 0.1}},
        SourceCase{"topk_sparse_auxk",
                   500,
                   8,
                   {.n_atoms = 32,
                    .epochs = 3,
                    .encoder = {.kind = EncoderKind::topk, .k = 2},
                    .batch_size = 100,
                    .ortho = 0.1,
                    .unit_atoms = true,
                    .decoder_bias = DecoderBiasInit::mean,
                    .dead_after = 50,
                    .auxk = 0.05}}),
    [](const ::testing::TestParamInfo<SourceCase>& info) { return info.param.name; });

TEST(MatrixSourceTest, StridedViewTrainsAsItsContiguousCopy) {
  // The first 5 columns of a 9-column matrix: rows 9 values apart.
  const Matrix<float> wide = data<float>(400, 9);
  const MatrixView<float> view = wide.leftCols(5);
  ASSERT_EQ(view.outerStride(), 9);
  const Matrix<float> copy = wide.leftCols(5);
  const FitOptions options{
      .n_atoms = 6, .epochs = 3, .encoder = {.kind = EncoderKind::relu}, .batch_size = 64};
  const Model<float> start = initialize(copy, options);
  const MatrixSource<float> strided(view);
  EXPECT_EQ(strided.contiguous(), nullptr);
  Trainer<float> a(start, options), b(start, options);
  a.fit(strided);
  b.fit(copy);
  expect_same_model(a.model(), b.model());
  EXPECT_EQ(a.losses(), b.losses());
  EXPECT_EQ(initialize(view, options).dictionary, start.dictionary);
  EXPECT_EQ(a.evaluate(view), b.evaluate(copy));
}

TEST(MatrixSourceTest, ReadAndGatherCopyTheRowsAsked) {
  const Matrix<double> X = data<double>(10, 3);
  const MatrixSource<double> source(X);
  EXPECT_EQ(source.rows(), 10);
  EXPECT_EQ(source.dim(), 3);
  EXPECT_EQ(source.contiguous(), X.data());
  const int64_t index[] = {7, 2, 7};
  Matrix<double> out(3, 3);
  source.gather(index, 3, out.data());
  EXPECT_EQ(out.row(0), X.row(7));
  EXPECT_EQ(out.row(1), X.row(2));
  EXPECT_EQ(out.row(2), X.row(7));
  const HiddenSource<double> hidden(X);
  Matrix<double> range(4, 3);
  hidden.read(5, 4, range.data());  // the default read(), through gather()
  EXPECT_EQ(range, X.middleRows(5, 4));
}

TEST(DataHashTest, SameFromAnySourceAndCheckpointsResumeAcrossThem) {
  const Matrix<float> X = data<float>(9000, 4);  // more than one read piece
  const HiddenSource<float> hidden(X);
  EXPECT_EQ(data_hash<float>(hidden), data_hash<float>(MatrixSource<float>(X)));
  Matrix<float> other = X;
  other(8999, 3) += 1;
  EXPECT_NE(data_hash<float>(MatrixSource<float>(other)), data_hash<float>(hidden));

  const FitOptions options{.n_atoms = 3, .epochs = 4, .batch_size = 500};
  const Model<float> start = initialize(X, options);
  Trainer<float> whole(start, options);
  whole.fit(X);
  TempDir dir;
  Trainer<float> part(start, options);
  part.set_epochs(2);
  part.fit(hidden);
  part.save_checkpoint(dir / "ck.safetensors", hidden);
  Trainer<float> resumed(start, options);
  resumed.load_checkpoint(dir / "ck.safetensors", X);
  resumed.set_epochs(2);
  resumed.fit(X);
  expect_same_model(resumed.model(), whole.model());
  EXPECT_EQ(resumed.losses(), whole.losses());
}

TEST(DataSourceTest, NonFiniteValuesAreFoundInAnySource) {
  Matrix<float> X = data<float>(5000, 3);
  X(4500, 1) = std::numeric_limits<float>::quiet_NaN();
  Trainer<float> trainer(initialize(data<float>(10, 3), FitOptions{.n_atoms = 2, .epochs = 1}),
                         FitOptions{.n_atoms = 2, .epochs = 1});
  EXPECT_ERROR_CONTAINS(trainer.fit(HiddenSource<float>(X)), "row 4501, column 2");
  EXPECT_ERROR_CONTAINS(trainer.fit(X), "row 4501, column 2");
}

/// Fails every read after the first `good` ones (a disk that goes away).
class FailingSource final : public DataSource<float> {
 public:
  FailingSource(MatrixView<float> X, int good) : inner_(X), good_(good) {}
  int64_t rows() const override { return inner_.rows(); }
  int64_t dim() const override { return inner_.dim(); }
  void gather(const int64_t* index, int64_t count, float* out) const override {
    if (calls_.fetch_add(1) >= good_) throw std::runtime_error("shard 3: read failed");
    inner_.gather(index, count, out);
  }

 private:
  MatrixSource<float> inner_;
  int good_;
  mutable std::atomic<int> calls_{0};
};

TEST(DataSourceTest, AFailedReadInsideAParallelRegionReachesTheCaller) {
  // 20,000 x 60: the finiteness check reads pieces of 4,096 rows outside any
  // region (read() gathers 256 rows a call: 4 · 16 + 15 = 79 calls); the
  // spread's two-thread region then reads again and its first read fails.
  // The exception crosses the region through ParallelErrors.
  const Matrix<float> X = data<float>(20000, 60);
  const FitOptions options{.n_atoms = 2, .epochs = 1, .threads = 2};
  Trainer<float> trainer(initialize(X, options), options);
  const FailingSource source(X, 79);
  try {
    trainer.fit(source);
    ADD_FAILURE() << "expected the read error";
  } catch (const std::runtime_error& error) {
    EXPECT_STREQ(error.what(), "shard 3: read failed");
  }
}

}  // namespace
}  // namespace dictlearn
