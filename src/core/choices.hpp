// Internal: lists of names as help texts and error messages spell them.
#pragma once

#include <string>

namespace dictlearn::detail {

/// "a, b or c" from the names that `name(row)` gives for each row of `rows`.
template <typename Rows, typename Name>
std::string join_choices(const Rows& rows, Name name) {
  std::string out;
  const auto count = rows.size();
  decltype(rows.size()) index = 0;
  for (const auto& row : rows) {
    if (index > 0) out += index + 1 == count ? " or " : ", ";
    out += name(row);
    ++index;
  }
  return out;
}

}  // namespace dictlearn::detail
