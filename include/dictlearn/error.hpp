// dictlearn: the error type every user-facing failure is reported with.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace dictlearn {

/// A user error: bad input, bad parameter, unreadable or unwritable file.
/// The message names the file, position or parameter and what is wrong, on
/// one line, e.g. "data.npy: unsupported dtype '<i8' (expected float32 or float64)".
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// `text` made safe to print on a terminal: control characters (C0, DEL and
/// the C1 range U+0080-U+009F) and bytes that are not UTF-8 become \xNN
/// escapes, so an escape sequence in a model's metadata, a log's header, a CSV
/// field or a file name cannot move the cursor, recolour or retitle the
/// terminal. Valid UTF-8 text (accents, symbols) is kept as it is. The CLI
/// passes everything it prints that may come from a file through it.
std::string printable_text(std::string_view text);

}  // namespace dictlearn
