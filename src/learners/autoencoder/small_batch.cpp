// The small kernel's batches: the seed's model (softmax, few atoms and
// dimensions) through the fused SIMD kernel of small_kernel.hpp, over fixed
// chunks of samples whose partial sums are added in chunk order.
#include <algorithm>

#include "core/parallel.hpp"
#include "core/threads.hpp"
#include "learners/autoencoder/engine.hpp"

namespace dictlearn::detail {

/// The small kernel over `rows` samples of X (rows x d, contiguous), in
/// chunks of kChunk; returns the squared error.
template <typename T>
double small_kernel_batch(TrainerState<T>& s, const Eigen::Map<const Matrix<T>>& X, int64_t rows,
                          bool full_data, Workspace<T>& w) {
  const Model<T>& model = s.model;
  const int K = model.n_atoms(), d = model.dim();
  const int64_t kd = static_cast<int64_t>(K) * d;
  // The full data is the same every epoch: transposed once.
  if (!full_data || w.data_t_of != X.data()) {
    w.data_t.resize(d, rows);
    w.data_t = X.transpose();
    w.data_t_of = full_data ? X.data() : nullptr;
  }
  const int64_t chunks = (rows + kChunk - 1) / kChunk;
  const int64_t stride = 2 * kd + 2 * K + 1;
  w.partials.resize(chunks * stride);
  const size_t space = small_kernel_workspace(K, d, sizeof(T));
  const int threads = static_cast<int>(
      std::min<int64_t>(chunks, threads_for(w.threads, 30.0 * static_cast<double>(rows) * kd)));
  w.kernel_space.resize(space * w.threads);
  const T scale = static_cast<T>(2.0 / static_cast<double>(rows * d));
  auto run_chunk = [&](int64_t c) {
    SmallKernelArgs<T> args;
    args.data_t = w.data_t.data();
    args.n_samples = rows;
    args.begin = c * kChunk;
    args.end = std::min(rows, (c + 1) * kChunk);
    args.atoms = K;
    args.dim = d;
    args.weight = model.encoder_weight.data();
    args.bias = model.encoder_bias.data();
    args.dictionary = model.dictionary.data();
    args.grad_scale = scale;
    args.workspace = w.kernel_space.data() + space * omp_thread();
    double* sums = w.partials.data() + c * stride;
    args.grad_dictionary = sums;
    args.grad_weight = sums + kd;
    args.grad_bias = sums + 2 * kd;
    args.fired = sums + 2 * kd + K;
    args.loss_sum = sums + 2 * kd + 2 * K;
    small_kernel(args);
  };
  if (threads > 1) {
    ParallelErrors errors;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t c = 0; c < chunks; ++c) errors.run([&] { run_chunk(c); });
    errors.rethrow();
  } else {
    // Tiny models run an epoch in microseconds: no parallel region at all.
    for (int64_t c = 0; c < chunks; ++c) run_chunk(c);
  }
  // Chunk order, whatever the thread count.
  for (int64_t i = 0; i < kd; ++i) {
    double dictionary = 0, weight = 0;
    for (int64_t c = 0; c < chunks; ++c) {
      dictionary += w.partials[c * stride + i];
      weight += w.partials[c * stride + kd + i];
    }
    s.gradients.dictionary.data()[i] = static_cast<T>(dictionary);
    s.gradients.encoder_weight.data()[i] = static_cast<T>(weight);
  }
  for (int k = 0; k < K; ++k) {
    double bias = 0, fired = 0;
    for (int64_t c = 0; c < chunks; ++c) {
      bias += w.partials[c * stride + 2 * kd + k];
      fired += w.partials[c * stride + 2 * kd + K + k];
    }
    s.gradients.encoder_bias[k] = static_cast<T>(bias);
    w.fired[k] = fired;
  }
  double squared_error = 0;
  for (int64_t c = 0; c < chunks; ++c) squared_error += w.partials[c * stride + 2 * kd + 2 * K];
  return squared_error;
}

template double small_kernel_batch<float>(TrainerState<float>&,
                                          const Eigen::Map<const Matrix<float>>&, int64_t, bool,
                                          Workspace<float>&);
template double small_kernel_batch<double>(TrainerState<double>&,
                                           const Eigen::Map<const Matrix<double>>&, int64_t, bool,
                                           Workspace<double>&);

}  // namespace dictlearn::detail
