// Tests of the safetensors reader and writer: round trips, the byte layout the
// reference implementation uses, and every kind of bad file, by error text.
#include "dictlearn/safetensors.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
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

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string length_prefix(uint64_t length) {
  std::string bytes;
  for (int i = 0; i < 8; ++i) bytes += static_cast<char>(length >> (8 * i));
  return bytes;
}

/// A safetensors file with the given JSON header and data bytes.
std::string safetensors_bytes(const std::string& header, const std::string& data) {
  return length_prefix(header.size()) + header + data;
}

template <typename Stored>
std::string raw(const std::vector<Stored>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(Stored));
}

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

TensorFile sample_file() {
  TensorFile file;
  file.tensors["dictionary"] = {DType::float32, {2, 3}, {0.1, -2.5, 3, 4, 1e-3, 6}};
  file.tensors["attributor.0.bias"] = {DType::float64, {2}, {0.1, -1e300}};
  file.tensors["empty"] = {DType::float32, {0, 4}, {}};
  file.tensors["scalar"] = {DType::float64, {}, {42}};
  file.metadata = {{"epochs", "100"}, {"encoder", "softmax"}, {"note", "ünïcode \"quoted\""}};
  return file;
}

TEST(Safetensors, RoundTripWithMetadataAndMixedDtypes) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  const TensorFile written = sample_file();
  write_safetensors(path, written);
  const TensorFile back = read_safetensors(path);

  EXPECT_EQ(back.metadata, written.metadata);
  ASSERT_EQ(back.tensors.size(), written.tensors.size());
  for (const auto& [name, tensor] : written.tensors) {
    SCOPED_TRACE(name);
    ASSERT_EQ(back.tensors.count(name), 1u);
    const Tensor& read = back.tensors.at(name);
    EXPECT_EQ(read.dtype, tensor.dtype);
    EXPECT_EQ(read.shape, tensor.shape);
    ASSERT_EQ(read.values.size(), tensor.values.size());
    for (size_t i = 0; i < tensor.values.size(); ++i) {
      // F32 tensors store the float nearest each value; F64 ones are exact.
      const double expected = tensor.dtype == DType::float32
                                  ? static_cast<double>(static_cast<float>(tensor.values[i]))
                                  : tensor.values[i];
      EXPECT_EQ(read.values[i], expected) << i;
    }
  }
  EXPECT_EQ(dir.listing().size(), 1u);
}

TEST(Safetensors, LayoutMatchesReferenceImplementation) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  TensorFile file;
  file.tensors["b"] = {DType::float64, {1}, {2.0}};
  file.tensors["a"] = {DType::float32, {2}, {1.0, 0.5}};
  write_safetensors(path, file);
  const std::string bytes = read_file(path);

  uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);
  EXPECT_EQ(header_length % 8, 0u);  // padded with spaces so data is 8-byte aligned
  ASSERT_EQ(bytes.size(), 8 + header_length + 8 + 8);
  const std::string header = bytes.substr(8, header_length);
  EXPECT_EQ(header.find_last_not_of(' '), header.find_last_of('}'));
  EXPECT_TRUE(contains(header, R"("a":{"data_offsets":[0,8],"dtype":"F32","shape":[2]})"));
  EXPECT_TRUE(contains(header, R"("b":{"data_offsets":[8,16],"dtype":"F64","shape":[1]})"));
  EXPECT_EQ(header.find("__metadata__"), std::string::npos);  // none given, none written
  // Tensors laid out in name order, little-endian, each in its own dtype.
  EXPECT_EQ(bytes.substr(8 + header_length), raw<float>({1.0f, 0.5f}) + raw<double>({2.0}));
}

TEST(Safetensors, ReadsHandWrittenFile) {
  // As Python's safetensors writes it: __metadata__ first, unpadded offsets.
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
  write_file(path, safetensors_bytes(header, raw<float>({1, 2, 3, 4})));
  const TensorFile file = read_safetensors(path);
  EXPECT_EQ(file.metadata.at("format"), "pt");
  EXPECT_EQ(file.tensors.at("w").values, (std::vector<double>{1, 2, 3, 4}));
  EXPECT_EQ(file.tensors.at("w").shape, (std::vector<int64_t>{2, 2}));
}

TEST(Safetensors, EmptyFileRoundTrips) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  write_safetensors(path, TensorFile{});
  const TensorFile back = read_safetensors(path);
  EXPECT_TRUE(back.tensors.empty());
  EXPECT_TRUE(back.metadata.empty());
}

TEST(Safetensors, MissingFile) {
  TempDir dir;
  const std::string path = dir.file("missing.safetensors");
  EXPECT_EQ(error_of([&] { read_safetensors(path); }),
            path + ": cannot open: No such file or directory");
}

TEST(Safetensors, NotSafetensors) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  write_file(path, "hello");
  EXPECT_EQ(error_of([&] { read_safetensors(path); }),
            path + ": not a safetensors file (5 bytes, less than the 8-byte header length)");
  // Text read as a length is enormous: rejected before anything is allocated.
  write_file(path, "this is just some text, not a model file\n");
  EXPECT_TRUE(contains(error_of([&] { read_safetensors(path); }),
                       path + ": not a safetensors file (header length "));
}

TEST(Safetensors, HeaderLengthLargerThanFile) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  write_file(path, length_prefix(1000) + "{}");
  EXPECT_EQ(error_of([&] { read_safetensors(path); }),
            path + ": not a safetensors file (header length 1000 exceeds the 2 bytes that follow)");
}

TEST(Safetensors, BadJson) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  write_file(path, safetensors_bytes(R"({"w": {"dtype": "F32",)", ""));
  const std::string message = error_of([&] { read_safetensors(path); });
  EXPECT_TRUE(contains(message, path + ": not a safetensors file (the header is not valid JSON: "));
  EXPECT_EQ(message.find('\n'), std::string::npos);
  EXPECT_EQ(message.find("[json.exception"), std::string::npos);
  write_file(path, safetensors_bytes("[1, 2]", ""));
  EXPECT_EQ(error_of([&] { read_safetensors(path); }),
            path + ": not a safetensors file (the header is JSON but not an object)");
}

TEST(Safetensors, UnsupportedDtype) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  write_file(path, safetensors_bytes(R"({"x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})",
                                     std::string(8, '\0')));
  EXPECT_EQ(error_of([&] { read_safetensors(path); }),
            path + ": tensor 'x': unsupported dtype 'I64' (dictlearn reads F32 or F64)");
}

TEST(Safetensors, OffsetsOutOfRangeOrInconsistent) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  write_file(path, safetensors_bytes(R"({"x":{"dtype":"F32","shape":[16],"data_offsets":[0,64]}})",
                                     std::string(16, '\0')));
  EXPECT_EQ(error_of([&] { read_safetensors(path); }),
            path + ": tensor 'x': data_offsets [0, 64] lie outside the 16 data bytes of the file");
  write_file(path, safetensors_bytes(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
                                     std::string(16, '\0')));
  EXPECT_EQ(error_of([&] { read_safetensors(path); }),
            path + ": tensor 'x': data_offsets [0, 8] span 8 bytes but shape (3) of F32 needs 12");
  write_file(path, safetensors_bytes(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})",
                                     std::string(16, '\0')));
  EXPECT_TRUE(
      contains(error_of([&] { read_safetensors(path); }), "data_offsets [8, 4] lie outside"));
  // A shape whose size overflows must not pass as a small one.
  write_file(
      path,
      safetensors_bytes(
          R"({"x":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", ""));
  EXPECT_TRUE(contains(error_of([&] { read_safetensors(path); }), "tensor 'x': shape"));
}

TEST(Safetensors, MalformedEntries) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  const std::string data(8, '\0');
  write_file(path,
             safetensors_bytes(R"({"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data));
  EXPECT_TRUE(contains(error_of([&] { read_safetensors(path); }),
                       "tensor 'x': shape [-2] is not a list of non-negative integers"));
  write_file(path, safetensors_bytes(R"({"x":{"dtype":"F32","shape":[2]}})", data));
  EXPECT_TRUE(
      contains(error_of([&] { read_safetensors(path); }), "tensor 'x': data_offsets must be"));
  write_file(path, safetensors_bytes(R"({"x":[1,2]})", data));
  EXPECT_TRUE(contains(error_of([&] { read_safetensors(path); }), "tensor 'x': the header entry"));
  write_file(path, safetensors_bytes(R"({"__metadata__":{"epochs":100}})", ""));
  EXPECT_EQ(error_of([&] { read_safetensors(path); }),
            path + ": __metadata__ 'epochs' is not a string (it is 100)");
}

// Found by fuzzing (fuzz/fuzz_safetensors.cpp): a number too large for a
// double made nlohmann throw out_of_range, which escaped as a non-dictlearn
// exception (the CLI printed "internal: [json.exception.out_of_range.406] ...").
TEST(Safetensors, NumberOverflowInHeaderIsNotJson) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  write_file(
      path, safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1e776],"data_offsets":[0,0]}})", ""));
  const std::string message = error_of([&] { read_safetensors(path); });
  EXPECT_TRUE(contains(message, path + ": not a safetensors file (the header is not valid JSON: "));
  EXPECT_TRUE(contains(message, "number overflow"));
  EXPECT_EQ(message.find("[json.exception"), std::string::npos);
}

// Found with a hand-made 1 MB input run through fuzz/fuzz_safetensors.cpp
// (libFuzzer's own inputs stay far smaller): printing a bad shape or metadata
// value in the error (json::dump) recursed once per level and a header of
// 500,000 nested '[' overflowed the stack.
TEST(Safetensors, DeeplyNestedHeaderIsRefused) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  const std::string nested = std::string(500000, '[') + std::string(500000, ']');
  write_file(path,
             safetensors_bytes(
                 R"({"x":{"dtype":"F32","shape":)" + nested + R"(,"data_offsets":[0,0]}})", ""));
  EXPECT_EQ(error_of([&] { read_safetensors(path); }),
            path + ": not a safetensors file (the header nests deeper than 16 levels)");
  write_file(path, safetensors_bytes(R"({"__metadata__":{"k":)" + nested + "}}", ""));
  EXPECT_TRUE(contains(error_of([&] { read_safetensors(path); }), "nests deeper"));
}

// Found by the fuzz target's size invariant (on a seed written to test it, not
// by libFuzzer's mutations): tensors may not share data bytes,
// or a 1 MB file listing 2,000 tensors over the same megabyte makes the reader
// allocate 4 GB.
TEST(Safetensors, OverlappingTensorsAreRefused) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  write_file(path, safetensors_bytes(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                                     R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                                     raw<float>({1, 2, 3, 4})));
  EXPECT_EQ(error_of([&] { read_safetensors(path); }),
            path + ": tensors 'a' and 'b' overlap in the file's data (data_offsets)");
  std::string header = "{";
  for (int i = 0; i < 2000; ++i) {
    header +=
        fmt::format(R"({}"t{}":{{"dtype":"F32","shape":[262144],"data_offsets":[0,1048576]}})",
                    i > 0 ? "," : "", i);
  }
  write_file(path, safetensors_bytes(header + "}", std::string(1 << 20, '\0')));
  EXPECT_TRUE(contains(error_of([&] { read_safetensors(path); }), "overlap"));
  // Adjacent tensors and empty ones anywhere are fine.
  write_file(path, safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                     R"("e":{"dtype":"F64","shape":[0],"data_offsets":[4,4]},)"
                                     R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                                     raw<float>({1, 2, 3, 4})));
  const TensorFile file = read_safetensors(path);
  EXPECT_EQ(file.tensors.at("b").values, (std::vector<double>{3, 4}));
}

TEST(Safetensors, WriterRejectsInconsistentTensors) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  TensorFile file;
  file.tensors["w"] = {DType::float32, {2, 2}, {1, 2, 3}};
  EXPECT_EQ(error_of([&] { write_safetensors(path, file); }),
            path + ": tensor 'w': shape (2, 2) holds 4 values but 3 were given");
  file.tensors["w"] = {DType::float32, {-1}, {}};
  EXPECT_TRUE(contains(error_of([&] { write_safetensors(path, file); }), "negative"));
  file.tensors.clear();
  file.metadata["bad"] = "\xff\xfe";
  EXPECT_TRUE(contains(error_of([&] { write_safetensors(path, file); }), "not valid UTF-8"));
  EXPECT_EQ(dir.listing().size(), 0u);
}

TEST(Safetensors, WriteIntoMissingFolder) {
  TempDir dir;
  const std::string path = dir.file("nowhere/m.safetensors");
  EXPECT_EQ(error_of([&] { write_safetensors(path, sample_file()); }),
            path + ": cannot create file: No such file or directory");
}

}  // namespace
}  // namespace dictlearn
