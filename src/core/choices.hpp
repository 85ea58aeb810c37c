// Internal: the tables of named rows (encoders, coders): their names as help
// texts and error messages list them, and lookup by name.
#pragma once

#include <string>

#include "core/check.hpp"

namespace dictlearn::detail {

/// "a, b or c" from the `name` members of the rows.
template <typename Rows>
std::string join_choices(const Rows& rows) {
  std::string out;
  const auto count = rows.size();
  decltype(rows.size()) index = 0;
  for (const auto& row : rows) {
    if (index > 0) out += index + 1 == count ? " or " : ", ";
    out += row.name;
    ++index;
  }
  return out;
}

/// The row called `name`; otherwise throws Error "<parameter>: unknown <what>
/// '<name>' (expected a, b or c)".
template <typename Rows>
const auto& row_named(const Rows& rows, const std::string& name, const std::string& parameter,
                      const char* what) {
  for (const auto& row : rows) {
    if (name == row.name) return row;
  }
  DICTLEARN_FAIL("{}: unknown {} '{}' (expected {})", parameter, what, name, join_choices(rows));
}

}  // namespace dictlearn::detail
