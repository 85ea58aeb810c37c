// The fused pass: one batch of a row-local encoder in a single parallel
// region. The batch is cut into fixed blocks of rows; each block, on whichever
// thread takes it, gathers its samples (minus the decoder bias), then
//   Z = X Wᵀ + b, R = f(Z), E = R D − X, G = 2E/(rows·dim), ∂L/∂R = G Dᵀ,
//   ∂L/∂Z = f'(∂L/∂R)
// while these stay in cache, with its sums (squared error, |R|, ∂L/∂b, fired
// atoms, column sums of G) in its own slot of w.partials. ∂L/∂D = Rᵀ G and
// ∂L/∂W = (∂L/∂Z)ᵀ X are sums over all rows:
//  - small models: each block's share in the same task (fused_block_rows
//    rows a block), added in block order after the blocks;
//  - large models: the batch streams through passes of fused_stream_rows rows
//    (two blocks each); after a pass's blocks, the pass's products over tiles
//    of atoms are added to the two gradients, one task per tile. Only one
//    pass's codes, code gradients and G are held (the samples share G's rows:
//    they are gathered again for ∂L/∂W), whatever the batch size.
// Which thread runs a block or a tile never changes what it computes, and the
// blocks and passes depend on the sizes alone, so results do not depend on
// the thread count.
#include <algorithm>
#include <cmath>

#include "core/memory.hpp"
#include "core/parallel.hpp"
#include "core/threads.hpp"
#include "kernels/block_gemm.hpp"
#include "kernels/gemm.hpp"
#include "kernels/row_kernels.hpp"
#include "learners/autoencoder/engine.hpp"

namespace dictlearn::detail {
namespace {

/// Rows per block of the fused pass, from the batch's size alone (never the
/// thread count, so sums run in the same order for any): a quarter of the
/// batch, a multiple of 16, 64 to 256 rows (a block's buffers then stay in
/// L2; docs/PERFORMANCE.md has the measurements).
inline int64_t fused_block_rows(int64_t rows) {
  const int64_t quarter = (rows + 3) / 4;
  return std::clamp<int64_t>((quarter + 15) / 16 * 16, 64, 256);
}

/// The fused pass keeps each block's share of ∂L/∂D and ∂L/∂W (cheap for thin
/// models: no second pass over the batch) while all blocks' shares take at
/// most this many bytes; above, the batch streams through passes of rows (see
/// fused_stream_rows), each pass adding its products to the two gradients
/// tile by tile of atoms.
constexpr int64_t kPartialBytes = int64_t{8} << 20;

/// Large models: the buffers of one pass (codes, their gradient, G with the
/// samples) take at most this many bytes (or 64 rows), so that the batch's
/// workspace does not grow with the batch size and stays in cache (as fast
/// as larger passes, with less memory: docs/PERFORMANCE.md).
constexpr int64_t kPassBytes = int64_t{1} << 20;

/// Rows per pass for large models, from the model's and the batch's sizes
/// alone (never the thread count): a multiple of 64 rows, at least 64.
inline int64_t fused_stream_rows(int64_t rows, int64_t atoms, int64_t dim, int64_t scalar_bytes) {
  const int64_t fit = kPassBytes / ((2 * atoms + dim) * scalar_bytes) / 64 * 64;
  return std::min(rows, std::max<int64_t>(64, fit));
}

/// Shuffled rows lie anywhere in the data: while one is copied, the row this
/// many ahead is requested from memory (its first 512 bytes; the hardware
/// prefetcher follows longer rows).
constexpr int64_t kPrefetchAhead = 8;

/// The sizes of one batch's pass and the pointers every block reads.
template <typename T>
struct FusedPlan {
  const T* data;
  const int64_t* index;
  int64_t rows;
  int K, d;
  int64_t kd;
  bool per_block;  // each block keeps its share of ∂L/∂D and ∂L/∂W
  int64_t block_rows, blocks, blocks_per_pass, passes, stride, tile_atoms, tiles;
  const T* decoder_bias;
  bool copy;      // samples are gathered (shuffled or centered) before use
  T* model_copy;  // per_block: Wᵀ, Dᵀ (dim x atoms) and D, for block_gemm
  T scale, l1_weight;
  int64_t prefetch_bytes;
};

template <typename T>
FusedPlan<T> plan_fused(const TrainerState<T>& s, const T* data, const int64_t* index,
                        int64_t rows) {
  FusedPlan<T> p{};
  p.data = data;
  p.index = index;
  p.rows = rows;
  p.K = s.model.n_atoms();
  p.d = s.model.dim();
  p.kd = static_cast<int64_t>(p.K) * p.d;
  const int64_t share_blocks = (rows + fused_block_rows(rows) - 1) / fused_block_rows(rows);
  p.per_block = 2 * p.kd * share_blocks * static_cast<int64_t>(sizeof(T)) <= kPartialBytes;
  // Streaming: two blocks a pass (a multiple of 32 rows each); the pass's
  // rows are a multiple of the block's, so blocks never straddle passes.
  const int64_t pass_rows = p.per_block ? rows : fused_stream_rows(rows, p.K, p.d, sizeof(T));
  p.block_rows = p.per_block ? fused_block_rows(rows) : std::max<int64_t>(32, pass_rows / 2);
  p.blocks = (rows + p.block_rows - 1) / p.block_rows;
  p.blocks_per_pass = p.per_block ? p.blocks : (pass_rows + p.block_rows - 1) / p.block_rows;
  p.passes = (p.blocks + p.blocks_per_pass - 1) / p.blocks_per_pass;
  p.stride = 2 + 2 * p.K + p.d;
  p.tile_atoms = std::clamp<int64_t>((p.K / 4 + 15) / 16 * 16, 16, 512);
  p.tiles = p.per_block ? 0 : (p.K + p.tile_atoms - 1) / p.tile_atoms;
  p.decoder_bias = s.model.decoder_bias.size() > 0 ? s.model.decoder_bias.data() : nullptr;
  p.copy = index != nullptr || p.decoder_bias != nullptr;
  p.scale = static_cast<T>(2.0 / static_cast<double>(rows * p.d));
  p.l1_weight = static_cast<T>(s.options.l1 / static_cast<double>(rows));
  p.prefetch_bytes = std::min<int64_t>(512, p.d * static_cast<int64_t>(sizeof(T)));
  return p;
}

/// Batch rows [begin, end) (minus the decoder bias) into consecutive rows of target.
template <typename T>
void gather(const FusedPlan<T>& p, int64_t begin, int64_t end, T* target) {
  const int d = p.d;
  for (int64_t i = begin; i < end; ++i) {
    if (p.index && i + kPrefetchAhead < end) {
      prefetch_lines(p.data + p.index[i + kPrefetchAhead] * d, p.prefetch_bytes);
    }
    const T* source = p.data + (p.index ? p.index[i] : i) * d;
    T* row = target + (i - begin) * d;
    if (p.decoder_bias) {
      for (int j = 0; j < d; ++j) row[j] = source[j] - p.decoder_bias[j];
    } else {
      std::copy(source, source + d, row);
    }
  }
}

/// One block of rows: forward, loss, backward and its sums; per_block, its
/// shares of (∂L/∂D)ᵀ and (∂L/∂W)ᵀ. `pass_begin`: the first row of the pass
/// whose buffers hold the block when streaming.
template <typename T>
void fused_block(const FusedPlan<T>& p, TrainerState<T>& s, Workspace<T>& w, int64_t block,
                 int64_t pass_begin) {
  const int K = p.K, d = p.d;
  const int64_t block_rows = p.block_rows, kd = p.kd;
  const bool per_block = p.per_block;
  const Model<T>& model = s.model;
  const int64_t begin = block * block_rows, count = std::min(block_rows, p.rows - begin);
  const int64_t at = begin - pass_begin;  // the block's first row in the pass's buffers
  // This block's rows of x (the samples, centered), r (codes), e (then G)
  // and gz (∂L/∂R, then ∂L/∂Z).
  T* own = per_block ? w.thread_space[omp_thread()].data() : nullptr;
  T* r = per_block ? own : w.z.data() + at * K;
  T* gz = per_block ? own + block_rows * K : w.code_grad.data() + at * K;
  T* e = per_block ? own + 2 * block_rows * K : w.residual.data() + at * d;
  T* x_copy = per_block ? own + 2 * block_rows * K + block_rows * d : e;
  if (p.copy) gather(p, begin, begin + count, x_copy);
  const T* x = p.copy ? x_copy : p.data + begin * d;
  double* partial = w.partials.data() + block * p.stride;
  const T* b = model.encoder_bias.data();

  // The products add onto b (Z = b + X Wᵀ, as PyTorch's addmm) and onto
  // −X (E = −X + R D): no zeroing pass and no separate addition pass.
  // When streaming, e holds the samples until −X overwrites them.
  if (per_block) {
    // b and −X are block_gemm's addends (the same sums as below).
    block_gemm(false, count, K, d, x, d, p.model_copy, K, T(0), r, K, {.values = b});
  } else {
    for (int64_t i = 0; i < count; ++i) std::copy(b, b + K, r + i * K);
    gemm(false, true, count, K, d, x, d, model.encoder_weight.data(), d, T(1), r, K);
  }
  activate_rows(model.encoder, r, count, K, w.scratch[omp_thread()]);
  if (per_block) {
    block_gemm(false, count, d, K, r, K, p.model_copy + 2 * kd, d, T(0), e, d,
               {.values = x, .ld = d, .negate = true});
  } else {
    for (int64_t i = 0; i < count * d; ++i) e[i] = -x[i];
    gemm(false, false, count, d, K, r, K, model.dictionary.data(), d, T(1), e, d);
  }
  partial[0] = square_and_scale(e, count, d, p.scale);  // e is now G
  add_column_sums(e, count, d, partial + 2 + 2 * K);
  if (per_block) {
    block_gemm(false, count, K, d, e, d, p.model_copy + kd, K, T(0), gz, K);
  } else {
    gemm(false, true, count, K, d, e, d, model.dictionary.data(), d, T(0), gz, K);
  }
  count_column_nonzeros(r, count, K, partial + 2 + K);
  if (p.l1_weight > T(0)) {
    const T l1_weight = p.l1_weight;
    for (int64_t i = 0; i < count; ++i) {
      const T* ri = r + i * K;
      T* gi = gz + i * K;
      for (int k = 0; k < K; ++k) {
        partial[1] += std::abs(static_cast<double>(ri[k]));
        gi[k] += ri[k] > T(0) ? l1_weight : (ri[k] < T(0) ? -l1_weight : T(0));
      }
    }
  }
  backward_rows(model.encoder, r, gz, count, K);
  add_column_sums(gz, count, K, partial + 2);
  if (per_block) {
    // (∂L/∂D)ᵀ = Gᵀ R and (∂L/∂W)ᵀ = Xᵀ ∂L/∂Z, dim x atoms: the faster
    // layout for thin data.
    T* share = w.grad_partials.data() + 2 * kd * block;
    block_gemm(true, d, K, count, e, d, r, K, T(0), share, K);
    block_gemm(true, d, K, count, x, d, gz, K, T(0), share + kd, K);
  }
}

/// Streaming: the pass's share of ∂L/∂D = Rᵀ G, then, with the samples
/// gathered again into G's rows, its share of ∂L/∂W = (∂L/∂Z)ᵀ X: gradient
/// (atoms x dim) += left[:, tile]ᵀ right, one task a tile of atoms (the first
/// pass sets the gradient, the others add to it). Called by every thread of
/// the region.
template <typename T>
void fused_pass_products(const FusedPlan<T>& p, TrainerState<T>& s, Workspace<T>& w, int64_t pass,
                         ParallelErrors& errors) {
  const int K = p.K, d = p.d;
  const int64_t first_block = pass * p.blocks_per_pass;
  const int64_t end_block = std::min(p.blocks, first_block + p.blocks_per_pass);
  const int64_t pass_begin = first_block * p.block_rows;
  const int64_t pass_count = std::min(p.rows, end_block * p.block_rows) - pass_begin;
  T* residual = w.residual.data();
  auto add_tile_products = [&](const T* left, const T* right, T* gradient) {
    const T accumulate = pass == 0 ? T(0) : T(1);
#pragma omp for schedule(dynamic, 1)
    for (int64_t tile = 0; tile < p.tiles; ++tile) {
      errors.run([&] {
        const int64_t first = tile * p.tile_atoms,
                      count = std::min<int64_t>(p.tile_atoms, K - first);
        gemm(true, false, count, d, pass_count, left + first, K, right, d, accumulate,
             gradient + first * d, d);
      });
    }
  };
  add_tile_products(w.z.data(), residual, s.gradients.dictionary.data());
  if (p.copy) {
#pragma omp for schedule(static)
    for (int64_t block = first_block; block < end_block; ++block) {
      const int64_t begin = block * p.block_rows, count = std::min(p.block_rows, p.rows - begin);
      gather(p, begin, begin + count, residual + (begin - pass_begin) * d);
    }
  }
  add_tile_products(w.code_grad.data(), p.copy ? residual : p.data + pass_begin * d,
                    s.gradients.encoder_weight.data());
}

/// Per block: each gradient entry from its blocks' shares in block order
/// (added into block 0's row, a row of atoms at a time), transposed back.
/// Called by every thread of the region.
template <typename T>
void fused_add_shares(const FusedPlan<T>& p, TrainerState<T>& s, Workspace<T>& w) {
  const int K = p.K, d = p.d;
  const int64_t kd = p.kd;
#pragma omp for schedule(static)
  for (int j = 0; j < d; ++j) {
    for (int which = 0; which < 2; ++which) {
      T* target = which == 0 ? s.gradients.dictionary.data() : s.gradients.encoder_weight.data();
      T* sum = w.grad_partials.data() + which * kd + static_cast<int64_t>(j) * K;
      for (int64_t block = 1; block < p.blocks; ++block) {
        add_scaled(T(1), sum + 2 * kd * block, sum, K);  // 1·x + y: exactly x + y
      }
      for (int k = 0; k < K; ++k) target[static_cast<int64_t>(k) * d + j] = sum[k];
    }
  }
}

/// Per block: rows j of Wᵀ and Dᵀ, then rows k of D (the barrier after the
/// second loop covers both). Called by every thread of the region.
template <typename T>
void fused_copy_model(const FusedPlan<T>& p, const Model<T>& model) {
  const int K = p.K, d = p.d;
  const int64_t kd = p.kd;
  const T* W = model.encoder_weight.data();
  const T* D = model.dictionary.data();
  T* model_copy = p.model_copy;
#pragma omp for schedule(static) nowait
  for (int j = 0; j < d; ++j) {
    for (int k = 0; k < K; ++k) {
      const int64_t at = static_cast<int64_t>(k) * d + j;
      model_copy[static_cast<int64_t>(j) * K + k] = W[at];
      model_copy[kd + static_cast<int64_t>(j) * K + k] = D[at];
    }
  }
#pragma omp for schedule(static)
  for (int k = 0; k < K; ++k) {
    std::copy(D + static_cast<int64_t>(k) * d, D + static_cast<int64_t>(k + 1) * d,
              model_copy + 2 * kd + static_cast<int64_t>(k) * d);
  }
}

}  // namespace

template <typename T>
int64_t fused_pass(TrainerState<T>& s, const T* data, const int64_t* index, int64_t rows,
                   Workspace<T>& w) {
  FusedPlan<T> p = plan_fused(s, data, index, rows);
  w.partials.assign(p.blocks * p.stride, 0.0);
  if (p.per_block) w.grad_partials.reserve(2 * p.kd * p.blocks);
  // Per-block shares need a block's rows only while the block runs: each
  // thread works in its own block-sized buffers. Passes hold one pass's
  // codes, their gradient and G (the samples copied into G's rows). Grown
  // once, reused every batch.
  const int64_t block_space = p.block_rows * (2 * p.K + 2 * static_cast<int64_t>(p.d));
  const int64_t held_rows = std::min(rows, p.blocks_per_pass * p.block_rows);
  if (p.per_block) {
    w.thread_space.resize(w.threads);
    for (AlignedBuffer<T>& space : w.thread_space) space.reserve(block_space);
  } else {
    if (w.z.rows() < held_rows) w.z.resize(held_rows, p.K);
    if (w.code_grad.rows() < held_rows) w.code_grad.resize(held_rows, p.K);
    if (w.residual.rows() < held_rows) w.residual.resize(held_rows, p.d);
  }
  // The blocks' products read B row by row (block_gemm), from aligned
  // copies made once a batch (in the parallel region below): Z = X Wᵀ and
  // ∂L/∂R = G Dᵀ take the transposes, X̂ = R D the dictionary itself.
  if (p.per_block) w.block_model.reserve(3 * p.kd);
  p.model_copy = w.block_model.data();
  const int threads = static_cast<int>(std::min<int64_t>(
      p.per_block ? p.blocks : std::max<int64_t>(p.blocks_per_pass, p.tiles),
      threads_for(w.threads, 10.0 * static_cast<double>(rows) * static_cast<double>(p.kd))));

  // A failure (an allocation in a kernel) skips the remaining blocks' work
  // but not the worksharing loops themselves, so every thread still meets
  // every barrier.
  ParallelErrors errors;
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    if (p.per_block) fused_copy_model(p, s.model);
    for (int64_t pass = 0; pass < p.passes; ++pass) {
      const int64_t first_block = pass * p.blocks_per_pass;
      const int64_t end_block = std::min(p.blocks, first_block + p.blocks_per_pass);
      const int64_t pass_begin = first_block * p.block_rows;
#pragma omp for schedule(dynamic, 1)
      for (int64_t block = first_block; block < end_block; ++block) {
        errors.run([&] { fused_block(p, s, w, block, pass_begin); });
      }
      if (!p.per_block) fused_pass_products(p, s, w, pass, errors);
    }
    if (p.per_block) fused_add_shares(p, s, w);
  }
  errors.rethrow();
  return p.blocks;
}

template int64_t fused_pass<float>(TrainerState<float>&, const float*, const int64_t*, int64_t,
                                   Workspace<float>&);
template int64_t fused_pass<double>(TrainerState<double>&, const double*, const int64_t*, int64_t,
                                    Workspace<double>&);

}  // namespace dictlearn::detail
