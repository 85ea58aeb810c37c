#include "dictlearn/training_log.hpp"

#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/check.hpp"
#include "dictlearn/io.hpp"

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

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> fields;
  size_t begin = 0;
  while (true) {
    size_t end = line.find(',', begin);
    std::string field =
        line.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    while (!field.empty() && (field.back() == ' ' || field.back() == '\r')) field.pop_back();
    while (!field.empty() && field.front() == ' ') field.erase(field.begin());
    fields.push_back(field);
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  return fields;
}

}  // namespace

TrainingLog read_training_log(const std::string& path) {
  std::ifstream in(path);
  DICTLEARN_CHECK(in.good(), "{}: cannot open: {}", path, std::strerror(errno));
  TrainingLog log;
  std::string line;
  DICTLEARN_CHECK(static_cast<bool>(std::getline(in, line)),
                  "{}: empty file (expected a training log)", path);
  log.columns = split(line);
  DICTLEARN_CHECK(log.column("epoch") >= 0 && log.column("loss") >= 0,
                  "{}: line 1: header lacks the columns 'epoch' and 'loss' (not a training log?)",
                  path);
  int line_number = 1;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.empty() || line == "\r") continue;
    const std::vector<std::string> fields = split(line);
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
                      fields[i]);
    }
    log.rows.push_back(std::move(row));
  }
  return log;
}

void log_to_tensors(const TrainingLog& log, TensorFile& file) {
  std::string names;
  for (const auto& name : log.columns) names += (names.empty() ? "" : ",") + name;
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
  std::stringstream names(columns->second);
  for (std::string name; std::getline(names, name, ',');) log.columns.push_back(name);
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
