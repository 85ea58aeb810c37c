// dictlearn: Adam (Kingma & Ba 2015) exactly as torch.optim.Adam in PyTorch
// 1.13 with amsgrad=False, weight_decay=0, maximize=False:
//
//   m ← β1 m + (1 − β1) g          v ← β2 v + (1 − β2) g²
//   θ ← θ − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)
//
// with the bias corrections computed in double, as PyTorch does in Python.
#pragma once

#include <cstdint>

#include "dictlearn/types.hpp"

namespace dictlearn {

/// Adam hyperparameters, torch.optim.Adam's defaults.
struct AdamOptions {
  double lr = 1e-3;      ///< learning rate
  double beta1 = 0.9;    ///< decay of the first moment
  double beta2 = 0.999;  ///< decay of the second moment
  double eps = 1e-8;     ///< added to the denominator
};

/// The scalar factors of step t (t counts from 1).
struct AdamStepFactors {
  double step_size;              ///< lr / (1 − β1ᵗ)
  double bias_correction2_sqrt;  ///< √(1 − β2ᵗ)
};
AdamStepFactors adam_step_factors(const AdamOptions& options, int64_t step);

/// One Adam update of n parameters in place; `m` and `v` are the moments.
template <typename T>
void adam_update(const AdamOptions& options, const AdamStepFactors& factors, T* param,
                 const T* grad, T* m, T* v, int64_t n);

}  // namespace dictlearn
