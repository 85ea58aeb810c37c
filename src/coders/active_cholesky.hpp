// Internal: the Cholesky factor of G restricted to an ordered active set of
// atoms, grown by one atom (a new row) and shrunk by one (Givens rotations),
// as the LARS coders move along their path.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace dictlearn::detail {

/// L with L Lᵀ = G_AA for the active atoms A = (a_0, ..., a_{k−1}), lower
/// triangular and packed by rows (row i holds i + 1 values from offset
/// i(i+1)/2), so that appending an atom appends a row and the storage grows
/// only with the largest active set seen: reused across signals, it
/// allocates nothing once warm. Append and solve cost O(k²), remove
/// O((k − i)²).
///
/// Its methods are inlined where they are called: into the coders'
/// per-level clones (AVX2, AVX-512), not called as baseline code.
template <typename T>
class ActiveCholesky {
 public:
  void clear() { size_ = 0; }
  int64_t size() const { return size_; }

  /// Appends the atom whose Gram row is g_row (G[atom, :], by atom index;
  /// g_row[active[i]] = G[atom, a_i], g_row[atom] its squared norm). Returns
  /// false and changes nothing when the new pivot² is at most `pivot_tol`
  /// times G[atom, atom] (or that is not positive): the atom lies in the span
  /// of the active ones (a duplicate, a collinear atom, a full set).
  [[gnu::always_inline]] bool append(const T* g_row, const int64_t* active, int64_t atom,
                                     T pivot_tol) {
    const int64_t k = size_, offset = k * (k + 1) / 2;
    if (static_cast<int64_t>(packed_.size()) < offset + k + 1) packed_.resize(offset + k + 1);
    T* w = packed_.data() + offset;
    T norm2 = 0;
    for (int64_t i = 0; i < k; ++i) {
      const T* row = packed_.data() + i * (i + 1) / 2;
      T sum = g_row[active[i]];
      for (int64_t j = 0; j < i; ++j) sum -= row[j] * w[j];
      w[i] = sum * inverse_[i];
      norm2 += w[i] * w[i];
    }
    const T diagonal = g_row[atom];
    const T pivot2 = diagonal - norm2;
    if (!(diagonal > 0) || pivot2 <= pivot_tol * diagonal) return false;
    w[k] = std::sqrt(pivot2);
    if (static_cast<int64_t>(inverse_.size()) < k + 1) inverse_.resize(k + 1);
    inverse_[k] = T(1) / w[k];
    ++size_;
    return true;
  }

  /// Removes the active atom at position `index`: the rows below it move up
  /// (each then has one value past the diagonal), and rotations of columns
  /// (j, j+1), j = index ... k−2, restore the triangle, leaving the last
  /// column zero (LINPACK's dchdd, scikit-learn's cholesky_delete).
  [[gnu::always_inline]] void remove(int64_t index) {
    const int64_t k = size_;
    rotation_.resize(2 * k);
    row_.resize(k + 1);
    for (int64_t q = index; q + 1 < k; ++q) {
      // Old row q + 1: q + 2 values, columns 0 ... q + 1.
      const T* old = packed_.data() + (q + 1) * (q + 2) / 2;
      for (int64_t j = 0; j <= q + 1; ++j) row_[j] = old[j];
      // The earlier rotations, in order, then this row's own, which zeros
      // its value past the diagonal.
      for (int64_t j = index; j < q; ++j) {
        const T c = rotation_[2 * j], s = rotation_[2 * j + 1];
        const T a = row_[j], b = row_[j + 1];
        row_[j] = c * a + s * b;
        row_[j + 1] = c * b - s * a;
      }
      const T a = row_[q], b = row_[q + 1];
      // The factor's entries are at most the atoms' norms (G's diagonal): no
      // overflow for hypot's scaling to guard against, at a fraction of its cost.
      const T r = std::sqrt(a * a + b * b);
      rotation_[2 * q] = r > 0 ? a / r : T(1);
      rotation_[2 * q + 1] = r > 0 ? b / r : T(0);
      row_[q] = r;
      inverse_[q] = T(1) / r;
      // Row q's slot was read on the previous turn: writing it is safe.
      T* out = packed_.data() + q * (q + 1) / 2;
      for (int64_t j = 0; j <= q; ++j) out[j] = row_[j];
    }
    --size_;
  }

  /// Solves L Lᵀ x = b in place (b: size() values, in active order).
  [[gnu::always_inline]] void solve(T* b) const {
    forward(b);
    backward(b);
  }

  /// Solves L y = b in place (forward substitution), by columns of L: each
  /// solved value updates the values below it, so that its chain of
  /// dependent steps grows with size() rather than size()²/2 (each value's
  /// terms are subtracted in forward_row's order).
  [[gnu::always_inline]] void forward(T* b) const {
    for (int64_t j = 0; j < size_; ++j) {
      const T value = b[j] * inverse_[j];
      b[j] = value;
      for (int64_t i = j + 1; i < size_; ++i) b[i] -= packed_[i * (i + 1) / 2 + j] * value;
    }
  }

  /// Row i of the forward substitution: (b_i − Σ_{j<i} L_ij y_j) / L_ii
  /// from y_0 ... y_{i−1}, so that a caller keeping y = L⁻¹ s extends it by
  /// one value when an atom is appended.
  [[gnu::always_inline]] T forward_row(int64_t i, const T* y, T b_i) const {
    const T* row = packed_.data() + i * (i + 1) / 2;
    T sum = b_i;
    for (int64_t j = 0; j < i; ++j) sum -= row[j] * y[j];
    return sum * inverse_[i];
  }

  /// Solves Lᵀ x = y in place (backward substitution), by rows of L: each
  /// solved value updates the others with one contiguous, vectorizable
  /// pass instead of a strided dot product.
  [[gnu::always_inline]] void backward(T* b) const {
    for (int64_t i = size_ - 1; i >= 0; --i) {
      const T* row = packed_.data() + i * (i + 1) / 2;
      const T value = b[i] * inverse_[i];
      b[i] = value;
      for (int64_t j = 0; j < i; ++j) b[j] -= row[j] * value;
    }
  }

 private:
  std::vector<T> packed_;
  std::vector<T> inverse_;   ///< 1 / L_ii: the substitutions multiply instead of dividing
  std::vector<T> rotation_;  ///< remove(): (cos, sin) of each rotation
  std::vector<T> row_;       ///< remove(): the row being rotated
  int64_t size_ = 0;
};

}  // namespace dictlearn::detail
