#include "small_kernel.hpp"

#include <algorithm>

#include "simd_dispatch.hpp"
#include "vector_math.hpp"

namespace dictlearn::detail {
namespace {

/// KC, DC: atoms and dimension fixed at compile time (0: from the arguments).
/// With both fixed (the seed's 2 x 2) every buffer is a local array the
/// compiler keeps in registers, and every loop is unrolled. Bytes: the vector
/// width of the level it is compiled for (one register a vector).
template <typename T, int Bytes, int KC, int DC>
DICTLEARN_SIMD_INLINE void run(const SmallKernelArgs<T>& a) {
  using V = Simd<T, Bytes>;
  constexpr int L = kLanes<V>;
  const int K = KC > 0 ? KC : a.atoms, d = DC > 0 ? DC : a.dim;
  const int kd = K * d;
  // Buffers in vectors: x[d], r[K], dz[K], g[d], acc_dD[kd], acc_dW[kd],
  // acc_db[K], acc_fired[K], acc_loss; in the workspace, aligned to the
  // vector width, or local when the sizes are fixed.
  constexpr bool fixed = KC > 0 && DC > 0;
  constexpr int kLocal = fixed ? 2 * DC + 4 * KC + 2 * KC * DC + 1 : 1;
  V local[kLocal];
  const uintptr_t address = reinterpret_cast<uintptr_t>(a.workspace);
  V* x = fixed ? local : reinterpret_cast<V*>((address + Bytes - 1) & ~uintptr_t(Bytes - 1));
  V* r = x + d;
  V* dz = r + K;
  V* g = dz + K;
  V* acc_dD = g + d;
  V* acc_dW = acc_dD + kd;
  V* acc_db = acc_dW + kd;
  V* acc_fired = acc_db + K;
  V* acc_loss = acc_fired + K;
  for (V* v = acc_dD; v <= acc_loss; ++v) *v = V{};

  const T* W = a.weight;
  const T* b = a.bias;
  const T* D = a.dictionary;
  const T scale = a.grad_scale;
  V lane_index;
  for (int l = 0; l < L; ++l) lane_index[l] = T(l);

  for (int64_t start = a.begin; start < a.end; start += L) {
    const int64_t count = std::min<int64_t>(L, a.end - start);
    for (int j = 0; j < d; ++j) {
      const T* column = a.data_t + j * a.n_samples + start;
      if (count == L) {
        __builtin_memcpy(&x[j], column, sizeof(V));
      } else {
        x[j] = V{};
        for (int64_t l = 0; l < count; ++l) x[j][l] = column[l];
      }
    }
    // Padded lanes (x = 0) would still produce codes and a residual; the mask zeroes them.
    const V mask = lane_index < static_cast<T>(count) ? V{} + T(1) : V{};

    // Logits z = W x + b, then softmax over atoms (PyTorch's order: subtract
    // the maximum, exponentiate, multiply by the reciprocal of the sum).
    for (int k = 0; k < K; ++k) {
      V z = V{};
      for (int j = 0; j < d; ++j) z += W[k * d + j] * x[j];
      r[k] = z + b[k];
    }
    V sum = V{};
    if constexpr (KC == 2) {
      // Two atoms: the larger logit's exponential is exp(0) = 1 exactly, so
      // one exponential gives both, bit for bit what the loop below computes.
      const auto first_larger = r[0] >= r[1];
      V smaller = first_larger ? r[1] - r[0] : r[0] - r[1];
      exp_in_place(smaller);
      const V one = V{} + T(1);
      r[0] = first_larger ? one : smaller;
      r[1] = first_larger ? smaller : one;
      sum = r[0] + r[1];
    } else {
      V max = r[0];
      for (int k = 1; k < K; ++k) max = r[k] > max ? r[k] : max;
      for (int k = 0; k < K; ++k) {
        r[k] -= max;
        exp_in_place(r[k]);
        sum += r[k];
      }
    }
    const V inverse = T(1) / sum;
    for (int k = 0; k < K; ++k) {
      r[k] *= inverse;
      acc_fired[k] += r[k] > T(0) ? mask : V{};
    }

    // Residual, loss, and G = scale · (X̂ − X).
    for (int j = 0; j < d; ++j) {
      V reconstruction = V{};
      for (int k = 0; k < K; ++k) reconstruction += r[k] * D[k * d + j];
      const V e = (reconstruction - x[j]) * mask;
      *acc_loss += e * e;
      g[j] = e * scale;
    }

    // ∂L/∂D += R G; ∂L/∂R = G Dᵀ; softmax backward; ∂L/∂W += dZ X; ∂L/∂b += dZ.
    V dot = V{};
    for (int k = 0; k < K; ++k) {
      V code_grad = V{};
      for (int j = 0; j < d; ++j) {
        acc_dD[k * d + j] += r[k] * g[j];
        code_grad += g[j] * D[k * d + j];
      }
      dz[k] = code_grad;
      dot += code_grad * r[k];
    }
    for (int k = 0; k < K; ++k) {
      const V logit_grad = r[k] * (dz[k] - dot);
      acc_db[k] += logit_grad;
      for (int j = 0; j < d; ++j) acc_dW[k * d + j] += logit_grad * x[j];
    }
  }

  for (int i = 0; i < kd; ++i) {
    a.grad_dictionary[i] = lane_sum(acc_dD[i]);
    a.grad_weight[i] = lane_sum(acc_dW[i]);
  }
  for (int k = 0; k < K; ++k) {
    a.grad_bias[k] = lane_sum(acc_db[k]);
    a.fired[k] = lane_sum(acc_fired[k]);
  }
  *a.loss_sum = lane_sum(*acc_loss);
}

template <typename T, int Bytes>
DICTLEARN_SIMD_INLINE void dispatch_sizes(const SmallKernelArgs<T>& args) {
  if (args.atoms == 2 && args.dim == 2) {
    run<T, Bytes, 2, 2>(args);  // the seed's model
  } else {
    run<T, Bytes, 0, 0>(args);
  }
}

// One function a level, each compiled for its instruction set with its width.
#ifdef DICTLEARN_SIMD_X86_LEVELS
template <typename T>
DICTLEARN_TARGET_V4 void small_kernel_v4(const SmallKernelArgs<T>& args) {
  dispatch_sizes<T, simd_bytes(SimdLevel::v4)>(args);
}

template <typename T>
DICTLEARN_TARGET_V3 void small_kernel_v3(const SmallKernelArgs<T>& args) {
  dispatch_sizes<T, simd_bytes(SimdLevel::v3)>(args);
}
#endif

template <typename T>
void small_kernel_baseline(const SmallKernelArgs<T>& args) {
  dispatch_sizes<T, simd_bytes(SimdLevel::baseline)>(args);
}

template <typename T>
void small_kernel_at(const SmallKernelArgs<T>& args, SimdLevel level) {
  switch (supported_simd_level(level)) {
#ifdef DICTLEARN_SIMD_X86_LEVELS
    case SimdLevel::v4:
      return small_kernel_v4(args);
    case SimdLevel::v3:
      return small_kernel_v3(args);
#endif
    default:
      return small_kernel_baseline(args);
  }
}

}  // namespace

size_t small_kernel_workspace(int atoms, int dim, size_t element_size) {
  const size_t vectors = 2 * static_cast<size_t>(dim) + 4 * static_cast<size_t>(atoms) +
                         2 * static_cast<size_t>(atoms) * dim + 1;
  // Vectors of the widest level, and one more for the alignment: enough at every level.
  return (vectors + 1) * (simd_bytes(SimdLevel::v4) / element_size);
}

void small_kernel(const SmallKernelArgs<float>& args) { small_kernel_at(args, simd_level()); }
void small_kernel(const SmallKernelArgs<double>& args) { small_kernel_at(args, simd_level()); }
void small_kernel(const SmallKernelArgs<float>& args, SimdLevel level) {
  small_kernel_at(args, level);
}
void small_kernel(const SmallKernelArgs<double>& args, SimdLevel level) {
  small_kernel_at(args, level);
}

}  // namespace dictlearn::detail
