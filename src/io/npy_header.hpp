// Internal: the parser of .npy headers (a Python dict literal), shared by the
// .npy reader and the sparse-codes (.npz) reader.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/check.hpp"

namespace dictlearn::detail {

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
