#include "row_kernels.hpp"

#include <cstring>
#include <limits>

#include "simd_dispatch.hpp"
#include "vector_math.hpp"

namespace dictlearn::detail {
namespace {

/// v ← the `count` values at p, `fill` in the lanes after them.
template <typename V, typename T>
DICTLEARN_SIMD_INLINE void load(V& v, const T* p, int count, T fill) {
  if (count == kLanes<V>) {
    std::memcpy(&v, p, sizeof(v));
  } else {
    v = V{} + fill;
    for (int l = 0; l < count; ++l) v[l] = p[l];
  }
}

template <typename V, typename T>
DICTLEARN_SIMD_INLINE void store(T* p, const V& v, int count) {
  if (count == kLanes<V>) {
    std::memcpy(p, &v, sizeof(v));
  } else {
    for (int l = 0; l < count; ++l) p[l] = v[l];
  }
}

template <typename V>
DICTLEARN_SIMD_INLINE LaneType<V> horizontal_max(const V& v) {
  LaneType<V> m = v[0];
  for (int l = 1; l < kLanes<V>; ++l) m = v[l] > m ? v[l] : m;
  return m;
}

template <typename V>
DICTLEARN_SIMD_INLINE LaneType<V> horizontal_sum(const V& v) {
  LaneType<V> s = 0;
  for (int l = 0; l < kLanes<V>; ++l) s += v[l];
  return s;
}

/// Bytes: the vector width of the level it is compiled for.
/// Unit: inverse_temperature is 1, and the multiplications by it (exact) are
/// left out.
template <typename T, int Bytes, bool Unit>
DICTLEARN_SIMD_INLINE void softmax_rows_scaled(T* z, int64_t rows, int cols, T inverse_temperature) {
  using V = Simd<T, Bytes>;
  constexpr int L = kLanes<V>;
  const T lowest = -std::numeric_limits<T>::infinity();
  for (int64_t i = 0; i < rows; ++i) {
    T* row = z + i * cols;
    V max = V{} + lowest;
    for (int c = 0; c < cols; c += L) {
      const int count = cols - c < L ? cols - c : L;
      V v;
      load(v, row + c, count, T(0));
      if constexpr (!Unit) v *= inverse_temperature;
      for (int l = count; l < L; ++l) v[l] = lowest;  // padding never wins the maximum
      max = v > max ? v : max;
    }
    const T m = horizontal_max(max);
    V sum = V{};
    for (int c = 0; c < cols; c += L) {
      const int count = cols - c < L ? cols - c : L;
      V v;
      load(v, row + c, count, T(0));
      if constexpr (!Unit) v *= inverse_temperature;
      v -= m;  // <= 0 in every lane (or NaN)
      exp_in_place<true>(v);
      for (int l = count; l < L; ++l) v[l] = T(0);
      sum += v;
      store(row + c, v, count);
    }
    const T inverse = T(1) / horizontal_sum(sum);  // PyTorch multiplies by the reciprocal
    for (int c = 0; c < cols; c += L) {
      const int count = cols - c < L ? cols - c : L;
      V v;
      load(v, row + c, count, T(0));
      v *= inverse;
      store(row + c, v, count);
    }
  }
}

template <typename T, int Bytes>
DICTLEARN_SIMD_INLINE void softmax_rows(T* z, int64_t rows, int cols, T inverse_temperature) {
  if (inverse_temperature == T(1)) {
    softmax_rows_scaled<T, Bytes, true>(z, rows, cols, inverse_temperature);
  } else {
    softmax_rows_scaled<T, Bytes, false>(z, rows, cols, inverse_temperature);
  }
}

template <typename T, int Bytes>
DICTLEARN_SIMD_INLINE void softmax_backward(const T* r, T* grad, int64_t rows, int cols,
                                            T inverse_temperature) {
  using V = Simd<T, Bytes>;
  constexpr int L = kLanes<V>;
  for (int64_t i = 0; i < rows; ++i) {
    const T* ri = r + i * cols;
    T* gi = grad + i * cols;
    V dot = V{};
    for (int c = 0; c < cols; c += L) {
      const int count = cols - c < L ? cols - c : L;
      V g, rv;
      load(g, gi + c, count, T(0));
      load(rv, ri + c, count, T(0));
      dot += g * rv;
    }
    const T d = horizontal_sum(dot);
    for (int c = 0; c < cols; c += L) {
      const int count = cols - c < L ? cols - c : L;
      V g, rv;
      load(g, gi + c, count, T(0));
      load(rv, ri + c, count, T(0));
      V out = rv * (g - d);
      if (inverse_temperature != T(1)) out *= inverse_temperature;  // x 1 is exact: skipped
      store(gi + c, out, count);
    }
  }
}

// Rows that fit in half a vector run at the narrowest width that holds them
// (down to 16 bytes): a row of 2 atoms in a 64-byte vector paid for 16 lanes
// of exponentials and lane-by-lane loads (about 140 ns a row). A row that
// fits in one vector gives the same result at any width holding it: the
// padding lanes lose every maximum and add zeros after the row's own sums.
template <typename T, int Bytes>
DICTLEARN_SIMD_INLINE void softmax_rows_fitted(T* z, int64_t rows, int cols, T t) {
  if constexpr (Bytes > 16) {
    if (cols * static_cast<int>(sizeof(T)) <= Bytes / 2) {
      softmax_rows_fitted<T, Bytes / 2>(z, rows, cols, t);
      return;
    }
  }
  softmax_rows<T, Bytes>(z, rows, cols, t);
}
template <typename T, int Bytes>
DICTLEARN_SIMD_INLINE void softmax_backward_fitted(const T* r, T* g, int64_t rows, int cols, T t) {
  if constexpr (Bytes > 16) {
    if (cols * static_cast<int>(sizeof(T)) <= Bytes / 2) {
      softmax_backward_fitted<T, Bytes / 2>(r, g, rows, cols, t);
      return;
    }
  }
  softmax_backward<T, Bytes>(r, g, rows, cols, t);
}

// One function a level for softmax and its backward, each compiled for its
// instruction set with its width.
#ifdef DICTLEARN_SIMD_X86_LEVELS
template <typename T>
DICTLEARN_TARGET_V4 void softmax_rows_v4(T* z, int64_t rows, int cols, T t) {
  softmax_rows_fitted<T, simd_bytes(SimdLevel::v4)>(z, rows, cols, t);
}
template <typename T>
DICTLEARN_TARGET_V3 void softmax_rows_v3(T* z, int64_t rows, int cols, T t) {
  softmax_rows_fitted<T, simd_bytes(SimdLevel::v3)>(z, rows, cols, t);
}
template <typename T>
DICTLEARN_TARGET_V4 void softmax_backward_v4(const T* r, T* g, int64_t rows, int cols, T t) {
  softmax_backward_fitted<T, simd_bytes(SimdLevel::v4)>(r, g, rows, cols, t);
}
template <typename T>
DICTLEARN_TARGET_V3 void softmax_backward_v3(const T* r, T* g, int64_t rows, int cols, T t) {
  softmax_backward_fitted<T, simd_bytes(SimdLevel::v3)>(r, g, rows, cols, t);
}
#endif
template <typename T>
void softmax_rows_baseline(T* z, int64_t rows, int cols, T t) {
  softmax_rows<T, simd_bytes(SimdLevel::baseline)>(z, rows, cols, t);
}
template <typename T>
void softmax_backward_baseline(const T* r, T* g, int64_t rows, int cols, T t) {
  softmax_backward<T, simd_bytes(SimdLevel::baseline)>(r, g, rows, cols, t);
}

template <typename T>
void softmax_rows_at(T* z, int64_t rows, int cols, T t, SimdLevel level) {
  switch (supported_simd_level(level)) {
#ifdef DICTLEARN_SIMD_X86_LEVELS
    case SimdLevel::v4:
      return softmax_rows_v4(z, rows, cols, t);
    case SimdLevel::v3:
      return softmax_rows_v3(z, rows, cols, t);
#endif
    default:
      return softmax_rows_baseline(z, rows, cols, t);
  }
}

template <typename T>
void softmax_backward_at(const T* r, T* g, int64_t rows, int cols, T t, SimdLevel level) {
  switch (supported_simd_level(level)) {
#ifdef DICTLEARN_SIMD_X86_LEVELS
    case SimdLevel::v4:
      return softmax_backward_v4(r, g, rows, cols, t);
    case SimdLevel::v3:
      return softmax_backward_v3(r, g, rows, cols, t);
#endif
    default:
      return softmax_backward_baseline(r, g, rows, cols, t);
  }
}

template <typename T>
DICTLEARN_SIMD_INLINE double square_and_scale_rows(T* e, int64_t rows, int cols, T scale) {
  double squared = 0;
  for (int64_t i = 0; i < rows; ++i) {
    T* ei = e + i * cols;
    double row = 0;
#pragma omp simd reduction(+ : row)
    for (int j = 0; j < cols; ++j) {
      row += static_cast<double>(ei[j]) * static_cast<double>(ei[j]);
      ei[j] *= scale;
    }
    squared += row;
  }
  return squared;
}

template <typename T>
DICTLEARN_SIMD_INLINE void column_sums(const T* m, int64_t rows, int cols, double* sums) {
  for (int64_t i = 0; i < rows; ++i) {
    const T* mi = m + i * cols;
#pragma omp simd
    for (int j = 0; j < cols; ++j) sums[j] += static_cast<double>(mi[j]);
  }
}

template <typename T>
DICTLEARN_SIMD_INLINE void column_nonzeros(const T* m, int64_t rows, int cols, double* counts) {
  for (int64_t i = 0; i < rows; ++i) {
    const T* mi = m + i * cols;
#pragma omp simd
    for (int j = 0; j < cols; ++j) counts[j] += mi[j] != T(0) ? 1.0 : 0.0;
  }
}

template <typename T>
DICTLEARN_SIMD_INLINE T dot(const T* a, const T* b, int n) {
  T sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int j = 0; j < n; ++j) sum += a[j] * b[j];
  return sum;
}

template <typename T>
DICTLEARN_SIMD_INLINE void axpy(T alpha, const T* x, T* y, int n) {
#pragma omp simd
  for (int j = 0; j < n; ++j) y[j] += alpha * x[j];
}

}  // namespace

void softmax_rows_simd(float* z, int64_t rows, int cols, float t) {
  softmax_rows_at(z, rows, cols, t, simd_level());
}
void softmax_rows_simd(double* z, int64_t rows, int cols, double t) {
  softmax_rows_at(z, rows, cols, t, simd_level());
}
void softmax_rows_simd(float* z, int64_t rows, int cols, float t, SimdLevel level) {
  softmax_rows_at(z, rows, cols, t, level);
}
void softmax_rows_simd(double* z, int64_t rows, int cols, double t, SimdLevel level) {
  softmax_rows_at(z, rows, cols, t, level);
}
void softmax_backward_simd(const float* r, float* g, int64_t rows, int cols, float t) {
  softmax_backward_at(r, g, rows, cols, t, simd_level());
}
void softmax_backward_simd(const double* r, double* g, int64_t rows, int cols, double t) {
  softmax_backward_at(r, g, rows, cols, t, simd_level());
}
void softmax_backward_simd(const float* r, float* g, int64_t rows, int cols, float t,
                           SimdLevel level) {
  softmax_backward_at(r, g, rows, cols, t, level);
}
void softmax_backward_simd(const double* r, double* g, int64_t rows, int cols, double t,
                           SimdLevel level) {
  softmax_backward_at(r, g, rows, cols, t, level);
}

// The plain loops below leave the width to the compiler: one clone a level,
// picked by the CPU when the library loads (not by DICTLEARN_SIMD).
#define DICTLEARN_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

DICTLEARN_CLONES double square_and_scale(float* e, int64_t rows, int cols, float scale) {
  return square_and_scale_rows(e, rows, cols, scale);
}
DICTLEARN_CLONES double square_and_scale(double* e, int64_t rows, int cols, double scale) {
  return square_and_scale_rows(e, rows, cols, scale);
}
DICTLEARN_CLONES void add_column_sums(const float* m, int64_t rows, int cols, double* sums) {
  column_sums(m, rows, cols, sums);
}
DICTLEARN_CLONES void add_column_sums(const double* m, int64_t rows, int cols, double* sums) {
  column_sums(m, rows, cols, sums);
}
DICTLEARN_CLONES void count_column_nonzeros(const float* m, int64_t rows, int cols,
                                            double* counts) {
  column_nonzeros(m, rows, cols, counts);
}
DICTLEARN_CLONES void count_column_nonzeros(const double* m, int64_t rows, int cols,
                                            double* counts) {
  column_nonzeros(m, rows, cols, counts);
}

DICTLEARN_CLONES float dot_product(const float* a, const float* b, int n) { return dot(a, b, n); }
DICTLEARN_CLONES double dot_product(const double* a, const double* b, int n) {
  return dot(a, b, n);
}
DICTLEARN_CLONES void add_scaled(float alpha, const float* x, float* y, int n) {
  axpy(alpha, x, y, n);
}
DICTLEARN_CLONES void add_scaled(double alpha, const double* x, double* y, int n) {
  axpy(alpha, x, y, n);
}

}  // namespace dictlearn::detail
