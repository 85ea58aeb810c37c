// Tests of the CSR sparse codes and their .npz format.
//
// Malformed archives are built byte by byte here, with a zip writer and a
// bit-at-a-time CRC-32 of the test's own, so the library's table-driven CRC and
// zip reader are checked against an independent implementation. When
// /usr/bin/python3 has numpy, one test also has numpy read a written archive
// and write one back with np.savez.
#include "dictlearn/sparse_codes.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "dictlearn/error.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

using testing::TempDir;

/// Expects `statement` to throw Error whose message starts with "<path>: " and contains `needle`.
#define EXPECT_FILE_ERROR(statement, path, needle)                                             \
  do {                                                                                         \
    try {                                                                                      \
      statement;                                                                               \
      ADD_FAILURE() << "expected dictlearn::Error containing '" << (needle) << "'";            \
    } catch (const ::dictlearn::Error& error__) {                                              \
      const std::string message__ = error__.what();                                            \
      EXPECT_EQ(message__.rfind(std::string(path) + ": ", 0), 0u) << "message: " << message__; \
      EXPECT_NE(message__.find(needle), std::string::npos) << "message: " << message__;        \
      EXPECT_EQ(message__.find('\n'), std::string::npos) << "message: " << message__;          \
    }                                                                                          \
  } while (0)

// ---------------------------------------------------------------------------
// An independent little zip/.npy writer for crafted archives.

uint32_t bitwise_crc32(const std::string& bytes) {
  uint32_t crc = 0xFFFFFFFFu;
  for (const unsigned char byte : bytes) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void put16(std::string& out, uint64_t value) {
  out += static_cast<char>(value & 0xFF);
  out += static_cast<char>((value >> 8) & 0xFF);
}
void put32(std::string& out, uint64_t value) {
  put16(out, value & 0xFFFF);
  put16(out, (value >> 16) & 0xFFFF);
}
void put64(std::string& out, uint64_t value) {
  put32(out, value & 0xFFFFFFFF);
  put32(out, value >> 32);
}

template <typename V>
std::string raw_bytes(const std::vector<V>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(V));
}

/// A .npy (format 1.0) with the given descr and shape text, e.g. "(3,)".
std::string npy(const std::string& descr, const std::string& shape, const std::string& data) {
  std::string header =
      fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descr, shape);
  header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY\x01";
  out += '\0';
  put16(out, header.size());
  return out + header + data;
}

template <typename V>
std::string npy(const std::string& descr, const std::vector<V>& values) {
  return npy(descr, fmt::format("({},)", values.size()), raw_bytes(values));
}

struct ZipMember {
  std::string name;
  std::string bytes;
  uint16_t method = 0;
};

/// A zip of STORED members. `numpy_style` adds the zip64 extra field numpy's
/// np.savez puts in every local header (force_zip64=True).
std::string make_zip(const std::vector<ZipMember>& members, bool numpy_style = false) {
  std::string out;
  std::string directory;
  for (const ZipMember& member : members) {
    const uint64_t offset = out.size();
    const uint32_t crc = bitwise_crc32(member.bytes);
    std::string extra;
    if (numpy_style) {
      put16(extra, 1);
      put16(extra, 16);
      put64(extra, member.bytes.size());
      put64(extra, member.bytes.size());
    }
    put32(out, 0x04034b50);
    put16(out, 20);
    put16(out, 0);
    put16(out, member.method);
    put16(out, 0x6d0d);  // some time
    put16(out, 0x5a21);  // some date
    put32(out, crc);
    put32(out, member.bytes.size());
    put32(out, member.bytes.size());
    put16(out, member.name.size());
    put16(out, extra.size());
    out += member.name + extra + member.bytes;

    put32(directory, 0x02014b50);
    put16(directory, 0x0314);  // made by Unix, as Python's zipfile
    put16(directory, 20);
    put16(directory, 0);
    put16(directory, member.method);
    put16(directory, 0x6d0d);
    put16(directory, 0x5a21);
    put32(directory, crc);
    put32(directory, member.bytes.size());
    put32(directory, member.bytes.size());
    put16(directory, member.name.size());
    put16(directory, 0);
    put16(directory, 0);
    put16(directory, 0);
    put16(directory, 0);
    put32(directory, 0644u << 16);
    put32(directory, offset);
    directory += member.name;
  }
  const uint64_t directory_offset = out.size();
  out += directory;
  put32(out, 0x06054b50);
  put16(out, 0);
  put16(out, 0);
  put16(out, members.size());
  put16(out, members.size());
  put32(out, directory.size());
  put32(out, directory_offset);
  put16(out, 0);
  return out;
}

/// The four members of a valid 2 x 4 archive:
///   [[0, 1.5, 0, -2], [0, 0, 0, 0]] stored as float64.
struct Members {
  std::vector<int64_t> indptr = {0, 2, 2};
  std::vector<int64_t> indices = {1, 3};
  std::vector<double> values = {1.5, -2.0};
  std::vector<int64_t> shape = {2, 4};

  std::vector<ZipMember> zip() const {
    return {{"indptr.npy", npy("<i8", indptr)},
            {"indices.npy", npy("<i8", indices)},
            {"values.npy", npy("<f8", values)},
            {"shape.npy", npy("<i8", shape)}};
  }
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// ---------------------------------------------------------------------------
// Typed tests over float and double.

template <typename T>
class SparseCodesTest : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(SparseCodesTest, Types);

/// A rows x cols matrix with about `density` of its entries non-zero.
template <typename T>
Matrix<T> random_sparse(int64_t rows, int64_t cols, double density, unsigned seed) {
  std::mt19937 generator(seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::normal_distribution<double> normal(0.0, 1.0);
  Matrix<T> dense(rows, cols);
  for (int64_t i = 0; i < dense.size(); ++i) {
    dense.data()[i] = uniform(generator) < density ? static_cast<T>(normal(generator)) : T(0);
  }
  return dense;
}

template <typename T>
void expect_valid_csr(const SparseCodes<T>& codes) {
  EXPECT_NO_THROW(check_sparse_codes(codes, "codes"));
}

TYPED_TEST(SparseCodesTest, RoundTripThroughFile) {
  using T = TypeParam;
  TempDir dir;
  const Matrix<T> dense = random_sparse<T>(37, 11, 0.2, 7);
  const SparseCodes<T> codes = to_sparse(dense);
  expect_valid_csr(codes);
  EXPECT_EQ(codes.rows, 37);
  EXPECT_EQ(codes.cols, 11);
  EXPECT_EQ(codes.nnz(), (dense.array() != T(0)).count());

  const std::string path = dir / "codes.npz";
  write_sparse_codes(path, codes);
  const SparseCodes<T> back = read_sparse_codes<T>(path);
  EXPECT_EQ(back.rows, codes.rows);
  EXPECT_EQ(back.cols, codes.cols);
  EXPECT_EQ(back.indptr, codes.indptr);
  EXPECT_EQ(back.indices, codes.indices);
  EXPECT_EQ(back.values, codes.values);
  EXPECT_TRUE(to_dense(back) == dense);
  // Nothing but the archive is left in the folder (no temporary files).
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

TYPED_TEST(SparseCodesTest, ExactZerosAreDroppedEverythingElseKept) {
  using T = TypeParam;
  const T tiny = std::numeric_limits<T>::denorm_min();
  const T nan = std::numeric_limits<T>::quiet_NaN();
  Matrix<T> dense(2, 6);
  dense << T(0), tiny, -T(0), T(-3.25), std::numeric_limits<T>::min(), T(0),  //
      -tiny, T(0), nan, std::numeric_limits<T>::max(), T(0), T(-1e-30);
  const SparseCodes<T> codes = to_sparse(dense);
  expect_valid_csr(codes);
  EXPECT_EQ(codes.indptr, (std::vector<int64_t>{0, 3, 7}));
  EXPECT_EQ(codes.indices, (std::vector<int64_t>{1, 3, 4, 0, 2, 3, 5}));
  ASSERT_EQ(codes.values.size(), 7u);
  EXPECT_EQ(codes.values[0], tiny);
  EXPECT_EQ(codes.values[1], T(-3.25));
  EXPECT_EQ(codes.values[2], std::numeric_limits<T>::min());
  EXPECT_EQ(codes.values[3], -tiny);
  EXPECT_TRUE(std::isnan(codes.values[4]));
  EXPECT_EQ(codes.values[5], std::numeric_limits<T>::max());
  EXPECT_EQ(codes.values[6], T(-1e-30));

  TempDir dir;
  write_sparse_codes(dir / "codes.npz", codes);
  const SparseCodes<T> back = read_sparse_codes<T>(dir / "codes.npz");
  EXPECT_EQ(back.indices, codes.indices);
  EXPECT_EQ(std::memcmp(back.values.data(), codes.values.data(), 7 * sizeof(T)), 0);
  Matrix<T> rebuilt = to_dense(back);
  EXPECT_TRUE(std::isnan(rebuilt(1, 2)));
  rebuilt(1, 2) = dense(1, 2) = T(1);
  EXPECT_TRUE(rebuilt == dense);
}

TYPED_TEST(SparseCodesTest, EmptyRows) {
  using T = TypeParam;
  Matrix<T> dense = Matrix<T>::Zero(6, 3);
  dense(1, 2) = T(4);
  dense(3, 0) = T(-1);
  dense(3, 1) = T(2);
  const SparseCodes<T> codes = to_sparse(dense);
  EXPECT_EQ(codes.indptr, (std::vector<int64_t>{0, 0, 1, 1, 3, 3, 3}));
  EXPECT_EQ(codes.indices, (std::vector<int64_t>{2, 0, 1}));
  TempDir dir;
  write_sparse_codes(dir / "codes.npz", codes);
  const SparseCodes<T> back = read_sparse_codes<T>(dir / "codes.npz");
  EXPECT_EQ(back.indptr, codes.indptr);
  EXPECT_TRUE(to_dense(back) == dense);
}

TYPED_TEST(SparseCodesTest, AllZeroAndEmptyMatrices) {
  using T = TypeParam;
  TempDir dir;
  for (const auto& [rows, cols] : {std::pair<int64_t, int64_t>{5, 4}, {0, 0}, {0, 7}, {3, 0}}) {
    SCOPED_TRACE(fmt::format("{} x {}", rows, cols));
    const Matrix<T> dense = Matrix<T>::Zero(rows, cols);
    const SparseCodes<T> codes = to_sparse(dense);
    EXPECT_EQ(codes.nnz(), 0);
    EXPECT_EQ(codes.indptr, std::vector<int64_t>(static_cast<size_t>(rows) + 1, 0));
    write_sparse_codes(dir / "codes.npz", codes);
    const SparseCodes<T> back = read_sparse_codes<T>(dir / "codes.npz");
    EXPECT_EQ(back.rows, rows);
    EXPECT_EQ(back.cols, cols);
    EXPECT_EQ(back.nnz(), 0);
    const Matrix<T> rebuilt = to_dense(back);
    EXPECT_EQ(rebuilt.rows(), rows);
    EXPECT_EQ(rebuilt.cols(), cols);
    EXPECT_TRUE(rebuilt == dense);
  }
}

TYPED_TEST(SparseCodesTest, OutputIsDeterministic) {
  using T = TypeParam;
  TempDir dir;
  const SparseCodes<T> codes = to_sparse(random_sparse<T>(20, 9, 0.3, 3));
  write_sparse_codes(dir / "a.npz", codes);
  write_sparse_codes(dir / "b.npz", codes);
  EXPECT_EQ(read_bytes(dir / "a.npz"), read_bytes(dir / "b.npz"));
  // Overwriting an existing archive replaces it.
  write_sparse_codes(dir / "a.npz", to_sparse(Matrix<T>::Zero(1, 1).eval()));
  EXPECT_EQ(read_sparse_codes<T>(dir / "a.npz").rows, 1);
}

TYPED_TEST(SparseCodesTest, ReadsNumpyStyleArchivesWithOtherDtypes) {
  using T = TypeParam;
  TempDir dir;
  // np.savez's layout: zip64 extras in the local headers, Unix attributes, any
  // member order, extra members; int32 indices and indptr, float32 values.
  const std::string path = dir / "numpy.npz";
  write_bytes(path, make_zip({{"shape.npy", npy("<i4", std::vector<int32_t>{3, 5})},
                              {"format.npy", npy("<U3", "()", std::string(12, 'x'))},
                              {"values.npy", npy("<f4", std::vector<float>{0.25f, -7.0f, 1e-40f})},
                              {"indices.npy", npy("<i4", std::vector<int32_t>{0, 4, 2})},
                              {"indptr.npy", npy("<i4", std::vector<int32_t>{0, 2, 2, 3})}},
                             true));
  const SparseCodes<T> codes = read_sparse_codes<T>(path);
  EXPECT_EQ(codes.rows, 3);
  EXPECT_EQ(codes.cols, 5);
  EXPECT_EQ(codes.indptr, (std::vector<int64_t>{0, 2, 2, 3}));
  EXPECT_EQ(codes.indices, (std::vector<int64_t>{0, 4, 2}));
  EXPECT_EQ(codes.values, (std::vector<T>{T(0.25f), T(-7.0f), T(1e-40f)}));

  // float64 values read as T; a float32 reader rejects what float32 cannot hold.
  Members members;
  members.values = {1.5, 1e300};
  write_bytes(path, make_zip(members.zip()));
  if constexpr (std::is_same_v<T, float>) {
    EXPECT_FILE_ERROR(read_sparse_codes<T>(path), path,
                      "entry 'values.npy': value 1 (1e+300) is out of range for float32");
  } else {
    EXPECT_EQ(read_sparse_codes<T>(path).values, members.values);
  }
}

TYPED_TEST(SparseCodesTest, NumpyReadsTheArchiveAndWritesOneBack) {
  using T = TypeParam;
  if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
    DICTLEARN_SKIP("/usr/bin/python3 with numpy is not available");
  }
  TempDir dir;
  Matrix<T> dense = random_sparse<T>(13, 6, 0.3, 11);
  dense.row(4).setZero();
  dense(0, 0) = std::numeric_limits<T>::denorm_min();
  dense(0, 5) = T(-0.0);
  write_sparse_codes(dir / "codes.npz", to_sparse(dense));
  write_bytes(dir / "dense.bin",
              std::string(reinterpret_cast<const char*>(dense.data()), dense.size() * sizeof(T)));

  // The rebuild is the numpy-only snippet of docs/SPARSE_CODES.md.
  const std::string script = R"(import sys, zipfile
import numpy as np
folder, dtype = sys.argv[1], np.dtype(sys.argv[2])
path = folder + "/codes.npz"
with zipfile.ZipFile(path) as archive:
    assert archive.testzip() is None, "CRC"
    infos = archive.infolist()
    assert [i.filename for i in infos] == ["indptr.npy", "indices.npy", "values.npy", "shape.npy"]
    assert all(i.compress_type == zipfile.ZIP_STORED for i in infos)
z = np.load(path)
assert sorted(z.files) == ["indices", "indptr", "shape", "values"], z.files
assert z["indptr"].dtype == np.int64 and z["indices"].dtype == np.int64
assert z["shape"].dtype == np.int64 and z["values"].dtype == dtype, z["values"].dtype
assert z["indptr"].ndim == z["indices"].ndim == z["values"].ndim == z["shape"].ndim == 1
rows, cols = z["shape"]
dense = np.zeros((rows, cols), dtype=z["values"].dtype)
dense[np.repeat(np.arange(rows), np.diff(z["indptr"])), z["indices"]] = z["values"]
expected = np.fromfile(folder + "/dense.bin", dtype=dtype).reshape(rows, cols)
assert np.array_equal(dense, expected)
assert len(z["values"]) == np.count_nonzero(expected)
np.savez(folder + "/back.npz", indptr=z["indptr"].astype(np.int32),
         indices=z["indices"].astype(np.int32), values=z["values"].astype(np.float64),
         shape=z["shape"])
)";
  write_bytes(dir / "check.py", script);
  const std::string command = fmt::format(
      "/usr/bin/python3 '{}' '{}' {} > '{}' 2>&1", dir / "check.py", dir.path().string(),
      std::is_same_v<T, float> ? "float32" : "float64", dir / "python.log");
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_bytes(dir / "python.log");

  const SparseCodes<T> back = read_sparse_codes<T>(dir / "back.npz");
  EXPECT_TRUE(to_dense(back) == dense);
}

// ---------------------------------------------------------------------------
// Invalid codes in memory.

TEST(SparseCodes, CheckNamesTheProblem) {
  SparseCodes<float> codes{
      .rows = 2, .cols = 3, .indptr = {0, 1, 2}, .indices = {0, 2}, .values = {1.0f, 2.0f}};
  EXPECT_NO_THROW(check_sparse_codes(codes, "c"));
  auto broken = codes;
  broken.indptr = {0, 1};
  EXPECT_ERROR_CONTAINS(check_sparse_codes(broken, "c"), "c: indptr has 2 entries; 2 rows need");
  broken = codes;
  broken.indptr = {1, 1, 2};
  EXPECT_ERROR_CONTAINS(check_sparse_codes(broken, "c"), "c: indptr[0] is 1, expected 0");
  broken = codes;
  broken.indptr = {0, 2, 1};
  EXPECT_ERROR_CONTAINS(check_sparse_codes(broken, "c"),
                        "indptr is not monotone: indptr[2] = 1 is less than indptr[1] = 2");
  broken = codes;
  broken.indptr = {0, 1, 1};
  EXPECT_ERROR_CONTAINS(check_sparse_codes(broken, "c"), "indptr[2] is 1 but there are 2");
  broken = codes;
  broken.indptr = {0, 1, 3};
  EXPECT_ERROR_CONTAINS(check_sparse_codes(broken, "c"), "indptr[2] = 3 is past the 2 stored");
  broken = codes;
  broken.indices = {0, 3};
  EXPECT_ERROR_CONTAINS(check_sparse_codes(broken, "c"),
                        "row 1: column index 3 (entry 1) is out of range [0, 3)");
  broken = codes;
  broken.indices = {-1, 2};
  EXPECT_ERROR_CONTAINS(check_sparse_codes(broken, "c"), "column index -1");
  broken = codes;
  broken.indptr = {0, 2, 2};
  broken.indices = {2, 2};
  EXPECT_ERROR_CONTAINS(check_sparse_codes(broken, "c"),
                        "row 0: column indices are not strictly ascending (2 after 2");
  broken = codes;
  broken.values.pop_back();
  EXPECT_ERROR_CONTAINS(check_sparse_codes(broken, "c"), "indices has 2 entries but values has 1");
  broken = codes;
  broken.rows = -1;
  EXPECT_ERROR_CONTAINS(check_sparse_codes(broken, "c"), "negative shape (-1, 3)");
  EXPECT_ERROR_CONTAINS(to_dense(broken), "sparse codes: negative shape");
}

TEST(SparseCodes, WriteRejectsInvalidCodesAndLeavesNoFile) {
  TempDir dir;
  SparseCodes<double> codes{
      .rows = 1, .cols = 2, .indptr = {0, 1}, .indices = {5}, .values = {1.0}};
  const std::string path = dir / "codes.npz";
  EXPECT_FILE_ERROR(write_sparse_codes(path, codes), path, "out of range [0, 2)");
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
  codes.indices = {1};
  const std::string missing = dir / "no_such_folder/codes.npz";
  EXPECT_FILE_ERROR(write_sparse_codes(missing, codes), missing, "cannot create file");
}

// ---------------------------------------------------------------------------
// Bad files.

class BadArchive : public ::testing::Test {
 protected:
  /// Writes `bytes` and expects reading it to fail naming the file and `needle`.
  void expect_error(const std::string& bytes, const std::string& needle) {
    write_bytes(path, bytes);
    EXPECT_FILE_ERROR(read_sparse_codes<float>(path), path, needle);
    EXPECT_FILE_ERROR(read_sparse_codes<double>(path), path, needle);
  }
  TempDir dir;
  const std::string path = dir / "bad.npz";
  Members members;
};

TEST_F(BadArchive, ValidBaselineReads) {
  write_bytes(path, make_zip(members.zip()));
  const auto codes = read_sparse_codes<double>(path);
  EXPECT_EQ(codes.indices, members.indices);
  EXPECT_EQ(codes.values, members.values);
}

TEST_F(BadArchive, MissingFile) {
  EXPECT_FILE_ERROR(read_sparse_codes<float>(dir / "nothing.npz"), dir / "nothing.npz",
                    "cannot open: No such file");
  EXPECT_FILE_ERROR(read_sparse_codes<float>(dir.path().string()), dir.path().string(),
                    "cannot open: Is a directory");
}

TEST_F(BadArchive, NotAZip) {
  expect_error("", "not a zip archive (.npz)");
  expect_error("rows,cols\n1,2\n", "not a zip archive (.npz)");
  expect_error(npy("<f4", std::vector<float>{1, 2}),
               "not a zip archive (.npz): this is a single .npy");
}

TEST_F(BadArchive, Truncated) {
  const std::string whole = make_zip(members.zip());
  for (const size_t keep : {size_t{4}, size_t{100}, whole.size() / 2, whole.size() - 1}) {
    SCOPED_TRACE(keep);
    expect_error(whole.substr(0, keep), "truncated: the zip archive has no end of central");
  }
}

TEST_F(BadArchive, CorruptDirectory) {
  std::string bytes = make_zip(members.zip());
  // Point the end record's directory offset past the end record.
  std::string moved = bytes;
  moved[moved.size() - 3] = '\x7F';
  expect_error(moved, "corrupt zip archive: the central directory");
  // Break the first central header's signature.
  const size_t directory = bytes.find("PK\x01\x02");
  ASSERT_NE(directory, std::string::npos);
  std::string broken = bytes;
  broken[directory + 2] = 'X';
  expect_error(broken, "central directory entry 0 of 4 is malformed");
  // Make the first local header's offset point into the middle of the data.
  broken = bytes;
  broken[directory + 42] = 5;
  expect_error(broken, "no local header for entry 'indptr.npy' at offset 5");
}

TEST_F(BadArchive, MissingEntry) {
  auto zip = members.zip();
  zip.erase(zip.begin() + 2);
  expect_error(make_zip(zip), "missing entry 'values.npy' (sparse codes archives hold");
  // The name must be the .npy member numpy's np.load maps to the key.
  zip = members.zip();
  zip[0].name = "indptr";
  expect_error(make_zip(zip), "missing entry 'indptr.npy'");
}

TEST_F(BadArchive, DuplicateEntry) {
  auto zip = members.zip();
  zip.push_back(zip[1]);
  expect_error(make_zip(zip), "holds entry 'indices.npy' twice");
}

TEST_F(BadArchive, CompressedEntry) {
  auto zip = members.zip();
  zip[2].method = 8;
  expect_error(make_zip(zip),
               "entry 'values.npy' is compressed (zip method 8); dictlearn reads uncompressed "
               ".npz archives (np.savez, not np.savez_compressed)");
}

TEST_F(BadArchive, CrcMismatch) {
  write_sparse_codes(path, to_sparse(Matrix<double>::Identity(3, 3).eval()));
  std::string bytes = read_bytes(path);
  // The last data byte of values.npy: the sign byte of its last 1.0.
  const size_t shape = bytes.find("shape.npy");
  ASSERT_NE(shape, std::string::npos);
  bytes[shape - 30 - 1] ^= static_cast<char>(0x80);
  expect_error(bytes, "entry 'values.npy': CRC-32 mismatch");
}

TEST_F(BadArchive, WrongDtype) {
  auto zip = members.zip();
  zip[0].bytes = npy("<f8", std::vector<double>{0, 2, 2});
  expect_error(make_zip(zip),
               "entry 'indptr.npy': unsupported dtype '<f8'; expected int64 '<i8' or int32 '<i4'");
  zip = members.zip();
  zip[2].bytes = npy("<i8", std::vector<int64_t>{1, 2});
  expect_error(make_zip(zip), "entry 'values.npy': unsupported dtype '<i8'; expected float32");
  zip = members.zip();
  zip[1].bytes = npy(">i8", std::vector<int64_t>{1, 3});
  expect_error(make_zip(zip), "entry 'indices.npy': unsupported dtype '>i8'");
  zip = members.zip();
  zip[3].bytes = npy("<u8", std::vector<uint64_t>{2, 4});
  expect_error(make_zip(zip), "entry 'shape.npy': unsupported dtype '<u8'");
}

TEST_F(BadArchive, BadArrayShapes) {
  auto zip = members.zip();
  zip[1].bytes = npy("<i8", "(1, 2)", raw_bytes(members.indices));
  expect_error(make_zip(zip), "entry 'indices.npy': the array is not 1-D (its shape is 2-D)");
  zip = members.zip();
  zip[1].bytes = npy("<i8", "(3,)", raw_bytes(members.indices));
  expect_error(make_zip(zip),
               "entry 'indices.npy': the header announces 3 items of 8 bytes but the entry holds "
               "16 data bytes");
  zip = members.zip();
  zip[1].bytes = npy("<i8", "(2305843009213693953,)", raw_bytes(members.indices));
  expect_error(make_zip(zip), "announces 2305843009213693953 items");
  zip = members.zip();
  zip[3].bytes = npy("<i8", std::vector<int64_t>{2, 4, 1});
  expect_error(make_zip(zip), "entry 'shape.npy': holds 3 numbers; expected 2 (rows, cols)");
  zip = members.zip();
  zip[3].bytes = npy("<i8", std::vector<int64_t>{-1, 4});
  expect_error(make_zip(zip), "entry 'shape.npy': negative shape (-1, 4)");
  zip = members.zip();
  zip[0].bytes = "\x93NUMPY\x01";
  expect_error(make_zip(zip), "entry 'indptr.npy': truncated: the entry ends inside the .npy");
  zip = members.zip();
  zip[0].bytes = "not an array";
  expect_error(make_zip(zip), "entry 'indptr.npy': not a .npy array (bad magic)");
  zip = members.zip();
  zip[0].bytes = npy("<i8", "(3,", raw_bytes(members.indptr));
  expect_error(make_zip(zip), "entry 'indptr.npy': malformed .npy header");
}

TEST_F(BadArchive, SizesDisagree) {
  members.shape = {3, 4};
  expect_error(make_zip(members.zip()), "indptr has 3 entries; shape (3, 4) needs rows + 1 = 4");
  members = Members{};
  members.values = {1.5};
  expect_error(make_zip(members.zip()), "indices has 2 entries but values has 1");
}

TEST_F(BadArchive, IndptrNotMonotone) {
  members.indptr = {0, 1, 0};
  members.indices = {1};
  members.values = {1.0};
  expect_error(make_zip(members.zip()),
               "indptr is not monotone: indptr[2] = 0 is less than indptr[1] = 1");
  members = Members{};
  members.indptr = {0, 3, 2};
  expect_error(make_zip(members.zip()), "indptr[1] = 3 is past the 2 stored entries");
  members = Members{};
  members.indptr = {1, 2, 2};
  expect_error(make_zip(members.zip()), "indptr[0] is 1, expected 0");
  members = Members{};
  members.indptr = {0, 1, 1};
  expect_error(make_zip(members.zip()), "indptr[2] is 1 but there are 2 stored entries");
}

TEST_F(BadArchive, IndexOutOfRangeOrUnsorted) {
  members.indices = {1, 4};
  expect_error(make_zip(members.zip()), "row 0: column index 4 (entry 1) is out of range [0, 4)");
  members.indices = {3, 1};
  expect_error(make_zip(members.zip()), "row 0: column indices are not strictly ascending");
}

}  // namespace
}  // namespace dictlearn
