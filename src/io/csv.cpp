// Numeric CSV: comma separated, one sample per line, an optional header row.
//
// Deliberately small: no quoting, no other separators. What it does accept is
// what spreadsheet and pandas exports produce for numeric tables: CRLF line
// ends, a UTF-8 byte-order mark, spaces around fields, trailing blank lines.
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

#include "core/check.hpp"
#include "dictlearn/io.hpp"
#include "io/detail.hpp"

namespace dictlearn {
namespace {

std::string read_whole_file(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) DICTLEARN_FAIL("{}: cannot open: {}", path, std::strerror(errno));
  std::string text;
  char buffer[1 << 16];
  size_t got = 0;
  while ((got = std::fread(buffer, 1, sizeof buffer, file)) > 0) text.append(buffer, got);
  const bool failed = std::ferror(file) != 0;
  const int error = errno;
  std::fclose(file);
  if (failed) DICTLEARN_FAIL("{}: cannot read: {}", path, std::strerror(error));
  return text;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool is_blank(std::string_view line) { return trim(line).empty(); }

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  while (true) {
    const size_t comma = line.find(',');
    fields.push_back(trim(line.substr(0, comma)));
    if (comma == std::string_view::npos) return fields;
    line.remove_prefix(comma + 1);
  }
}

/// A field as it appears in an error message: on one line and not too long,
/// since the "CSV" may be a binary file given the wrong name.
std::string printable(std::string_view field) {
  constexpr size_t max_length = 40;
  std::string text;
  for (const char c : field.substr(0, max_length)) {
    text += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  }
  if (field.size() > max_length) text += "...";
  return text;
}

enum class FieldKind { number, out_of_range, not_number };

struct Field {
  FieldKind kind = FieldKind::not_number;
  double value = 0;
};

/// Parses one trimmed field as a double: decimal or scientific notation, an
/// optional leading '+', and nan/inf (which the finiteness check then reports
/// with their position, rather than calling them "not a number" here).
Field parse_field(std::string_view text) {
  if (!text.empty() && text.front() == '+') {
    text.remove_prefix(1);
    if (!text.empty() && (text.front() == '+' || text.front() == '-')) return {};
  }
  if (text.empty()) return {};
  Field field;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), field.value);
  if (end != text.data() + text.size()) return {};
  if (error == std::errc::result_out_of_range) {
    // from_chars leaves the value unset; strtod tells overflow (±HUGE_VAL)
    // from underflow (a tiny or zero value, which is fine to keep).
    field.value = std::strtod(std::string(text).c_str(), nullptr);
    field.kind = std::isinf(field.value) ? FieldKind::out_of_range : FieldKind::number;
    return field;
  }
  if (error != std::errc()) return {};
  field.kind = FieldKind::number;
  return field;
}

template <typename T>
constexpr const char* type_name() {
  return std::is_same_v<T, float> ? "float32" : "float64";
}

}  // namespace

template <typename T>
Matrix<T> detail::read_csv_counting_header(const std::string& path, int& header_lines) {
  const std::string text = read_whole_file(path);
  std::string_view rest(text);
  if (rest.substr(0, 3) == "\xEF\xBB\xBF") rest.remove_prefix(3);

  std::vector<std::string_view> lines;
  while (!rest.empty()) {
    const size_t newline = rest.find('\n');
    std::string_view line = rest.substr(0, newline);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (newline == std::string_view::npos) break;
    rest.remove_prefix(newline + 1);
  }
  while (!lines.empty() && is_blank(lines.back())) lines.pop_back();

  header_lines = 0;
  if (lines.empty()) return Matrix<T>();

  const std::vector<std::string_view> first = split_fields(lines[0]);
  bool any_number = false;
  for (const std::string_view field : first) {
    any_number = any_number || parse_field(field).kind != FieldKind::not_number;
  }
  header_lines = any_number ? 0 : 1;
  const size_t n_fields = first.size();

  // Allocate only the rows up to the first blank or ragged line, where the
  // loop below stops with its error: rows x n_fields would otherwise grow with
  // the square of the file size (a first line of a million commas followed by
  // a million short lines asks for 10^12 values from 3 MB).
  size_t end = static_cast<size_t>(header_lines);
  while (end < lines.size() && !is_blank(lines[end]) &&
         static_cast<size_t>(std::count(lines[end].begin(), lines[end].end(), ',')) + 1 == n_fields)
    ++end;
  Matrix<T> matrix(static_cast<Eigen::Index>(end - header_lines),
                   static_cast<Eigen::Index>(n_fields));
  for (size_t i = header_lines; i < lines.size(); ++i) {
    const size_t line_number = i + 1;
    DICTLEARN_CHECK(!is_blank(lines[i]),
                    "{}: line {} is blank (blank lines are allowed only at the end)", path,
                    line_number);
    const std::vector<std::string_view> fields = split_fields(lines[i]);
    DICTLEARN_CHECK(fields.size() == n_fields,
                    "{}: line {} has {} fields, expected {} (as on line 1)", path, line_number,
                    fields.size(), n_fields);
    const auto row = static_cast<Eigen::Index>(i - header_lines);
    for (size_t j = 0; j < fields.size(); ++j) {
      DICTLEARN_CHECK(!fields[j].empty(), "{}: line {}, column {}: empty field (expected a number)",
                      path, line_number, j + 1);
      const Field field = parse_field(fields[j]);
      DICTLEARN_CHECK(field.kind != FieldKind::not_number,
                      "{}: line {}, column {}: '{}' is not a number", path, line_number, j + 1,
                      printable(fields[j]));
      const T value = static_cast<T>(field.value);
      DICTLEARN_CHECK(
          field.kind == FieldKind::number && std::isfinite(value) == std::isfinite(field.value),
          "{}: line {}, column {}: '{}' is out of range for {}", path, line_number, j + 1,
          printable(fields[j]), type_name<T>());
      matrix(row, static_cast<Eigen::Index>(j)) = value;
    }
  }
  return matrix;
}

template <typename T>
Matrix<T> read_csv(const std::string& path) {
  int header_lines = 0;
  return detail::read_csv_counting_header<T>(path, header_lines);
}

namespace {

template <typename T>
void write_csv_rows(const std::string& path, MatrixView<T> matrix,
                    const std::vector<std::string>& header) {
  DICTLEARN_CHECK(header.empty() || header.size() == static_cast<size_t>(matrix.cols()),
                  "{}: the header has {} names but the matrix has {} columns", path, header.size(),
                  matrix.cols());
  bool header_has_text = false;
  for (const std::string& name : header) {
    DICTLEARN_CHECK(name.find_first_of(",\"\r\n") == std::string::npos,
                    "{}: header name '{}' contains a comma, quote or line break", path,
                    printable(name));
    // A header is recognized on reading as a line with no number in it.
    header_has_text = header_has_text || parse_field(trim(name)).kind == FieldKind::not_number;
  }
  DICTLEARN_CHECK(header.empty() || header_has_text,
                  "{}: every header name is a number, so the header would be read back as data",
                  path);

  AtomicFile file(path);
  fmt::memory_buffer buffer;
  if (!header.empty()) fmt::format_to(std::back_inserter(buffer), "{}\n", fmt::join(header, ","));
  for (Eigen::Index i = 0; i < matrix.rows(); ++i) {
    // fmt's "{}" is the shortest text that reads back as the same T.
    fmt::format_to(std::back_inserter(buffer), "{}\n", fmt::join(matrix.row(i), ","));
    if (buffer.size() >= (size_t{1} << 20)) {
      file.write(buffer.data(), buffer.size());
      buffer.clear();
    }
  }
  file.write(buffer.data(), buffer.size());
  file.commit();
}

}  // namespace

void write_csv(const std::string& path, MatrixView<float> matrix,
               const std::vector<std::string>& header) {
  write_csv_rows(path, matrix, header);
}
void write_csv(const std::string& path, MatrixView<double> matrix,
               const std::vector<std::string>& header) {
  write_csv_rows(path, matrix, header);
}

template Matrix<float> detail::read_csv_counting_header<float>(const std::string&, int&);
template Matrix<double> detail::read_csv_counting_header<double>(const std::string&, int&);
template Matrix<float> read_csv<float>(const std::string&);
template Matrix<double> read_csv<double>(const std::string&);

}  // namespace dictlearn
