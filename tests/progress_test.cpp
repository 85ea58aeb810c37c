// Progress and memory on big inputs (issue 13): the epoch loop's per-batch
// progress (called with growing counts, never changing the model), the
// full-batch memory refusal, and the CLI's "reading DATA" line.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cli_util.hpp"
#include "core/memory.hpp"
#include "dictlearn/io.hpp"
#include "dictlearn/learner.hpp"
#include "dictlearn/trainer.hpp"
#include "learners/autoencoder/engine.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

using testing::CliResult;
using testing::normal_matrix;
using testing::run_cli;
using testing::TempDir;

TEST(BatchProgressTest, CalledAfterBatchesWithGrowingCountsAndTheSameModel) {
  const Matrix<float> X = normal_matrix<float>(1000, 6, 7);
  for (EncoderKind kind : {EncoderKind::relu, EncoderKind::topk}) {
    SCOPED_TRACE(encoder_name(kind));
    const FitOptions options{
        .n_atoms = 8, .epochs = 3, .encoder = {.kind = kind, .k = 2}, .batch_size = 64};
    Trainer<float> watched(initialize(X, options), options);
    std::vector<BatchProgress> seen;
    // Interval 0: every batch is reported.
    watched.set_batch_progress([&](const BatchProgress& at) { seen.push_back(at); }, 0.0);
    watched.fit(X);
    Trainer<float> plain(initialize(X, options), options);
    plain.fit(X);
    testing::expect_same_model(watched.model(), plain.model());
    EXPECT_EQ(watched.losses(), plain.losses());

    const int64_t batches = (1000 + 63) / 64;
    ASSERT_EQ(seen.size(), static_cast<size_t>(3 * batches));
    for (size_t i = 0; i < seen.size(); ++i) {
      const BatchProgress& at = seen[i];
      EXPECT_EQ(at.epoch, static_cast<int>(i / batches) + 1);
      EXPECT_EQ(at.batches_done, static_cast<int64_t>(i % batches) + 1);
      EXPECT_EQ(at.batches_total, batches);
      EXPECT_EQ(at.samples_total, 1000);
      EXPECT_EQ(at.samples_done, std::min<int64_t>(1000, at.batches_done * 64));
      EXPECT_EQ(at.run_samples, (at.epoch - 1) * 1000 + at.samples_done);
      if (i > 0) {
        EXPECT_GT(at.run_samples, seen[i - 1].run_samples);
        EXPECT_GE(at.seconds, seen[i - 1].seconds);
      }
    }
  }
}

TEST(BatchProgressTest, AnIntervalLongerThanTheRunReportsNothing) {
  const Matrix<float> X = normal_matrix<float>(200, 4, 3);
  const FitOptions options{.n_atoms = 3, .epochs = 2, .batch_size = 50};
  Trainer<float> trainer(initialize(X, options), options);
  int calls = 0;
  trainer.set_batch_progress([&](const BatchProgress&) { ++calls; }, 3600.0);
  trainer.fit(X);
  EXPECT_EQ(calls, 0);
}

TEST(FullBatchMemoryTest, RefusesAWorkspaceBeyondTheAvailableMemory) {
  const int64_t gib = int64_t{1} << 30;
  EXPECT_ERROR_CONTAINS(detail::check_full_batch_fits(4000000, 6 * gib, 2 * gib),
                        "--batch-size: one batch of all 4000000 samples needs a workspace of "
                        "about 6 GiB, more than the 2 GiB of memory available; train in smaller "
                        "batches, e.g. --batch-size 4096");
  EXPECT_NO_THROW(detail::check_full_batch_fits(4000000, 2 * gib, 2 * gib));
  EXPECT_NO_THROW(detail::check_full_batch_fits(4000000, 6 * gib, -1));  // unknown: no refusal
  EXPECT_GT(detail::available_memory(), 0);                              // Linux: /proc/meminfo
  EXPECT_EQ(detail::format_bytes(512), "512 B");
  EXPECT_EQ(detail::format_bytes(1.5 * 1024 * 1024), "1.5 MiB");
}

// The estimate the check uses is what prepare() allocates for a full batch
// of the matrix-product path, and grows with N.
TEST(FullBatchMemoryTest, TheEstimateIsWhatPrepareAllocates) {
  const Matrix<float> X = normal_matrix<float>(500, 6, 5);
  const FitOptions options{.n_atoms = 8,
                           .encoder = {.kind = EncoderKind::batchtopk, .k = 4},
                           .decoder_bias = DecoderBiasInit::mean,
                           .auxk = 0.1};
  // Members one by one: clang refuses designated initialization here, since
  // the omitted EpochLoop member has an explicit default constructor.
  detail::TrainerState<float> s;
  s.model = initialize(X, options);
  s.options = options;
  detail::Workspace<float> w;
  detail::prepare(s, w, 500, 500);
  const int64_t allocated = (w.z.size() + w.codes.size() + w.code_grad.size() + w.residual.size() +
                             w.centered.size() + w.batch.size()) *
                            static_cast<int64_t>(sizeof(float));
  EXPECT_EQ(allocated, 500 * (3 * 8 + 2 * 6) * 4);
  EXPECT_EQ(detail::workspace_bytes(s, 500, 500), allocated);
  EXPECT_EQ(detail::workspace_bytes(s, 1000000, 1000000), 2000 * allocated);
  // Sparse top-k codes (k <= atoms / 4): k entries a row on top of z, codes, residual.
  s.model.encoder = {.kind = EncoderKind::topk, .k = 2};
  EXPECT_GT(detail::workspace_bytes(s, 500, 500), 500 * (2 * 8 + 2 * 6) * 4);
}

TEST(ReadingLineTest, BigDataFilesAreAnnouncedOnStderrUnlessQuiet) {
  TempDir dir("reading");
  // 65536 x 64 float32: 16 MiB of values, past the CLI's 16 MiB threshold.
  const std::string data = dir / "big.npy", model = dir / "m.safetensors";
  write_npy(data, normal_matrix<float>(65536, 64, 1));
  const DataFileInfo info = data_file_info(data);
  EXPECT_EQ(info.rows, 65536);
  EXPECT_EQ(info.cols, 64);
  EXPECT_EQ(info.bytes, 65536 * 64 * 4 + 128);
  const std::string line = "dictlearn: reading " + data + " (16 MiB, 65536 x 64)\n";

  const CliResult fit =
      run_cli(dir, "fit " + data + " -o " + model + " --epochs 1 --batch-size 8192");
  ASSERT_EQ(fit.code, 0) << fit.err;
  EXPECT_EQ(fit.err, line);  // and no bar: stderr is not a terminal
  EXPECT_EQ(fit.out.rfind("trained 2 softmax atoms on 65536 x 64", 0), 0u) << fit.out;
  const CliResult quiet =
      run_cli(dir, "fit " + data + " -o " + model + " --epochs 1 --batch-size 8192 -q");
  ASSERT_EQ(quiet.code, 0) << quiet.err;
  EXPECT_EQ(quiet.err, "");
  const CliResult eval = run_cli(dir, "eval " + model + " " + data);
  ASSERT_EQ(eval.code, 0) << eval.err;
  EXPECT_EQ(eval.err, line);
  EXPECT_EQ(eval.out.rfind("samples          65536\n", 0), 0u) << eval.out;
  const CliResult encode = run_cli(dir, "encode " + model + " " + data + " -o " + (dir / "c.npy"));
  ASSERT_EQ(encode.code, 0) << encode.err;
  EXPECT_EQ(encode.err, line);

  // A file the header does not describe: the size only, then the reader's error.
  const std::string csv = dir / "small.csv";
  write_matrix(csv, normal_matrix<float>(10, 64, 2));
  EXPECT_EQ(data_file_info(csv).rows, -1);
  EXPECT_EQ(run_cli(dir, "eval " + model + " " + csv).err.find("reading"), std::string::npos);
}

}  // namespace
}  // namespace dictlearn
