// Internal: what the .npy reader and writer share with the sparse-codes (.npz)
// ones: the format's prefix (magic, version, header length), the padded header
// numpy writes, and the parser of headers (a Python dict literal).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/check.hpp"

namespace dictlearn::detail {

inline constexpr char npy_magic[] = "\x93NUMPY";
inline constexpr size_t npy_magic_size = 6;

/// The .npy format 1.0 prefix and header of an array of `descr` ('<f4') and
/// `shape` (as Python prints the tuple: "(3, 4)", "(5,)"), in C order. The
/// header is padded with spaces and a newline as numpy pads it, so the data
/// starts on a 64-byte boundary (aligned loads when memory-mapped).
inline std::string npy_header_v1(std::string_view descr, std::string_view shape) {
  std::string header =
      fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descr, shape);
  const size_t prefix_size = npy_magic_size + 2 + 2;
  header.append((64 - (prefix_size + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string out(npy_magic, npy_magic_size);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xFF);
  out += static_cast<char>(header.size() >> 8);
  return out + header;
}

/// Checks the first `got` bytes of a .npy: the magic, then that `needed` bytes
/// were there, then the version (1.0, 2.0 or 3.0). `where` names the file or
/// the archive entry; `thing` ("file", "array") and `container` ("file",
/// "entry") word the errors. Returns the major version.
inline int check_npy_prefix(const unsigned char* prefix, size_t got, size_t needed,
                            const std::string& where, const char* thing, const char* container) {
  DICTLEARN_CHECK(got >= npy_magic_size && std::memcmp(prefix, npy_magic, npy_magic_size) == 0,
                  "{}: not a .npy {} (bad magic)", where, thing);
  DICTLEARN_CHECK(got >= needed, "{}: truncated: the {} ends inside the .npy header", where,
                  container);
  const int major = prefix[6];
  const int minor = prefix[7];
  DICTLEARN_CHECK((major == 1 || major == 2 || major == 3) && minor == 0,
                  "{}: unsupported .npy format version {}.{} (dictlearn reads 1.0, 2.0 and 3.0)",
                  where, major, minor);
  return major;
}

/// The header length that follows the version: 2 bytes little-endian in
/// format 1.0, 4 in 2.0 and 3.0.
inline uint64_t npy_header_length(int major, const unsigned char* length) {
  uint64_t value = length[0] | (uint64_t{length[1]} << 8);
  if (major > 1) value |= (uint64_t{length[2]} << 16) | (uint64_t{length[3]} << 24);
  return value;
}

/// A value of the Python literal subset that .npy headers use.
struct PyValue {
  enum class Kind { string, integer, boolean, none, sequence };
  Kind kind = Kind::none;
  std::string text;  ///< string contents, or the literal as written for errors
  uint64_t integer = 0;
  bool negative = false;
  bool boolean = false;
  std::vector<PyValue> items;
};

/// Parses the header dict: string keys; values are strings, non-negative or
/// negative integers, True/False/None, tuples and lists. Anything else is a
/// malformed header. Key order and spacing are free, as numpy writers vary.
class HeaderParser {
 public:
  /// `where` names the file (or archive entry) in errors; `max_depth` bounds
  /// how deeply tuples and lists may nest.
  HeaderParser(std::string_view text, const std::string& where, int max_depth = 16)
      : text_(text), path_(where), max_depth_(max_depth) {}

  std::vector<std::pair<std::string, PyValue>> parse_dict() {
    std::vector<std::pair<std::string, PyValue>> entries;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      PyValue key = parse_value();
      if (key.kind != PyValue::Kind::string) fail("dict keys must be strings");
      expect(':');
      entries.emplace_back(key.text, parse_value());
      skip_space();
      if (peek() == ',') {
        ++position_;
        continue;
      }
      if (peek() != '}') fail("expected ',' or '}'");
    }
    ++position_;
    skip_space();
    if (position_ != text_.size()) fail("unexpected text after the dict");
    return entries;
  }

 private:
  [[noreturn]] void fail(std::string_view what) const {
    DICTLEARN_FAIL("{}: malformed .npy header: {} at offset {}", path_, what, position_);
  }
  void skip_space() {
    while (position_ < text_.size() && (text_[position_] == ' ' || text_[position_] == '\t' ||
                                        text_[position_] == '\n' || text_[position_] == '\r'))
      ++position_;
  }
  char peek() const { return position_ < text_.size() ? text_[position_] : '\0'; }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail(fmt::format("expected '{}'", c));
    ++position_;
  }

  PyValue parse_value() {
    skip_space();
    const char c = peek();
    if (c == '\'' || c == '"') return parse_string(c);
    if (c == '(' || c == '[') return parse_sequence(c == '(' ? ')' : ']');
    if (c == '-' || (c >= '0' && c <= '9')) return parse_integer();
    for (const char* word : {"True", "False", "None"}) {
      const size_t length = std::strlen(word);
      if (text_.substr(position_, length) == word) {
        position_ += length;
        PyValue value;
        value.kind = word[0] == 'N' ? PyValue::Kind::none : PyValue::Kind::boolean;
        value.boolean = word[0] == 'T';
        value.text = word;
        return value;
      }
    }
    fail("unexpected character");
  }

  PyValue parse_string(char quote) {
    PyValue value;
    value.kind = PyValue::Kind::string;
    ++position_;
    while (peek() != quote) {
      if (position_ >= text_.size()) fail("unterminated string");
      // dtype strings never need escapes; keep the escaped character as is.
      if (peek() == '\\') ++position_;
      if (position_ >= text_.size()) fail("unterminated string");
      value.text += text_[position_++];
    }
    ++position_;
    return value;
  }

  PyValue parse_integer() {
    PyValue value;
    value.kind = PyValue::Kind::integer;
    const size_t start = position_;
    if (peek() == '-') {
      value.negative = true;
      ++position_;
    }
    if (!(peek() >= '0' && peek() <= '9')) fail("expected a digit");
    while (peek() >= '0' && peek() <= '9') {
      const uint64_t digit = static_cast<uint64_t>(peek() - '0');
      if (value.integer > (UINT64_MAX - digit) / 10) fail("integer too large");
      value.integer = value.integer * 10 + digit;
      ++position_;
    }
    if (peek() == 'L') ++position_;  // Python 2 long literals, in old files
    value.text = std::string(text_.substr(start, position_ - start));
    return value;
  }

  PyValue parse_sequence(char close) {
    // Parsing recurses per level, so a header of a million '(' would overflow
    // the stack; real headers nest one level (the shape tuple).
    if (depth_ >= max_depth_) fail("tuples nested too deeply");
    ++depth_;
    PyValue value;
    value.kind = PyValue::Kind::sequence;
    ++position_;
    while (true) {
      skip_space();
      if (peek() == close) break;
      value.items.push_back(parse_value());
      skip_space();
      if (peek() == ',') {
        ++position_;
        continue;
      }
      if (peek() != close) fail("expected ',' or the end of a tuple");
    }
    ++position_;
    --depth_;
    return value;
  }

  std::string_view text_;
  const std::string& path_;
  int max_depth_;
  size_t position_ = 0;
  int depth_ = 0;
};

}  // namespace dictlearn::detail
