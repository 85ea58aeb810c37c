#include "learners/autoencoder/small_kernel.hpp"

#include <algorithm>

#include "kernels/simd_dispatch.hpp"
#include "kernels/vector_math.hpp"

namespace dictlearn::detail {
namespace {

/// Running sums of one call, in vectors (one lane a sample slot).
template <typename V>
struct Sums {
  V* dD;     // atoms x dim
  V* dW;     // atoms x dim
  V* db;     // atoms
  V* fired;  // atoms
  V* loss;   // one
};

/// The pass for U chunks of L samples each: x (U x d vectors, filled), and
/// r, dz, g (U x K, U x K, U x d) to work in. Each phase runs over the U chunks
/// before the next, so the chunks' long chains of dependent operations
/// (exponential, division) overlap; every running sum still receives chunk
/// 0's term before chunk 1's, in the order a chunk at a time would add them.
/// Masked: the last, partial chunk (U = 1), whose padded lanes must add
/// nothing; full chunks skip the mask (multiplying by 1 changes no bit).
template <typename T, typename V, int U, bool Masked, int KC, int DC>
DICTLEARN_SIMD_INLINE void chunks(const SmallKernelArgs<T>& a, int K, int d, const V* x, V* r,
                                  V* dz, V* g, const V& mask, const Sums<V>& sums) {
  const T* W = a.weight;
  const T* b = a.bias;
  const T* D = a.dictionary;
  const T scale = a.grad_scale;
  const V one = V{} + T(1);

  // Logits z = W x + b, then softmax over atoms (PyTorch's order: subtract
  // the maximum, exponentiate, multiply by the reciprocal of the sum).
  for (int u = 0; u < U; ++u) {
    for (int k = 0; k < K; ++k) {
      V z = V{};
      for (int j = 0; j < d; ++j) z += W[k * d + j] * x[u * d + j];
      r[u * K + k] = z + b[k];
    }
  }
  V inverse[U];
  for (int u = 0; u < U; ++u) {
    V* ru = r + u * K;
    V sum = V{};
    if constexpr (KC == 2) {
      // Two atoms: the larger logit's exponential is exp(0) = 1 exactly, so
      // one exponential gives both, bit for bit what the loop below computes.
      const auto first_larger = ru[0] >= ru[1];
      V smaller = first_larger ? ru[1] - ru[0] : ru[0] - ru[1];
      exp_in_place<true>(smaller);  // the smaller minus the larger: <= 0
      ru[0] = first_larger ? one : smaller;
      ru[1] = first_larger ? smaller : one;
      sum = ru[0] + ru[1];
    } else {
      V max = ru[0];
      for (int k = 1; k < K; ++k) max = ru[k] > max ? ru[k] : max;
      for (int k = 0; k < K; ++k) {
        ru[k] -= max;
        exp_in_place<true>(ru[k]);  // minus the maximum: <= 0
        sum += ru[k];
      }
    }
    inverse[u] = T(1) / sum;
  }
  for (int u = 0; u < U; ++u) {
    for (int k = 0; k < K; ++k) {
      r[u * K + k] *= inverse[u];
      sums.fired[k] += r[u * K + k] > T(0) ? (Masked ? mask : one) : V{};
    }
  }

  // Residual, loss, and G = scale · (X̂ − X).
  for (int u = 0; u < U; ++u) {
    for (int j = 0; j < d; ++j) {
      V reconstruction = V{};
      for (int k = 0; k < K; ++k) reconstruction += r[u * K + k] * D[k * d + j];
      V e = reconstruction - x[u * d + j];
      if constexpr (Masked) e *= mask;
      *sums.loss += e * e;
      g[u * d + j] = e * scale;
    }
  }

  // ∂L/∂D += R G; ∂L/∂R = G Dᵀ; softmax backward; ∂L/∂W += dZ X; ∂L/∂b += dZ.
  V dot[U];
  for (int u = 0; u < U; ++u) {
    dot[u] = V{};
    for (int k = 0; k < K; ++k) {
      V code_grad = V{};
      for (int j = 0; j < d; ++j) {
        sums.dD[k * d + j] += r[u * K + k] * g[u * d + j];
        code_grad += g[u * d + j] * D[k * d + j];
      }
      dz[u * K + k] = code_grad;
      dot[u] += code_grad * r[u * K + k];
    }
  }
  for (int u = 0; u < U; ++u) {
    for (int k = 0; k < K; ++k) {
      const V logit_grad = r[u * K + k] * (dz[u * K + k] - dot[u]);
      sums.db[k] += logit_grad;
      for (int j = 0; j < d; ++j) sums.dW[k * d + j] += logit_grad * x[u * d + j];
    }
  }
}

/// KC, DC: atoms and dimension fixed at compile time (0: from the arguments).
/// With both fixed (the seed's 2 x 2) every buffer is a local array the
/// compiler keeps in registers, every loop is unrolled, and four chunks run
/// interleaved. Bytes: the vector width of the level it is compiled for (one
/// register a vector).
template <typename T, int Bytes, int KC, int DC>
DICTLEARN_SIMD_INLINE void run(const SmallKernelArgs<T>& a) {
  using V = Simd<T, Bytes>;
  constexpr int L = kLanes<V>;
  const int K = KC > 0 ? KC : a.atoms, d = DC > 0 ? DC : a.dim;
  const int kd = K * d;
  constexpr bool fixed = KC > 0 && DC > 0;
  constexpr int U =
      fixed ? 4 : 1;  // chunks a step (4 ran the seed fastest at every level; 2, 3, 6, 8 tried)
  // Buffers in vectors: x[U d], r[U K], dz[U K], g[U d], then the sums
  // dD[kd], dW[kd], db[K], fired[K], loss; in the workspace, aligned to the
  // vector width, or local when the sizes are fixed.
  constexpr int kLocal = fixed ? U * (2 * DC + 2 * KC) + 2 * KC * DC + 2 * KC + 1 : 1;
  V local[kLocal];
  const uintptr_t address = reinterpret_cast<uintptr_t>(a.workspace);
  V* x = fixed ? local : reinterpret_cast<V*>((address + Bytes - 1) & ~uintptr_t(Bytes - 1));
  V* r = x + U * d;
  V* dz = r + U * K;
  V* g = dz + U * K;
  Sums<V> sums;
  sums.dD = g + U * d;
  sums.dW = sums.dD + kd;
  sums.db = sums.dW + kd;
  sums.fired = sums.db + K;
  sums.loss = sums.fired + K;
  for (V* v = sums.dD; v <= sums.loss; ++v) *v = V{};

  int64_t start = a.begin;
  for (; start + U * L <= a.end; start += U * L) {
    for (int u = 0; u < U; ++u) {
      for (int j = 0; j < d; ++j) {
        __builtin_memcpy(&x[u * d + j], a.data_t + j * a.n_samples + start + u * L, sizeof(V));
      }
    }
    chunks<T, V, U, false, KC, DC>(a, K, d, x, r, dz, g, V{}, sums);
  }
  for (; start < a.end; start += L) {
    const int64_t count = std::min<int64_t>(L, a.end - start);
    V lane_index;
    for (int l = 0; l < L; ++l) lane_index[l] = T(l);
    for (int j = 0; j < d; ++j) {
      const T* column = a.data_t + j * a.n_samples + start;
      x[j] = V{};
      for (int64_t l = 0; l < count; ++l) x[j][l] = column[l];
    }
    // Padded lanes (x = 0) would still produce codes and a residual; the mask zeroes them.
    const V mask = lane_index < static_cast<T>(count) ? V{} + T(1) : V{};
    if (count == L) {
      chunks<T, V, 1, false, KC, DC>(a, K, d, x, r, dz, g, mask, sums);
    } else {
      chunks<T, V, 1, true, KC, DC>(a, K, d, x, r, dz, g, mask, sums);
    }
  }

  for (int i = 0; i < kd; ++i) {
    a.grad_dictionary[i] = lane_sum(sums.dD[i]);
    a.grad_weight[i] = lane_sum(sums.dW[i]);
  }
  for (int k = 0; k < K; ++k) {
    a.grad_bias[k] = lane_sum(sums.db[k]);
    a.fired[k] = lane_sum(sums.fired[k]);
  }
  *a.loss_sum = lane_sum(*sums.loss);
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
                         2 * static_cast<size_t>(atoms) * dim + 1;  // U = 1 (sizes not fixed)
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
