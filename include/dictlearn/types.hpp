// dictlearn: matrix types shared by the public API.
#pragma once

#include <Eigen/Core>
#include <cstdint>

namespace dictlearn {

/// Row-major dense matrix: one sample (or one atom) per row, so an N x dim
/// C-order NumPy array maps onto it without a copy.
template <typename T>
using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Dense column vector.
template <typename T>
using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

/// Read-only view of row-major data held elsewhere (a Matrix, a NumPy array,
/// a memory map): public functions take this, so such data is read without a
/// copy. Rows must be contiguous (outer stride = cols) for the fast paths;
/// a view with other strides is copied once where a function needs that.
template <typename T>
using MatrixView = Eigen::Ref<const Matrix<T>>;

/// Read-only view of a vector held elsewhere.
template <typename T>
using VectorView = Eigen::Ref<const Vector<T>>;

/// Element type of a stored array.
enum class DType { float32, float64 };

/// "float32" / "float64".
const char* dtype_name(DType dtype);

}  // namespace dictlearn
