// printable_text (dictlearn/error.hpp): escapes what a terminal would act on.
#include <fmt/format.h>

#include <string>
#include <string_view>

#include "dictlearn/error.hpp"

namespace dictlearn {
namespace {

/// Length of the well-formed UTF-8 sequence at the start of `text` (2 to 4
/// bytes, no overlong forms, no surrogates, at most U+10FFFF), or 0.
size_t utf8_sequence(std::string_view text) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // the allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (text.size() < length || byte(1) < low || byte(1) > high) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  // U+0080-U+009F (C2 80 - C2 9F) are the C1 controls: CSI is U+009B.
  if (lead == 0xC2 && byte(1) <= 0x9F) return 0;
  return length;
}

}  // namespace

std::string printable_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    const size_t length = c >= 0x80 ? utf8_sequence(text.substr(i)) : 0;
    if (length > 0) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      fmt::format_to(std::back_inserter(out), "\\x{:02x}", c);
      ++i;
    }
  }
  return out;
}

}  // namespace dictlearn
