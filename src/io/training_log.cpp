#include "dictlearn/training_log.hpp"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/check.hpp"
#include "dictlearn/io.hpp"
#include "io/text_lines.hpp"

namespace dictlearn {

int TrainingLog::column(const std::string& name) const {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i] == name) return static_cast<int>(i);
  }
  return -1;
}

int TrainingLog::atom_count() const {
  int count = 0;
  while (column(fmt::format("atom{}_x", count)) >= 0 &&
         column(fmt::format("atom{}_y", count)) >= 0) {
    ++count;
  }
  return count;
}

void write_training_log(const std::string& path, const TrainingLog& log) {
  std::string text;
  for (size_t i = 0; i < log.columns.size(); ++i) {
    if (i) text += ',';
    text += log.columns[i];
  }
  text += '\n';
  for (const auto& row : log.rows) {
    DICTLEARN_CHECK(row.size() == log.columns.size(), "{}: log row has {} values for {} columns",
                    path, row.size(), log.columns.size());
    for (size_t i = 0; i < row.size(); ++i) {
      if (i) text += ',';
      if (!std::isnan(row[i])) fmt::format_to(std::back_inserter(text), "{}", row[i]);
    }
    text += '\n';
  }
  AtomicFile file(path);
  file.write(text);
  file.commit();
}

namespace {

/// The fields of a log line, trimmed; at most detail::kMaxFields of them.
std::vector<std::string> split(std::string_view line, const std::string& path,
                               int64_t line_number) {
  std::vector<std::string> fields;
  while (true) {
    DICTLEARN_CHECK(fields.size() < detail::kMaxFields,
                    "{}: line {} has more than {} fields, the limit", path, line_number,
                    detail::kMaxFields);
    const size_t end = line.find(',');
    std::string_view field = line.substr(0, end);
    while (!field.empty() && (field.back() == ' ' || field.back() == '\r')) field.remove_suffix(1);
    while (!field.empty() && field.front() == ' ') field.remove_prefix(1);
    fields.emplace_back(field);
    if (end == std::string_view::npos) return fields;
    line.remove_prefix(end + 1);
  }
}

}  // namespace

TrainingLog read_training_log(const std::string& path) {
  detail::TextLines lines(path);
  TrainingLog log;
  std::string_view line;
  DICTLEARN_CHECK(lines.next(line), "{}: empty file (expected a training log)", path);
  log.columns = split(line, path, 1);
  const int epoch_column = log.column("epoch");
  DICTLEARN_CHECK(epoch_column >= 0 && log.column("loss") >= 0,
                  "{}: line 1: header lacks the columns 'epoch' and 'loss' (not a training log?)",
                  path);
  while (lines.next(line)) {
    const int64_t line_number = lines.line_number();
    if (line.empty()) continue;
    const std::vector<std::string> fields = split(line, path, line_number);
    DICTLEARN_CHECK(fields.size() == log.columns.size(), "{}: line {} has {} fields, expected {}",
                    path, line_number, fields.size(), log.columns.size());
    std::vector<double> row(fields.size(), std::numeric_limits<double>::quiet_NaN());
    for (size_t i = 0; i < fields.size(); ++i) {
      if (fields[i].empty()) continue;
      const char* first = fields[i].data();
      const char* last = first + fields[i].size();
      auto [end, ec] = std::from_chars(first, last, row[i]);
      DICTLEARN_CHECK(ec == std::errc() && end == last,
                      "{}: line {}, column {}: '{}' is not a number", path, line_number, i + 1,
                      printable_text(fields[i].substr(0, 40)));
    }
    // Epochs are counted in int (plots, resumed runs); a log's must fit.
    const double epoch = row[static_cast<size_t>(epoch_column)];
    DICTLEARN_CHECK(
        epoch >= 0 && epoch <= std::numeric_limits<int>::max() && epoch == std::floor(epoch),
        "{}: line {}: epoch '{}' is not a whole number in [0, {}]", path, line_number,
        printable_text(fields[static_cast<size_t>(epoch_column)].substr(0, 40)),
        std::numeric_limits<int>::max());
    log.rows.push_back(std::move(row));
  }
  return log;
}

void log_to_tensors(const TrainingLog& log, TensorFile& file) {
  std::string names;
  for (size_t i = 0; i < log.columns.size(); ++i) names += (i > 0 ? "," : "") + log.columns[i];
  file.metadata["log.columns"] = names;
  Tensor rows;
  rows.dtype = DType::float64;
  rows.shape = {static_cast<int64_t>(log.rows.size()), static_cast<int64_t>(log.columns.size())};
  for (const auto& row : log.rows) rows.values.insert(rows.values.end(), row.begin(), row.end());
  file.tensors["log.rows"] = std::move(rows);
}

std::optional<TrainingLog> log_from_tensors(const TensorFile& file, const std::string& path) {
  const auto rows = file.tensors.find("log.rows");
  const auto columns = file.metadata.find("log.columns");
  if (rows == file.tensors.end() || columns == file.metadata.end()) return std::nullopt;
  TrainingLog log;
  // Every name, an empty last one included (getline would drop it).
  for (size_t begin = 0;;) {
    const size_t comma = columns->second.find(',', begin);
    log.columns.push_back(columns->second.substr(begin, comma - begin));
    if (comma == std::string::npos) break;
    begin = comma + 1;
  }
  const size_t width = log.columns.size();
  const auto& values = rows->second.values;
  DICTLEARN_CHECK(width > 0 && values.size() % width == 0,
                  "{}: the log's {} values do not fill rows of its {} columns", path, values.size(),
                  width);
  for (size_t r = 0; r < values.size() / width; ++r) {
    log.rows.emplace_back(values.begin() + r * width, values.begin() + (r + 1) * width);
  }
  return log;
}

}  // namespace dictlearn
