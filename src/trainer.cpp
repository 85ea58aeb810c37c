#include "dictlearn/trainer.hpp"

#include <chrono>
#include <algorithm>
#include <cmath>

#include "check.hpp"
#include "small_kernel.hpp"
#include "softmax.hpp"
#include "threads.hpp"

namespace dictlearn {
namespace {

template <typename T>
void zero_like(Gradients<T>& out, const Model<T>& model) {
  out.dictionary.setZero(model.n_atoms(), model.dim());
  out.encoder_weight.setZero(model.n_atoms(), model.dim());
  out.encoder_bias.setZero(model.n_atoms());
}

/// Buffers of one forward/backward pass, kept between epochs so the training
/// loop does not allocate.
template <typename T>
struct Workspace {
  // Matrix-product path.
  Matrix<T> codes;     // R, N x n_atoms
  Matrix<T> residual;  // X̂ − X, then G, N x dim
  Matrix<T> code_grad; // ∂L/∂R then ∂L/∂Z, N x n_atoms
  // Small-model path.
  const T* transposed_source = nullptr;  // the X data_t was made from
  Matrix<T> data_t;                      // dim x N
  std::vector<T> kernel_space;           // one kernel workspace per thread
  std::vector<double> partials;          // one block of sums per chunk
};

/// Samples per chunk of the small-model path: fixed, so the order in which
/// partial sums are added does not depend on the number of threads.
constexpr int64_t kChunk = 1024;

template <typename T>
bool use_small_kernel(const Model<T>& model) {
  return static_cast<int64_t>(model.n_atoms()) * model.dim() <= detail::kSmallKernelMaxParameters;
}

template <typename T>
double forward_backward_small(const Model<T>& model, const Matrix<T>& X, Workspace<T>& work,
                              Gradients<T>& grad, int threads) {
  const int64_t n = X.rows();
  const int atoms = model.n_atoms(), dim = model.dim();
  const int64_t kd = static_cast<int64_t>(atoms) * dim;
  if (work.transposed_source != X.data() || work.data_t.cols() != n || work.data_t.rows() != dim) {
    work.data_t = X.transpose();
    work.transposed_source = X.data();
  }
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  const int64_t stride = 2 * kd + atoms + 1;
  work.partials.resize(chunks * stride);
  const size_t space = detail::small_kernel_workspace(atoms, dim, sizeof(T));
  threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, chunks)));
  work.kernel_space.resize(space * threads);
  const T scale = static_cast<T>(2.0 / static_cast<double>(n * dim));
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    detail::SmallKernelArgs<T> args;
    args.data_t = work.data_t.data();
    args.n_samples = n;
    args.begin = c * kChunk;
    args.end = std::min(n, (c + 1) * kChunk);
    args.atoms = atoms;
    args.dim = dim;
    args.weight = model.encoder_weight.data();
    args.bias = model.encoder_bias.data();
    args.dictionary = model.dictionary.data();
    args.grad_scale = scale;
    args.workspace = work.kernel_space.data() + space * omp_thread();
    double* out = work.partials.data() + c * stride;
    args.grad_dictionary = out;
    args.grad_weight = out + kd;
    args.grad_bias = out + 2 * kd;
    args.loss_sum = out + 2 * kd + atoms;
    detail::small_kernel(args);
  }
  // Chunk order, whatever the thread count.
  double loss_sum = 0;
  for (int64_t i = 0; i < kd; ++i) {
    double dictionary = 0, weight = 0;
    for (int64_t c = 0; c < chunks; ++c) {
      dictionary += work.partials[c * stride + i];
      weight += work.partials[c * stride + kd + i];
    }
    grad.dictionary.data()[i] = static_cast<T>(dictionary);
    grad.encoder_weight.data()[i] = static_cast<T>(weight);
  }
  for (int k = 0; k < atoms; ++k) {
    double bias = 0;
    for (int64_t c = 0; c < chunks; ++c) bias += work.partials[c * stride + 2 * kd + k];
    grad.encoder_bias[k] = static_cast<T>(bias);
  }
  for (int64_t c = 0; c < chunks; ++c) loss_sum += work.partials[c * stride + 2 * kd + atoms];
  return loss_sum / static_cast<double>(n * dim);
}

template <typename T>
double forward_backward(const Model<T>& model, const Matrix<T>& X, Workspace<T>& work,
                        Gradients<T>& grad, int threads) {
  if (use_small_kernel(model)) return forward_backward_small(model, X, work, grad, threads);
  const Eigen::Index n = X.rows();
  work.codes.resize(n, model.n_atoms());
  work.residual.resize(n, model.dim());
  work.code_grad.resize(n, model.n_atoms());

  work.codes.noalias() = X * model.encoder_weight.transpose();
  work.codes.rowwise() += model.encoder_bias.transpose();
  softmax_rows(work.codes);
  work.residual.noalias() = work.codes * model.dictionary;
  work.residual -= X;

  double sum = 0;
  const T* e = work.residual.data();
  for (Eigen::Index i = 0; i < work.residual.size(); ++i) {
    sum += static_cast<double>(e[i]) * static_cast<double>(e[i]);
  }
  const double loss = sum / static_cast<double>(work.residual.size());

  // torch.nn.MSELoss backward: (input − target) · (2 / numel), as one T factor.
  work.residual *= static_cast<T>(2.0 / static_cast<double>(work.residual.size()));
  grad.dictionary.noalias() = work.codes.transpose() * work.residual;
  work.code_grad.noalias() = work.residual * model.dictionary.transpose();
  // Softmax backward: R ⊙ (∂L/∂R − Σ_k ∂L/∂R_k R_k), row by row.
  const Eigen::Index atoms = work.codes.cols();
  for (Eigen::Index i = 0; i < n; ++i) {
    const T* r = work.codes.data() + i * atoms;
    T* g = work.code_grad.data() + i * atoms;
    T dot = 0;
    for (Eigen::Index k = 0; k < atoms; ++k) dot += g[k] * r[k];
    for (Eigen::Index k = 0; k < atoms; ++k) g[k] = r[k] * (g[k] - dot);
  }
  grad.encoder_weight.noalias() = work.code_grad.transpose() * X;
  grad.encoder_bias = work.code_grad.colwise().sum().transpose();
  return loss;
}

}  // namespace

void validate(const FitOptions& options) {
  DICTLEARN_CHECK(options.n_atoms >= 1, "--atoms: must be >= 1, got {}", options.n_atoms);
  DICTLEARN_CHECK(options.epochs >= 0, "--epochs: must be >= 0, got {}", options.epochs);
  DICTLEARN_CHECK(options.adam.lr > 0 && std::isfinite(options.adam.lr),
                  "--lr: must be > 0 and finite, got {}", options.adam.lr);
  DICTLEARN_CHECK(options.adam.beta1 >= 0 && options.adam.beta1 < 1,
                  "--beta1: must be in [0, 1), got {}", options.adam.beta1);
  DICTLEARN_CHECK(options.adam.beta2 >= 0 && options.adam.beta2 < 1,
                  "--beta2: must be in [0, 1), got {}", options.adam.beta2);
  DICTLEARN_CHECK(options.threads >= 0, "--threads: must be >= 0 (0: all cores), got {}",
                  options.threads);
  DICTLEARN_CHECK(options.adam.eps > 0 && std::isfinite(options.adam.eps),
                  "--eps: must be > 0 and finite, got {}", options.adam.eps);
}

template <typename T>
double loss_and_gradients(const Model<T>& model, const Matrix<T>& X, Gradients<T>& gradients) {
  check_data_matches(model, X, "data");
  zero_like(gradients, model);
  Workspace<T> work;
  return forward_backward(model, X, work, gradients, resolve_threads(0));
}

template <typename T>
Trainer<T>::Trainer(Model<T> model, FitOptions options)
    : model_(std::move(model)), options_(options) {
  validate(options_);
  validate_model(model_, "initial model");
  zero_like(gradients_, model_);
  zero_like(first_moment_, model_);
  zero_like(second_moment_, model_);
}

template <typename T>
void Trainer<T>::fit(const Matrix<T>& X, const Observer& observer) {
  check_data_matches(model_, X, "data");
  DICTLEARN_CHECK(X.allFinite(), "data: holds non-finite values");
  Workspace<T> work;
  const int threads = resolve_threads(options_.threads);
  const auto start = std::chrono::steady_clock::now();
  losses_.reserve(losses_.size() + options_.epochs);
  for (int epoch = 0; epoch < options_.epochs; ++epoch) {
    const double loss = forward_backward(model_, X, work, gradients_, threads);
    const int epoch_number = static_cast<int>(losses_.size()) + 1;
    DICTLEARN_CHECK(std::isfinite(loss),
                    "training: loss is {} at epoch {}; lower the learning rate (--lr) or "
                    "standardize the data",
                    loss, epoch_number);
    losses_.push_back(loss);
    ++step_;
    const AdamStepFactors factors = adam_step_factors(options_.adam, step_);
    adam_update(options_.adam, factors, model_.dictionary.data(), gradients_.dictionary.data(),
                first_moment_.dictionary.data(), second_moment_.dictionary.data(),
                model_.dictionary.size());
    adam_update(options_.adam, factors, model_.encoder_weight.data(),
                gradients_.encoder_weight.data(), first_moment_.encoder_weight.data(),
                second_moment_.encoder_weight.data(), model_.encoder_weight.size());
    adam_update(options_.adam, factors, model_.encoder_bias.data(),
                gradients_.encoder_bias.data(), first_moment_.encoder_bias.data(),
                second_moment_.encoder_bias.data(), model_.encoder_bias.size());
    if (observer) {
      EpochStats stats;
      stats.epoch = epoch_number;
      stats.loss = loss;
      stats.seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      observer(stats, model_);
    }
  }
}

template <typename T>
Model<T> fit(const Matrix<T>& X, const FitOptions& options, const Model<T>* initial,
             std::vector<double>* losses) {
  validate(options);
  DICTLEARN_CHECK(X.rows() >= 1 && X.cols() >= 1, "data: no data ({} x {})", X.rows(), X.cols());
  Trainer<T> trainer(initial ? *initial
                             : init_model<T>(options.n_atoms, static_cast<int>(X.cols()),
                                             options.seed),
                     options);
  trainer.fit(X);
  if (losses) *losses = trainer.losses();
  return trainer.model();
}

template class Trainer<float>;
template class Trainer<double>;
template double loss_and_gradients<float>(const Model<float>&, const Matrix<float>&,
                                          Gradients<float>&);
template double loss_and_gradients<double>(const Model<double>&, const Matrix<double>&,
                                           Gradients<double>&);
template Model<float> fit<float>(const Matrix<float>&, const FitOptions&, const Model<float>*,
                                 std::vector<double>*);
template Model<double> fit<double>(const Matrix<double>&, const FitOptions&,
                                   const Model<double>*, std::vector<double>*);

}  // namespace dictlearn
