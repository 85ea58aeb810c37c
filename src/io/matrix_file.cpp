// Data files by extension, and the checks that make a matrix usable as training
// data (not empty, every entry finite) with errors that point into the file.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>

#include "core/check.hpp"
#include "dictlearn/io.hpp"
#include "io/detail.hpp"

namespace dictlearn {
namespace {

enum class Format { npy, csv };

Format format_of(const std::string& path) {
  std::string extension = std::filesystem::path(path).extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (extension == ".npy") return Format::npy;
  if (extension == ".csv") return Format::csv;
  DICTLEARN_FAIL("{}: unknown data format (expected .npy or .csv)", path);
}

/// Row and column of the first non-finite entry, in storage (row-major) order.
template <typename T>
std::optional<std::pair<Eigen::Index, Eigen::Index>> first_non_finite(MatrixView<T> matrix) {
  for (Eigen::Index i = 0; i < matrix.rows(); ++i) {
    for (Eigen::Index j = 0; j < matrix.cols(); ++j) {
      if (!std::isfinite(matrix(i, j))) return std::pair{i, j};
    }
  }
  return std::nullopt;
}

/// "nan", "inf" or "-inf"; the sign of a NaN carries no meaning for users.
template <typename T>
const char* non_finite_name(T value) {
  if (std::isnan(value)) return "nan";
  return value > 0 ? "inf" : "-inf";
}

template <typename T>
void check_not_empty(const Matrix<T>& matrix, const std::string& path) {
  DICTLEARN_CHECK(matrix.rows() > 0, "{}: no data (0 rows)", path);
  DICTLEARN_CHECK(matrix.cols() > 0, "{}: no data (0 columns)", path);
}

}  // namespace

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::float32:
      return "float32";
    case DType::float64:
      return "float64";
  }
  return "unknown";
}

template <typename T>
void check_finite_entries(MatrixView<T> matrix, const std::string& what) {
  if (const auto bad = first_non_finite<T>(matrix)) {
    const auto [i, j] = *bad;
    DICTLEARN_FAIL("{}: row {}, column {} is {}", what, i, j, non_finite_name(matrix(i, j)));
  }
}

void check_finite(MatrixView<float> matrix, const std::string& what) {
  check_finite_entries(matrix, what);
}
void check_finite(MatrixView<double> matrix, const std::string& what) {
  check_finite_entries(matrix, what);
}

template <typename T>
Matrix<T> read_matrix(const std::string& path) {
  if (format_of(path) == Format::npy) {
    Matrix<T> matrix = read_npy<T>(path);
    check_not_empty(matrix, path);
    // The same position numpy would print for X[5, 1].
    if (const auto bad = first_non_finite<T>(matrix)) {
      const auto [i, j] = *bad;
      DICTLEARN_FAIL("{}: row {}, column {} (0-based) is {}", path, i, j,
                     non_finite_name(matrix(i, j)));
    }
    return matrix;
  }
  int header_lines = 0;
  Matrix<T> matrix = detail::read_csv_counting_header<T>(path, header_lines);
  check_not_empty(matrix, path);
  // The position a text editor shows: file lines and columns counted from 1.
  // Rows map to lines directly because only trailing blank lines are allowed.
  if (const auto bad = first_non_finite<T>(matrix)) {
    const auto [i, j] = *bad;
    DICTLEARN_FAIL("{}: line {}, column {} is {}", path, i + header_lines + 1, j + 1,
                   non_finite_name(matrix(i, j)));
  }
  return matrix;
}

template <typename T>
void write_by_extension(const std::string& path, MatrixView<T> matrix) {
  if (format_of(path) == Format::npy) {
    write_npy(path, matrix);
  } else {
    write_csv(path, matrix);
  }
}

bool detail::is_npy_path(const std::string& path) { return format_of(path) == Format::npy; }

void write_matrix(const std::string& path, MatrixView<float> matrix) {
  write_by_extension(path, matrix);
}
void write_matrix(const std::string& path, MatrixView<double> matrix) {
  write_by_extension(path, matrix);
}

template Matrix<float> read_matrix<float>(const std::string&);
template Matrix<double> read_matrix<double>(const std::string&);

}  // namespace dictlearn
