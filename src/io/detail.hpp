// Internal: what the readers share beyond the public io.hpp.
#pragma once

#include <string>

#include "dictlearn/atomic_file.hpp"
#include "dictlearn/types.hpp"

namespace dictlearn::detail {

/// read_csv that also returns how many header lines precede the data (0 or 1),
/// so errors can name the file line of a matrix row. Defined in src/io/csv.cpp.
template <typename T>
Matrix<T> read_csv_counting_header(const std::string& path, int& header_lines);

/// Appends `rows` to `file` as CSV lines, as write_csv() writes them (the
/// shortest text that reads back as the same T), in pieces of about 1 MiB.
template <typename T>
void write_csv_block(AtomicFile& file, MatrixView<T> rows);

/// Whether `path` names a .npy file (else .csv; any other extension is an
/// Error naming the path), as write_matrix() decides. In src/io/matrix_file.cpp.
bool is_npy_path(const std::string& path);

}  // namespace dictlearn::detail
