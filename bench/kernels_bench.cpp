// Google Benchmark timings of dictlearn's kernels, swept over problem sizes
// N x dim x n_atoms (the seed's 2000x2x2 up to an MNIST-sized 1024x784x512),
// in float and double:
//
//   train_epoch  one full-batch training epoch: Trainer<T>::fit with
//                FitOptions{.epochs = 1} (forward pass, loss, analytic
//                gradients, one Adam step); 10·N·dim·n_atoms flops.
//   encode       encode(model, X): softmax(X Wᵀ + b); 2·N·dim·n_atoms flops
//                plus N·n_atoms exponentials.
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

// Arguments of every benchmark: N, dim, n_atoms.
void sizes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"n", "dim", "atoms"});
  b->Args({2000, 2, 2});
  b->Args({10000, 16, 16});
  b->Args({4096, 64, 256});
  b->Args({1024, 784, 512});
  b->UseRealTime();
  b->Unit(benchmark::kMicrosecond);
}

void set_counters(benchmark::State& state, double flops_per_iteration) {
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.counters["flops"] =
      benchmark::Counter(flops_per_iteration, benchmark::Counter::kIsIterationInvariantRate);
}

template <typename T>
void train_epoch(benchmark::State& state) {
  const int64_t n = state.range(0);
  const int dim = static_cast<int>(state.range(1));
  const int atoms = static_cast<int>(state.range(2));
  const auto X = gaussian_data<T>(n, dim);
  const dictlearn::FitOptions options{.n_atoms = atoms, .epochs = 1, .threads = bench_threads()};
  dictlearn::Trainer<T> trainer(dictlearn::init_model<T>(atoms, dim, /*seed=*/0), options);
  trainer.fit(X);  // warm-up: sizes the trainer's buffers
  for (auto _ : state) {
    trainer.fit(X);
  }
  benchmark::DoNotOptimize(trainer.model().dictionary.data());
  set_counters(state, 10.0 * static_cast<double>(n) * dim * atoms);
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

BENCHMARK_TEMPLATE(train_epoch, float)->Apply(sizes);
BENCHMARK_TEMPLATE(train_epoch, double)->Apply(sizes);
BENCHMARK_TEMPLATE(encode, float)->Apply(sizes);
BENCHMARK_TEMPLATE(encode, double)->Apply(sizes);

}  // namespace

BENCHMARK_MAIN();
