// encode, reconstruct and eval in blocks of rows (src/workflows/apply.cpp):
// any block size gives the files and metrics of one block, the streaming .npz
// is byte for byte write_sparse_codes' file, and an error midway leaves nothing.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "cli_util.hpp"
#include "dictlearn/io.hpp"
#include "dictlearn/metrics.hpp"
#include "dictlearn/model.hpp"
#include "dictlearn/sparse_codes.hpp"
#include "io/row_writer.hpp"
#include "io/zip.hpp"
#include "test_util.hpp"
#include "workflows/apply.hpp"

namespace dictlearn {
namespace {

using testing::TempDir;

/// N x dim standard normal data, seeded.
template <typename T>
Matrix<T> normal_data(int64_t rows, int dim, uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::normal_distribution<double> normal;
  Matrix<T> X(rows, dim);
  for (Eigen::Index i = 0; i < X.size(); ++i) X.data()[i] = static_cast<T>(normal(engine));
  return X;
}

/// A random top-k model with a decoder bias (so every term of the passes runs).
template <typename T>
Model<T> topk_model(int n_atoms, int dim, int k) {
  Model<T> model = init_model<T>(n_atoms, dim, 7);
  model.encoder.kind = EncoderKind::topk;
  model.encoder.k = k;
  model.decoder_bias = normal_data<T>(1, dim, 11).row(0).transpose() / T(4);
  // Atom 1's weights all 1: a row of values near the dtype's largest overflows its pre-activation.
  model.encoder_weight.row(0).setOnes();
  return model;
}

template <typename T>
class StreamingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // 1000 rows: blocks of 256 leave a partial last block.
    X_ = normal_data<T>(1000, 6, 3);
    write_matrix(data_, X_);
    save_model(model_, topk_model<T>(16, 6, 3));
  }
  TempDir dir_;
  std::string data_ = dir_ / "data.npy";
  std::string model_ = dir_ / "m.safetensors";
  Matrix<T> X_;
};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(StreamingTest, Types);

TYPED_TEST(StreamingTest, EveryBlockSizeWritesTheFilesOfOneBlock) {
  // Data of 1000 rows fits the default block, so block 0 is the whole-matrix pass.
  ASSERT_GE(detail::apply_block_rows(16, 6, sizeof(TypeParam)), 1000);
  for (const char* extension : {".npy", ".csv", ".npz"}) {
    const std::string whole = this->dir_ / (std::string("whole") + extension);
    detail::run_encode(this->model_, this->data_, whole, 0);
    const std::string whole_recon = this->dir_ / (std::string("whole_recon") + extension);
    if (std::string(extension) != ".npz") {
      detail::run_reconstruct(this->model_, this->data_, whole_recon, 0);
    }
    for (const int64_t block : {256, 512, 768}) {
      const std::string blocks = this->dir_ / fmt::format("blocks{}{}", block, extension);
      detail::run_encode(this->model_, this->data_, blocks, block);
      EXPECT_EQ(testing::file_bytes(blocks), testing::file_bytes(whole)) << blocks;
      if (std::string(extension) != ".npz") {
        const std::string recon = this->dir_ / fmt::format("recon{}{}", block, extension);
        detail::run_reconstruct(this->model_, this->data_, recon, block);
        EXPECT_EQ(testing::file_bytes(recon), testing::file_bytes(whole_recon)) << recon;
      }
    }
  }
  // And the files are the whole-matrix functions' files.
  const Model<TypeParam> model = load_model<TypeParam>(this->model_);
  const Matrix<TypeParam> codes = encode(model, this->X_);
  write_sparse_codes(this->dir_ / "direct.npz", to_sparse(codes));
  EXPECT_EQ(testing::file_bytes(this->dir_ / "blocks256.npz"),
            testing::file_bytes(this->dir_ / "direct.npz"));
  write_matrix(this->dir_ / "direct.npy", codes);
  EXPECT_EQ(testing::file_bytes(this->dir_ / "blocks256.npy"),
            testing::file_bytes(this->dir_ / "direct.npy"));
  write_matrix(this->dir_ / "direct_recon.npy", reconstruct(model, this->X_));
  EXPECT_EQ(testing::file_bytes(this->dir_ / "recon256.npy"),
            testing::file_bytes(this->dir_ / "direct_recon.npy"));
  const SparseCodes<TypeParam> back = read_sparse_codes<TypeParam>(this->dir_ / "blocks256.npz");
  EXPECT_TRUE(to_dense(back) == codes);
}

TYPED_TEST(StreamingTest, EveryBlockSizeGivesTheMetricsOfEvaluate) {
  const Metrics whole = evaluate(load_model<TypeParam>(this->model_), this->X_);
  for (const int64_t block : {0, 256, 512}) {
    const Metrics blocks = detail::run_eval(this->model_, this->data_, block).metrics;
    // Bit for bit: every sum runs over the rows in order whatever the blocks.
    EXPECT_EQ(blocks.mse, whole.mse) << block;
    EXPECT_EQ(blocks.fvu, whole.fvu) << block;
    EXPECT_EQ(blocks.l0, whole.l0) << block;
    EXPECT_EQ(blocks.dead_fraction, whole.dead_fraction) << block;
    EXPECT_EQ(blocks.usage, whole.usage) << block;
    EXPECT_EQ(blocks.codes.fraction_below, whole.codes.fraction_below) << block;
    EXPECT_EQ(blocks.codes.fraction_zero, whole.codes.fraction_zero) << block;
    EXPECT_EQ(blocks.codes.mean_max, whole.codes.mean_max) << block;
  }
  EXPECT_GT(whole.fvu, 0);
  EXPECT_EQ(whole.l0, 3);
}

TYPED_TEST(StreamingTest, CodesThatOverflowPastTheFirstBlockLeaveNoFile) {
  // Row 701 (1-based) of values near the dtype's largest: its pre-activations overflow.
  Matrix<TypeParam> X = this->X_;
  X.row(700).setConstant(std::numeric_limits<TypeParam>::max() / 2);
  write_matrix(this->data_, X);
  const std::string needle = "the codes of " + this->data_ + " are not finite (row 701, atom ";
  for (const char* name : {"codes.npz", "codes.npy", "codes.csv"}) {
    EXPECT_ERROR_CONTAINS(detail::run_encode(this->model_, this->data_, this->dir_ / name, 256),
                          needle);
  }
  EXPECT_ERROR_CONTAINS(
      detail::run_reconstruct(this->model_, this->data_, this->dir_ / "recon.npy", 256), needle);
  EXPECT_ERROR_CONTAINS(detail::run_eval(this->model_, this->data_, 256), needle);
  EXPECT_ERROR_CONTAINS(detail::run_eval(this->model_, this->data_, 256),
                        "its pre-activations b + (x - b_dec) W^T overflow");
  // Nothing but the inputs: no output, no temporary.
  EXPECT_EQ(this->dir_.listing(), (std::vector<std::string>{"data.npy", "m.safetensors"}));
}

TEST(StreamingCli, CodesThatOverflowPastTheFirstBlockExitOneAndLeaveNoFile) {
  // 16384 atoms of dimension 2: rows of over 256 KiB of workspace, so the
  // CLI's own blocks are 256 rows and row 501 lies in the second.
  ASSERT_EQ(detail::apply_block_rows(16384, 2, sizeof(float)), 256);
  TempDir dir, out;
  Matrix<float> X = normal_data<float>(600, 2, 9);
  X.row(500).setConstant(3e38f);
  write_matrix(dir / "data.npy", X);
  save_model(dir / "m.safetensors", topk_model<float>(16384, 2, 4));
  for (const std::string command : {"encode", "reconstruct", "eval"}) {
    const std::string output = command == "eval" ? "" : dir / "out.npy";
    const auto result =
        testing::run_cli(out, command + " " + dir / "m.safetensors" + " " + dir / "data.npy" +
                                  (output.empty() ? "" : " -o " + output));
    testing::expect_cli_error(result, {"are not finite (row 501, atom ", "overflow float32"},
                              output);
  }
  EXPECT_EQ(dir.listing(), (std::vector<std::string>{"data.npy", "m.safetensors"}));
}

TEST(StreamingZip, CrcCombineIsTheCrcOfTheConcatenation) {
  std::mt19937_64 engine(5);
  std::string bytes(100000, '\0');
  for (char& c : bytes) c = static_cast<char>(engine());
  for (const size_t split : {size_t{0}, size_t{1}, size_t{128}, size_t{99999}, bytes.size()}) {
    detail::Crc32 whole, a, b;
    whole.update(bytes.data(), bytes.size());
    a.update(bytes.data(), split);
    b.update(bytes.data() + split, bytes.size() - split);
    EXPECT_EQ(detail::Crc32::combine(a.value(), b.value(), bytes.size() - split), whole.value())
        << split;
  }
}

TEST(StreamingZip, SparseWriterMatchesWriteSparseCodesForAnyBlocks) {
  // Rows with no entry, a full row and NaN-free extremes, in blocks of 1, 3 and all.
  Matrix<float> dense = Matrix<float>::Zero(10, 4);
  dense.row(1) << 1, -2, 3e-40f, 4;
  dense(4, 2) = -0.5f;
  dense(9, 0) = 3e38f;
  TempDir dir;
  write_sparse_codes(dir / "direct.npz", to_sparse(dense));
  for (const int64_t block : {1, 3, 10}) {
    const std::string path = dir / fmt::format("blocks{}.npz", block);
    detail::RowWriter<float> writer(path, detail::RowFormat::sparse, dense.rows(), dense.cols());
    for (int64_t begin = 0; begin < dense.rows(); begin += block) {
      writer.append(dense.middleRows(begin, std::min<int64_t>(block, dense.rows() - begin)));
    }
    writer.commit();
    EXPECT_EQ(testing::file_bytes(path), testing::file_bytes(dir / "direct.npz")) << block;
  }
  // A writer ended before commit() leaves nothing.
  {
    detail::RowWriter<float> writer(dir / "left.npz", detail::RowFormat::sparse, 10, 4);
    writer.append(dense.topRows(5));
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "left.npz"));
  EXPECT_EQ(dir.listing().size(), 4u);
}

}  // namespace
}  // namespace dictlearn
