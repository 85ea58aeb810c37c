#include "kernels/row_kernels.hpp"

#include <cstring>
#include <limits>

#include "kernels/simd_dispatch.hpp"
#include "kernels/vector_math.hpp"

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

/// The largest lane, halving the vector (the maximum of numbers does not
/// depend on the order; a NaN lane may or may not win, and either way the
/// row's sum and every value of the row come out NaN).
template <typename V>
DICTLEARN_SIMD_INLINE LaneType<V> horizontal_max(const V& v) {
  using T = LaneType<V>;
  if constexpr (sizeof(V) > 16) {
    using Half = Simd<T, static_cast<int>(sizeof(V) / 2)>;
    Half low, high;
    std::memcpy(&low, &v, sizeof(Half));
    std::memcpy(&high, reinterpret_cast<const char*>(&v) + sizeof(Half), sizeof(Half));
    const Half larger = high > low ? high : low;
    return horizontal_max(larger);
  } else {
    T m = v[0];
    for (int l = 1; l < kLanes<V>; ++l) m = v[l] > m ? v[l] : m;
    return m;
  }
}

template <typename V>
DICTLEARN_SIMD_INLINE LaneType<V> horizontal_sum(const V& v) {
  LaneType<V> s = 0;
  for (int l = 0; l < kLanes<V>; ++l) s += v[l];
  return s;
}

// The three phases of softmax on U rows at columns [c, c + count), count a
// whole vector (Full) or the row's last, partial one; Full steps keep every
// vector in registers (the partial loads and stores go through memory).
// Bytes: the vector width of the level it is compiled for. Unit:
// inverse_temperature is 1, and the multiplications by it (exact) are left
// out.
template <typename T, int Bytes, bool Unit, bool Full, int U>
DICTLEARN_SIMD_INLINE void softmax_max_step(const T* z, int cols, int c, int count,
                                            T inverse_temperature, Simd<T, Bytes>* max) {
  using V = Simd<T, Bytes>;
  constexpr int L = kLanes<V>;
  const T lowest = -std::numeric_limits<T>::infinity();
  for (int u = 0; u < U; ++u) {
    V v;
    load(v, z + u * cols + c, Full ? L : count, T(0));
    if constexpr (!Unit) v *= inverse_temperature;
    if constexpr (!Full) {
      for (int l = count; l < L; ++l) v[l] = lowest;  // padding never wins the maximum
    }
    max[u] = v > max[u] ? v : max[u];
  }
}
template <typename T, int Bytes, bool Unit, bool Full, int U>
DICTLEARN_SIMD_INLINE void softmax_exp_step(T* z, int cols, int c, int count, T inverse_temperature,
                                            const T* m, Simd<T, Bytes>* sum) {
  using V = Simd<T, Bytes>;
  constexpr int L = kLanes<V>;
  for (int u = 0; u < U; ++u) {
    V v;
    load(v, z + u * cols + c, Full ? L : count, T(0));
    if constexpr (!Unit) v *= inverse_temperature;
    v -= m[u];  // <= 0 in every lane (or NaN)
    exp_in_place<true>(v);
    if constexpr (!Full) {
      for (int l = count; l < L; ++l) v[l] = T(0);
    }
    sum[u] += v;
    store(z + u * cols + c, v, Full ? L : count);
  }
}
template <typename T, int Bytes, bool Full, int U>
DICTLEARN_SIMD_INLINE void softmax_scale_step(T* z, int cols, int c, int count, const T* inverse) {
  using V = Simd<T, Bytes>;
  constexpr int L = kLanes<V>;
  for (int u = 0; u < U; ++u) {
    V v;
    load(v, z + u * cols + c, Full ? L : count, T(0));
    v *= inverse[u];
    store(z + u * cols + c, v, Full ? L : count);
  }
}

/// Softmax of U consecutive rows, phase by phase, so that one row's chains of
/// dependent operations (the running maximum and sum, the lanes' sums, the
/// division) overlap the others' work; each row's operations are those of a
/// row on its own.
template <typename T, int Bytes, bool Unit, int U>
DICTLEARN_SIMD_INLINE void softmax_row_group(T* z, int cols, T inverse_temperature) {
  using V = Simd<T, Bytes>;
  constexpr int L = kLanes<V>;
  const int full = cols / L * L;
  V max[U];
  for (int u = 0; u < U; ++u) max[u] = V{} - std::numeric_limits<T>::infinity();
  for (int c = 0; c < full; c += L) {
    softmax_max_step<T, Bytes, Unit, true, U>(z, cols, c, L, inverse_temperature, max);
  }
  if (full < cols) {
    softmax_max_step<T, Bytes, Unit, false, U>(z, cols, full, cols - full, inverse_temperature,
                                               max);
  }
  T m[U];
  V sum[U];
  for (int u = 0; u < U; ++u) {
    m[u] = horizontal_max(max[u]);
    sum[u] = V{};
  }
  for (int c = 0; c < full; c += L) {
    softmax_exp_step<T, Bytes, Unit, true, U>(z, cols, c, L, inverse_temperature, m, sum);
  }
  if (full < cols) {
    softmax_exp_step<T, Bytes, Unit, false, U>(z, cols, full, cols - full, inverse_temperature, m,
                                               sum);
  }
  T inverse[U];
  for (int u = 0; u < U; ++u) {
    inverse[u] = T(1) / horizontal_sum(sum[u]);  // PyTorch multiplies by the reciprocal
  }
  for (int c = 0; c < full; c += L) softmax_scale_step<T, Bytes, true, U>(z, cols, c, L, inverse);
  if (full < cols) softmax_scale_step<T, Bytes, false, U>(z, cols, full, cols - full, inverse);
}

/// Group rows at a time, then the rest one by one.
template <typename T, int Bytes, bool Unit, int Group>
DICTLEARN_SIMD_INLINE void softmax_rows_scaled(T* z, int64_t rows, int cols,
                                               T inverse_temperature) {
  int64_t i = 0;
  for (; i + Group <= rows; i += Group) {
    softmax_row_group<T, Bytes, Unit, Group>(z + i * cols, cols, inverse_temperature);
  }
  for (; i < rows; ++i)
    softmax_row_group<T, Bytes, Unit, 1>(z + i * cols, cols, inverse_temperature);
}

/// Group: 4 at the level's own width; 1 for rows narrowed to a smaller one
/// (softmax_rows_fitted), where the compiler would pack the group's narrow
/// vectors into wide ones and may fuse other multiply-adds than a single
/// row's: each row keeps the bits it has on its own.
template <typename T, int Bytes, int Group = 4>
DICTLEARN_SIMD_INLINE void softmax_rows(T* z, int64_t rows, int cols, T inverse_temperature) {
  if (inverse_temperature == T(1)) {
    softmax_rows_scaled<T, Bytes, true, Group>(z, rows, cols, inverse_temperature);
  } else {
    softmax_rows_scaled<T, Bytes, false, Group>(z, rows, cols, inverse_temperature);
  }
}

// softmax_backward's two phases on one row at columns [c, c + count), as
// the softmax steps above: count a whole vector (Full) or the last part.
template <typename T, int Bytes, bool Full>
DICTLEARN_SIMD_INLINE void backward_dot_step(const T* r, const T* g, int c, int count,
                                             Simd<T, Bytes>& dot) {
  using V = Simd<T, Bytes>;
  constexpr int L = kLanes<V>;
  V gv, rv;
  load(gv, g + c, Full ? L : count, T(0));
  load(rv, r + c, Full ? L : count, T(0));
  dot += gv * rv;
}
template <typename T, int Bytes, bool Full, bool Unit>
DICTLEARN_SIMD_INLINE void backward_out_step(const T* r, T* g, int c, int count, T d,
                                             T inverse_temperature) {
  using V = Simd<T, Bytes>;
  constexpr int L = kLanes<V>;
  V gv, rv;
  load(gv, g + c, Full ? L : count, T(0));
  load(rv, r + c, Full ? L : count, T(0));
  V out = rv * (gv - d);
  if constexpr (!Unit) out *= inverse_temperature;  // x 1 is exact: skipped
  store(g + c, out, Full ? L : count);
}

template <typename T, int Bytes, bool Unit>
DICTLEARN_SIMD_INLINE void softmax_backward_scaled(const T* r, T* grad, int64_t rows, int cols,
                                                   T inverse_temperature) {
  constexpr int L = kLanes<Simd<T, Bytes>>;
  const int full = cols / L * L;
  for (int64_t i = 0; i < rows; ++i) {
    const T* ri = r + i * cols;
    T* gi = grad + i * cols;
    Simd<T, Bytes> dot{};
    for (int c = 0; c < full; c += L) backward_dot_step<T, Bytes, true>(ri, gi, c, L, dot);
    if (full < cols) backward_dot_step<T, Bytes, false>(ri, gi, full, cols - full, dot);
    const T d = horizontal_sum(dot);
    for (int c = 0; c < full; c += L) {
      backward_out_step<T, Bytes, true, Unit>(ri, gi, c, L, d, inverse_temperature);
    }
    if (full < cols) {
      backward_out_step<T, Bytes, false, Unit>(ri, gi, full, cols - full, d, inverse_temperature);
    }
  }
}

template <typename T, int Bytes>
DICTLEARN_SIMD_INLINE void softmax_backward(const T* r, T* grad, int64_t rows, int cols,
                                            T inverse_temperature) {
  if (inverse_temperature == T(1)) {
    softmax_backward_scaled<T, Bytes, true>(r, grad, rows, cols, inverse_temperature);
  } else {
    softmax_backward_scaled<T, Bytes, false>(r, grad, rows, cols, inverse_temperature);
  }
}

// Rows that fit in half a vector run at the narrowest width that holds them
// (down to 16 bytes): a row of 2 atoms in a 64-byte vector would pay for 16
// lanes of exponentials and lane-by-lane loads. A row that
// fits in one vector gives the same result at any width holding it: the
// padding lanes lose every maximum and add zeros after the row's own sums.
template <typename T, int Bytes, int Group = 4>
DICTLEARN_SIMD_INLINE void softmax_rows_fitted(T* z, int64_t rows, int cols, T t) {
  if constexpr (Bytes > 16) {
    if (cols * static_cast<int>(sizeof(T)) <= Bytes / 2) {
      softmax_rows_fitted<T, Bytes / 2, 1>(z, rows, cols, t);
      return;
    }
  }
  softmax_rows<T, Bytes, Group>(z, rows, cols, t);
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

DICTLEARN_LEVEL_CLONES double square_and_scale(float* e, int64_t rows, int cols, float scale) {
  return square_and_scale_rows(e, rows, cols, scale);
}
DICTLEARN_LEVEL_CLONES double square_and_scale(double* e, int64_t rows, int cols, double scale) {
  return square_and_scale_rows(e, rows, cols, scale);
}
DICTLEARN_LEVEL_CLONES void add_column_sums(const float* m, int64_t rows, int cols, double* sums) {
  column_sums(m, rows, cols, sums);
}
DICTLEARN_LEVEL_CLONES void add_column_sums(const double* m, int64_t rows, int cols, double* sums) {
  column_sums(m, rows, cols, sums);
}
DICTLEARN_LEVEL_CLONES void count_column_nonzeros(const float* m, int64_t rows, int cols,
                                                  double* counts) {
  column_nonzeros(m, rows, cols, counts);
}
DICTLEARN_LEVEL_CLONES void count_column_nonzeros(const double* m, int64_t rows, int cols,
                                                  double* counts) {
  column_nonzeros(m, rows, cols, counts);
}

DICTLEARN_LEVEL_CLONES float dot_product(const float* a, const float* b, int n) {
  return dot(a, b, n);
}
DICTLEARN_LEVEL_CLONES double dot_product(const double* a, const double* b, int n) {
  return dot(a, b, n);
}
DICTLEARN_LEVEL_CLONES void add_scaled(float alpha, const float* x, float* y, int n) {
  axpy(alpha, x, y, n);
}
DICTLEARN_LEVEL_CLONES void add_scaled(double alpha, const double* x, double* y, int n) {
  axpy(alpha, x, y, n);
}

}  // namespace dictlearn::detail
