// Tests of .npy and CSV reading/writing, read_matrix's checks and AtomicFile.
//
// Bad-input tests check the error text, since naming the file and the position
// is the point of those errors. .npy fixtures are written byte by byte here so
// that the layouts numpy produces (Fortran order, format 2.0) are covered
// without numpy at test time.
#include "dictlearn/io.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "dictlearn/error.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

namespace fs = std::filesystem;

using testing::TempDir;

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/// The message of the dictlearn::Error that `action` throws ("" and a test
/// failure when it throws none).
template <typename Action>
std::string error_of(Action&& action) {
  try {
    action();
  } catch (const Error& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected a dictlearn::Error";
  return "";
}

::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

/// The bytes of a .npy file with the given header dict and raw data, padded
/// as numpy pads (to 64 bytes); `major` picks the 2- or 4-byte length field.
std::string npy_bytes(const std::string& dict, const std::string& data, int major = 1) {
  const size_t prefix = major == 1 ? 10 : 12;
  std::string header = dict;
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string bytes = "\x93NUMPY";
  bytes += static_cast<char>(major);
  bytes += '\0';
  const size_t length_bytes = major == 1 ? 2 : 4;
  for (size_t i = 0; i < length_bytes; ++i) bytes += static_cast<char>(header.size() >> (8 * i));
  return bytes + header + data;
}

template <typename Stored>
std::string raw(const std::vector<Stored>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(Stored));
}

template <typename T>
Matrix<T> sample_matrix(Eigen::Index rows, Eigen::Index cols) {
  Matrix<T> matrix(rows, cols);
  std::mt19937 generator(7);
  std::normal_distribution<double> normal(0.0, 3.0);
  for (Eigen::Index i = 0; i < matrix.size(); ++i)
    matrix.data()[i] = static_cast<T>(normal(generator));
  matrix(0, 0) = T(0.1);  // not exactly representable: needs all digits in CSV
  matrix(rows - 1, cols - 1) = std::numeric_limits<T>::min();
  return matrix;
}

template <typename T>
class IoTyped : public ::testing::Test {};
using FloatTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(IoTyped, FloatTypes);

// ---------------------------------------------------------------- .npy

TYPED_TEST(IoTyped, NpyRoundTripIsExact) {
  using T = TypeParam;
  TempDir dir;
  const std::string path = dir.file("x.npy");
  const Matrix<T> matrix = sample_matrix<T>(7, 3);
  write_npy(path, matrix);
  const Matrix<T> back = read_npy<T>(path);
  ASSERT_EQ(back.rows(), 7);
  ASSERT_EQ(back.cols(), 3);
  EXPECT_EQ(back, matrix);
  EXPECT_EQ(npy_dtype(path), (std::is_same_v<T, float> ? DType::float32 : DType::float64));
  // numpy's own layout: the data starts on a 64-byte boundary.
  EXPECT_EQ((read_bytes(path).size() - sizeof(T) * 21) % 64, 0u);
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"x.npy"});
}

TYPED_TEST(IoTyped, NpyEmptyShapesRoundTrip) {
  using T = TypeParam;
  TempDir dir;
  const std::string path = dir.file("empty.npy");
  write_npy(path, Matrix<T>(0, 4));
  const Matrix<T> back = read_npy<T>(path);
  EXPECT_EQ(back.rows(), 0);
  EXPECT_EQ(back.cols(), 4);
}

TYPED_TEST(IoTyped, NpyConvertsBetweenDtypes) {
  using T = TypeParam;
  TempDir dir;
  const std::string f4 = dir.file("f4.npy");
  const std::string f8 = dir.file("f8.npy");
  write_bytes(f4, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }",
                            raw<float>({1.5f, -0.25f})));
  write_bytes(f8, npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 1), }",
                            raw<double>({0.5, 3.0})));
  const Matrix<T> expected4 = (Matrix<T>(1, 2) << T(1.5), T(-0.25)).finished();
  const Matrix<T> expected8 = (Matrix<T>(2, 1) << T(0.5), T(3.0)).finished();
  EXPECT_EQ(read_npy<T>(f4), expected4);
  EXPECT_EQ(read_npy<T>(f8), expected8);
}

TYPED_TEST(IoTyped, NpyFortranOrderIsTransposedIntoRows) {
  using T = TypeParam;
  TempDir dir;
  // The 2 x 3 array [[1, 2, 3], [4, 5, 6]] stored column by column.
  const Matrix<T> expected = (Matrix<T>(2, 3) << 1, 2, 3, 4, 5, 6).finished();
  const std::string f8 = dir.file("fortran8.npy");
  write_bytes(f8, npy_bytes("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }",
                            raw<double>({1, 4, 2, 5, 3, 6})));
  EXPECT_EQ(read_npy<T>(f8), expected);
  const std::string f4 = dir.file("fortran4.npy");
  write_bytes(f4, npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                            raw<float>({1, 4, 2, 5, 3, 6})));
  EXPECT_EQ(read_npy<T>(f4), expected);
}

TEST(Npy, ReadsFormatVersions2And3) {
  TempDir dir;
  for (const int major : {2, 3}) {
    const std::string path = dir.file(fmt::format("v{}.npy", major));
    write_bytes(path, npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }",
                                raw<double>({1, 2, 3, 4}), major));
    EXPECT_EQ(read_npy<double>(path), (Matrix<double>(2, 2) << 1, 2, 3, 4).finished()) << major;
  }
}

TEST(Npy, HeaderKeysInAnyOrderAndSpacing) {
  TempDir dir;
  const std::string path = dir.file("x.npy");
  write_bytes(path, npy_bytes("{ \"shape\" :(1,2) ,'fortran_order':False,  'descr':'<f4'}",
                              raw<float>({7, 8})));
  EXPECT_EQ(read_npy<float>(path), (Matrix<float>(1, 2) << 7, 8).finished());
}

TEST(Npy, MissingFile) {
  TempDir dir;
  const std::string path = dir.file("missing.npy");
  EXPECT_EQ(error_of([&] { read_npy<float>(path); }),
            path + ": cannot open: No such file or directory");
}

TEST(Npy, NotNpy) {
  TempDir dir;
  const std::string path = dir.file("x.npy");
  write_bytes(path, "a,b\n1,2\n");
  EXPECT_EQ(error_of([&] { read_npy<float>(path); }), path + ": not a .npy file (bad magic)");
  write_bytes(path, "");
  EXPECT_EQ(error_of([&] { npy_dtype(path); }), path + ": not a .npy file (bad magic)");
}

TEST(Npy, TruncatedDataIsRejectedBeforeAllocating) {
  TempDir dir;
  const std::string path = dir.file("x.npy");
  write_bytes(path, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2000, 2), }",
                              std::string(1000, '\0')));
  EXPECT_EQ(error_of([&] { read_npy<float>(path); }),
            path +
                ": truncated: header announces 2000 x 2 float32 (16000 bytes) but the file holds "
                "1000 bytes after the header");
  // A shape whose byte count overflows 64 bits must not wrap to a small size.
  write_bytes(path, npy_bytes("{'descr': '<f8', 'fortran_order': False, "
                              "'shape': (4611686018427387904, 4), }",
                              ""));
  EXPECT_TRUE(contains(error_of([&] { read_npy<double>(path); }),
                       "header announces 4611686018427387904 x 4 float64, more bytes"));
}

TEST(Npy, TruncatedHeader) {
  TempDir dir;
  const std::string path = dir.file("x.npy");
  const std::string full =
      npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }", raw<float>({1}));
  write_bytes(path, full.substr(0, 30));
  EXPECT_TRUE(contains(error_of([&] { read_npy<float>(path); }), path + ": truncated: the header"));
  write_bytes(path, full.substr(0, 9));
  EXPECT_TRUE(contains(error_of([&] { read_npy<float>(path); }), path + ": truncated"));
}

TEST(Npy, UnsupportedDtypes) {
  TempDir dir;
  const std::string path = dir.file("x.npy");
  write_bytes(path, npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (1, 1), }",
                              std::string(8, '\0')));
  EXPECT_EQ(error_of([&] { read_npy<float>(path); }),
            path + ": unsupported dtype '<i8' (dictlearn reads float32 '<f4' or float64 '<f8')");
  write_bytes(path, npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (1, 1), }",
                              std::string(4, '\0')));
  const std::string big_endian = error_of([&] { read_npy<float>(path); });
  EXPECT_TRUE(contains(big_endian, path + ": unsupported dtype '>f4'"));
  EXPECT_TRUE(contains(big_endian, "big-endian"));
  write_bytes(path,
              npy_bytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1, 1), }",
                        std::string(4, '\0')));
  EXPECT_TRUE(
      contains(error_of([&] { npy_dtype(path); }), "unsupported dtype (a structured array"));
}

TEST(Npy, ShapeMustBe2D) {
  TempDir dir;
  const std::string path = dir.file("x.npy");
  write_bytes(path, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }",
                              std::string(96, '\0')));
  EXPECT_EQ(
      error_of([&] { read_npy<float>(path); }),
      path + ": array is 3-D with shape (2, 3, 4); expected a 2-D array (samples x features)");
  write_bytes(path, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }",
                              std::string(20, '\0')));
  EXPECT_TRUE(contains(error_of([&] { read_npy<float>(path); }), "array is 1-D with shape (5,);"));
}

TEST(Npy, MalformedHeaderAndVersion) {
  TempDir dir;
  const std::string path = dir.file("x.npy");
  write_bytes(path, npy_bytes("{'descr': '<f4', 'fortran_order': False}", ""));
  EXPECT_EQ(error_of([&] { read_npy<float>(path); }),
            path + ": malformed .npy header: no 'shape' key");
  write_bytes(path, npy_bytes("{'descr': '<f4', 'shape': (1, 1), 'fortran_order': Fals}", ""));
  EXPECT_TRUE(contains(error_of([&] { read_npy<float>(path); }), path + ": malformed .npy header"));
  write_bytes(path, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 1), }", ""));
  EXPECT_TRUE(contains(error_of([&] { read_npy<float>(path); }), "'-1' is not a non-negative"));
  std::string version9 =
      npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }", raw<float>({1}));
  version9[6] = 9;
  write_bytes(path, version9);
  EXPECT_TRUE(
      contains(error_of([&] { read_npy<float>(path); }), "unsupported .npy format version 9.0"));
}

TEST(Npy, HeaderLengthBeyondFile) {
  TempDir dir;
  const std::string path = dir.file("x.npy");
  write_bytes(path, std::string("\x93NUMPY\x02\x00\xff\xff\xff\x7f{}", 14));
  EXPECT_TRUE(contains(error_of([&] { read_npy<float>(path); }),
                       path + ": truncated: the header announces 2147483647 bytes"));
}

TEST(Npy, Float64OutOfFloat32Range) {
  TempDir dir;
  const std::string path = dir.file("x.npy");
  write_bytes(path, npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }",
                              raw<double>({1, 2, 3, 1e300})));
  EXPECT_EQ(error_of([&] { read_npy<float>(path); }),
            path + ": row 1, column 1 (0-based): 1e+300 is out of range for float32");
  EXPECT_EQ(read_npy<double>(path)(1, 1), 1e300);
}

// Data tiny throughout would be read as zeros (or subnormals) in float32 and
// train on nothing; tiny values beside ordinary ones are only rounded.
TEST(Npy, Float64BelowFloat32RangeThroughoutIsRefused) {
  TempDir dir;
  const std::string tiny = dir.file("tiny.npy");
  write_bytes(tiny, npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }",
                              raw<double>({1e-50, -2e-50, 0, 3e-60})));
  EXPECT_EQ(error_of([&] { read_npy<float>(tiny); }),
            tiny +
                ": its largest value has magnitude 2e-50, below float32's range (from "
                "1.18e-38): read as float32 the data would be zeros or subnormals; use "
                "--dtype float64");
  EXPECT_EQ(read_npy<double>(tiny)(0, 1), -2e-50);
  const std::string mixed = dir.file("mixed.npy");
  write_bytes(mixed, npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }",
                               raw<double>({1.0, 1e-50})));
  const Matrix<float> read = read_npy<float>(mixed);
  EXPECT_EQ(read(0, 0), 1.0f);
  EXPECT_EQ(read(0, 1), 0.0f);
}

// Found with a hand-made 1 MB input run through fuzz/fuzz_npy.cpp (libFuzzer's
// own inputs stay far smaller): the header parser recursed once per '(' and
// overflowed the stack.
TEST(Npy, DeeplyNestedHeaderIsRefused) {
  TempDir dir;
  const std::string path = dir.file("x.npy");
  const std::string nested = std::string(500000, '(') + std::string(500000, ')');
  write_bytes(path, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': " + nested + ", }",
                              "", 2));
  EXPECT_TRUE(contains(error_of([&] { read_npy<float>(path); }),
                       path + ": malformed .npy header: tuples nested too deeply"));
  // The shape tuple itself still parses, with nesting below the limit elsewhere.
  write_bytes(path, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), "
                              "'extra': ((((1,),),),), }",
                              raw<float>({5})));
  EXPECT_EQ(read_npy<float>(path)(0, 0), 5.0f);
}

// Found by fuzzing (fuzz/fuzz_npy.cpp, a 10 s timeout): an empty Fortran-order
// array with a huge dimension, shape (4888848888, 0), was transposed by a loop
// over its 4.9 billion empty rows.
TEST(Npy, EmptyArrayWithAHugeDimensionReadsAtOnce) {
  TempDir dir;
  const std::string path = dir.file("x.npy");
  for (const char* order : {"True", "False"}) {
    write_bytes(path, npy_bytes(fmt::format("{{'descr': '<f8', 'fortran_order': {}, "
                                            "'shape': (4611686018427387904, 0), }}",
                                            order),
                                ""));
    const Matrix<float> matrix = read_npy<float>(path);
    EXPECT_EQ(matrix.rows(), 4611686018427387904) << order;
    EXPECT_EQ(matrix.cols(), 0) << order;
  }
  EXPECT_EQ(error_of([&] { read_matrix<double>(path); }), path + ": no data (0 columns)");
}

// ---------------------------------------------------------------- CSV

TYPED_TEST(IoTyped, CsvRoundTripIsExact) {
  using T = TypeParam;
  TempDir dir;
  const std::string path = dir.file("x.csv");
  const Matrix<T> matrix = sample_matrix<T>(5, 4);
  write_csv(path, matrix);
  EXPECT_EQ(read_csv<T>(path), matrix);
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"x.csv"});
}

TYPED_TEST(IoTyped, CsvRoundTripWithHeader) {
  using T = TypeParam;
  TempDir dir;
  const std::string path = dir.file("x.csv");
  const Matrix<T> matrix = sample_matrix<T>(3, 2);
  write_csv(path, matrix, {"x", "y"});
  EXPECT_EQ(read_bytes(path).substr(0, 4), "x,y\n");
  EXPECT_EQ(read_csv<T>(path), matrix);
  EXPECT_EQ(read_matrix<T>(path), matrix);
}

TEST(Csv, CrlfSpacesBomAndTrailingBlankLines) {
  TempDir dir;
  const std::string path = dir.file("x.csv");
  write_bytes(path,
              "\xEF\xBB\xBF"
              "a, b\r\n 1 ,\t2.5\r\n-3e2,+4\r\n\r\n \r\n");
  EXPECT_EQ(read_csv<double>(path), (Matrix<double>(2, 2) << 1, 2.5, -300, 4).finished());
  write_bytes(path, "1,2\n3,4");  // no final newline
  EXPECT_EQ(read_csv<float>(path), (Matrix<float>(2, 2) << 1, 2, 3, 4).finished());
}

TEST(Csv, SingleColumn) {
  TempDir dir;
  const std::string path = dir.file("x.csv");
  write_bytes(path, "value\n1\n2\n");
  EXPECT_EQ(read_csv<double>(path), (Matrix<double>(2, 1) << 1, 2).finished());
}

TEST(Csv, RaggedRowNamesLine) {
  TempDir dir;
  const std::string path = dir.file("x.csv");
  write_bytes(path, "1,2\n3,4\n5,6\n7,8,9\n");
  EXPECT_EQ(error_of([&] { read_csv<float>(path); }),
            path + ": line 4 has 3 fields, expected 2 (as on line 1)");
  write_bytes(path, "a,b,c\n1,2\n");
  EXPECT_EQ(error_of([&] { read_csv<float>(path); }),
            path + ": line 2 has 2 fields, expected 3 (as on line 1)");
}

TEST(Csv, NonNumericFieldNamesLineAndColumn) {
  TempDir dir;
  const std::string path = dir.file("x.csv");
  write_bytes(path, "1,2\n3,4\n5,abc\n");
  EXPECT_EQ(error_of([&] { read_csv<double>(path); }),
            path + ": line 3, column 2: 'abc' is not a number");
  // A first line with a field that is not a number is a header (csv_test.cpp: the rule).
  write_bytes(path, "1,2\na,3\n");
  EXPECT_EQ(error_of([&] { read_csv<double>(path); }),
            path + ": line 2, column 1: 'a' is not a number");
  write_bytes(path, "1,2\r\n3,\r\n");
  EXPECT_EQ(error_of([&] { read_csv<double>(path); }),
            path + ": line 2, column 2: empty field (expected a number)");
  write_bytes(path, "1,2\n\n3,4\n");
  EXPECT_TRUE(contains(error_of([&] { read_csv<double>(path); }), path + ": line 2 is blank"));
  write_bytes(path, "1;2\n3;4\n");  // a semicolon-separated export
  EXPECT_EQ(error_of([&] { read_csv<double>(path); }),
            path + ": line 2, column 1: '3;4' is not a number");
}

TEST(Csv, OutOfRangeNumbers) {
  TempDir dir;
  const std::string path = dir.file("x.csv");
  write_bytes(path, "1,1e999\n");
  EXPECT_EQ(error_of([&] { read_csv<double>(path); }),
            path + ": line 1, column 2: '1e999' is out of range for float64");
  write_bytes(path, "1,1e39\n");
  EXPECT_EQ(error_of([&] { read_csv<float>(path); }),
            path + ": line 1, column 2: '1e39' is out of range for float32");
  EXPECT_EQ(read_csv<double>(path)(0, 1), 1e39);
  write_bytes(path, "1e-400\n");  // underflow rounds to zero, as numpy does
  EXPECT_EQ(read_csv<double>(path)(0, 0), 0.0);
}

TEST(Csv, EmptyFileIsAnEmptyMatrix) {
  TempDir dir;
  const std::string path = dir.file("x.csv");
  write_bytes(path, "");
  EXPECT_EQ(read_csv<float>(path).size(), 0);
  write_bytes(path, "\n\n");
  EXPECT_EQ(read_csv<float>(path).size(), 0);
  write_bytes(path, "a,b\n");
  const Matrix<float> header_only = read_csv<float>(path);
  EXPECT_EQ(header_only.rows(), 0);
  EXPECT_EQ(header_only.cols(), 2);
}

// Found with a hand-made 3 MB input run through fuzz/fuzz_csv.cpp (libFuzzer's
// own inputs stay far smaller): the matrix was allocated as
// (lines x fields of line 1) before the rows were checked, so a
// 3 MB file (a first line of a million commas, then a million short lines)
// asked for 10^12 values. Only rows up to the first ragged line are allocated now.
TEST(Csv, WideFirstLineThenShortLinesIsRefusedWithoutAllocatingTheSquare) {
  TempDir dir;
  const std::string path = dir.file("x.csv");
  std::string text(1000000, ',');
  text += '\n';
  for (int i = 0; i < 1000000; ++i) text += "x\n";
  write_bytes(path, text);
  EXPECT_EQ(error_of([&] { read_csv<float>(path); }),
            path + ": line 2 has 1 fields, expected 1000001 (as on line 1)");
  // Errors on earlier lines still come first, as before.
  write_bytes(path, "1,2\n3,abc\n5\n");
  EXPECT_EQ(error_of([&] { read_csv<float>(path); }),
            path + ": line 2, column 2: 'abc' is not a number");
  write_bytes(path, "1,2\n\n3,4\n");
  EXPECT_TRUE(contains(error_of([&] { read_csv<float>(path); }), "line 2 is blank"));
}

TEST(Csv, MissingFile) {
  TempDir dir;
  const std::string path = dir.file("missing.csv");
  EXPECT_EQ(error_of([&] { read_csv<float>(path); }),
            path + ": cannot open: No such file or directory");
}

TEST(Csv, WriterRejectsHeadersThatWouldNotReadBack) {
  TempDir dir;
  const std::string path = dir.file("x.csv");
  const Matrix<double> matrix = Matrix<double>::Zero(2, 2);
  EXPECT_EQ(error_of([&] { write_csv(path, matrix, {"a"}); }),
            path + ": the header has 1 names but the matrix has 2 columns");
  EXPECT_TRUE(contains(error_of([&] {
                         write_csv(path, matrix, {"a,b", "c"});
                       }),
                       "contains a comma"));
  EXPECT_TRUE(contains(error_of([&] {
                         write_csv(path, matrix, {"1", "2"});
                       }),
                       "would be read back as data"));
  EXPECT_TRUE(dir.listing().empty());
}

// ---------------------------------------------------------------- read_matrix

TYPED_TEST(IoTyped, ReadWriteMatrixByExtension) {
  using T = TypeParam;
  TempDir dir;
  const Matrix<T> matrix = sample_matrix<T>(4, 3);
  for (const char* name : {"a.npy", "b.csv", "c.NPY", "d.Csv"}) {
    write_matrix(dir.file(name), matrix);
    EXPECT_EQ(read_matrix<T>(dir.file(name)), matrix) << name;
  }
  EXPECT_EQ(read_bytes(dir.file("c.NPY")).substr(0, 6), "\x93NUMPY");
}

TEST(ReadMatrix, UnknownExtension) {
  TempDir dir;
  const std::string path = dir.file("x.txt");
  write_bytes(path, "1,2\n");
  EXPECT_EQ(error_of([&] { read_matrix<float>(path); }),
            path + ": unknown data format (expected .npy or .csv)");
  EXPECT_EQ(error_of([&] { write_matrix(dir.file("y"), Matrix<float>::Zero(1, 1).eval()); }),
            dir.file("y") + ": unknown data format (expected .npy or .csv)");
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"x.txt"});
}

TEST(ReadMatrix, EmptyData) {
  TempDir dir;
  const std::string npy = dir.file("x.npy");
  write_npy(npy, Matrix<float>(0, 3));
  EXPECT_EQ(error_of([&] { read_matrix<float>(npy); }), npy + ": no data (0 rows)");
  write_npy(npy, Matrix<double>(5, 0));
  EXPECT_EQ(error_of([&] { read_matrix<double>(npy); }), npy + ": no data (0 columns)");
  const std::string csv = dir.file("x.csv");
  write_bytes(csv, "");
  EXPECT_EQ(error_of([&] { read_matrix<float>(csv); }), csv + ": no data (0 rows)");
  write_bytes(csv, "a,b\n\n");
  EXPECT_EQ(error_of([&] { read_matrix<float>(csv); }), csv + ": no data (0 rows)");
}

TYPED_TEST(IoTyped, NonFiniteNpyNamesZeroBasedPosition) {
  using T = TypeParam;
  TempDir dir;
  const std::string path = dir.file("x.npy");
  Matrix<T> matrix = Matrix<T>::Ones(8, 2);
  matrix(5, 1) = std::numeric_limits<T>::quiet_NaN();
  matrix(6, 0) = std::numeric_limits<T>::infinity();
  write_npy(path, matrix);
  EXPECT_EQ(error_of([&] { read_matrix<T>(path); }), path + ": row 5, column 1 (0-based) is nan");
  matrix(5, 1) = -std::numeric_limits<T>::infinity();
  write_npy(path, matrix);
  EXPECT_EQ(error_of([&] { read_matrix<T>(path); }), path + ": row 5, column 1 (0-based) is -inf");
  // read_npy alone does not judge the values.
  EXPECT_TRUE(std::isinf(read_npy<T>(path)(6, 0)));
}

TYPED_TEST(IoTyped, NonFiniteCsvNamesFileLine) {
  using T = TypeParam;
  TempDir dir;
  const std::string path = dir.file("x.csv");
  write_bytes(path, "x,y\n1,2\n3,4\n5,6\n7,8\n9,10\n11,inf\n");
  EXPECT_EQ(error_of([&] { read_matrix<T>(path); }), path + ": line 7, column 2 is inf");
  write_bytes(path, "1,2\r\nNaN,4\r\n");
  EXPECT_EQ(error_of([&] { read_matrix<T>(path); }), path + ": line 2, column 1 is nan");
  write_bytes(path, "1,-Infinity\n");
  EXPECT_EQ(error_of([&] { read_matrix<T>(path); }), path + ": line 1, column 2 is -inf");
}

TYPED_TEST(IoTyped, CheckFinite) {
  using T = TypeParam;
  Matrix<T> matrix = Matrix<T>::Zero(3, 3);
  EXPECT_NO_THROW(check_finite(matrix, "X"));
  matrix(2, 0) = -std::numeric_limits<T>::quiet_NaN();
  matrix(1, 2) = std::numeric_limits<T>::infinity();
  EXPECT_EQ(error_of([&] { check_finite(matrix, "X"); }), "X: row 1, column 2 is inf");
}

TEST(DTypeName, Names) {
  EXPECT_STREQ(dtype_name(DType::float32), "float32");
  EXPECT_STREQ(dtype_name(DType::float64), "float64");
}

// ---------------------------------------------------------------- AtomicFile

TEST(AtomicFile, CommitWritesAndLeavesNoTemporary) {
  TempDir dir;
  const std::string path = dir.file("out.bin");
  {
    AtomicFile file(path);
    file.write("hello ");
    file.write(std::string_view("world"));
    EXPECT_FALSE(fs::exists(path));  // nothing under the real name before commit
    file.commit();
  }
  EXPECT_EQ(read_bytes(path), "hello world");
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"out.bin"});
}

TEST(AtomicFile, UncommittedLeavesNothing) {
  TempDir dir;
  const std::string path = dir.file("out.bin");
  {
    AtomicFile file(path);
    file.write("partial");
    EXPECT_EQ(dir.listing().size(), 1u);  // the temporary, hidden under a dot name
    EXPECT_EQ(dir.listing()[0].rfind(".out.bin.tmp.", 0), 0u) << dir.listing()[0];
  }
  EXPECT_TRUE(dir.listing().empty());
}

TEST(AtomicFile, UncommittedKeepsPreviousFile) {
  TempDir dir;
  const std::string path = dir.file("out.bin");
  write_bytes(path, "previous");
  {
    AtomicFile file(path);
    file.write("new");
  }
  EXPECT_EQ(read_bytes(path), "previous");
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"out.bin"});
}

/// Lowers the file-size limit so writes fail with EFBIG, as on a full disk.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    old_handler_ = ::signal(SIGXFSZ, SIG_IGN);  // otherwise the signal kills the test
    ::getrlimit(RLIMIT_FSIZE, &old_limit_);
    rlimit limit = old_limit_;
    limit.rlim_cur = bytes;
    ::setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &old_limit_);
    ::signal(SIGXFSZ, old_handler_);
  }

 private:
  rlimit old_limit_{};
  void (*old_handler_)(int) = SIG_DFL;
};

TEST(AtomicFile, FailedCommitKeepsPreviousFile) {
  TempDir dir;
  const std::string path = dir.file("out.npy");
  write_bytes(path, "previous");
  std::string message;
  {
    // Smaller than stdio's buffer, so write() succeeds and commit's flush fails.
    const std::string data(1000, 'x');
    AtomicFile file(path);
    file.write(data);
    const FileSizeLimit limit(100);
    message = error_of([&] { file.commit(); });
  }
  EXPECT_EQ(message, path + ": cannot write: File too large");
  EXPECT_EQ(read_bytes(path), "previous");
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"out.npy"});
}

TEST(AtomicFile, FailedWriteKeepsPreviousFile) {
  TempDir dir;
  const std::string path = dir.file("out.npy");
  write_bytes(path, "previous");
  {
    const FileSizeLimit limit(1000);
    EXPECT_EQ(error_of([&] { write_npy(path, Matrix<double>::Ones(100, 100).eval()); }),
              path + ": cannot write: File too large");
  }
  EXPECT_EQ(read_bytes(path), "previous");
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"out.npy"});
}

TEST(AtomicFile, FailedRenameRemovesTemporary) {
  TempDir dir;
  const std::string path = dir.file("taken");
  {
    AtomicFile file(path);
    file.write("data");
    // A folder takes the name after the file was opened: it is never renamed over.
    fs::create_directories(dir.path() / "taken" / "inside");
    EXPECT_EQ(error_of([&] { file.commit(); }),
              path + " exists and is not a regular file (a folder); it is never replaced");
  }
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"taken"});
}

TEST(AtomicFile, MissingFolderNamesPath) {
  TempDir dir;
  const std::string path = dir.file("no/such/out.npy");
  EXPECT_EQ(error_of([&] { AtomicFile file(path); }),
            path + ": cannot create file: No such file or directory");
  EXPECT_EQ(error_of([&] { write_csv(path, Matrix<float>::Zero(1, 1).eval()); }),
            path + ": cannot create file: No such file or directory");
  EXPECT_TRUE(dir.listing().empty());
}

TEST(AtomicFile, PermissionsLikeAPlainFile) {
  TempDir dir;
  const mode_t old_mask = ::umask(022);
  const std::string fresh = dir.file("fresh.bin");
  {
    AtomicFile file(fresh);
    file.commit();
  }
  const std::string existing = dir.file("existing.bin");
  write_bytes(existing, "old");
  ::chmod(existing.c_str(), 0640);
  {
    AtomicFile file(existing);
    file.write("new");
    file.commit();
  }
  ::umask(old_mask);
  struct stat info;
  ASSERT_EQ(::stat(fresh.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0644u);
  ASSERT_EQ(::stat(existing.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0640u);
  EXPECT_EQ(read_bytes(existing), "new");
}

TEST(AtomicFile, RelativePathInCurrentFolder) {
  TempDir dir;
  const fs::path old_cwd = fs::current_path();
  fs::current_path(dir.path());
  {
    AtomicFile file("plain.txt");
    file.write("x");
    file.commit();
  }
  fs::current_path(old_cwd);
  EXPECT_EQ(read_bytes(dir.file("plain.txt")), "x");
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"plain.txt"});
}

}  // namespace
}  // namespace dictlearn
