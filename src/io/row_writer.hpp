// Internal: a matrix written to its file block of rows by block of rows, as
// the rows are computed (encode, reconstruct), so that neither the matrix nor
// its sparse form is ever whole in memory.
//
// Each format gives the same bytes as its whole-matrix writer for the same
// rows: .npy as write_npy (the header, with the shape known from the start,
// then the rows), .csv as write_csv without a header, and sparse codes (.npz)
// as write_sparse_codes(to_sparse(rows)). Everything goes through AtomicFile:
// nothing is under the destination's name before commit(), and a writer
// destroyed without commit() (an error midway) leaves nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "dictlearn/types.hpp"

namespace dictlearn::detail {

/// What a RowWriter writes.
enum class RowFormat {
  dense,  ///< .npy or .csv, by the path's extension (as write_matrix decides)
  sparse  ///< .npz of CSR sparse codes (sparse_codes.hpp)
};

/// Writes a rows x cols matrix of T given as consecutive blocks of rows.
/// Memory: a block's own size (its CSR form for sparse codes) and buffers of
/// a few MiB, whatever `rows`.
template <typename T>
class RowWriter {
 public:
  /// Creates the temporary beside `path` (AtomicFile's checks apply) and
  /// writes what precedes the rows.
  RowWriter(const std::string& path, RowFormat format, int64_t rows, int64_t cols);
  ~RowWriter();
  RowWriter(const RowWriter&) = delete;
  RowWriter& operator=(const RowWriter&) = delete;

  /// Appends the next `block.rows()` rows (block.cols() must be cols).
  void append(MatrixView<std::type_identity_t<T>> block);

  /// Writes what follows the rows and gives the file its name; every row
  /// must have been appended.
  void commit();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace dictlearn::detail
