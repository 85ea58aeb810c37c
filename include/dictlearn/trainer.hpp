// dictlearn: training the dictionary model by gradient descent, as the seed
// does: every epoch one full-batch forward pass, the mean squared error, its
// analytic gradient for D, W and b, and one Adam step.
//
// Gradients (G = 2 (X̂ − X) / (N·dim), Z = X Wᵀ + b, R = softmax(Z)):
//   ∂L/∂D = Rᵀ G      ∂L/∂R = G Dᵀ      ∂L/∂Z = R ⊙ (∂L/∂R − rowsum(∂L/∂R ⊙ R))
//   ∂L/∂W = (∂L/∂Z)ᵀ X                 ∂L/∂b = column sums of ∂L/∂Z
// Cost per epoch: about 10·N·dim·n_atoms flops.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "dictlearn/adam.hpp"
#include "dictlearn/model.hpp"

namespace dictlearn {

/// Settings of a training run. Defaults are the seed's.
struct FitOptions {
  int n_atoms = 2;           ///< atoms in the dictionary (used when no initial model is given)
  int epochs = 10000;        ///< full passes over the data; 0 leaves the model as initialized
  AdamOptions adam = {};     ///< optimizer; lr 1e-3 as in the seed
  uint64_t seed = 0;         ///< seeds the initialization
  int threads = 0;           ///< worker threads; 0: all cores. Results do not depend on it.
};

/// What the observer sees after each epoch.
struct EpochStats {
  int epoch = 0;         ///< counted from 1
  double loss = 0;       ///< loss of this epoch, computed before its update
  double seconds = 0;    ///< wall time since fit() started
};

/// Checks options; throws Error naming the parameter (e.g. "--lr: must be > 0 and finite, got -1").
void validate(const FitOptions& options);

/// Gradients of the loss for every parameter, in the model's shapes.
template <typename T>
struct Gradients {
  Matrix<T> dictionary;
  Matrix<T> encoder_weight;
  Vector<T> encoder_bias;
};

/// Loss of `model` on X and its gradient (one forward and backward pass).
template <typename T>
double loss_and_gradients(const Model<T>& model, const Matrix<T>& X, Gradients<T>& gradients);

/// Stateful trainer: holds the model, Adam's moments and the loss history, so
/// fit() can be called again to continue training.
template <typename T>
class Trainer {
 public:
  using Observer = std::function<void(const EpochStats&, const Model<T>&)>;

  /// Starts from `model` (e.g. init_model() or load_model()).
  Trainer(Model<T> model, FitOptions options);

  /// Runs options.epochs epochs on X (N x dim), calling `observer` (if set)
  /// after each epoch with the updated model. Throws Error if X does not
  /// match the model or the loss becomes non-finite.
  void fit(const Matrix<T>& X, const Observer& observer = {});

  const Model<T>& model() const { return model_; }
  /// Loss of every epoch run so far (entry e-1 for epoch e).
  const std::vector<double>& losses() const { return losses_; }
  /// Adam steps taken so far.
  int64_t steps() const { return step_; }

 private:
  Model<T> model_;
  FitOptions options_;
  Gradients<T> gradients_;
  Gradients<T> first_moment_;
  Gradients<T> second_moment_;
  std::vector<double> losses_;
  int64_t step_ = 0;
};

/// One call: initializes from options (or starts from `initial` when given)
/// and trains. Returns the trained model; `losses` (if not null) receives the
/// loss of every epoch.
template <typename T>
Model<T> fit(const Matrix<T>& X, const FitOptions& options, const Model<T>* initial = nullptr,
             std::vector<double>* losses = nullptr);

}  // namespace dictlearn
