// Internal: the text readers' (CSV data, training logs) line source, with the
// bounds that make a binary file or an endless one (/dev/zero, a device) fail
// fast, naming the file, the line and the limit, instead of exhausting memory.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace dictlearn::detail {

/// The longest line the text readers accept, in bytes: a million float64
/// values of 16 digits. A longer "line" is a binary file, or /dev/zero.
inline constexpr size_t kMaxLineBytes = size_t{16} << 20;
/// The most fields (columns) a line may have.
inline constexpr size_t kMaxFields = size_t{1} << 20;
/// The longest field, in bytes: any number a CSV writer produces fits many
/// times over, and so does any reasonable column name.
inline constexpr size_t kMaxFieldBytes = 4096;

/// Reads a file line by line, holding one line (at most kMaxLineBytes) at a
/// time. Line ends are "\n" or "\r\n"; the last line may lack one.
class TextLines {
 public:
  /// Opens `path`; throws Error "<path>: cannot open: <reason>".
  explicit TextLines(const std::string& path);
  ~TextLines();
  TextLines(const TextLines&) = delete;
  TextLines& operator=(const TextLines&) = delete;

  /// The next line without its line end, valid until the next call; false
  /// at the end of the file. Throws Error naming the file and the line when
  /// the line exceeds kMaxLineBytes or the file cannot be read.
  bool next(std::string_view& line);
  /// The number of the line next() returned last, counted from 1.
  int64_t line_number() const { return line_number_; }

 private:
  std::FILE* file_ = nullptr;
  std::string path_;
  std::string buffer_;
  size_t begin_ = 0;    // start of the unread text in buffer_
  size_t scanned_ = 0;  // buffer_[begin_, scanned_) holds no '\n'
  bool end_of_file_ = false;
  int64_t line_number_ = 0;
};

}  // namespace dictlearn::detail
