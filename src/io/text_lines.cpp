#include "io/text_lines.hpp"

#include <cerrno>
#include <cstring>

#include "core/check.hpp"

namespace dictlearn::detail {

TextLines::TextLines(const std::string& path) : path_(path) {
  file_ = std::fopen(path.c_str(), "rb");
  if (file_ == nullptr) DICTLEARN_FAIL("{}: cannot open: {}", path, std::strerror(errno));
}

TextLines::~TextLines() { std::fclose(file_); }

bool TextLines::next(std::string_view& line) {
  constexpr size_t kChunk = size_t{1} << 16;
  while (true) {
    const size_t newline = buffer_.find('\n', scanned_);
    if (newline != std::string::npos || (end_of_file_ && begin_ < buffer_.size())) {
      const size_t end = newline == std::string::npos ? buffer_.size() : newline;
      line = std::string_view(buffer_).substr(begin_, end - begin_);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      begin_ = scanned_ = newline == std::string::npos ? buffer_.size() : newline + 1;
      ++line_number_;
      DICTLEARN_CHECK(line.size() <= kMaxLineBytes,
                      "{}: line {} is longer than {} bytes, the limit (not a text file?)", path_,
                      line_number_, kMaxLineBytes);
      return true;
    }
    if (end_of_file_) return false;
    // Keep only the unfinished line, then read more of it.
    buffer_.erase(0, begin_);
    begin_ = 0;
    scanned_ = buffer_.size();
    DICTLEARN_CHECK(buffer_.size() <= kMaxLineBytes,
                    "{}: line {} is longer than {} bytes, the limit (not a text file?)", path_,
                    line_number_ + 1, kMaxLineBytes);
    const size_t old_size = buffer_.size();
    buffer_.resize(old_size + kChunk);
    const size_t got = std::fread(buffer_.data() + old_size, 1, kChunk, file_);
    buffer_.resize(old_size + got);
    if (got < kChunk) {
      if (std::ferror(file_) != 0)
        DICTLEARN_FAIL("{}: cannot read: {}", path_, std::strerror(errno));
      end_of_file_ = true;
    }
  }
}

}  // namespace dictlearn::detail
