// The parts of an online dictionary learning step (online_step.hpp).
#include "learners/online/online_step.hpp"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>

#include "coders/coding.hpp"
#include "coders/lasso_gap.hpp"
#include "coders/threshold.hpp"
#include "core/check.hpp"
#include "core/parallel.hpp"
#include "core/threads.hpp"
#include "kernels/gemm.hpp"
#include "kernels/simd_dispatch.hpp"
#include "learners/random.hpp"

namespace dictlearn::detail {

namespace {

/// Rows per block of the step's products: small, so that a batch of 256
/// signals spreads over the threads; fixed, so that the sums do not depend on
/// their number.
constexpr int64_t kProductBlock = 32;

/// Rows of G per block of its product, and signals per block of the coding
/// (one X Dᵀ product each): small, so that the blocks of a batch spread
/// evenly over the threads; fixed, so that no result depends on their number.
constexpr int64_t kGramBlock = 8;
constexpr int64_t kSignalBlock = 8;
static_assert(kSignalBlock * sizeof(int64_t) % kCacheLine == 0,
              "a block's per-signal values must fill whole cache lines");

/// Flops per thread worth sharing in the parts of a step after its coding,
/// whose threads are still awake (threads_for's default is for cold ones).
/// Sharing the statistics makes every thread read the others' codes and
/// rows: on a 2-core AMD EPYC VM (a cache line between its cores takes
/// about 230 ns) 5e4 made L-a's statistics slower on 2 threads than on one.
constexpr double kWarmShare = 1e5;

/// Atoms per pass of the block correlations below: two AVX-512 vectors
/// (four AVX2 ones); Dᵀ's rows are padded with zeros to a multiple of it.
template <typename T>
constexpr int64_t kCorrelationWidth = 128 / static_cast<int64_t>(sizeof(T));

/// out_s = x_s D for S signals (rows x[0..S)) over the rows of Dᵀ (dim x
/// padded, zero past the atoms), kCorrelationWidth atoms a pass: each
/// value of Dᵀ is read once for the S signals and their sums stay in
/// registers. Each sum runs over the dimensions in order, the same for every
/// S: a signal's correlations do not depend on the signals beside it.
template <typename T, int S>
[[gnu::always_inline]] inline void correlation_tile(const T* Dt, int64_t padded, int64_t d,
                                                    const T* const* x, T* out) {
  constexpr int64_t W = kCorrelationWidth<T>;
  for (int64_t k0 = 0; k0 < padded; k0 += W) {
    T sum[S][W];
    for (int s = 0; s < S; ++s) {
#pragma omp simd
      for (int64_t c = 0; c < W; ++c) sum[s][c] = T(0);
    }
    for (int64_t j = 0; j < d; ++j) {
      const T* row = Dt + j * padded + k0;
      for (int s = 0; s < S; ++s) {
        const T value = x[s][j];
#pragma omp simd
        for (int64_t c = 0; c < W; ++c) sum[s][c] += value * row[c];
      }
    }
    for (int s = 0; s < S; ++s) {
#pragma omp simd
      for (int64_t c = 0; c < W; ++c) out[s * padded + k0 + c] = sum[s][c];
    }
  }
}

/// The correlations of `count` signals (rows x[0..count)) with the atoms,
/// into out (count x padded): four signals a tile, then one at a time.
/// Inlined into one clone per level below.
template <typename T>
[[gnu::always_inline]] inline void block_correlations(const T* Dt, int64_t padded, int64_t d,
                                                      const T* const* x, int64_t count, T* out) {
  int64_t s = 0;
  for (; s + 4 <= count; s += 4) correlation_tile<T, 4>(Dt, padded, d, x + s, out + s * padded);
  for (; s < count; ++s) correlation_tile<T, 1>(Dt, padded, d, x + s, out + s * padded);
}

DICTLEARN_LEVEL_CLONES void block_correlations_clone(const float* Dt, int64_t padded, int64_t d,
                                                     const float* const* x, int64_t count,
                                                     float* out) {
  block_correlations(Dt, padded, d, x, count, out);
}
DICTLEARN_LEVEL_CLONES void block_correlations_clone(const double* Dt, int64_t padded, int64_t d,
                                                     const double* const* x, int64_t count,
                                                     double* out) {
  block_correlations(Dt, padded, d, x, count, out);
}

/// What a signal's step needs of its code: the support, its values, the
/// penalties and the residual's squared norm.
struct SignalParts {
  int64_t count;
  double l1, l2, squared;
};

/// The support of `code` (K values) and its values in atom order, into
/// `support` and `values`; ‖r‖₁, ‖r‖² and ‖x − r D‖² (D: K x d, the
/// residual in `residual`, d values). Inlined into one clone per level below.
template <typename T>
[[gnu::always_inline]] inline SignalParts signal_parts(const T* code, int64_t K, const T* D,
                                                       const T* x, int64_t d, int64_t* support,
                                                       T* values, T* residual) {
  int64_t count = 0;
  for (int64_t j = 0; j < K; ++j) {  // branch-free: which codes are nonzero is data
    support[count] = j;
    count += code[j] != T(0);
  }
  double l1 = 0, l2 = 0;
  for (int64_t s = 0; s < count; ++s) {
    const T value = code[support[s]];
    values[s] = value;
    l1 += std::abs(static_cast<double>(value));
    l2 += static_cast<double>(value) * value;
  }
#pragma omp simd
  for (int64_t j = 0; j < d; ++j) residual[j] = x[j];
  for (int64_t s = 0; s < count; ++s) {
    const T c = values[s];
    const T* atom = D + support[s] * d;
#pragma omp simd
    for (int64_t j = 0; j < d; ++j) residual[j] -= c * atom[j];
  }
  double squared = 0;
#pragma omp simd reduction(+ : squared)
  for (int64_t j = 0; j < d; ++j) squared += static_cast<double>(residual[j]) * residual[j];
  return {count, l1, l2, squared};
}

DICTLEARN_LEVEL_CLONES SignalParts signal_parts_clone(const float* code, int64_t K, const float* D,
                                                      const float* x, int64_t d, int64_t* support,
                                                      float* values, float* residual) {
  return signal_parts(code, K, D, x, d, support, values, residual);
}
DICTLEARN_LEVEL_CLONES SignalParts signal_parts_clone(const double* code, int64_t K,
                                                      const double* D, const double* x, int64_t d,
                                                      int64_t* support, double* values,
                                                      double* residual) {
  return signal_parts(code, K, D, x, d, support, values, residual);
}

bool is_lasso(CoderKind kind) {
  return kind == CoderKind::lasso_lars || kind == CoderKind::lasso_cd || kind == CoderKind::fista;
}

}  // namespace

template <typename T>
BatchCoder<T>::BatchCoder(const CodingOptions& options, int64_t n_atoms, int64_t dim)
    : options_(options), n_atoms_(n_atoms), dim_(dim) {
  validate(options_);
  if (options_.method == CoderKind::omp) {
    limit_ = nonzero_limit(options_, n_atoms, dim, options_.max_error > 0);
  } else if (options_.method == CoderKind::lars) {
    limit_ = nonzero_limit(options_, n_atoms, dim, false);
  }
}

template <typename T>
int64_t BatchCoder<T>::padded_atoms() const {
  constexpr int64_t W = kCorrelationWidth<T>;
  return (n_atoms_ + W - 1) / W * W;
}

template <typename T>
void BatchCoder<T>::code_signal(const T* D, const T* x, const T* a0, int64_t i, int64_t sample,
                                Workspace& work, CodedBatch<T>& out, T* code) {
  const int64_t K = n_atoms_, d = dim_;
  const T* G = gram_.data();
  const T eps = std::numeric_limits<T>::epsilon();
  switch (options_.method) {
    case CoderKind::lasso_lars: {
      const int64_t max_active = options_.l2 > 0 ? K : std::min(K, d);
      const bool cached = sample >= 0 && sample < cache_samples() && cache_count_[sample] >= 0;
      out.from_cache[i] = cached;
      if (!cached ||
          !lasso_from_support(G, K, a0, static_cast<T>(options_.alpha), options_.positive,
                              cache_entries_.data() + sample * kCacheWidth, cache_count_[sample],
                              max_active, 100 * eps, work.lars, code)) {
        out.from_cache[i] = 0;
        lasso_lars_signal(G, K, a0, static_cast<T>(options_.alpha), options_.positive,
                          static_cast<int64_t>(options_.max_iter), max_active, 100 * eps, work.lars,
                          code);
      }
      break;
    }
    case CoderKind::lars: {
      // encode_lars()'s stopping ratio, so that the codes are the coder's.
      const T stop_ratio =
          std::max<T>(static_cast<T>(d) * std::numeric_limits<float>::epsilon(), 64 * eps);
      lars_signal(G, K, a0, limit_, d, stop_ratio, 100 * eps, work.lars, code);
      break;
    }
    case CoderKind::omp: {
      T norm2 = 0;
      for (int64_t j = 0; j < d; ++j) norm2 += x[j] * x[j];
      omp_signal(G, K, a0, norm2, limit_, options_.max_error > 0,
                 static_cast<T>(options_.max_error), work.omp, code);
      break;
    }
    case CoderKind::lasso_cd: {
      double norm2 = 0;
      for (int64_t j = 0; j < d; ++j) norm2 += static_cast<double>(x[j]) * x[j];
      std::fill(code, code + K, T(0));
      const LassoProblem problem{
          .alpha = options_.alpha, .l2 = options_.l2, .positive = options_.positive};
      lasso_cd_signal(G, K, a0, norm2, problem, options_.max_iter, options_.tol, work.cd, code);
      break;
    }
    case CoderKind::threshold:
      std::copy(a0, a0 + K, code);
      soft_threshold(code, K, static_cast<T>(options_.alpha), options_.positive);
      break;
    case CoderKind::fista:
      break;  // coded before, as a batch
  }
  // The support, the penalties and the residual from the signal itself (the
  // Gram form cancels at T's resolution).
  int64_t* support = out.support.data() + i * K;
  T* values = out.values.data() + i * K;
  work.residual.resize(d);
  const SignalParts parts =
      signal_parts_clone(code, K, D, x, d, support, values, work.residual.data());
  const int64_t count = parts.count;
  if (sample >= 0 && sample < cache_samples()) {
    // Each sample is in a batch once: its slot is this thread's alone.
    int16_t* entries = cache_entries_.data() + sample * kCacheWidth;
    const bool kept = count <= kCacheWidth;
    for (int64_t s = 0; kept && s < count; ++s) {
      const auto atom = static_cast<int16_t>(support[s]);
      entries[s] = values[s] > T(0) ? atom : static_cast<int16_t>(~atom);
    }
    cache_count_[sample] = kept ? static_cast<int16_t>(count) : int16_t{-1};
  }
  out.count[i] = count;
  out.l1[i] = parts.l1;
  out.l2[i] = parts.l2;
  out.squared_error[i] = parts.squared;
}

template <typename T>
void BatchCoder<T>::code(const Dictionary<T>& dictionary, const BatchRows<T>& X, int threads,
                         CodedBatch<T>& out, const int64_t* samples) {
  const int64_t K = n_atoms_, d = dim_, rows = X.rows;
  DICTLEARN_ASSERT(X.dim == d);
  const Matrix<T>& atoms = dictionary.dictionary;
  DICTLEARN_ASSERT(atoms.rows() == K && atoms.cols() == d);
  out.rows = rows;
  if (out.codes.rows() != rows) out.codes.resize(rows, K);
  out.support.resize(static_cast<size_t>(rows * K));
  out.values.resize(static_cast<size_t>(rows * K));
  out.from_cache.assign(static_cast<size_t>(rows), 0);
  out.count.resize(rows);
  out.squared_error.resize(rows);
  out.l1.resize(rows);
  out.l2.resize(rows);
  const T* D = atoms.data();
  const bool fista = options_.method == CoderKind::fista;
  if (fista) {
    CodingOptions options = options_;
    options.threads = threads;
    out.codes = encode_fista<T>(
        dictionary, Eigen::Map<const Matrix<T>>(X.contiguous(gathered_), rows, d), options);
  } else {
    gram_.resize(static_cast<size_t>(K * K));
    const int64_t padded = padded_atoms();
    transposed_.assign(static_cast<size_t>(padded * d), T(0));
    for (int64_t k = 0; k < K; ++k) {
      for (int64_t j = 0; j < d; ++j) transposed_[j * padded + k] = D[k * d + j];
    }
  }
  // The step's work: X Dᵀ, G and each signal's path, whose steps cost O(K)
  // each and grow with the support, up to min(K, d) atoms (the L0 coders: L).
  const double support = static_cast<double>(limit_ > 0 ? limit_ : std::min(K, d));
  const double per_atom = options_.method == CoderKind::threshold ? 2.0 : 16.0 + 8.0 * support;
  const double products = fista ? 0.0 : static_cast<double>(rows + K) * static_cast<double>(K * d);
  const double work =
      static_cast<double>(rows) * static_cast<double>(K) * per_atom + 2.0 * products;
  const int used =
      static_cast<int>(std::min<int64_t>(rows, threads_for(resolve_threads(threads), work)));
  if (static_cast<int>(workspaces_.size()) < std::max(used, 1))
    workspaces_.resize(std::max(used, 1));
  T* G = gram_.data();
  // G = D Dᵀ: the upper triangle by fixed blocks of rows, then its mirror, so
  // that G is exactly symmetric (the coders read rows of G where the math has
  // columns).
  const int64_t gram_blocks = fista ? 0 : (K + kGramBlock - 1) / kGramBlock;
  auto gram_block = [&](int64_t index) {
    const int64_t begin = index * kGramBlock, count = std::min(kGramBlock, K - begin);
    gemm(false, true, count, K - begin, d, D + begin * d, d, D + begin * d, d, T(0),
         G + begin * K + begin, K);
  };
  const T l2 = options_.method == CoderKind::lasso_lars ? static_cast<T>(options_.l2) : T(0);
  auto mirror_row = [&](int64_t i) {
    for (int64_t j = 0; j < i; ++j) G[i * K + j] = G[j * K + i];
    G[i * K + i] += l2;
  };
  // The signals by blocks, each signal's X Dᵀ and codes in turn: they depend
  // on neither the thread count nor the signal's batch mates.
  const int64_t signal_blocks = (rows + kSignalBlock - 1) / kSignalBlock;
  auto signal_block = [&](int64_t index, Workspace& work_of_thread) {
    const int64_t begin = index * kSignalBlock, count = std::min(kSignalBlock, rows - begin);
    // The block's rows and cache entries are requested at once: they lie at
    // random places of the data (and of the cache), and one miss at a time
    // would cost a full memory latency per signal.
    for (int64_t i = begin; i < begin + count; ++i) {
      prefetch_lines(X.row(i), d * static_cast<int64_t>(sizeof(T)));
      const int64_t sample = samples != nullptr ? samples[i] : -1;
      if (sample >= 0 && sample < cache_samples()) {
        __builtin_prefetch(cache_count_.data() + sample);
        __builtin_prefetch(cache_entries_.data() + sample * kCacheWidth);
      }
    }
    // The block's X Dᵀ at once (FISTA has its codes already).
    const int64_t padded = padded_atoms();
    const T* rows_of_block[kSignalBlock];
    for (int64_t i = 0; i < count; ++i) rows_of_block[i] = X.row(begin + i);
    if (!fista) {
      work_of_thread.alpha0.resize(static_cast<size_t>(kSignalBlock * padded));
      block_correlations_clone(transposed_.data(), padded, d, rows_of_block, count,
                               work_of_thread.alpha0.data());
    }
    // FISTA's codes are in `out` already; on threads the others go to the
    // thread's own row (see CodedBatch).
    const bool own_row = !fista && used > 1;
    if (own_row) work_of_thread.code.resize(K);
    for (int64_t i = begin; i < begin + count; ++i) {
      const T* a0 = fista ? nullptr : work_of_thread.alpha0.data() + (i - begin) * padded;
      code_signal(D, rows_of_block[i - begin], a0, i, samples != nullptr ? samples[i] : -1,
                  work_of_thread, out,
                  own_row ? work_of_thread.code.data() : out.codes.data() + i * K);
    }
  };
  if (used <= 1) {
    for (int64_t b = 0; b < gram_blocks; ++b) gram_block(b);
    if (!fista) {
      for (int64_t i = 0; i < K; ++i) mirror_row(i);
    }
    for (int64_t b = 0; b < signal_blocks; ++b) signal_block(b, workspaces_[0]);
    return;
  }
  // One region for the three parts: its team is woken once a step.
  ParallelErrors errors;
#pragma omp parallel num_threads(used)
  {
    Workspace& work_of_thread = workspaces_[omp_thread()];
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < gram_blocks; ++b) errors.run([&] { gram_block(b); });
#pragma omp for schedule(static)
    for (int64_t i = 0; i < (fista ? 0 : K); ++i) mirror_row(i);
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < signal_blocks; ++b) {
      errors.run([&] { signal_block(b, work_of_thread); });
    }
  }
  errors.rethrow();
  if (fista) return;
  // The dense codes from the supports, whose lines the other threads wrote:
  // requested at once first (the statistics read them next, then here).
  for (int64_t i = 0; i < rows; ++i) {
    __builtin_prefetch(out.support.data() + i * K);
    __builtin_prefetch(out.values.data() + i * K);
  }
  out.codes.setZero();
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t* support = out.support.data() + i * K;
    const T* values = out.values.data() + i * K;
    T* code = out.codes.data() + i * K;
    for (int64_t s = 0; s < out.count[i]; ++s) code[support[s]] = values[s];
  }
}

template <typename T>
void BatchCoder<T>::enable_cache(int64_t samples, double data_bytes) {
  const double bytes = static_cast<double>(samples) * 2.0 * static_cast<double>(kCacheWidth + 1);
  if (options_.method != CoderKind::lasso_lars || n_atoms_ >= 32768 || 4 * bytes > data_bytes)
    return drop_cache();
  cache_count_.assign(static_cast<size_t>(samples), -1);
  cache_entries_.assign(static_cast<size_t>(samples * kCacheWidth), 0);
}

template <typename T>
void BatchCoder<T>::drop_cache() {
  cache_count_ = {};
  cache_entries_ = {};
}

template <typename T>
std::vector<int16_t> BatchCoder<T>::cache_state() const {
  const int64_t N = cache_samples(), W = kCacheWidth;
  std::vector<int16_t> state(static_cast<size_t>(N * (W + 1)));
  for (int64_t n = 0; n < N; ++n) {
    state[n * (W + 1)] = cache_count_[n];
    std::copy_n(cache_entries_.data() + n * W, W, state.data() + n * (W + 1) + 1);
  }
  return state;
}

template <typename T>
bool BatchCoder<T>::set_cache(const std::vector<int16_t>& state) {
  const int64_t W = kCacheWidth, N = static_cast<int64_t>(state.size()) / (W + 1);
  if (N * (W + 1) != static_cast<int64_t>(state.size())) return false;
  for (int64_t n = 0; n < N; ++n) {
    const int16_t* entry = state.data() + n * (W + 1);
    if (entry[0] < -1 || entry[0] > W) return false;
    for (int64_t s = 1; s <= entry[0]; ++s) {
      const int64_t atom = entry[s] >= 0 ? entry[s] : ~static_cast<int64_t>(entry[s]);
      if (atom >= n_atoms_) return false;
    }
  }
  cache_count_.resize(N);
  cache_entries_.resize(N * W);
  for (int64_t n = 0; n < N; ++n) {
    cache_count_[n] = state[n * (W + 1)];
    std::copy_n(state.data() + n * (W + 1) + 1, W, cache_entries_.data() + n * W);
  }
  return true;
}

template <typename T>
double BatchCoder<T>::batch_cost(const CodedBatch<T>& coded) const {
  double squared = 0, l1 = 0, l2 = 0;
  for (int64_t i = 0; i < coded.rows; ++i) {
    squared += coded.squared_error[i];
    l1 += coded.l1[i];
    l2 += coded.l2[i];
  }
  double cost = 0.5 * squared;
  if (is_lasso(options_.method)) cost += options_.alpha * l1 + 0.5 * options_.l2 * l2;
  return coded.rows > 0 ? cost / static_cast<double>(coded.rows) : 0.0;
}

double sklearn_forgetting(int64_t step, int64_t rows) {
  const double b = static_cast<double>(rows);
  const double theta = step < rows - 1 ? static_cast<double>(step + 1) * b
                                       : b * b + static_cast<double>(step) + 1 - b;
  return (theta + 1 - b) / (theta + 1);
}

double spams_forgetting(int64_t step, int64_t batch_size, int64_t window_rows, int64_t memory) {
  const double b = static_cast<double>(batch_size);
  double seen =
      step < batch_size ? static_cast<double>(step) * b : b * b + static_cast<double>(step) - b;
  if (window_rows > 0) seen = std::min(seen, 2.0 * static_cast<double>(window_rows));
  if (memory > 0) seen = std::min(seen, static_cast<double>(memory));
  // At step 0 this is 1 − b: it scales only t0's start (the window is empty),
  // SPAMS's arithmetic.
  return (seen + 1 - b) / (seen + 1);
}

template <typename T>
void SufficientStatistics<T>::reset(Forgetting forgetting, const Matrix<T>& atoms) {
  const int64_t K = atoms.rows(), d = atoms.cols();
  A = Matrix<T>::Zero(K, K);
  B = Matrix<T>::Zero(K, d);
  odd_window = false;
  if (forgetting != Forgetting::sklearn) {
    A_current = A_previous = Matrix<T>::Zero(K, K);
    B_current = B_previous = Matrix<T>::Zero(K, d);
    A_initial = Matrix<T>::Identity(K, K) * static_cast<T>(kSpamsT0);
    B_initial = atoms * static_cast<T>(kSpamsT0);
  } else {
    A_current = A_previous = A_initial = B_current = B_previous = B_initial = Matrix<T>();
  }
}

namespace {

/// Atoms per product of the dictionary pass: each product reads D once for
/// this many atoms.
constexpr int64_t kAtomBlock = 16;

/// The atoms [begin, begin + count) of the pass, given S = B − A D for them
/// computed with their old values (`old`, count x d) and the atoms before
/// `begin` already updated: one by one, each step corrected by the changes of
/// the block's atoms before it (Gauss-Seidel, as scikit-learn and SPAMS do,
/// in exact arithmetic the same), then clipped and projected. Inlined into
/// one clone per level below.
template <typename T>
[[gnu::always_inline]] inline int64_t finish_block(T* D, const T* old, T* S, const T* A, int64_t K,
                                                   int64_t d, int64_t begin, int64_t count,
                                                   bool positive, bool unit_norm,
                                                   const Resample& resample) {
  int64_t replaced = 0;
  for (int64_t i = 0; i < count; ++i) {
    const int64_t k = begin + i;
    T* atom = D + k * d;
    T* step = S + i * d;
    const T* a = A + k * K + begin;
    const T akk = a[i];
    if (akk > T(1e-6)) {
      for (int64_t j = 0; j < i; ++j) {
        const T w = a[j];
        const T* now = D + (begin + j) * d;
        const T* before = old + j * d;
#pragma omp simd
        for (int64_t c = 0; c < d; ++c) step[c] -= w * (now[c] - before[c]);
      }
      const T inverse = T(1) / akk;
#pragma omp simd
      for (int64_t c = 0; c < d; ++c) atom[c] += step[c] * inverse;
    } else if (resample) {
      resample(k, atom);
      ++replaced;
    }
    if (positive) {
      for (int64_t c = 0; c < d; ++c) atom[c] = atom[c] > T(0) ? atom[c] : T(0);
    }
    T norm2 = 0;
#pragma omp simd reduction(+ : norm2)
    for (int64_t c = 0; c < d; ++c) norm2 += atom[c] * atom[c];
    const T norm = std::sqrt(norm2);
    if (unit_norm ? norm > T(0) : norm > T(1)) {
      const T inverse = T(1) / norm;
      for (int64_t c = 0; c < d; ++c) atom[c] *= inverse;
    }
  }
  return replaced;
}

DICTLEARN_LEVEL_CLONES int64_t finish_block_clone(float* D, const float* old, float* S,
                                                  const float* A, int64_t K, int64_t d,
                                                  int64_t begin, int64_t count, bool positive,
                                                  bool unit_norm, const Resample& resample) {
  return finish_block(D, old, S, A, K, d, begin, count, positive, unit_norm, resample);
}
DICTLEARN_LEVEL_CLONES int64_t finish_block_clone(double* D, const double* old, double* S,
                                                  const double* A, int64_t K, int64_t d,
                                                  int64_t begin, int64_t count, bool positive,
                                                  bool unit_norm, const Resample& resample) {
  return finish_block(D, old, S, A, K, d, begin, count, positive, unit_norm, resample);
}

}  // namespace

namespace {

/// What the rows of one statistics update read and write (SufficientStatistics::add).
template <typename T>
struct RowUpdate {
  int64_t K, d;
  T beta, inverse_rows;
  T *a, *b;                    ///< the rows the batch is added to (A or A_current, B ...)
  T *a_previous, *b_previous;  ///< SPAMS: faded too; null otherwise
  T *a_initial, *b_initial;    ///< SPAMS while t·b < 10,000: faded and summed; else null
  T *a_sum, *b_sum;            ///< SPAMS: A and B, the sum of the parts; null otherwise
  const int64_t* support;      ///< sparse: each signal's nonzero atoms (K apart)
  const T* values;             ///< sparse: their codes (K apart)
  const int64_t* count;        ///< sparse: their count
  int64_t rows;                ///< the batch's signal count
  BatchRows<T> X;              ///< the batch's signals
  const T *batch_a, *batch_b;  ///< dense: Σ r rᵀ and Σ rᵀx; null: sparse
};

template <typename T>
[[gnu::always_inline]] inline void scale(T* x, int64_t n, T beta) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) x[i] *= beta;
}

template <typename T>
[[gnu::always_inline]] inline void sum_row(T* out, const T* first, const T* previous,
                                           const T* current, int64_t n) {
  if (first != nullptr) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) out[j] = first[j] + previous[j] + current[j];
  } else {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) out[j] = previous[j] + current[j];
  }
}

/// Rows [begin, begin + count) of the update: fade, add the batch, sum the
/// parts. Inlined into one clone per level below.
template <typename T>
[[gnu::always_inline]] inline void update_rows(const RowUpdate<T>& u, int64_t begin,
                                               int64_t count) {
  const int64_t K = u.K, d = u.d, end = begin + count;
  for (int64_t r = begin; r < end; ++r) {
    scale(u.a + r * K, K, u.beta);
    scale(u.b + r * d, d, u.beta);
    if (u.a_previous != nullptr) {
      scale(u.a_previous + r * K, K, u.beta);
      scale(u.b_previous + r * d, d, u.beta);
    }
    if (u.a_initial != nullptr) {
      scale(u.a_initial + r * K, K, u.beta);
      scale(u.b_initial + r * d, d, u.beta);
    }
  }
  if (u.batch_a == nullptr) {
    // Signal by signal, each adding to the rows of its atoms in [begin,
    // end) (its support is in atom order): every value of a row still gets
    // the batch's terms in signal order, and the signal's row and codes are
    // read once for all its atoms.
    for (int64_t i = 0; i < u.rows; ++i) {
      const T* values = u.values + i * K;
      const int64_t* support = u.support + i * K;
      const int64_t nonzero = u.count[i];
      const T* x = u.X.row(i);
      for (int64_t p = 0; p < nonzero; ++p) {
        const int64_t r = support[p];
        if (r < begin) continue;
        if (r >= end) break;
        const T v = u.inverse_rows * values[p];
        T* a = u.a + r * K;
        for (int64_t q = 0; q < nonzero; ++q) a[support[q]] += v * values[q];
        T* b = u.b + r * d;
#pragma omp simd
        for (int64_t j = 0; j < d; ++j) b[j] += v * x[j];
      }
    }
  } else {
    for (int64_t r = begin; r < end; ++r) {
      T* a = u.a + r * K;
      T* b = u.b + r * d;
      const T* batch_a = u.batch_a + r * K;
      const T* batch_b = u.batch_b + r * d;
#pragma omp simd
      for (int64_t j = 0; j < K; ++j) a[j] += u.inverse_rows * batch_a[j];
#pragma omp simd
      for (int64_t j = 0; j < d; ++j) b[j] += u.inverse_rows * batch_b[j];
    }
  }
  if (u.a_sum != nullptr) {
    for (int64_t r = begin; r < end; ++r) {
      sum_row(u.a_sum + r * K, u.a_initial ? u.a_initial + r * K : nullptr, u.a_previous + r * K,
              u.a + r * K, K);
      sum_row(u.b_sum + r * d, u.b_initial ? u.b_initial + r * d : nullptr, u.b_previous + r * d,
              u.b + r * d, d);
    }
  }
}

DICTLEARN_LEVEL_CLONES void update_rows_clone(const RowUpdate<float>& u, int64_t begin,
                                              int64_t count) {
  update_rows(u, begin, count);
}
DICTLEARN_LEVEL_CLONES void update_rows_clone(const RowUpdate<double>& u, int64_t begin,
                                              int64_t count) {
  update_rows(u, begin, count);
}

}  // namespace

template <typename T>
void SufficientStatistics<T>::add(Forgetting forgetting, const CodedBatch<T>& coded,
                                  const BatchRows<T>& X, int64_t step, int64_t samples,
                                  int64_t batch_size, int64_t window_rows, int64_t memory,
                                  int threads) {
  const int64_t K = A.rows(), d = B.cols(), rows = coded.rows;
  // The capped schedule is SPAMS's with another β.
  const bool spams = forgetting != Forgetting::sklearn;
  // SPAMS: when the samples stepped on after this batch reach the next
  // epoch of the data, the window moves: this epoch's statistics become the
  // previous ones, and the previous epoch's are dropped.
  if (spams && window_rows > 0) {
    const int64_t epoch = (samples + rows) / window_rows;
    if ((epoch % 2 == 1) != odd_window) {
      A_previous.swap(A_current);
      B_previous.swap(B_current);
      A_current.setZero();
      B_current.setZero();
      odd_window = !odd_window;
    }
  }
  // t0's start fades with the others while t·b < 10,000, then leaves A and B.
  const bool initial =
      spams && static_cast<double>(step) * static_cast<double>(batch_size) < 10000.0;
  const T beta =
      static_cast<T>(spams ? spams_forgetting(step, batch_size, window_rows,
                                              forgetting == Forgetting::capped ? memory : 0)
                           : sklearn_forgetting(step, rows));
  // The batch's r rᵀ / b and rᵀx / b: from the nonzero codes when they are
  // sparse (s² + s·dim a signal), else as products. The codes and rows were
  // written and read by the coding threads (another core's cache, on a VM
  // sometimes 240 ns away): this first pass requests them all at once, not
  // one miss at a time below. On L-a (AMD EPYC VM, far placement) the
  // statistics took 0.046 s instead of 0.057 s.
  double sparse_work = 0;
  for (int64_t i = 0; i < rows; ++i) {
    const double s = static_cast<double>(coded.count[i]);
    sparse_work += s * s + s * static_cast<double>(d);
    __builtin_prefetch(coded.support.data() + i * K);
    __builtin_prefetch(coded.values.data() + i * K);
    prefetch_lines(X.row(i), d * static_cast<int64_t>(sizeof(T)));
  }
  const double dense_work =
      static_cast<double>(rows) * static_cast<double>(K) * static_cast<double>(K + d);
  const bool sparse = 8 * sparse_work < dense_work;
  if (!sparse) {
    batch_A.resize(K, K);
    batch_B.resize(K, d);
    parallel_gemm<T>(true, false, K, K, rows, coded.codes.data(), K, coded.codes.data(), K, T(0),
                     batch_A.data(), K, threads, kProductBlock);
    parallel_gemm<T>(true, false, K, d, rows, coded.codes.data(), K, X.contiguous(gathered), d,
                     T(0), batch_B.data(), d, threads, kProductBlock);
  }
  Matrix<T>& target_A = spams ? A_current : A;
  Matrix<T>& target_B = spams ? B_current : B;
  const RowUpdate<T> update{.K = K,
                            .d = d,
                            .beta = beta,
                            .inverse_rows = T(1) / static_cast<T>(rows),
                            .a = target_A.data(),
                            .b = target_B.data(),
                            .a_previous = spams ? A_previous.data() : nullptr,
                            .b_previous = spams ? B_previous.data() : nullptr,
                            .a_initial = initial ? A_initial.data() : nullptr,
                            .b_initial = initial ? B_initial.data() : nullptr,
                            .a_sum = spams ? A.data() : nullptr,
                            .b_sum = spams ? B.data() : nullptr,
                            .support = coded.support.data(),
                            .values = coded.values.data(),
                            .count = coded.count.data(),
                            .rows = rows,
                            .X = X,
                            .batch_a = sparse ? nullptr : batch_A.data(),
                            .batch_b = sparse ? nullptr : batch_B.data()};
  // By ranges of rows (an atom's row of A and of B, each value's terms in
  // the same order whatever the range, so the thread count decides
  // nothing), on the threads the step's coding has just woken: a smaller
  // share than a cold region needs pays here.
  const double work = static_cast<double>(K) * static_cast<double>(K + d) * 8.0 + 2 * sparse_work;
  const int used = static_cast<int>(
      std::min<int64_t>(K, threads_for(resolve_threads(threads), work, kWarmShare)));
  if (used <= 1) {
    update_rows_clone(update, 0, K);
    return;
  }
#pragma omp parallel num_threads(used)
  {
    const int64_t thread = omp_thread();
    const int64_t begin = K * thread / used, end = K * (thread + 1) / used;
    update_rows_clone(update, begin, end - begin);
  }
}

template <typename T>
int64_t update_atoms(Matrix<T>& D, const Matrix<T>& A, const Matrix<T>& B, bool positive,
                     bool unit_norm, const Resample& resample) {
  const int64_t K = D.rows(), d = D.cols();
  std::vector<T> S(static_cast<size_t>(kAtomBlock * d)), old(S.size());
  int64_t replaced = 0;
  for (int64_t begin = 0; begin < K; begin += kAtomBlock) {
    const int64_t count = std::min(kAtomBlock, K - begin);
    // S = B − A D for the block as one product: D is read once per block, not once per atom.
    gemm(false, false, count, d, K, A.data() + begin * K, K, D.data(), d, T(0), S.data(), d);
    const T* b = B.data() + begin * d;
    for (int64_t i = 0; i < count * d; ++i) S[i] = b[i] - S[i];
    std::copy(D.data() + begin * d, D.data() + (begin + count) * d, old.data());
    replaced += finish_block_clone(D.data(), old.data(), S.data(), A.data(), K, d, begin, count,
                                   positive, unit_norm, resample);
  }
  return replaced;
}

template <typename T>
void draw_atom(std::mt19937_64& engine, const BatchRows<T>& X, T* atom) {
  const int64_t dim = X.dim;
  const T* x = X.row(static_cast<int64_t>(below(engine, static_cast<uint64_t>(X.rows))));
  double mean = 0;
  for (int64_t j = 0; j < dim; ++j) mean += x[j];
  mean /= static_cast<double>(dim);
  double spread = 0;
  for (int64_t j = 0; j < dim; ++j) spread += (x[j] - mean) * (x[j] - mean);
  const double deviation = std::sqrt(spread / static_cast<double>(dim));
  const double level = 0.01 * (deviation > 0 ? deviation : 1.0);
  for (int64_t j = 0; j < dim; ++j) {
    // Box-Muller, one normal a draw pair: the stream is the same on every platform.
    const double u1 = 1.0 - static_cast<double>(engine() >> 11) * 0x1.0p-53;
    const double u2 = static_cast<double>(engine() >> 11) * 0x1.0p-53;
    const double normal = std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    atom[j] = static_cast<T>(x[j] + level * normal);
  }
}

#define DICTLEARN_INSTANTIATE(T)                                                               \
  template class BatchCoder<T>;                                                                \
  template struct SufficientStatistics<T>;                                                     \
  template int64_t update_atoms<T>(Matrix<T>&, const Matrix<T>&, const Matrix<T>&, bool, bool, \
                                   const Resample&);                                           \
  template void draw_atom<T>(std::mt19937_64&, const BatchRows<T>&, T*);
DICTLEARN_INSTANTIATE(float)
DICTLEARN_INSTANTIATE(double)
#undef DICTLEARN_INSTANTIATE

}  // namespace dictlearn::detail
