// dictlearn: reading and writing arrays (.npy, CSV) and crash-safe output files.
//
// Every reader validates before it allocates: a header that announces more data
// than the file holds is rejected with an error naming the file. Every writer
// goes through AtomicFile, so a failed or interrupted write leaves nothing (or
// the previous complete file) under the requested name (atomic_file.hpp).
#pragma once

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "dictlearn/atomic_file.hpp"
#include "dictlearn/types.hpp"

namespace dictlearn {

/// Reads a 2-D float32 or float64 .npy array (format versions 1-3, little
/// endian, C or Fortran order), converted to T. Throws Error naming the file
/// for: unreadable file, not .npy, truncated data, unsupported dtype (named),
/// a shape that is not 2-D.
template <typename T>
Matrix<T> read_npy(const std::string& path);

/// The dtype stored in a .npy file's header (validates the header).
DType npy_dtype(const std::string& path);

/// What a data file announces before it is read, for a "reading" line.
struct DataFileInfo {
  int64_t bytes = -1;  ///< the file's size; -1 when it cannot be told
  int64_t rows = -1;   ///< from a valid .npy header; -1 otherwise (CSV, bad header)
  int64_t cols = -1;
};

/// The size of `path` and, for a .npy whose header is valid, its shape.
/// Never throws: the reader reports what is wrong with the file.
DataFileInfo data_file_info(const std::string& path);

/// Writes a 2-D C-order .npy (format 1.0) with the matrix's dtype (float32
/// '<f4', float64 '<f8'), atomically. The writers take views: a Matrix, a
/// NumPy array or a memory map is written without a copy.
void write_npy(const std::string& path, MatrixView<float> matrix);
void write_npy(const std::string& path, MatrixView<double> matrix);

/// Reads numeric CSV: comma separated, one sample per line, fields optionally
/// in double quotes ("" for a quote; a quoted field ends at its line). The
/// first line is a header if and only if some field of it, unquoted, is not a
/// number: "1","2" is data, and so is a header of numbers such as pandas'
/// 0,1 for unnamed columns (it cannot be told from data). Blank lines at the
/// end are ignored; CRLF and a UTF-8 byte-order mark are accepted. Lines,
/// fields and their count are bounded (16 MiB, 4096 bytes, 2^20), so a binary
/// file or /dev/zero fails at once. Throws Error naming file, line and column
/// for ragged rows, non-numeric fields and bad quotes, and the limit for a bound.
template <typename T>
Matrix<T> read_csv(const std::string& path);

/// Writes CSV with an optional header row; numbers with enough digits to
/// round-trip the matrix's type exactly. Atomic.
void write_csv(const std::string& path, MatrixView<float> matrix,
               const std::vector<std::string>& header = {});
void write_csv(const std::string& path, MatrixView<double> matrix,
               const std::vector<std::string>& header = {});

/// Reads data by extension (.npy or .csv), then checks it is usable as
/// training data: not empty, every entry finite (an error names the first
/// bad row and column, counted from 0 for .npy and as file lines for CSV).
template <typename T>
Matrix<T> read_matrix(const std::string& path);

/// Writes by extension: .npy or .csv (anything else is an Error naming the path).
void write_matrix(const std::string& path, MatrixView<float> matrix);
void write_matrix(const std::string& path, MatrixView<double> matrix);

/// Throws Error "<what>: row R, column C is <value>" at the first non-finite entry.
void check_finite(MatrixView<float> matrix, const std::string& what);
void check_finite(MatrixView<double> matrix, const std::string& what);

}  // namespace dictlearn
