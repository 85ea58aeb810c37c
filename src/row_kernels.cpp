#include "row_kernels.hpp"

#include <cstring>
#include <limits>

#include "vector_math.hpp"

namespace dictlearn::detail {
namespace {

template <typename T>
DICTLEARN_SIMD_INLINE Simd<T> load(const T* p, int count, T fill) {
  Simd<T> v = splat(fill);
  if (count == kLanes<T>) {
    std::memcpy(&v, p, sizeof(v));
  } else {
    for (int l = 0; l < count; ++l) v[l] = p[l];
  }
  return v;
}

template <typename T>
DICTLEARN_SIMD_INLINE void store(T* p, const Simd<T>& v, int count) {
  if (count == kLanes<T>) {
    std::memcpy(p, &v, sizeof(v));
  } else {
    for (int l = 0; l < count; ++l) p[l] = v[l];
  }
}

template <typename T>
DICTLEARN_SIMD_INLINE T horizontal_max(const Simd<T>& v) {
  T m = v[0];
  for (int l = 1; l < kLanes<T>; ++l) m = v[l] > m ? v[l] : m;
  return m;
}

template <typename T>
DICTLEARN_SIMD_INLINE T horizontal_sum(const Simd<T>& v) {
  T s = 0;
  for (int l = 0; l < kLanes<T>; ++l) s += v[l];
  return s;
}

template <typename T>
DICTLEARN_SIMD_INLINE void softmax_rows(T* z, int64_t rows, int cols, T inverse_temperature) {
  constexpr int L = kLanes<T>;
  const T lowest = -std::numeric_limits<T>::infinity();
  for (int64_t i = 0; i < rows; ++i) {
    T* row = z + i * cols;
    Simd<T> max = splat(lowest);
    for (int c = 0; c < cols; c += L) {
      const int count = cols - c < L ? cols - c : L;
      Simd<T> v = load(row + c, count, T(0)) * inverse_temperature;
      for (int l = count; l < L; ++l) v[l] = lowest;  // padding never wins the maximum
      max = v > max ? v : max;
    }
    const T m = horizontal_max<T>(max);
    Simd<T> sum = splat(T(0));
    for (int c = 0; c < cols; c += L) {
      const int count = cols - c < L ? cols - c : L;
      Simd<T> v = load(row + c, count, T(0)) * inverse_temperature - m;
      v = exp_simd<T>(v);
      for (int l = count; l < L; ++l) v[l] = T(0);
      sum += v;
      store(row + c, v, count);
    }
    const T inverse = T(1) / horizontal_sum<T>(sum);  // PyTorch multiplies by the reciprocal
    for (int c = 0; c < cols; c += L) {
      const int count = cols - c < L ? cols - c : L;
      store(row + c, load(row + c, count, T(0)) * inverse, count);
    }
  }
}

template <typename T>
DICTLEARN_SIMD_INLINE void softmax_backward(const T* r, T* grad, int64_t rows, int cols,
                                            T inverse_temperature) {
  constexpr int L = kLanes<T>;
  for (int64_t i = 0; i < rows; ++i) {
    const T* ri = r + i * cols;
    T* gi = grad + i * cols;
    Simd<T> dot = splat(T(0));
    for (int c = 0; c < cols; c += L) {
      const int count = cols - c < L ? cols - c : L;
      dot += load(gi + c, count, T(0)) * load(ri + c, count, T(0));
    }
    const T d = horizontal_sum<T>(dot);
    for (int c = 0; c < cols; c += L) {
      const int count = cols - c < L ? cols - c : L;
      const Simd<T> g = load(gi + c, count, T(0)), rv = load(ri + c, count, T(0));
      store(gi + c, rv * (g - d) * inverse_temperature, count);
    }
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

#define DICTLEARN_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

DICTLEARN_CLONES void softmax_rows_simd(float* z, int64_t rows, int cols, float t) {
  softmax_rows(z, rows, cols, t);
}
DICTLEARN_CLONES void softmax_rows_simd(double* z, int64_t rows, int cols, double t) {
  softmax_rows(z, rows, cols, t);
}
DICTLEARN_CLONES void softmax_backward_simd(const float* r, float* g, int64_t rows, int cols, float t) {
  softmax_backward(r, g, rows, cols, t);
}
DICTLEARN_CLONES void softmax_backward_simd(const double* r, double* g, int64_t rows, int cols,
                                            double t) {
  softmax_backward(r, g, rows, cols, t);
}

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
DICTLEARN_CLONES void count_column_nonzeros(const float* m, int64_t rows, int cols, double* counts) {
  column_nonzeros(m, rows, cols, counts);
}
DICTLEARN_CLONES void count_column_nonzeros(const double* m, int64_t rows, int cols, double* counts) {
  column_nonzeros(m, rows, cols, counts);
}

DICTLEARN_CLONES float dot_product(const float* a, const float* b, int n) { return dot(a, b, n); }
DICTLEARN_CLONES double dot_product(const double* a, const double* b, int n) { return dot(a, b, n); }
DICTLEARN_CLONES void add_scaled(float alpha, const float* x, float* y, int n) { axpy(alpha, x, y, n); }
DICTLEARN_CLONES void add_scaled(double alpha, const double* x, double* y, int n) {
  axpy(alpha, x, y, n);
}

}  // namespace dictlearn::detail
