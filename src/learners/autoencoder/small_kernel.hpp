// Internal: the fused forward/backward pass for models with few atoms and
// dimensions (the seed's 2 x 2 among them), where matrix-product libraries
// spend their time on overhead. Samples are processed L at a time, one per
// SIMD lane (data transposed to dim x N), so every step of the pass -- the
// affine map, softmax, reconstruction, loss, and the gradient sums -- is a
// vector operation. Compiled for each instruction-set level with its own vector
// width (64, 32 or 16 bytes: simd_dispatch.hpp), and run at the level chosen
// at run time.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/simd_dispatch.hpp"

namespace dictlearn::detail {

/// Models with atoms·dim up to this use the small kernel.
constexpr int64_t kSmallKernelMaxParameters = 512;

/// One call: samples [begin, end) of the transposed data.
template <typename T>
struct SmallKernelArgs {
  const T* data_t = nullptr;  ///< dim x n_samples, sample i's entry j at data_t[j * n_samples + i]
  int64_t n_samples = 0;
  int64_t begin = 0, end = 0;
  int atoms = 0, dim = 0;
  const T* weight = nullptr;      ///< atoms x dim
  const T* bias = nullptr;        ///< atoms
  const T* dictionary = nullptr;  ///< atoms x dim
  T grad_scale = 0;               ///< ∂L/∂X̂ = grad_scale · (X̂ − X)
  T* workspace = nullptr;         ///< small_kernel_workspace(atoms, dim, sizeof(T)) entries
  /// Outputs, overwritten: sums over the range.
  double* grad_dictionary = nullptr;  ///< atoms x dim
  double* grad_weight = nullptr;      ///< atoms x dim
  double* grad_bias = nullptr;        ///< atoms
  double* fired = nullptr;            ///< atoms: samples whose code for the atom is > 0
  double* loss_sum = nullptr;         ///< Σ (X̂ − X)²
};

/// Entries of T the kernel needs as workspace.
size_t small_kernel_workspace(int atoms, int dim, size_t element_size);

/// At the level simd_level() names.
void small_kernel(const SmallKernelArgs<float>& args);
void small_kernel(const SmallKernelArgs<double>& args);

/// At `level`, or at the CPU's best where it lacks `level` (tests).
void small_kernel(const SmallKernelArgs<float>& args, SimdLevel level);
void small_kernel(const SmallKernelArgs<double>& args, SimdLevel level);

}  // namespace dictlearn::detail
