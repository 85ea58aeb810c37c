// The writers take views (MatrixView): data held elsewhere -- a block of a
// larger matrix, a Map over a NumPy-like buffer -- is written as its copy
// would be, byte for byte.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <limits>

#include "dictlearn/io.hpp"
#include "dictlearn/sparse_codes.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

using testing::TempDir;

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

template <typename T>
class IoViewsTest : public ::testing::Test {};
using Scalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(IoViewsTest, Scalars);

// A 5 x 3 block of a 7 x 6 matrix: its rows are 6 values apart (a stride
// other than its width), with exact zeros for the sparse form.
template <typename T>
Matrix<T> larger() {
  Matrix<T> big(7, 6);
  for (int i = 0; i < 7; ++i) {
    for (int j = 0; j < 6; ++j) big(i, j) = (i + j) % 3 == 0 ? T(0) : static_cast<T>(i - 0.25 * j);
  }
  return big;
}

TYPED_TEST(IoViewsTest, StridedBlockIsWrittenAsItsCopy) {
  using T = TypeParam;
  const Matrix<T> big = larger<T>();
  const MatrixView<T> block = big.block(1, 2, 5, 3);
  ASSERT_NE(block.outerStride(), block.cols());
  const Matrix<T> copy = block;
  TempDir dir;
  for (const char* name : {"a.npy", "a.csv"}) {
    write_matrix(dir / (std::string("view_") + name), block);
    write_matrix(dir / (std::string("copy_") + name), copy);
    EXPECT_EQ(bytes_of(dir / (std::string("view_") + name)),
              bytes_of(dir / (std::string("copy_") + name)))
        << name;
  }
  EXPECT_EQ(read_npy<T>(dir / "view_a.npy"), copy);
}

TYPED_TEST(IoViewsTest, MapOverForeignMemoryNeedsNoMatrix) {
  using T = TypeParam;
  // Memory as NumPy would hold it: a plain buffer, rows back to back.
  std::vector<T> buffer = {1, 0, 2, 0, 0, 3};
  const Eigen::Map<const Matrix<T>> map(buffer.data(), 2, 3);
  const SparseCodes<T> codes = to_sparse(MatrixView<T>(map));
  EXPECT_EQ(codes.indptr, (std::vector<int64_t>{0, 2, 3}));
  EXPECT_EQ(codes.indices, (std::vector<int64_t>{0, 2, 2}));
  EXPECT_EQ(codes.values, (std::vector<T>{1, 2, 3}));
  TempDir dir;
  write_npy(dir / "map.npy", MatrixView<T>(map));
  EXPECT_EQ(read_npy<T>(dir / "map.npy"), Matrix<T>(map));
}

TYPED_TEST(IoViewsTest, SparseFormOfABlockEqualsItsCopy) {
  using T = TypeParam;
  const Matrix<T> big = larger<T>();
  const Matrix<T> copy = big.block(2, 1, 4, 4);
  const SparseCodes<T> from_view = to_sparse(MatrixView<T>(big.block(2, 1, 4, 4)));
  const SparseCodes<T> from_copy = to_sparse(copy);
  EXPECT_EQ(from_view.indptr, from_copy.indptr);
  EXPECT_EQ(from_view.indices, from_copy.indices);
  EXPECT_EQ(from_view.values, from_copy.values);
}

TYPED_TEST(IoViewsTest, CheckFiniteNamesThePositionInTheView) {
  using T = TypeParam;
  Matrix<T> big = larger<T>();
  big(3, 4) = std::numeric_limits<T>::quiet_NaN();
  // Row 3, column 4 of `big` is row 2, column 2 of the block from (1, 2).
  EXPECT_ERROR_CONTAINS(check_finite(MatrixView<T>(big.block(1, 2, 5, 3)), "codes"),
                        "codes: row 2, column 2 is");
  EXPECT_NO_THROW(check_finite(MatrixView<T>(big.block(0, 0, 3, 6)), "codes"));
}

}  // namespace
}  // namespace dictlearn
