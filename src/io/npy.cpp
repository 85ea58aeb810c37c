// The NumPy .npy format (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
//
// Layout: "\x93NUMPY", major and minor version bytes, the header length
// (2 bytes little-endian in version 1.0, 4 bytes in 2.0 and 3.0), then the
// header, a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
// padded with spaces and a newline, then the raw array data.
#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/check.hpp"
#include "core/contiguous.hpp"
#include "dictlearn/io.hpp"
#include "io/npy_header.hpp"

namespace dictlearn {
namespace {

using detail::check_npy_prefix;
using detail::HeaderParser;
using detail::npy_header_length;
using detail::npy_header_v1;
using detail::PyValue;

// Both the file data and Eigen's storage are read and written byte for byte.
static_assert(std::endian::native == std::endian::little,
              "dictlearn's .npy code assumes a little-endian host");

/// A file opened for reading, with its size known up front so that every
/// length announced inside the file can be checked before anything is allocated.
class InputFile {
 public:
  explicit InputFile(const std::string& path) : path_(path) {
    file_ = std::fopen(path.c_str(), "rb");
    if (file_ == nullptr) DICTLEARN_FAIL("{}: cannot open: {}", path, std::strerror(errno));
    struct stat info;
    if (::fstat(::fileno(file_), &info) != 0) {
      const int error = errno;
      std::fclose(file_);
      DICTLEARN_FAIL("{}: cannot open: {}", path, std::strerror(error));
    }
    if (S_ISDIR(info.st_mode)) {
      std::fclose(file_);
      DICTLEARN_FAIL("{}: cannot open: {}", path, std::strerror(EISDIR));
    }
    size_ = static_cast<uint64_t>(info.st_size);
  }
  ~InputFile() { std::fclose(file_); }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  /// Reads up to `size` bytes; returns how many were read (fewer only at the end).
  size_t read_some(void* data, size_t size) {
    const size_t got = std::fread(data, 1, size, file_);
    if (got < size && std::ferror(file_)) {
      DICTLEARN_FAIL("{}: cannot read: {}", path_, std::strerror(errno));
    }
    position_ += got;
    return got;
  }

  /// Reads exactly `size` bytes; `truncated` says what was being read when the file ended.
  void read_exact(void* data, size_t size, const char* truncated) {
    if (read_some(data, size) != size) DICTLEARN_FAIL("{}: truncated: {}", path_, truncated);
  }

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  uint64_t remaining() const { return size_ > position_ ? size_ - position_ : 0; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  uint64_t size_ = 0;
  uint64_t position_ = 0;
};

/// "(2, 3, 4)", "(5,)", "()" as Python prints a shape.
std::string shape_text(const std::vector<uint64_t>& shape) {
  std::string text = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  if (shape.size() == 1) text += ",";
  return text + ")";
}

struct NpyHeader {
  DType dtype = DType::float32;
  bool fortran_order = false;
  int64_t rows = 0;
  int64_t cols = 0;
};

size_t item_size(DType dtype) { return dtype == DType::float32 ? 4 : 8; }

/// Reads and validates everything up to the data, leaving `file` at the first
/// data byte. The data size is checked against the file size here, so callers
/// may allocate rows x cols without further checks.
NpyHeader read_header(InputFile& file) {
  const std::string& path = file.path();
  unsigned char prefix[8];
  const size_t got = file.read_some(prefix, sizeof prefix);
  const int major = check_npy_prefix(prefix, got, sizeof prefix, path, "file", "file");
  unsigned char length[4];
  file.read_exact(length, major == 1 ? 2 : 4, "the file ends inside the .npy header");
  const uint64_t header_length = npy_header_length(major, length);
  DICTLEARN_CHECK(header_length <= file.remaining(),
                  "{}: truncated: the header announces {} bytes but the file holds {} after the "
                  "format prefix",
                  path, header_length, file.remaining());
  std::string text(header_length, '\0');
  file.read_exact(text.data(), text.size(), "the file ends inside the .npy header");

  const PyValue* descr = nullptr;
  const PyValue* fortran_order = nullptr;
  const PyValue* shape = nullptr;
  const auto entries = HeaderParser(text, path).parse_dict();
  for (const auto& [key, value] : entries) {
    if (key == "descr") descr = &value;
    if (key == "fortran_order") fortran_order = &value;
    if (key == "shape") shape = &value;
  }
  DICTLEARN_CHECK(descr != nullptr, "{}: malformed .npy header: no 'descr' key", path);
  DICTLEARN_CHECK(fortran_order != nullptr, "{}: malformed .npy header: no 'fortran_order' key",
                  path);
  DICTLEARN_CHECK(shape != nullptr, "{}: malformed .npy header: no 'shape' key", path);

  NpyHeader header;
  DICTLEARN_CHECK(descr->kind == PyValue::Kind::string,
                  "{}: unsupported dtype (a structured array; dictlearn reads float32 '<f4' or "
                  "float64 '<f8')",
                  path);
  if (descr->text == "<f4") {
    header.dtype = DType::float32;
  } else if (descr->text == "<f8") {
    header.dtype = DType::float64;
  } else if (!descr->text.empty() && descr->text[0] == '>') {
    DICTLEARN_FAIL(
        "{}: unsupported dtype '{}' (big-endian; dictlearn reads little-endian float32 '<f4' "
        "or float64 '<f8')",
        path, descr->text);
  } else {
    DICTLEARN_FAIL("{}: unsupported dtype '{}' (dictlearn reads float32 '<f4' or float64 '<f8')",
                   path, descr->text);
  }

  DICTLEARN_CHECK(fortran_order->kind == PyValue::Kind::boolean,
                  "{}: malformed .npy header: 'fortran_order' is {}, not True or False", path,
                  fortran_order->text.empty() ? "not a boolean" : fortran_order->text);
  header.fortran_order = fortran_order->boolean;

  DICTLEARN_CHECK(shape->kind == PyValue::Kind::sequence,
                  "{}: malformed .npy header: 'shape' is not a tuple", path);
  std::vector<uint64_t> dims;
  for (const PyValue& item : shape->items) {
    DICTLEARN_CHECK(item.kind == PyValue::Kind::integer && !item.negative,
                    "{}: malformed .npy header: shape entry '{}' is not a non-negative integer",
                    path, item.text);
    dims.push_back(item.integer);
  }
  DICTLEARN_CHECK(dims.size() == 2,
                  "{}: array is {}-D with shape {}; expected a 2-D array (samples x features)",
                  path, dims.size(), shape_text(dims));

  // Overflow first: a hostile header must not wrap around into a small size.
  uint64_t count = 0;
  uint64_t bytes = 0;
  const bool overflow = __builtin_mul_overflow(dims[0], dims[1], &count) ||
                        __builtin_mul_overflow(count, item_size(header.dtype), &bytes) ||
                        dims[0] > uint64_t{INT64_MAX} || dims[1] > uint64_t{INT64_MAX};
  DICTLEARN_CHECK(!overflow, "{}: header announces {} x {} {}, more bytes than any file can hold",
                  path, dims[0], dims[1], dtype_name(header.dtype));
  DICTLEARN_CHECK(bytes <= file.remaining(),
                  "{}: truncated: header announces {} x {} {} ({} bytes) but the file holds {} "
                  "bytes after the header",
                  path, dims[0], dims[1], dtype_name(header.dtype), bytes, file.remaining());
  header.rows = static_cast<int64_t>(dims[0]);
  header.cols = static_cast<int64_t>(dims[1]);
  return header;
}

/// What converting a float64 file to float32 lost: the first value that is
/// finite in the file but beyond float32's range, and the largest magnitude of
/// the file's finite values (all of them below float32's normal range means the
/// data itself cannot be held in float32, not just rounded).
struct Conversion {
  std::optional<std::pair<size_t, double>> out_of_range;
  double largest = 0;
};

/// Reads `count` values stored as `Stored` into `out`, converting to T in
/// chunks so a float32 file read as double needs no second full-size buffer.
template <typename Stored, typename T>
Conversion read_values(InputFile& file, T* out, size_t count) {
  const char* truncated = "the file ended while reading the data";
  Conversion conversion;
  if constexpr (std::is_same_v<Stored, T>) {
    file.read_exact(out, count * sizeof(T), truncated);
    return conversion;
  } else {
    constexpr size_t chunk = size_t{1} << 16;
    std::vector<Stored> buffer(std::min(count, chunk));
    for (size_t done = 0; done < count;) {
      const size_t n = std::min(chunk, count - done);
      file.read_exact(buffer.data(), n * sizeof(Stored), truncated);
      for (size_t i = 0; i < n; ++i) {
        out[done + i] = static_cast<T>(buffer[i]);
        if (!std::isfinite(buffer[i])) continue;
        conversion.largest = std::max(conversion.largest, std::abs(static_cast<double>(buffer[i])));
        if (!conversion.out_of_range && !std::isfinite(out[done + i])) {
          conversion.out_of_range.emplace(done + i, static_cast<double>(buffer[i]));
        }
      }
      done += n;
    }
    return conversion;
  }
}

}  // namespace

template <typename T>
Matrix<T> read_npy(const std::string& path) {
  InputFile file(path);
  const NpyHeader header = read_header(file);
  // An empty array may still have a huge dimension, (5000000000, 0): Eigen's
  // transpose below would loop over its rows, so return it as it is.
  if (header.rows == 0 || header.cols == 0) return Matrix<T>(header.rows, header.cols);
  // Fortran-order data of an r x c array is the C-order data of its c x r
  // transpose, so read it as that and transpose once.
  Matrix<T> matrix(header.fortran_order ? header.cols : header.rows,
                   header.fortran_order ? header.rows : header.cols);
  const size_t count = static_cast<size_t>(header.rows * header.cols);
  const Conversion conversion = header.dtype == DType::float32
                                    ? read_values<float>(file, matrix.data(), count)
                                    : read_values<double>(file, matrix.data(), count);
  constexpr bool kToFloat = std::is_same_v<T, float>;
  // Tiny values beside ordinary ones only lose what float32 cannot resolve
  // anyway; data that is tiny throughout would arrive as zeros or subnormals.
  DICTLEARN_CHECK(!(conversion.largest > 0) ||
                      conversion.largest >= std::numeric_limits<float>::min() || !kToFloat,
                  "{}: its largest value has magnitude {:.3g}, below float32's range (from "
                  "{:.3g}): read as float32 the data would be zeros or subnormals; use --dtype "
                  "float64",
                  path, conversion.largest, std::numeric_limits<float>::min());
  if (conversion.out_of_range) {
    const auto [index, value] = *conversion.out_of_range;
    const auto major = static_cast<int64_t>(index) / matrix.cols();
    const auto minor = static_cast<int64_t>(index) % matrix.cols();
    DICTLEARN_FAIL("{}: row {}, column {} (0-based): {} is out of range for float32", path,
                   header.fortran_order ? minor : major, header.fortran_order ? major : minor,
                   value);
  }
  if (header.fortran_order) return matrix.transpose();
  return matrix;
}

DType npy_dtype(const std::string& path) {
  InputFile file(path);
  return read_header(file).dtype;
}

DataFileInfo data_file_info(const std::string& path) {
  DataFileInfo info;
  std::error_code error;
  const auto bytes = std::filesystem::file_size(path, error);
  if (error) return info;
  info.bytes = static_cast<int64_t>(bytes);
  if (std::filesystem::path(path).extension() != ".npy") return info;
  try {
    InputFile file(path);
    const NpyHeader header = read_header(file);
    info.rows = header.rows;
    info.cols = header.cols;
  } catch (const Error&) {
    // The reader names the problem when it reads the file.
  }
  return info;
}

namespace {

template <typename T>
void write_npy_rows(const std::string& path, MatrixView<T> matrix) {
  const std::string header = npy_header_v1(std::is_same_v<T, float> ? "<f4" : "<f8",
                                           fmt::format("({}, {})", matrix.rows(), matrix.cols()));
  const detail::ContiguousRows<T> rows(matrix);
  AtomicFile file(path);
  file.write(header);
  file.write(rows.data(), static_cast<size_t>(matrix.size()) * sizeof(T));
  file.commit();
}

}  // namespace

void write_npy(const std::string& path, MatrixView<float> matrix) { write_npy_rows(path, matrix); }
void write_npy(const std::string& path, MatrixView<double> matrix) { write_npy_rows(path, matrix); }

template Matrix<float> read_npy<float>(const std::string&);
template Matrix<double> read_npy<double>(const std::string&);

}  // namespace dictlearn
