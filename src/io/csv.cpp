// Numeric CSV: comma separated, one sample per line, an optional header row.
//
// Deliberately small: no other separators, no line breaks inside quotes. What
// it does accept is what spreadsheet and pandas exports produce for numeric
// tables: CRLF line ends, a UTF-8 byte-order mark, spaces around fields,
// fields in double quotes, trailing blank lines. The first line is a header
// if and only if some field of it, unquoted, is not a number. Lines, fields
// and their count are bounded (io/text_lines.hpp).
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
#include "io/text_lines.hpp"

namespace dictlearn {
namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool is_blank(std::string_view line) { return trim(line).empty(); }

/// Splits a line at its commas into `fields[0, count)` (the strings are
/// reused from line to line), each trimmed and unquoted: a field in double
/// quotes may hold commas and "" for a quote, and ends at its line (quoted
/// line breaks are not supported). Throws Error naming the line and column on
/// a bad quote or a bound (detail::kMaxFields, detail::kMaxFieldBytes).
size_t split_fields(std::string_view line, std::vector<std::string>& fields,
                    const std::string& path, int64_t line_number) {
  size_t count = 0;
  while (true) {
    DICTLEARN_CHECK(count < detail::kMaxFields, "{}: line {} has more than {} fields, the limit",
                    path, line_number, detail::kMaxFields);
    if (count == fields.size()) fields.emplace_back();
    std::string& field = fields[count++];
    field.clear();
    size_t at = 0;
    while (at < line.size() && (line[at] == ' ' || line[at] == '\t')) ++at;
    size_t comma = 0;
    if (at < line.size() && line[at] == '"') {
      for (++at;; ++at) {
        DICTLEARN_CHECK(at < line.size(),
                        "{}: line {}, column {}: the quote is not closed (a quoted field ends at "
                        "its line)",
                        path, line_number, count);
        if (line[at] == '"') {
          if (at + 1 < line.size() && line[at + 1] == '"') {
            ++at;
          } else {
            break;
          }
        }
        field += line[at];
        DICTLEARN_CHECK(field.size() <= detail::kMaxFieldBytes,
                        "{}: line {}, column {}: field longer than {} bytes, the limit", path,
                        line_number, count, detail::kMaxFieldBytes);
      }
      comma = line.find(',', at + 1);
      DICTLEARN_CHECK(
          is_blank(line.substr(
              at + 1, comma == std::string_view::npos ? std::string_view::npos : comma - at - 1)),
          "{}: line {}, column {}: text after the closing quote", path, line_number, count);
      field.assign(trim(field));
    } else {
      comma = line.find(',', at);
      const std::string_view text = trim(
          line.substr(at, comma == std::string_view::npos ? std::string_view::npos : comma - at));
      DICTLEARN_CHECK(text.size() <= detail::kMaxFieldBytes,
                      "{}: line {}, column {}: field longer than {} bytes, the limit", path,
                      line_number, count, detail::kMaxFieldBytes);
      field.assign(text);
    }
    if (comma == std::string_view::npos) return count;
    line.remove_prefix(comma + 1);
  }
}

/// A field as it appears in an error message: escaped (printable_text) and
/// not too long, since the "CSV" may be a binary file given the wrong name.
std::string printable(std::string_view field) {
  constexpr size_t max_length = 40;
  std::string text = printable_text(field.substr(0, max_length));
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
  // Line by line, so that a file that is not CSV fails at its first bad line
  // (and /dev/zero at the line-length bound) before much is read.
  TextLines lines(path);
  std::vector<std::string> fields;
  std::vector<T> values;
  size_t n_fields = 0;
  int64_t rows = 0;
  int64_t blank_line = 0;  // the first blank line: an error if a non-blank one follows
  bool first = true;
  header_lines = 0;
  std::string_view line;
  while (lines.next(line)) {
    const int64_t line_number = lines.line_number();
    if (line_number == 1 && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
    if (is_blank(line)) {
      if (blank_line == 0) blank_line = line_number;
      continue;
    }
    DICTLEARN_CHECK(blank_line == 0,
                    "{}: line {} is blank (blank lines are allowed only at the end)", path,
                    blank_line);
    const size_t count = split_fields(line, fields, path, line_number);
    if (first) {
      first = false;
      n_fields = count;
      // The header rule: the first line is a header if and only if some field
      // of it, unquoted, is not a number. A header of numbers (pandas' 0,1,...
      // for unnamed columns) cannot be told from data and is read as data.
      for (size_t j = 0; j < count; ++j) {
        if (parse_field(fields[j]).kind == FieldKind::not_number) header_lines = 1;
      }
      if (header_lines == 1) continue;
    }
    DICTLEARN_CHECK(count == n_fields, "{}: line {} has {} fields, expected {} (as on line 1)",
                    path, line_number, count, n_fields);
    for (size_t j = 0; j < count; ++j) {
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
      values.push_back(value);
    }
    ++rows;
  }
  if (first) return Matrix<T>();  // no line but blank ones
  Matrix<T> matrix(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(n_fields));
  std::copy(values.begin(), values.end(), matrix.data());
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
    // A header is recognized on reading as a line with a field that is not a number.
    header_has_text = header_has_text || parse_field(trim(name)).kind == FieldKind::not_number;
  }
  DICTLEARN_CHECK(header.empty() || header_has_text,
                  "{}: every header name is a number, so the header would be read back as data",
                  path);

  AtomicFile file(path);
  if (!header.empty()) file.write(fmt::format("{}\n", fmt::join(header, ",")));
  detail::write_csv_block(file, matrix);
  file.commit();
}

}  // namespace

template <typename T>
void detail::write_csv_block(AtomicFile& file, MatrixView<T> rows) {
  fmt::memory_buffer buffer;
  for (Eigen::Index i = 0; i < rows.rows(); ++i) {
    // fmt's "{}" is the shortest text that reads back as the same T.
    fmt::format_to(std::back_inserter(buffer), "{}\n", fmt::join(rows.row(i), ","));
    if (buffer.size() >= (size_t{1} << 20)) {
      file.write(buffer.data(), buffer.size());
      buffer.clear();
    }
  }
  file.write(buffer.data(), buffer.size());
}

void write_csv(const std::string& path, MatrixView<float> matrix,
               const std::vector<std::string>& header) {
  write_csv_rows(path, matrix, header);
}
void write_csv(const std::string& path, MatrixView<double> matrix,
               const std::vector<std::string>& header) {
  write_csv_rows(path, matrix, header);
}

template void detail::write_csv_block<float>(AtomicFile&, MatrixView<float>);
template void detail::write_csv_block<double>(AtomicFile&, MatrixView<double>);
template Matrix<float> detail::read_csv_counting_header<float>(const std::string&, int&);
template Matrix<double> detail::read_csv_counting_header<double>(const std::string&, int&);
template Matrix<float> read_csv<float>(const std::string&);
template Matrix<double> read_csv<double>(const std::string&);

}  // namespace dictlearn
