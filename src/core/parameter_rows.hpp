// Internal: what the parameter tables' source files (parameters.cpp,
// coding_parameters.cpp, learning_parameters.cpp) share to build their rows.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/check.hpp"
#include "dictlearn/parameters.hpp"

namespace dictlearn::detail {

/// "a, b or c".
inline std::string either(const std::vector<std::string>& names) {
  std::string text;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) text += i + 1 == names.size() ? " or " : ", ";
    text += names[i];
  }
  return text;
}

/// Index of `name` among `names`; throws "--<flag>: must be a or b, got 'x'".
inline size_t choose(const std::string& flag, const std::vector<std::string>& names,
                     const std::string& name) {
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return i;
  }
  DICTLEARN_FAIL("--{}: must be {}, got '{}'", flag, either(names), name);
}

/// A row's range: >= min (`note` follows the bound in messages and docs).
inline Range at_least(double min, std::string note = "") {
  return {.checked = true, .min = min, .note = std::move(note)};
}

/// A row's range: >= 0 and finite.
inline Range non_negative_finite(std::string note = "") {
  return {.checked = true, .min = 0, .finite = true, .note = std::move(note)};
}

}  // namespace dictlearn::detail

// A row's access to a member, nested or not: `DICTLEARN_FIELD(FitOptions, adam.lr)`
// is a function pointer returning double&, so the row's type follows the
// member's (ParameterField's alternative). Each table file #undefs it after its rows.
#define DICTLEARN_FIELD(Options, member) \
  +[](Options& o) -> decltype((o.member)) { return o.member; }
