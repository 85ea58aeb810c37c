#include "dictlearn/adam.hpp"

#include <cmath>
#include <type_traits>

#include "kernels/simd_dispatch.hpp"

namespace dictlearn {

AdamStepFactors adam_step_factors(const AdamOptions& options, int64_t step) {
  // PyTorch computes these in Python floats (double) from the step count.
  const double t = static_cast<double>(step);
  const double bias_correction1 = 1.0 - std::pow(options.beta1, t);
  const double bias_correction2 = 1.0 - std::pow(options.beta2, t);
  return {options.lr / bias_correction1, std::sqrt(bias_correction2)};
}

namespace {

// Compiled for AVX-512, AVX2 and baseline x86-64 and picked at run time; the
// file is compiled with -ffp-contract=off, so every clone rounds each
// operation as the baseline does (no fused multiply-adds).
template <typename T>
inline __attribute__((always_inline)) void update(const AdamOptions& options,
                                                  const AdamStepFactors& factors, T* param,
                                                  const T* grad, T* m, T* v, int64_t n) {
  // Each scalar is rounded to T once, as PyTorch's kernels receive them.
  const T beta1 = static_cast<T>(options.beta1);
  const T one_minus_beta1 = static_cast<T>(1.0 - options.beta1);
  const T beta2 = static_cast<T>(options.beta2);
  const T one_minus_beta2 = static_cast<T>(1.0 - options.beta2);
  const T eps = static_cast<T>(options.eps);
  const T step_size = static_cast<T>(factors.step_size);
  const T correction = static_cast<T>(factors.bias_correction2_sqrt);
  for (int64_t i = 0; i < n; ++i) {
    const T g = grad[i];
    m[i] = m[i] * beta1 + one_minus_beta1 * g;
    v[i] = v[i] * beta2 + one_minus_beta2 * g * g;  // addcmul_: value * t1 * t2
    const T denom = std::sqrt(v[i]) / correction + eps;
    param[i] += -step_size * m[i] / denom;  // addcdiv_: value * t1 / t2
  }
}

DICTLEARN_LEVEL_CLONES void update_float(const AdamOptions& options, const AdamStepFactors& factors,
                                         float* param, const float* grad, float* m, float* v,
                                         int64_t n) {
  update(options, factors, param, grad, m, v, n);
}
DICTLEARN_LEVEL_CLONES void update_double(const AdamOptions& options,
                                          const AdamStepFactors& factors, double* param,
                                          const double* grad, double* m, double* v, int64_t n) {
  update(options, factors, param, grad, m, v, n);
}

}  // namespace

template <typename T>
void adam_update(const AdamOptions& options, const AdamStepFactors& factors, T* param,
                 const T* grad, T* m, T* v, int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
    update_float(options, factors, param, grad, m, v, n);
  } else {
    update_double(options, factors, param, grad, m, v, n);
  }
}

template void adam_update<float>(const AdamOptions&, const AdamStepFactors&, float*, const float*,
                                 float*, float*, int64_t);
template void adam_update<double>(const AdamOptions&, const AdamStepFactors&, double*,
                                  const double*, double*, double*, int64_t);

}  // namespace dictlearn
