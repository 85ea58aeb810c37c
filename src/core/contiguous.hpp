// Internal: views whose rows must be contiguous. Public functions take
// MatrixView<T> (Eigen::Ref), which also binds a block of a larger matrix (outer
// stride > cols); the kernels index rows as data + i·cols, so such a view is
// copied once here, and every other view is read in place.
#pragma once

#include "dictlearn/types.hpp"

namespace dictlearn::detail {

/// X's rows back to back (row i at data() + i·cols()): X's own memory when
/// its rows are already contiguous, else a copy owned by this object. Lives
/// no longer than X.
template <typename T>
class ContiguousRows {
 public:
  explicit ContiguousRows(const MatrixView<T>& X) {
    // One row, or none, is contiguous whatever the stride says.
    if (X.rows() <= 1 || X.outerStride() == X.cols()) {
      data_ = X.data();
    } else {
      copy_ = X;
      data_ = copy_.data();
    }
    rows_ = X.rows();
    cols_ = X.cols();
  }
  ContiguousRows(const ContiguousRows&) = delete;
  ContiguousRows& operator=(const ContiguousRows&) = delete;

  const T* data() const { return data_; }
  /// Whether the rows were copied (a strided view).
  bool copied() const { return copy_.size() > 0; }
  /// The rows as a matrix expression over data().
  Eigen::Map<const Matrix<T>> matrix() const { return {data_, rows_, cols_}; }

 private:
  Matrix<T> copy_;
  const T* data_ = nullptr;
  Eigen::Index rows_ = 0, cols_ = 0;
};

}  // namespace dictlearn::detail
