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

#include <cstdint>
#include <cstdlib>
#include <random>

#include "dictlearn/model.hpp"
#include "dictlearn/trainer.hpp"

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
  const dictlearn::FitOptions options{.n_atoms = atoms, .epochs = epochs, .threads = bench_threads()};
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
  const dictlearn::FitOptions options{.n_atoms = atoms,
                                      .epochs = 1,
                                      .threads = bench_threads(),
                                      .batch_size = state.range(3)};
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
  b->Args({16384, 64, 256, 4096});   // W2: four steps
  b->Args({4096, 784, 512, 1024});   // W3: four steps
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

BENCHMARK_TEMPLATE(train_epoch, float)->Apply(epoch_sizes);
BENCHMARK_TEMPLATE(train_epoch, double)->Apply(epoch_sizes);
BENCHMARK_TEMPLATE(train_batches, float, false)->Apply(batch_sizes);
BENCHMARK_TEMPLATE(train_batches, double, false)->Apply(batch_sizes);
BENCHMARK_TEMPLATE(train_batches, float, true)->Apply(topk_sizes);
BENCHMARK_TEMPLATE(encode, float)->Apply(sizes);
BENCHMARK_TEMPLATE(encode, double)->Apply(sizes);

}  // namespace

BENCHMARK_MAIN();
