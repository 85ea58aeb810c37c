// Internal: the vector passes of Batch-OMP (src/coders/omp.cpp) over the
// atoms of one signal, at the instruction-set level chosen at run time with
// its own vector width (simd_dispatch.hpp): the largest |α| and where it is,
// and one pursuit step fused with it. Levels differ in the last bits of the
// step's values (FMA from v3 up); the argmax is exact at every level.
#pragma once

#include <cstdint>

#include "kernels/simd_dispatch.hpp"

namespace dictlearn::detail {

/// The largest |α| of a pass and the atom that holds it. NaN values never
/// win; when no value is a number, value is -1.
template <typename T>
struct AbsArgmax {
  T value = 0;         ///< max |α_a|
  int64_t index = 0;   ///< the atom a with |α_a| = value, when unique
  bool unique = true;  ///< no other atom holds exactly `value` (else: a tie to break)
};

/// One step of the pursuit with Cholesky factor rows (Batch-OMP written on
/// A = G_{:,S} L⁻ᵀ, whose columns are only ever appended): the new column
///   a = (g − Σ_{j<k} w_j A_j) · scale        (g = G's row of the new atom,
///                                              w = A's row of it, scale = 1/√pivot)
/// is written to a_out, then α_out = α_in − z·a, and the argmax of |α_out| is
/// returned. All arrays hold n values (one per atom); A_j = a + j·stride.
template <typename T>
struct OmpStep {
  const T* g;
  const T* a;
  int64_t stride;
  const T* w;
  int64_t k;
  T scale;
  T z;
  T* a_out;
  const T* alpha_in;
  T* alpha_out;
  int64_t n;
};

/// The pursuit's passes at one level.
template <typename T>
struct PursuitKernels {
  AbsArgmax<T> (*abs_argmax)(const T* alpha, int64_t n);  ///< over α[0, n)
  AbsArgmax<T> (*omp_step)(const OmpStep<T>& step);       ///< see OmpStep
};

/// The kernels at `level`, or at the CPU's best where it lacks `level`.
template <typename T>
PursuitKernels<T> pursuit_kernels(SimdLevel level);

}  // namespace dictlearn::detail
