// Internal: what every coder does before its work.
#pragma once

#include <cstdint>
#include <vector>

#include "dictlearn/coders.hpp"

namespace dictlearn::detail {

/// Signals per block of a coding call: fixed, so results do not depend on the
/// thread count.
constexpr int64_t kCodingBlock = 256;

/// Checks the options, the dictionary (not empty, finite, b_dec's size), X's
/// column count and X's finiteness (the error names the first bad row and
/// column), in that order, before any work.
template <typename T>
void check_coding_input(const Dictionary<T>& dictionary, MatrixView<T> X,
                        const CodingOptions& options);

/// Rows x − b_dec of `count` signals at x (dim columns, contiguous) into
/// `centered`, returning the rows to code: x itself without a decoder bias.
template <typename T>
const T* centered_rows(const Dictionary<T>& dictionary, const T* x, int64_t count,
                       std::vector<T>& centered);

}  // namespace dictlearn::detail
