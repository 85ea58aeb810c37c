#include "kernels/pursuit.hpp"

#include <cstring>
#include <limits>

#include "kernels/vector_math.hpp"

namespace dictlearn::detail {
namespace {

/// Vectors of atoms a step works on at once: independent chains of products
/// and of argmax updates, so their latencies overlap. Two below AVX-512,
/// whose 16 vector registers hold two groups' columns and trackers (v3: no
/// slower than four, measured on C-omp).
template <int Bytes>
constexpr int kGroup = Bytes == 64 ? 4 : 2;

// A lambda of a kernel is inlined into it, so it is compiled for the kernel's
// instruction set (a lambda's own operator() would be built for the baseline).
#define DICTLEARN_SIMD_LAMBDA __attribute__((always_inline))

/// V at the alignment of its lanes: loads and stores through it are single
/// unaligned vector moves (a memcpy of 32 bytes became two 16-byte halves
/// through general registers in the v3 clone).
template <typename T, int Bytes>
struct UnalignedTraits {
  typedef T Vector __attribute__((vector_size(Bytes), aligned(sizeof(T)), may_alias));
};
template <typename V>
using Unaligned = typename UnalignedTraits<LaneType<V>, static_cast<int>(sizeof(V))>::Vector;

template <typename V, typename T>
DICTLEARN_SIMD_INLINE void load(V& v, const T* p, int count) {
  if (count == kLanes<V>) {
    v = *reinterpret_cast<const Unaligned<V>*>(p);
  } else {
    v = V{};
    for (int l = 0; l < count; ++l) v[l] = p[l];
  }
}

template <typename V, typename T>
DICTLEARN_SIMD_INLINE void store(T* p, const V& v, int count) {
  if (count == kLanes<V>) {
    *reinterpret_cast<Unaligned<V>*>(p) = v;
  } else {
    for (int l = 0; l < count; ++l) p[l] = v[l];
  }
}

/// |v| lane by lane (the sign bit cleared).
template <typename V>
DICTLEARN_SIMD_INLINE V abs_lanes(const V& v) {
  using T = LaneType<V>;
  using Bits = typename SimdTraits<T, static_cast<int>(sizeof(V))>::Bits;
  using Unsigned = LaneType<Bits>;
  constexpr Unsigned magnitude = ~(Unsigned(1) << (8 * sizeof(T) - 1));
  return reinterpret_cast<V>(reinterpret_cast<Bits>(v) & magnitude);
}

/// Per lane: the largest |α| seen, the first group holding it (as a value of
/// T: exact below 2^24 atoms in float; the atom once finished) and whether a
/// later atom of the lane held it too (1) or not (0).
template <typename V>
struct Tracker {
  V max, index, tie;
};

template <typename V>
DICTLEARN_SIMD_INLINE void start(Tracker<V>& t) {
  t.max = V{} - 1;  // below every |α|: the first atom always wins
  t.index = V{};
  t.tie = V{};
}

template <typename V>
DICTLEARN_SIMD_INLINE void track(Tracker<V>& t, const V& value, const V& index) {
  const auto greater = value > t.max;
  const auto equal = value == t.max;
  t.tie = greater ? V{} : (equal ? V{} + 1 : t.tie);
  t.index = greater ? index : t.index;
  t.max = greater ? value : t.max;
}

/// The lanes of `v` reduced pairwise by `op` down to one value.
template <typename V, typename Op>
DICTLEARN_SIMD_INLINE LaneType<V> reduce(const V& v, Op op) {
  using T = LaneType<V>;
  if constexpr (sizeof(V) > 16) {
    using Half = Simd<T, static_cast<int>(sizeof(V) / 2)>;
    Half low, high;
    std::memcpy(&low, &v, sizeof(Half));
    std::memcpy(&high, reinterpret_cast<const char*>(&v) + sizeof(Half), sizeof(Half));
    return reduce(op(low, high), op);
  } else {
    T r = v[0];
    for (int l = 1; l < kLanes<V>; ++l) r = op(r, v[l]);
    return r;
  }
}

/// The trackers' answer, without branches: the largest value, the atom
/// holding it when one atom does (one lane of one tracker, which saw it
/// once), and whether one does.
template <typename V>
DICTLEARN_SIMD_INLINE AbsArgmax<LaneType<V>> finish(const Tracker<V>* t, int count) {
  using T = LaneType<V>;
  auto max = [](const auto& a, const auto& b) DICTLEARN_SIMD_LAMBDA { return a > b ? a : b; };
  auto sum = [](const auto& a, const auto& b) DICTLEARN_SIMD_LAMBDA { return a + b; };
  V largest = t[0].max;
  for (int u = 1; u < count; ++u) largest = max(largest, t[u].max);
  AbsArgmax<T> best;
  best.value = reduce(largest, max);
  V holders{}, index{};
  for (int u = 0; u < count; ++u) {
    const auto holds = t[u].max == best.value;
    holders += holds ? t[u].tie + 1 : V{};
    index += holds ? t[u].index : V{};
  }
  best.unique = reduce(holders, sum) == T(1);
  best.index = static_cast<int64_t>(reduce(index, sum));
  return best;
}

/// The atom numbers first, first + 1, ... of a vector's lanes.
template <typename V>
DICTLEARN_SIMD_INLINE V lane_indices(int64_t first) {
  using T = LaneType<V>;
  V v;
  for (int l = 0; l < kLanes<V>; ++l) v[l] = static_cast<T>(first + l);
  return v;
}

/// |α| of `count` lanes, -1 in the lanes after them (never a maximum).
template <typename V>
DICTLEARN_SIMD_INLINE V abs_of(const V& alpha, int count) {
  V value = abs_lanes(alpha);
  for (int l = count; l < kLanes<V>; ++l) value[l] = -1;
  return value;
}

/// The vectors of atoms a pass works on at once (G of them, or the tail's
/// whole vectors one by one, then its partial one) and the argmax trackers
/// they feed, one per vector of a group. A tracker keeps the first atom of
/// the group (`base`, the same in every lane and tracker, so one register);
/// its lane and place in the group give the atom at the end.
template <typename T, int Bytes, typename Group>
DICTLEARN_SIMD_INLINE AbsArgmax<T> over_atoms(int64_t n, Group group) {
  using V = Simd<T, Bytes>;
  constexpr int L = kLanes<V>;
  constexpr int G = kGroup<Bytes>;
  Tracker<V> t[G];
  for (int u = 0; u < G; ++u) start(t[u]);
  V base{};
  int64_t c = 0;
  for (; c + G * L <= n; c += G * L) {
    group.template operator()<G, true>(c, L, t, base);
    base += T(G * L);
  }
  for (; c + L <= n; c += L) {
    group.template operator()<1, true>(c, L, t, base);
    base += T(L);
  }
  if (c < n) group.template operator()<1, false>(c, static_cast<int>(n - c), t, base);
  for (int u = 0; u < G; ++u) t[u].index += lane_indices<V>(u * L);
  return finish(t, G);
}

template <typename T, int Bytes>
DICTLEARN_SIMD_INLINE AbsArgmax<T> abs_argmax_at(const T* __restrict alpha, int64_t n) {
  using V = Simd<T, Bytes>;
  constexpr int L = kLanes<V>;
  return over_atoms<T, Bytes>(n, [&]<int U, bool Full>(int64_t c, int count, Tracker<V>* t,
                                                       const V& base) DICTLEARN_SIMD_LAMBDA {
#pragma GCC unroll 8
    for (int u = 0; u < U; ++u) {
      V a;
      load(a, alpha + c + u * L, Full ? L : count);
      track(t[u], Full ? abs_lanes(a) : abs_of(a, count), base);
    }
  });
}

template <typename T, int Bytes>
DICTLEARN_SIMD_INLINE AbsArgmax<T> omp_step_at(const OmpStep<T>& s) {
  using V = Simd<T, Bytes>;
  constexpr int L = kLanes<V>;
  // Locals: the stores below may not alias the step's fields.
  const T* __restrict g = s.g;
  const T* __restrict a = s.a;
  const T* __restrict w = s.w;
  const T* __restrict alpha_in = s.alpha_in;
  T* __restrict a_out = s.a_out;
  T* __restrict alpha_out = s.alpha_out;
  const int64_t stride = s.stride, k = s.k;
  const T scale = s.scale, z = s.z;
  return over_atoms<T, Bytes>(s.n, [&]<int U, bool Full>(int64_t c, int count, Tracker<V>* t,
                                                         const V& base) DICTLEARN_SIMD_LAMBDA {
    const int lanes = Full ? L : count;
    V column[U];
#pragma GCC unroll 8
    for (int u = 0; u < U; ++u) load(column[u], g + c + u * L, lanes);
    for (int64_t j = 0; j < k; ++j) {
      const T* aj = a + j * stride + c;
      const T wj = w[j];
#pragma GCC unroll 8
      for (int u = 0; u < U; ++u) {
        V x;
        load(x, aj + u * L, lanes);
        column[u] -= wj * x;
      }
    }
#pragma GCC unroll 8
    for (int u = 0; u < U; ++u) {
      column[u] *= scale;
      store(a_out + c + u * L, column[u], lanes);
      V alpha;
      load(alpha, alpha_in + c + u * L, lanes);
      alpha -= z * column[u];
      store(alpha_out + c + u * L, alpha, lanes);
      track(t[u], Full ? abs_lanes(alpha) : abs_of(alpha, count), base);
    }
  });
}

// One function a level, compiled for its instruction set with its width.
#ifdef DICTLEARN_SIMD_X86_LEVELS
template <typename T>
DICTLEARN_TARGET_V4 AbsArgmax<T> abs_argmax_v4(const T* alpha, int64_t n) {
  return abs_argmax_at<T, simd_bytes(SimdLevel::v4)>(alpha, n);
}
template <typename T>
DICTLEARN_TARGET_V3 AbsArgmax<T> abs_argmax_v3(const T* alpha, int64_t n) {
  return abs_argmax_at<T, simd_bytes(SimdLevel::v3)>(alpha, n);
}
template <typename T>
DICTLEARN_TARGET_V4 AbsArgmax<T> omp_step_v4(const OmpStep<T>& s) {
  return omp_step_at<T, simd_bytes(SimdLevel::v4)>(s);
}
template <typename T>
DICTLEARN_TARGET_V3 AbsArgmax<T> omp_step_v3(const OmpStep<T>& s) {
  return omp_step_at<T, simd_bytes(SimdLevel::v3)>(s);
}
#endif
template <typename T>
AbsArgmax<T> abs_argmax_baseline(const T* alpha, int64_t n) {
  return abs_argmax_at<T, simd_bytes(SimdLevel::baseline)>(alpha, n);
}
template <typename T>
AbsArgmax<T> omp_step_baseline(const OmpStep<T>& s) {
  return omp_step_at<T, simd_bytes(SimdLevel::baseline)>(s);
}

}  // namespace

template <typename T>
PursuitKernels<T> pursuit_kernels(SimdLevel level) {
  switch (supported_simd_level(level)) {
#ifdef DICTLEARN_SIMD_X86_LEVELS
    case SimdLevel::v4:
      return {&abs_argmax_v4<T>, &omp_step_v4<T>};
    case SimdLevel::v3:
      return {&abs_argmax_v3<T>, &omp_step_v3<T>};
#endif
    default:
      return {&abs_argmax_baseline<T>, &omp_step_baseline<T>};
  }
}

template PursuitKernels<float> pursuit_kernels<float>(SimdLevel);
template PursuitKernels<double> pursuit_kernels<double>(SimdLevel);

}  // namespace dictlearn::detail
