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

/// Element type of a stored array.
enum class DType { float32, float64 };

/// "float32" / "float64".
const char* dtype_name(DType dtype);

}  // namespace dictlearn
