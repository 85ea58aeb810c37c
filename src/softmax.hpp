// Internal: row-wise softmax, computed as torch.softmax does (subtract the
// row maximum, exponentiate, scale by the reciprocal of the sum) so results match PyTorch.
#pragma once

#include <cmath>

#include "dictlearn/types.hpp"

namespace dictlearn {

/// In place: each row of `logits` (N x n_atoms) becomes softmax of that row.
template <typename T>
void softmax_rows(Matrix<T>& logits) {
  const Eigen::Index cols = logits.cols();
  for (Eigen::Index i = 0; i < logits.rows(); ++i) {
    T* row = logits.data() + i * cols;
    T max = row[0];
    for (Eigen::Index k = 1; k < cols; ++k) max = row[k] > max ? row[k] : max;
    T sum = 0;
    for (Eigen::Index k = 0; k < cols; ++k) {
      row[k] = std::exp(row[k] - max);
      sum += row[k];
    }
    const T inverse = T(1) / sum;  // PyTorch multiplies by the reciprocal
    for (Eigen::Index k = 0; k < cols; ++k) row[k] *= inverse;
  }
}

}  // namespace dictlearn
