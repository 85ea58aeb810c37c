// Internal: SIMD vectors (GCC vector extensions, 64 bytes: 16 floats or 8
// doubles, lowered to whatever the target has) and the math the fused
// kernels need on them.
#pragma once

#include <cstdint>
#include <limits>

namespace dictlearn::detail {

template <typename T>
struct SimdTraits;
template <>
struct SimdTraits<float> {
  typedef float Vector __attribute__((vector_size(64)));
  typedef uint32_t Bits __attribute__((vector_size(64)));
};
template <>
struct SimdTraits<double> {
  typedef double Vector __attribute__((vector_size(64)));
  typedef uint64_t Bits __attribute__((vector_size(64)));
};

/// 64-byte vector of T and its lane count.
template <typename T>
using Simd = typename SimdTraits<T>::Vector;
template <typename T>
constexpr int kLanes = static_cast<int>(64 / sizeof(T));

// Every helper taking or returning vectors is always inlined: each is then
// compiled for the instruction set of the kernel clone that uses it, and no
// 64-byte vector crosses a call between code built for different targets.
#define DICTLEARN_SIMD_INLINE inline __attribute__((always_inline))

template <typename T>
DICTLEARN_SIMD_INLINE Simd<T> splat(T value) {
  return Simd<T>{} + value;
}

/// exp of each lane: about 1.4 ulp for float, 1e-14 relative for double;
/// 0 below -87.3 (float) or -708 (double), inf above 88.3 or 709, NaN for NaN.
/// Range reduction x = n·ln2 + r with |r| <= ln2/2, a polynomial for e^r,
/// then 2^n built in the exponent bits. Branch free: every select is a blend.
template <typename T>
DICTLEARN_SIMD_INLINE Simd<T> exp_simd(Simd<T> in) {
  using V = Simd<T>;
  using Bits = typename SimdTraits<T>::Bits;
  constexpr bool is_float = sizeof(T) == 4;
  const T low = is_float ? T(-87.3) : T(-708.0);
  const T high = is_float ? T(88.3) : T(709.0);
  // Adding 1.5·2^(mantissa bits) rounds to an integer in every SIMD width.
  const T round = is_float ? T(12582912.0) : T(6755399441055744.0);
  V x = in > low ? in : splat(low);  // NaN goes to `low` here and is restored below
  x = x < high ? x : splat(high);
  const V n = (x * T(1.4426950408889634) + round) - round;
  V p;
  if constexpr (is_float) {
    // ln2 split in two so n·ln2 is subtracted without rounding error.
    V r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    p = splat(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
  } else {
    V r = x - n * 0.6931471803691238;
    r = r - n * 1.9082149292705877e-10;
    // Taylor to degree 11: |r| <= 0.347, truncation below 1e-16 relative.
    p = splat(1.0 / 39916800.0);
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
  }
  // 2^n: the integer n + bias sits in the low mantissa bits of
  // (n + bias) + 1.5·2^m; shifting left by m moves it into the exponent.
  constexpr int mantissa = is_float ? 23 : 52;
  const T bias = is_float ? T(127) : T(1023);
  const Bits bits = reinterpret_cast<Bits>(n + (bias + round)) << mantissa;
  V result = p * reinterpret_cast<V>(bits);
  result = in < low ? splat(T(0)) : result;
  result = in > high ? splat(std::numeric_limits<T>::infinity()) : result;
  result = in != in ? in : result;
  return result;
}

/// Sum of the lanes, in double, in lane order.
template <typename T>
DICTLEARN_SIMD_INLINE double lane_sum(const Simd<T>& v) {
  double total = 0;
  for (int l = 0; l < kLanes<T>; ++l) total += static_cast<double>(v[l]);
  return total;
}

/// exp_simd on an array of kLanes<T> values, in place.
template <typename T>
DICTLEARN_SIMD_INLINE void exp_lanes(T* values) {
  Simd<T> v;
  __builtin_memcpy(&v, values, sizeof(v));
  v = exp_simd<T>(v);
  __builtin_memcpy(values, &v, sizeof(v));
}

}  // namespace dictlearn::detail
