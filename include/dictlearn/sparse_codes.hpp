// dictlearn: sparse codes (N x n_atoms, mostly exact zeros) in CSR form, and
// their file format, a NumPy .npz archive that Python reads with numpy alone.
//
// The archive is an uncompressed zip (every entry STORED) of four .npy arrays:
//   indptr   int64, shape (rows + 1,)   row r's entries are [indptr[r], indptr[r+1])
//   indices  int64, shape (nnz,)        column (atom) of each entry, ascending within a row
//   values   T,     shape (nnz,)        float32 '<f4' or float64 '<f8'
//   shape    int64, shape (2,)          (rows, cols)
// which is exactly scipy.sparse.csr_matrix((values, indices, indptr), shape=shape).
// docs/SPARSE_CODES.md has the Python that rebuilds the dense matrix.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dictlearn/types.hpp"

namespace dictlearn {

/// A rows x cols matrix in compressed sparse row (CSR) form, the layout of
/// scipy.sparse.csr_matrix. Row r holds the entries k in [indptr[r], indptr[r+1]):
/// value values[k] at column indices[k]. Valid codes have indptr of size rows + 1,
/// starting at 0, non-decreasing, ending at nnz = indices.size() = values.size(),
/// and within each row strictly ascending indices in [0, cols).
template <typename T>
struct SparseCodes {
  int64_t rows = 0;              ///< samples (N)
  int64_t cols = 0;              ///< atoms (n_atoms)
  std::vector<int64_t> indptr;   ///< rows + 1 offsets into indices and values
  std::vector<int64_t> indices;  ///< column of each stored entry, nnz of them
  std::vector<T> values;         ///< value of each stored entry, nnz of them

  /// Number of stored entries.
  int64_t nnz() const { return static_cast<int64_t>(values.size()); }
};

/// The CSR form of `dense` (rows x cols): every entry that compares unequal to
/// zero is kept, however tiny (subnormals, negative values, NaN); exact zeros
/// (+0 and -0) are dropped. Cost O(rows x cols).
SparseCodes<float> to_sparse(MatrixView<float> dense);
SparseCodes<double> to_sparse(MatrixView<double> dense);

/// The dense rows x cols matrix of `codes`, zeros where nothing is stored.
/// Validates `codes` first (see check_sparse_codes).
template <typename T>
Matrix<T> to_dense(const SparseCodes<T>& codes);

/// Throws Error "<what>: <problem>" when `codes` is not valid CSR (the
/// invariants listed on SparseCodes), naming the offending row or entry.
template <typename T>
void check_sparse_codes(const SparseCodes<T>& codes, const std::string& what);

/// Writes `codes` as an uncompressed .npz (see the top of this file),
/// atomically: a failed write leaves the destination untouched. Validates
/// `codes` first. Archives over 4 GiB (which would need zip64) are an Error.
/// The output is deterministic: fixed entry order and timestamps.
template <typename T>
void write_sparse_codes(const std::string& path, const SparseCodes<T>& codes);

/// Reads an .npz written by write_sparse_codes, or by numpy's np.savez (not
/// np.savez_compressed) of the same four arrays. indptr, indices and shape may
/// be int32 or int64; values float32 or float64 (converted to T; a float64 value
/// outside float32's range read as float is an Error). Validates the zip
/// structure and CRCs, the four entries, their dtypes and 1-D shapes, and the
/// CSR invariants; every size is checked against the file size before anything
/// is allocated. Errors are Error "<path>: <what is wrong>", one line.
template <typename T>
SparseCodes<T> read_sparse_codes(const std::string& path);

}  // namespace dictlearn
