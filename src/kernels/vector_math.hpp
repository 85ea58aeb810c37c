// Internal: SIMD vectors (GCC vector extensions of 16, 32 or 64 bytes, the
// registers of the baseline, x86-64-v3 and x86-64-v4 levels: see
// simd_dispatch.hpp) and the math the fused kernels need on them.
#pragma once

#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>

namespace dictlearn::detail {

template <typename T, int Bytes>
struct SimdTraits {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>);
  static_assert(Bytes == 16 || Bytes == 32 || Bytes == 64);
  using Unsigned = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  typedef T Vector __attribute__((vector_size(Bytes)));
  typedef Unsigned Bits __attribute__((vector_size(Bytes)));
};

/// Vector of Bytes / sizeof(T) lanes of T.
template <typename T, int Bytes>
using Simd = typename SimdTraits<T, Bytes>::Vector;

/// The lane type of a vector type.
template <typename V>
using LaneType = std::remove_cvref_t<decltype(std::declval<V>()[0])>;

/// Lanes of a vector type.
template <typename V>
constexpr int kLanes = static_cast<int>(sizeof(V) / sizeof(LaneType<V>));

// Every helper taking vectors is always inlined, so it is compiled for the
// instruction set of the kernel that uses it, and takes and gives vectors by
// reference: no vector crosses a call between code built for different
// targets (GCC warns that the ABI changes; clang 14 stops with an error).
#define DICTLEARN_SIMD_INLINE inline __attribute__((always_inline))

/// exp of each lane of `v`, in place: about 1.4 ulp for float, 1e-14 relative
/// for double; 0 below -87.3 (float) or -708 (double), inf above 88.3 or 709,
/// NaN for NaN. Range reduction x = n·ln2 + r with |r| <= ln2/2, a polynomial
/// for e^r, then 2^n built in the exponent bits. Branch free: every select is
/// a blend. (`V{} + s` is s in every lane.) NonPositive: the caller knows
/// every lane is <= 0 or NaN (softmax's z - max), so the overflow clamp and
/// its select are left out; the results for such lanes are the same.
template <bool NonPositive = false, typename V>
DICTLEARN_SIMD_INLINE void exp_in_place(V& v) {
  using T = LaneType<V>;
  using Bits = typename SimdTraits<T, static_cast<int>(sizeof(V))>::Bits;
  constexpr bool is_float = sizeof(T) == 4;
  const V in = v;
  const T low = is_float ? T(-87.3) : T(-708.0);
  const T high = is_float ? T(88.3) : T(709.0);
  // Adding 1.5·2^(mantissa bits) rounds to an integer in every SIMD width.
  const T round = is_float ? T(12582912.0) : T(6755399441055744.0);
  V x = in > low ? in : V{} + low;  // NaN goes to `low` here and is restored below
  if constexpr (!NonPositive) x = x < high ? x : V{} + high;
  const V n = (x * T(1.4426950408889634) + round) - round;
  V p;
  if constexpr (is_float) {
    // ln2 split in two so n·ln2 is subtracted without rounding error.
    V r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    p = V{} + 1.9875691500e-4f;
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
    p = V{} + 1.0 / 39916800.0;
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
  result = in < low ? V{} : result;
  if constexpr (!NonPositive)
    result = in > high ? V{} + std::numeric_limits<T>::infinity() : result;
  result = in != in ? in : result;
  v = result;
}

/// Sum of the lanes, in double, in lane order.
template <typename V>
DICTLEARN_SIMD_INLINE double lane_sum(const V& v) {
  double total = 0;
  for (int l = 0; l < kLanes<V>; ++l) total += static_cast<double>(v[l]);
  return total;
}

/// exp_in_place on an array of Bytes / sizeof(T) values (for tests).
template <typename T, int Bytes, bool NonPositive = false>
DICTLEARN_SIMD_INLINE void exp_lanes(T* values) {
  Simd<T, Bytes> v;
  __builtin_memcpy(&v, values, sizeof(v));
  exp_in_place<NonPositive>(v);
  __builtin_memcpy(values, &v, sizeof(v));
}

}  // namespace dictlearn::detail
