// dictlearn: the error type every user-facing failure is reported with.
#pragma once

#include <stdexcept>
#include <string>

namespace dictlearn {

/// A user error: bad input, bad parameter, unreadable or unwritable file.
/// The message names the file, position or parameter and what is wrong, on
/// one line, e.g. "data.npy: unsupported dtype '<i8' (expected float32 or float64)".
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace dictlearn
