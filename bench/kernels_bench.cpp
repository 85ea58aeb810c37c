// Google Benchmark timings of dictlearn's kernels, swept over problem sizes
// N x dim x n_atoms (the seed's 2000x2x2 up to an MNIST-sized 1024x784x512),
// in float and double:
//
//   train_epoch  full-batch training epochs: Trainer<T>::fit with
//                FitOptions{.epochs = E} (per epoch: forward pass, loss,
//                analytic gradients, one Adam step); 10·N·dim·n_atoms flops
//                an epoch. E is 1 except for the seed's size, where one
//                fit() call's own setup would otherwise dominate (E = 100;
//                the time shown is then for 100 epochs).
//   encode       encode(model, X): softmax(X Wᵀ + b); 2·N·dim·n_atoms flops
//                plus N·n_atoms exponentials.
//   train_batches/topk_batches  one epoch in mini-batches of B samples
//                (FitOptions::batch_size), softmax or top-k (K = 32) codes,
//                at the sizes of compare.py's W2, W3 and W4 steps; flops
//                counted as for dense softmax (10·N·dim·n_atoms: what a dense
//                implementation computes; top-k's sparse path does less).
//   block_products  one 256-row block's five products in the fused pass at
//                W2's sizes (dim 64, 256 atoms), on one thread: Z = X Wᵀ + b,
//                E = R D − X, G Dᵀ and the two shares Gᵀ R, Xᵀ ∂L/∂Z;
//                `kernel` 0 is block_gemm (what the pass runs, B copied
//                row-major and aligned), 1 Eigen's product through gemm()
//                (what it ran before). 5 x 2·rows·dim·atoms flops.
//
// Counters: items_per_second is samples per second (SetItemsProcessed);
// "flops" is the rate of the counted flops (GFLOP/s = flops / 1e9). Times are
// wall-clock (UseRealTime) since the kernels run on several threads.
//
//   build-bench/bench/dictlearn_kernels_bench [--benchmark_filter=train_epoch]
//
// Threads: DICTLEARN_BENCH_THREADS (default 0: all cores, as FitOptions).
// Data: standard normal samples from a fixed seed, so runs are comparable.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <random>

#include "dictlearn/model.hpp"
#include "dictlearn/trainer.hpp"
#include "kernels/aligned_buffer.hpp"
#include "kernels/block_gemm.hpp"
#include "kernels/gemm.hpp"

namespace {

int bench_threads() {
  const char* value = std::getenv("DICTLEARN_BENCH_THREADS");
  return value ? std::atoi(value) : 0;
}

template <typename T>
dictlearn::Matrix<T> gaussian_data(int64_t n, int dim) {
  std::mt19937_64 generator(20240601);
  std::normal_distribution<double> normal;
  dictlearn::Matrix<T> X(n, dim);
  for (int64_t i = 0; i < X.size(); ++i) X.data()[i] = static_cast<T>(normal(generator));
  return X;
}

// Arguments: N, dim, n_atoms, epochs per fit() call.
void epoch_sizes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"n", "dim", "atoms", "epochs"});
  b->Args({2000, 2, 2, 100});
  b->Args({10000, 16, 16, 1});
  b->Args({4096, 64, 256, 1});
  b->Args({1024, 784, 512, 1});
  b->UseRealTime();
  b->Unit(benchmark::kMicrosecond);
}

// Arguments: N, dim, n_atoms.
void sizes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"n", "dim", "atoms"});
  b->Args({2000, 2, 2});
  b->Args({10000, 16, 16});
  b->Args({4096, 64, 256});
  b->Args({1024, 784, 512});
  b->UseRealTime();
  b->Unit(benchmark::kMicrosecond);
}

void set_counters(benchmark::State& state, double flops_per_iteration, int64_t passes = 1) {
  state.SetItemsProcessed(state.iterations() * state.range(0) * passes);
  state.counters["flops"] =
      benchmark::Counter(flops_per_iteration, benchmark::Counter::kIsIterationInvariantRate);
}

template <typename T>
void train_epoch(benchmark::State& state) {
  const int64_t n = state.range(0);
  const int dim = static_cast<int>(state.range(1));
  const int atoms = static_cast<int>(state.range(2));
  const int epochs = static_cast<int>(state.range(3));
  const auto X = gaussian_data<T>(n, dim);
  const dictlearn::FitOptions options{
      .n_atoms = atoms, .epochs = epochs, .threads = bench_threads()};
  dictlearn::Trainer<T> trainer(dictlearn::init_model<T>(atoms, dim, /*seed=*/0), options);
  trainer.fit(X);  // warm-up: sizes the trainer's buffers
  for (auto _ : state) {
    trainer.fit(X);
  }
  benchmark::DoNotOptimize(trainer.model().dictionary.data());
  set_counters(state, 10.0 * static_cast<double>(n) * dim * atoms * epochs, epochs);
}

// Arguments: N, dim, n_atoms, batch size; the encoder is softmax, or top-k
// with K = 32 when `topk`.
template <typename T, bool topk>
void train_batches(benchmark::State& state) {
  const int64_t n = state.range(0);
  const int dim = static_cast<int>(state.range(1));
  const int atoms = static_cast<int>(state.range(2));
  const auto X = gaussian_data<T>(n, dim);
  const dictlearn::FitOptions options{
      .n_atoms = atoms, .epochs = 1, .threads = bench_threads(), .batch_size = state.range(3)};
  auto model = dictlearn::init_model<T>(atoms, dim, /*seed=*/0);
  if (topk) model.encoder = {.kind = dictlearn::EncoderKind::topk, .k = 32};
  dictlearn::Trainer<T> trainer(std::move(model), options);
  trainer.fit(X);  // warm-up: sizes the trainer's buffers
  for (auto _ : state) {
    trainer.fit(X);
  }
  benchmark::DoNotOptimize(trainer.model().dictionary.data());
  set_counters(state, 10.0 * static_cast<double>(n) * dim * atoms);
}

void batch_sizes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"n", "dim", "atoms", "batch"});
  b->Args({16384, 64, 256, 4096});  // W2: four steps
  b->Args({4096, 784, 512, 1024});  // W3: four steps
  b->UseRealTime();
  b->Unit(benchmark::kMillisecond);
}

void topk_sizes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"n", "dim", "atoms", "batch"});
  b->Args({8192, 512, 4096, 4096});  // W4: two steps
  b->UseRealTime();
  b->Unit(benchmark::kMillisecond);
}

template <typename T>
void encode(benchmark::State& state) {
  const int64_t n = state.range(0);
  const int dim = static_cast<int>(state.range(1));
  const int atoms = static_cast<int>(state.range(2));
  const auto X = gaussian_data<T>(n, dim);
  const auto model = dictlearn::init_model<T>(atoms, dim, /*seed=*/0);
  for (auto _ : state) {
    auto codes = dictlearn::encode(model, X);
    benchmark::DoNotOptimize(codes.data());
  }
  set_counters(state, 2.0 * static_cast<double>(n) * dim * atoms);
}

// Arguments: rows, dim, n_atoms, kernel (0 block_gemm, 1 gemm()).
template <typename T>
void block_products(benchmark::State& state) {
  namespace detail = dictlearn::detail;
  const int64_t rows = state.range(0), d = state.range(1), K = state.range(2);
  const bool eigen = state.range(3) == 1;
  // One aligned buffer holding, in turn: X (rows x d), W and D (K x d), Wᵀ
  // and Dᵀ (d x K), b (K), R and ∂L/∂Z (rows x K), E (rows x d), the two
  // shares (d x K each).
  const int64_t sizes[] = {rows * d, K * d,    K * d,    d * K, d * K, K,
                           rows * K, rows * K, rows * d, d * K, d * K};
  int64_t total = 0;
  for (int64_t size : sizes) total += (size + 15) / 16 * 16;  // each part aligned too
  detail::AlignedBuffer<T> buffer;
  buffer.reserve(total);
  std::mt19937_64 generator(7);
  std::normal_distribution<double> normal;
  for (int64_t i = 0; i < total; ++i) buffer.data()[i] = static_cast<T>(normal(generator));
  T* part[11];
  T* next = buffer.data();
  for (int i = 0; i < 11; ++i) {
    part[i] = next;
    next += (sizes[i] + 15) / 16 * 16;
  }
  T *x = part[0], *W = part[1], *D = part[2], *Wt = part[3], *Dt = part[4], *b = part[5],
    *r = part[6], *gz = part[7], *e = part[8], *share_d = part[9], *share_w = part[10];
  for (auto _ : state) {
    if (eigen) {
      for (int64_t i = 0; i < rows; ++i) std::copy(b, b + K, r + i * K);
      detail::gemm(false, true, rows, K, d, x, d, W, d, T(1), r, K);
      for (int64_t i = 0; i < rows * d; ++i) e[i] = -x[i];
      detail::gemm(false, false, rows, d, K, r, K, D, d, T(1), e, d);
      detail::gemm(false, true, rows, K, d, e, d, D, d, T(0), gz, K);
      detail::gemm(true, false, d, K, rows, e, d, r, K, T(0), share_d, K);
      detail::gemm(true, false, d, K, rows, x, d, gz, K, T(0), share_w, K);
    } else {
      detail::block_gemm(false, rows, K, d, x, d, Wt, K, T(0), r, K, {.values = b});
      detail::block_gemm(false, rows, d, K, r, K, D, d, T(0), e, d,
                         {.values = x, .ld = d, .negate = true});
      detail::block_gemm(false, rows, K, d, e, d, Dt, K, T(0), gz, K);
      detail::block_gemm(true, d, K, rows, e, d, r, K, T(0), share_d, K);
      detail::block_gemm(true, d, K, rows, x, d, gz, K, T(0), share_w, K);
    }
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * rows);
  state.counters["flops"] = benchmark::Counter(10.0 * static_cast<double>(rows) * d * K,
                                               benchmark::Counter::kIsIterationInvariantRate);
}

void block_sizes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"rows", "dim", "atoms", "kernel"});
  b->Args({256, 64, 256, 0});
  b->Args({256, 64, 256, 1});
  b->Unit(benchmark::kMicrosecond);
}

BENCHMARK_TEMPLATE(train_epoch, float)->Apply(epoch_sizes);
BENCHMARK_TEMPLATE(train_epoch, double)->Apply(epoch_sizes);
BENCHMARK_TEMPLATE(train_batches, float, false)->Apply(batch_sizes);
BENCHMARK_TEMPLATE(train_batches, double, false)->Apply(batch_sizes);
BENCHMARK_TEMPLATE(train_batches, float, true)->Apply(topk_sizes);
BENCHMARK_TEMPLATE(encode, float)->Apply(sizes);
BENCHMARK_TEMPLATE(encode, double)->Apply(sizes);
BENCHMARK_TEMPLATE(block_products, float)->Apply(block_sizes);
BENCHMARK_TEMPLATE(block_products, double)->Apply(block_sizes);

}  // namespace

BENCHMARK_MAIN();
