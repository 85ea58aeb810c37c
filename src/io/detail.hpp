// Internal: what the readers share beyond the public io.hpp.
#pragma once

#include <string>

#include "dictlearn/types.hpp"

namespace dictlearn::detail {

/// read_csv that also returns how many header lines precede the data (0 or 1),
/// so errors can name the file line of a matrix row. Defined in src/io/csv.cpp.
template <typename T>
Matrix<T> read_csv_counting_header(const std::string& path, int& header_lines);

}  // namespace dictlearn::detail
