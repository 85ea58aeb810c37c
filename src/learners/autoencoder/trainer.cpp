#include "dictlearn/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <tuple>
#include <utility>

#include "kernels/aligned_buffer.hpp"
#include "kernels/block_gemm.hpp"
#include "core/check.hpp"
#include "encoders/encoder_rows.hpp"
#include "core/finite.hpp"
#include "kernels/gemm.hpp"
#include "kernels/row_kernels.hpp"
#include "learners/autoencoder/small_kernel.hpp"
#include "core/threads.hpp"

namespace dictlearn {
namespace {

template <typename T>
void zero_like(Gradients<T>& out, const Model<T>& model) {
  out.dictionary.setZero(model.n_atoms(), model.dim());
  out.encoder_weight.setZero(model.n_atoms(), model.dim());
  out.encoder_bias.setZero(model.n_atoms());
  out.decoder_bias.setZero(model.decoder_bias.size());
}

/// Samples per chunk of the small-model path: fixed, so the order in which
/// partial sums are added does not depend on the number of threads.
constexpr int64_t kChunk = 1024;
/// Rows per block of the parallel encoder passes (fixed for the same reason).
constexpr int64_t kRowBlock = 256;

/// The fused kernel covers the seed's model: softmax at temperature 1, no
/// decoder bias, no L1 term, few parameters.
template <typename T>
bool use_small_kernel(const Model<T>& model, const FitOptions& options) {
  return model.encoder.kind == EncoderKind::softmax && model.encoder.temperature == 1.0 &&
         model.decoder_bias.size() == 0 && options.l1 == 0 &&
         static_cast<int64_t>(model.n_atoms()) * model.dim() <= detail::kSmallKernelMaxParameters;
}

/// TopK codes with k <= n_atoms / 4 go through the sparse decoder and gradients.
template <typename T>
bool uses_sparse_codes(const Model<T>& model) {
  return (model.encoder.kind == EncoderKind::topk || model.encoder.kind == EncoderKind::batchtopk) &&
         4 * static_cast<int64_t>(model.encoder.k) <= model.n_atoms();
}

/// Encoders whose code rows depend on their own pre-activation row only run
/// the fused pass (fused_pass: one parallel region a batch). Not BatchTopK (a
/// threshold over the whole batch), not TopK with AuxK (it needs the dead
/// atoms' pre-activations), not the small kernel's or the sparse codes' models.
template <typename T>
bool uses_fused_pass(const Model<T>& model, const FitOptions& options) {
  const bool topk =
      model.encoder.kind == EncoderKind::topk || model.encoder.kind == EncoderKind::batchtopk;
  return !use_small_kernel(model, options) && !uses_sparse_codes(model) &&
         model.encoder.kind != EncoderKind::batchtopk && !(topk && options.auxk > 0);
}

/// Rows per block of the fused pass, from the batch's size alone (never the
/// thread count, so sums run in the same order for any): a quarter of the
/// batch, a multiple of 16, 64 to 256 rows (a block's buffers then stay in L2:
/// 256 rows were faster than 512 and 128 for W2 and W5).
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
/// workspace does not grow with the batch size and stays in cache. 1 MiB ran
/// W3 (512 atoms x 784, batch 1,024: passes of 128 rows) as fast as 2 MiB and
/// as the whole batch at once, with 11 MiB less memory than the latter.
constexpr int64_t kPassBytes = int64_t{1} << 20;

/// Rows per pass for large models, from the model's and the batch's sizes
/// alone (never the thread count): a multiple of 64 rows, at least 64.
inline int64_t fused_stream_rows(int64_t rows, int64_t atoms, int64_t dim, int64_t scalar_bytes) {
  const int64_t fit = kPassBytes / ((2 * atoms + dim) * scalar_bytes) / 64 * 64;
  return std::min(rows, std::max<int64_t>(64, fit));
}

/// Uniform integer in [0, n) from the engine (multiply-shift; exact for our n).
inline uint64_t below(std::mt19937_64& engine, uint64_t n) {
  __extension__ using Wide = unsigned __int128;
  return static_cast<uint64_t>((static_cast<Wide>(engine()) * n) >> 64);
}

/// ‖D̂D̂ᵀ − I‖²_F for D̂ = D with unit rows; adds weight · its gradient to `grad`.
template <typename T>
double add_ortho_penalty(const Matrix<T>& dictionary, double weight, Matrix<T>& grad) {
  const Vector<T> norms = dictionary.rowwise().norm();
  Matrix<T> unit = dictionary;
  for (Eigen::Index k = 0; k < unit.rows(); ++k) {
    if (norms[k] > T(0)) unit.row(k) /= norms[k];
  }
  Matrix<T> gram = unit * unit.transpose();
  gram.diagonal().array() -= T(1);
  const double value = static_cast<double>(gram.squaredNorm());
  // ∂/∂D̂ = 4 (D̂D̂ᵀ − I) D̂; through the normalization d̂ = d/‖d‖ only the
  // component orthogonal to d̂ survives, divided by ‖d‖.
  Matrix<T> unit_grad = (T(4 * weight) * gram) * unit;
  for (Eigen::Index k = 0; k < unit.rows(); ++k) {
    if (norms[k] <= T(0)) continue;
    const T radial = unit_grad.row(k).dot(unit.row(k));
    grad.row(k) += (unit_grad.row(k) - radial * unit.row(k)) / norms[k];
  }
  return weight * value;
}

/// Adam on the dictionary and the encoder weights (in chunks of 16,384
/// entries of either, all in one parallel region from two full chunks' worth
/// on: W2's two 16,384-entry arrays take one thread each; smaller models
/// update in microseconds, less than a fork and join), then the biases. Each
/// entry's update is its own, so the thread count changes nothing.
template <typename T>
void adam_all(const AdamOptions& adam, int64_t step, Model<T>& model, const Gradients<T>& g,
              Gradients<T>& m, Gradients<T>& v, int threads) {
  const AdamStepFactors factors = adam_step_factors(adam, step);
  constexpr int64_t chunk = 16384;
  const int64_t nd = model.dictionary.size(), nw = model.encoder_weight.size();
  const int64_t dictionary_chunks = (nd + chunk - 1) / chunk;
  const int64_t chunks = dictionary_chunks + (nw + chunk - 1) / chunk;
  auto run_chunk = [&](int64_t c) {
    const bool dictionary = c < dictionary_chunks;
    const int64_t begin = (dictionary ? c : c - dictionary_chunks) * chunk;
    const int64_t count = std::min(chunk, (dictionary ? nd : nw) - begin);
    if (dictionary) {
      adam_update(adam, factors, model.dictionary.data() + begin, g.dictionary.data() + begin,
                  m.dictionary.data() + begin, v.dictionary.data() + begin, count);
    } else {
      adam_update(adam, factors, model.encoder_weight.data() + begin,
                  g.encoder_weight.data() + begin, m.encoder_weight.data() + begin,
                  v.encoder_weight.data() + begin, count);
    }
  };
  const int used = nd + nw >= 2 * chunk ? static_cast<int>(std::min<int64_t>(chunks, threads)) : 1;
  if (used > 1) {
#pragma omp parallel for num_threads(used) schedule(static)
    for (int64_t c = 0; c < chunks; ++c) run_chunk(c);
  } else {  // small models: no parallel region to enter
    for (int64_t c = 0; c < chunks; ++c) run_chunk(c);
  }
  adam_update(adam, factors, model.encoder_bias.data(), g.encoder_bias.data(),
              m.encoder_bias.data(), v.encoder_bias.data(), model.encoder_bias.size());
  if (model.decoder_bias.size() > 0) {
    adam_update(adam, factors, model.decoder_bias.data(), g.decoder_bias.data(),
                m.decoder_bias.data(), v.decoder_bias.data(), model.decoder_bias.size());
  }
}

template <typename T>
void normalize_rows(Matrix<T>& matrix) {
  for (Eigen::Index k = 0; k < matrix.rows(); ++k) {
    const T norm = matrix.row(k).norm();
    if (norm > T(0)) matrix.row(k) /= norm;
  }
}

/// The blocks' slots of `partials`, each [squared error, Σ|R|, ∂L/∂b (atoms),
/// fired counts (atoms), column sums of G (dim)], added in block order (the
/// same sums for any thread count). Writes ∂L/∂b (plus `extra_bias`, AuxK's,
/// when not empty), the fired counts and ∂L/∂b_dec; returns the squared error
/// and Σ|R|.
template <typename T>
std::pair<double, double> add_block_sums(const std::vector<double>& partials, int64_t blocks,
                                         const Model<T>& model, const Vector<T>& extra_bias,
                                         std::vector<double>& sums, std::vector<double>& fired,
                                         Gradients<T>& gradients) {
  const int K = model.n_atoms(), d = model.dim();
  const int64_t stride = 2 + 2 * K + d;
  sums.assign(stride, 0.0);
  for (int64_t block = 0; block < blocks; ++block) {
    for (int64_t j = 0; j < stride; ++j) sums[j] += partials[block * stride + j];
  }
  for (int k = 0; k < K; ++k) {
    gradients.encoder_bias[k] = static_cast<T>(sums[2 + k]);
    if (extra_bias.size() > 0) gradients.encoder_bias[k] += extra_bias[k];
    fired[k] = sums[2 + K + k];
  }
  if (model.decoder_bias.size() > 0) {
    for (int j = 0; j < d; ++j) gradients.decoder_bias[j] = static_cast<T>(sums[2 + 2 * K + j]);
    gradients.decoder_bias -= model.encoder_weight.transpose() * gradients.encoder_bias;
  }
  return {sums[0], sums[1]};
}

/// FVU's denominator: the data's total squared deviation from its column
/// means, in double, without a copy of the data; fixed blocks of rows added
/// in block order (the same for any thread count).
template <typename T>
double total_spread(const Matrix<T>& X, int threads) {
  const int64_t n = X.rows(), d = X.cols(), block = 4096;
  const int64_t blocks = (n + block - 1) / block;
  std::vector<double> partial(blocks * d, 0.0);
  const int used = static_cast<int>(
      std::min<int64_t>(blocks, threads_for(threads, 2.0 * static_cast<double>(n * d))));
#pragma omp parallel for num_threads(used) if (used > 1) schedule(static)
  for (int64_t c = 0; c < blocks; ++c) {
    double* sums = partial.data() + c * d;
    for (int64_t i = c * block; i < std::min(n, (c + 1) * block); ++i) {
      const T* x = X.data() + i * d;
      for (int64_t j = 0; j < d; ++j) sums[j] += static_cast<double>(x[j]);
    }
  }
  std::vector<double> mean(d, 0.0);
  for (int64_t c = 0; c < blocks; ++c) {
    for (int64_t j = 0; j < d; ++j) mean[j] += partial[c * d + j];
  }
  for (double& m : mean) m /= static_cast<double>(n);
  std::vector<double> spreads(blocks);
#pragma omp parallel for num_threads(used) if (used > 1) schedule(static)
  for (int64_t c = 0; c < blocks; ++c) {
    double sum = 0;
    for (int64_t i = c * block; i < std::min(n, (c + 1) * block); ++i) {
      const T* x = X.data() + i * d;
      double row = 0;
#pragma omp simd reduction(+ : row)
      for (int64_t j = 0; j < d; ++j) {
        const double deviation = static_cast<double>(x[j]) - mean[j];
        row += deviation * deviation;
      }
      sum += row;
    }
    spreads[c] = sum;
  }
  double spread = 0;
  for (int64_t c = 0; c < blocks; ++c) spread += spreads[c];
  return spread;
}

}  // namespace

template <typename T>
Model<T> initialize(const Matrix<T>& X, const FitOptions& options) {
  validate(options);
  DICTLEARN_CHECK(X.rows() >= 1 && X.cols() >= 1, "data: no data ({} x {})", X.rows(), X.cols());
  const int dim = static_cast<int>(X.cols());
  Model<T> model = init_model<T>(options.n_atoms, dim, options.seed);
  if (options.dictionary_init == DictionaryInit::data) {
    DICTLEARN_CHECK(X.rows() >= options.n_atoms,
                    "--init-dict: data initialization needs at least as many samples as atoms "
                    "({} samples, {} atoms)",
                    X.rows(), options.n_atoms);
    // Partial Fisher-Yates: distinct samples, reproducible from the seed.
    std::mt19937_64 engine(options.seed ^ 0x9e3779b97f4a7c15ULL);
    std::vector<int64_t> index(X.rows());
    std::iota(index.begin(), index.end(), int64_t{0});
    for (int k = 0; k < options.n_atoms; ++k) {
      const int64_t j = k + static_cast<int64_t>(below(engine, X.rows() - k));
      std::swap(index[k], index[j]);
      model.dictionary.row(k) = X.row(index[k]);
    }
  }
  if (options.unit_atoms) normalize_rows(model.dictionary);
  if (options.tied) model.encoder_weight = model.dictionary;
  if (options.decoder_bias == DecoderBiasInit::zero) {
    model.decoder_bias.setZero(dim);
  } else if (options.decoder_bias == DecoderBiasInit::mean) {
    model.decoder_bias = X.template cast<double>().colwise().mean().transpose().template cast<T>();
  }
  model.encoder = options.encoder;
  return model;
}

template <typename T>
struct Trainer<T>::Workspace {
  // Mini-batches.
  std::vector<int64_t> permutation;
  Matrix<T> batch;  // gathered rows, batch_size x dim
  // Matrix-product path.
  Matrix<T> centered;   // X − b_dec
  Matrix<T> z;          // pre-activations
  Matrix<T> codes;      // R
  Matrix<T> residual;   // X̂ − X, then G
  Matrix<T> code_grad;  // ∂L/∂R, then ∂L/∂Z
  std::vector<detail::RowScratch<T>> scratch;
  std::vector<int64_t> order;
  std::vector<int> dead;
  std::vector<int> dead_order;
  // Small-model path.
  Matrix<T> data_t;  // dim x rows
  bool data_t_is_full = false;
  std::vector<T> kernel_space;
  std::vector<double> partials;
  detail::AlignedBuffer<T> grad_partials;  // fused pass: each block's (∂L/∂D)ᵀ and (∂L/∂W)ᵀ
  // Fused pass with shares: a block's buffers, per thread; and this batch's
  // Wᵀ, Dᵀ (dim x atoms) and D, for block_gemm.
  std::vector<detail::AlignedBuffer<T>> thread_space;
  detail::AlignedBuffer<T> block_model;
  // Per batch.
  std::vector<double> fired;
  std::vector<double> block_sums;
  // Sparse codes (topk, batchtopk): CSR by row, and the same entries by atom.
  std::vector<int64_t> row_start, atom_start, atom_next, atom_entries, entry_row;
  std::vector<int> entry_atom;
  std::vector<T> entry_value, entry_grad;
  int64_t samples = 0;  // N, the default dead_after
  int threads = 1;
};

template <typename T>
typename Trainer<T>::BatchResult Trainer<T>::compute_batch(const Matrix<T>& data, const int64_t* index,
                                                           int64_t rows, Workspace& w) {
  const int K = model_.n_atoms(), d = model_.dim();
  const int64_t kd = static_cast<int64_t>(K) * d;
  const bool fused = uses_fused_pass(model_, options_);
  if (index && !fused) {
    for (int64_t i = 0; i < rows; ++i) w.batch.row(i) = data.row(index[i]);
    w.data_t_is_full = false;
  }
  const Matrix<T>& source = index && !fused ? w.batch : data;
  const Eigen::Map<const Matrix<T>> X(source.data(), rows, d);
  const bool has_decoder_bias = model_.decoder_bias.size() > 0;
  double squared_error = 0, l1_sum = 0, aux_loss = 0;
  std::fill(w.fired.begin(), w.fired.end(), 0.0);
  BatchResult result;

  if (fused) {
    const int64_t blocks = fused_pass(data, index, rows, w);
    std::tie(squared_error, l1_sum) =
        add_block_sums(w.partials, blocks, model_, Vector<T>(), w.block_sums, w.fired, gradients_);
  } else if (use_small_kernel(model_, options_)) {
    if (!w.data_t_is_full) {
      w.data_t.resize(d, rows);
      w.data_t = X.transpose();
    }
    const int64_t chunks = (rows + kChunk - 1) / kChunk;
    const int64_t stride = 2 * kd + 2 * K + 1;
    w.partials.resize(chunks * stride);
    const size_t space = detail::small_kernel_workspace(K, d, sizeof(T));
    const int threads = static_cast<int>(std::min<int64_t>(
        chunks, threads_for(w.threads, 30.0 * static_cast<double>(rows) * kd)));
    w.kernel_space.resize(space * w.threads);
    const T scale = static_cast<T>(2.0 / static_cast<double>(rows * d));
    auto run_chunk = [&](int64_t c) {
      detail::SmallKernelArgs<T> args;
      args.data_t = w.data_t.data();
      args.n_samples = rows;
      args.begin = c * kChunk;
      args.end = std::min(rows, (c + 1) * kChunk);
      args.atoms = K;
      args.dim = d;
      args.weight = model_.encoder_weight.data();
      args.bias = model_.encoder_bias.data();
      args.dictionary = model_.dictionary.data();
      args.grad_scale = scale;
      args.workspace = w.kernel_space.data() + space * omp_thread();
      double* sums = w.partials.data() + c * stride;
      args.grad_dictionary = sums;
      args.grad_weight = sums + kd;
      args.grad_bias = sums + 2 * kd;
      args.fired = sums + 2 * kd + K;
      args.loss_sum = sums + 2 * kd + 2 * K;
      detail::small_kernel(args);
    };
    if (threads > 1) {
#pragma omp parallel for num_threads(threads) schedule(static)
      for (int64_t c = 0; c < chunks; ++c) run_chunk(c);
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
      gradients_.dictionary.data()[i] = static_cast<T>(dictionary);
      gradients_.encoder_weight.data()[i] = static_cast<T>(weight);
    }
    for (int k = 0; k < K; ++k) {
      double bias = 0, fired = 0;
      for (int64_t c = 0; c < chunks; ++c) {
        bias += w.partials[c * stride + 2 * kd + k];
        fired += w.partials[c * stride + 2 * kd + K + k];
      }
      gradients_.encoder_bias[k] = static_cast<T>(bias);
      w.fired[k] = fired;
    }
    for (int64_t c = 0; c < chunks; ++c) squared_error += w.partials[c * stride + 2 * kd + 2 * K];
  } else {
    // Our own fixed partitions parallelize the products (gemm.hpp) and the row
    // passes below (blocks of kRowBlock rows); every partial sum is added in
    // block order, so nothing depends on the thread count.
    const int row_threads = threads_for(w.threads, 20.0 * static_cast<double>(rows) * K);
    const int64_t blocks = (rows + kRowBlock - 1) / kRowBlock;
    // Per block: squared error, |R| sum, then ∂L/∂b (K), fired counts (K), colsum G (d).
    const int64_t stride = 2 + 2 * K + d;
    w.partials.assign(blocks * stride, 0.0);
    if (has_decoder_bias) {
      w.centered.topRows(rows) = X.rowwise() - model_.decoder_bias.transpose();
    }
    const auto Xc = has_decoder_bias ? Eigen::Map<const Matrix<T>>(w.centered.data(), rows, d) : X;
    const bool keep_z = options_.auxk > 0 && (model_.encoder.kind == EncoderKind::topk ||
                                               model_.encoder.kind == EncoderKind::batchtopk);
    auto z = w.z.topRows(rows);
    // Without AuxK nothing needs Z once R exists, so R overwrites it.
    auto codes = keep_z ? w.codes.topRows(rows) : w.z.topRows(rows);
    auto residual = w.residual.topRows(rows);
    constexpr int64_t kRows = 1024, kAtoms = 128;
    const T* W = model_.encoder_weight.data();
    const T* D = model_.dictionary.data();
    detail::parallel_gemm<T>(false, true, rows, K, d, Xc.data(), d, W, d, T(0), z.data(), K,
                             w.threads, kRows);
    const T* b = model_.encoder_bias.data();
    const bool sparse = uses_sparse_codes(model_);
    if (keep_z) codes = z;
    if (sparse && model_.encoder.kind == EncoderKind::topk) {
      // TopK writes its k entries per row straight into the sparse form.
      const int k = model_.encoder.k;
      w.row_start.resize(rows + 1);
      w.entry_atom.resize(rows * k);
      w.entry_value.resize(rows * k);
      w.entry_grad.resize(rows * k);
#pragma omp parallel for num_threads(row_threads) if (row_threads > 1) schedule(static)
      for (int64_t block = 0; block < blocks; ++block) {
        const int64_t end = std::min(rows, (block + 1) * kRowBlock);
        detail::RowScratch<T>& scratch = w.scratch[omp_thread()];
        std::vector<int>& order = scratch.order;
        for (int64_t i = block * kRowBlock; i < end; ++i) {
          T* zi = z.data() + i * K;
          for (int j = 0; j < K; ++j) zi[j] += b[j];
          detail::topk_select(zi, K, k, order, scratch.values);
          w.row_start[i] = i * k;
          for (int j = 0; j < k; ++j) {
            w.entry_atom[i * k + j] = order[j];
            w.entry_value[i * k + j] = std::max(zi[order[j]], T(0));
          }
        }
      }
      w.row_start[rows] = rows * k;
    } else if (model_.encoder.kind == EncoderKind::batchtopk) {
      codes.rowwise() += model_.encoder_bias.transpose();
      if (keep_z) z.rowwise() += model_.encoder_bias.transpose();
      result.threshold_estimate = detail::batch_topk(codes.data(), rows, K, model_.encoder.k, w.order);
    } else {
#pragma omp parallel for num_threads(row_threads) if (row_threads > 1) schedule(static)
      for (int64_t block = 0; block < blocks; ++block) {
        const int64_t begin = block * kRowBlock, count = std::min(kRowBlock, rows - begin);
        for (int64_t i = begin; i < begin + count; ++i) {
          T* ci = codes.data() + i * K;
          for (int k = 0; k < K; ++k) ci[k] += b[k];
          if (keep_z) std::copy(ci, ci + K, z.data() + i * K);
        }
        detail::activate_rows(model_.encoder, codes.data() + begin * K, count, K,
                              w.scratch[omp_thread()]);
      }
    }
    // TopK codes have at most k of n_atoms entries per row: the decoder and
    // every gradient product then run over those entries only.
    if (sparse) {
      if (model_.encoder.kind != EncoderKind::topk) sparse_from_dense(codes, rows, w, row_threads);
      sparse_decode(rows, w, row_threads);
    } else {
      detail::parallel_gemm<T>(false, false, rows, d, K, codes.data(), K, D, d, T(0), residual.data(),
                               d, w.threads, kRows);
    }
    const T* decoder_bias = has_decoder_bias ? model_.decoder_bias.data() : nullptr;
#pragma omp parallel for num_threads(row_threads) if (row_threads > 1) schedule(static)
    for (int64_t block = 0; block < blocks; ++block) {
      const int64_t begin = block * kRowBlock, end = std::min(rows, begin + kRowBlock);
      double sum = 0;
      for (int64_t i = begin; i < end; ++i) {
        T* e = residual.data() + i * d;
        const T* x = X.data() + i * d;
        for (int j = 0; j < d; ++j) {
          if (decoder_bias) e[j] += decoder_bias[j];
          e[j] -= x[j];
          sum += static_cast<double>(e[j]) * static_cast<double>(e[j]);
        }
      }
      w.partials[block * stride] = sum;
    }

    gradients_.dictionary.setZero();
    gradients_.encoder_weight.setZero();
    Vector<T> aux_bias_grad = Vector<T>::Zero(K);
    if (keep_z) aux_loss = add_auxk(z, residual, Xc, rows, w, aux_bias_grad);

    const T scale = static_cast<T>(2.0 / static_cast<double>(rows * d));
    const T l1_weight = static_cast<T>(options_.l1 / static_cast<double>(rows));
#pragma omp parallel for num_threads(row_threads) if (row_threads > 1) schedule(static)
    for (int64_t block = 0; block < blocks; ++block) {
      const int64_t begin = block * kRowBlock, end = std::min(rows, begin + kRowBlock);
      double* g_sum = w.partials.data() + block * stride + 2 + 2 * K;
      for (int64_t i = begin; i < end; ++i) {
        T* e = residual.data() + i * d;
        for (int j = 0; j < d; ++j) {
          e[j] *= scale;  // now G
          g_sum[j] += static_cast<double>(e[j]);
        }
      }
    }
    if (sparse) {
      sparse_backward(rows, Xc, w, row_threads, l1_weight, stride);
    } else {
      auto code_grad = w.code_grad.topRows(rows);
      detail::parallel_gemm<T>(true, false, K, d, rows, codes.data(), K, residual.data(), d, T(1),
                               gradients_.dictionary.data(), d, w.threads, kAtoms);
      detail::parallel_gemm<T>(false, true, rows, K, d, residual.data(), d, D, d, T(0),
                               code_grad.data(), K, w.threads, kRows);
  #pragma omp parallel for num_threads(row_threads) if (row_threads > 1) schedule(static)
      for (int64_t block = 0; block < blocks; ++block) {
        const int64_t begin = block * kRowBlock, count = std::min(kRowBlock, rows - begin);
        double* partial = w.partials.data() + block * stride;
        double* bias_grad = partial + 2;
        double* fired = partial + 2 + K;
        for (int64_t i = begin; i < begin + count; ++i) {
          const T* ri = codes.data() + i * K;
          T* gi = code_grad.data() + i * K;
          for (int k = 0; k < K; ++k) {
            fired[k] += ri[k] != T(0) ? 1.0 : 0.0;
            if (l1_weight > T(0)) {
              partial[1] += std::abs(static_cast<double>(ri[k]));
              gi[k] += ri[k] > T(0) ? l1_weight : (ri[k] < T(0) ? -l1_weight : T(0));
            }
          }
        }
        detail::backward_rows(model_.encoder, codes.data() + begin * K, code_grad.data() + begin * K,
                              count, K);
        for (int64_t i = begin; i < begin + count; ++i) {
          const T* gi = code_grad.data() + i * K;
          for (int k = 0; k < K; ++k) bias_grad[k] += static_cast<double>(gi[k]);
        }
      }
      detail::parallel_gemm<T>(true, false, K, d, rows, code_grad.data(), K, Xc.data(), d, T(1),
                               gradients_.encoder_weight.data(), d, w.threads, kAtoms);
    }
    std::tie(squared_error, l1_sum) =
        add_block_sums(w.partials, blocks, model_, aux_bias_grad, w.block_sums, w.fired, gradients_);
  }

  result.objective = squared_error / static_cast<double>(rows * d) +
                     options_.l1 * l1_sum / static_cast<double>(rows) + aux_loss;
  if (options_.ortho > 0) {
    result.objective += add_ortho_penalty(model_.dictionary, options_.ortho, gradients_.dictionary);
  }
  result.squared_error = squared_error;
  result.nonzero = std::accumulate(w.fired.begin(), w.fired.end(), 0.0);
  return result;
}

/// One batch of a row-local encoder in a single parallel region. The batch is
/// cut into fixed blocks of rows; each block, on whichever thread takes it,
/// gathers its samples (minus the decoder bias), then
///   Z = X Wᵀ + b, R = f(Z), E = R D − X, G = 2E/(rows·dim), ∂L/∂R = G Dᵀ,
///   ∂L/∂Z = f'(∂L/∂R)
/// while these stay in cache, with its sums (squared error, |R|, ∂L/∂b, fired
/// atoms, column sums of G) in its own slot of w.partials. ∂L/∂D = Rᵀ G and
/// ∂L/∂W = (∂L/∂Z)ᵀ X are sums over all rows:
///  - small models: each block's share in the same task (fused_block_rows
///    rows a block), added in block order after the blocks;
///  - large models: the batch streams through passes of fused_stream_rows rows
///    (two blocks each); after a pass's blocks, the pass's products over tiles
///    of atoms are added to the two gradients, one task per tile. Only one
///    pass's codes, code gradients and G are held (the samples share G's rows:
///    they are gathered again for ∂L/∂W), whatever the batch size.
/// Which thread runs a block or a tile never changes what it computes, and the
/// blocks and passes depend on the sizes alone, so results do not depend on
/// the thread count. Returns the number of blocks.
template <typename T>
int64_t Trainer<T>::fused_pass(const Matrix<T>& data, const int64_t* index, int64_t rows,
                               Workspace& w) {
  const int K = model_.n_atoms(), d = model_.dim();
  const int64_t kd = static_cast<int64_t>(K) * d;
  const int64_t share_blocks = (rows + fused_block_rows(rows) - 1) / fused_block_rows(rows);
  const bool per_block = 2 * kd * share_blocks * static_cast<int64_t>(sizeof(T)) <= kPartialBytes;
  // Streaming: two blocks a pass (a multiple of 32 rows each); the pass's
  // rows are a multiple of the block's, so blocks never straddle passes.
  const int64_t pass_rows = per_block ? rows : fused_stream_rows(rows, K, d, sizeof(T));
  const int64_t block_rows = per_block ? fused_block_rows(rows)
                                       : std::max<int64_t>(32, pass_rows / 2);
  const int64_t blocks = (rows + block_rows - 1) / block_rows;
  const int64_t blocks_per_pass = per_block ? blocks : (pass_rows + block_rows - 1) / block_rows;
  const int64_t passes = (blocks + blocks_per_pass - 1) / blocks_per_pass;
  const int64_t stride = 2 + 2 * K + d;
  w.partials.assign(blocks * stride, 0.0);
  if (per_block) w.grad_partials.reserve(2 * kd * blocks);
  const int64_t tile_atoms = std::clamp<int64_t>((K / 4 + 15) / 16 * 16, 16, 512);
  const int64_t tiles = per_block ? 0 : (K + tile_atoms - 1) / tile_atoms;

  const T* decoder_bias = model_.decoder_bias.size() > 0 ? model_.decoder_bias.data() : nullptr;
  const bool copy = index != nullptr || decoder_bias != nullptr;
  // Per-block shares need a block's rows only while the block runs: each
  // thread works in its own block-sized buffers. Passes hold one pass's
  // codes, their gradient and G (the samples copied into G's rows). Grown
  // once, reused every batch.
  const int64_t block_space = block_rows * (2 * K + 2 * static_cast<int64_t>(d));
  const int64_t held_rows = std::min(rows, blocks_per_pass * block_rows);
  if (per_block) {
    w.thread_space.resize(w.threads);
    for (detail::AlignedBuffer<T>& space : w.thread_space) space.reserve(block_space);
  } else {
    if (w.z.rows() < held_rows) w.z.resize(held_rows, K);
    if (w.code_grad.rows() < held_rows) w.code_grad.resize(held_rows, K);
    if (w.residual.rows() < held_rows) w.residual.resize(held_rows, d);
  }
  const T* W = model_.encoder_weight.data();
  const T* D = model_.dictionary.data();
  const T* b = model_.encoder_bias.data();
  // The blocks' products read B row by row (block_gemm), from aligned
  // copies made once a batch (in the parallel region below): Z = X Wᵀ and
  // ∂L/∂R = G Dᵀ take the transposes, X̂ = R D the dictionary itself.
  if (per_block) w.block_model.reserve(3 * kd);
  T* model_copy = w.block_model.data();
  const T* weight_t = per_block ? model_copy : nullptr;
  const T* dictionary_t = per_block ? model_copy + kd : nullptr;
  const T* dictionary = per_block ? model_copy + 2 * kd : nullptr;
  T* codes = w.z.data();
  T* residual = w.residual.data();
  T* code_grad = w.code_grad.data();
  const T scale = static_cast<T>(2.0 / static_cast<double>(rows * d));
  const T l1_weight = static_cast<T>(options_.l1 / static_cast<double>(rows));
  const EncoderOptions& encoder = model_.encoder;
  const int threads = static_cast<int>(std::min<int64_t>(
      per_block ? blocks : std::max<int64_t>(blocks_per_pass, tiles),
      threads_for(w.threads, 10.0 * static_cast<double>(rows) * static_cast<double>(kd))));
  // gather: batch rows [begin, end) (minus the decoder bias) into consecutive
  // rows of target. Shuffled rows lie anywhere in the data: while one is
  // copied, the row kPrefetchAhead ahead is requested from memory (its first
  // 512 bytes; the hardware prefetcher follows longer rows). W2 and W5: ~3%
  // less loop time.
  constexpr int64_t kPrefetchAhead = 8;
  const int64_t prefetch_bytes = std::min<int64_t>(512, d * static_cast<int64_t>(sizeof(T)));
  auto gather = [&](int64_t begin, int64_t end, T* target) {
    for (int64_t i = begin; i < end; ++i) {
      if (index && i + kPrefetchAhead < end) {
        const char* ahead = reinterpret_cast<const char*>(data.data() + index[i + kPrefetchAhead] * d);
        for (int64_t byte = 0; byte < prefetch_bytes; byte += 64) __builtin_prefetch(ahead + byte);
      }
      const T* source = data.data() + (index ? index[i] : i) * d;
      T* row = target + (i - begin) * d;
      if (decoder_bias) {
        for (int j = 0; j < d; ++j) row[j] = source[j] - decoder_bias[j];
      } else {
        std::copy(source, source + d, row);
      }
    }
  };

#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    detail::RowScratch<T>& scratch = w.scratch[omp_thread()];
    if (per_block) {
      // Rows j of Wᵀ and Dᵀ; then rows k of D (the barrier after the second
      // loop covers both).
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
    for (int64_t pass = 0; pass < passes; ++pass) {
      const int64_t first_block = pass * blocks_per_pass;
      const int64_t end_block = std::min(blocks, first_block + blocks_per_pass);
      const int64_t pass_begin = first_block * block_rows;
      const int64_t pass_count = std::min(rows, end_block * block_rows) - pass_begin;
#pragma omp for schedule(dynamic, 1)
      for (int64_t block = first_block; block < end_block; ++block) {
        const int64_t begin = block * block_rows, count = std::min(block_rows, rows - begin);
        const int64_t at = begin - pass_begin;  // the block's first row in the pass's buffers
        // This block's rows of x (the samples, centered), r (codes), e (then
        // G) and gz (∂L/∂R, then ∂L/∂Z).
        T* own = per_block ? w.thread_space[omp_thread()].data() : nullptr;
        T* r = per_block ? own : codes + at * K;
        T* gz = per_block ? own + block_rows * K : code_grad + at * K;
        T* e = per_block ? own + 2 * block_rows * K : residual + at * d;
        T* x_copy = per_block ? own + 2 * block_rows * K + block_rows * d : e;
        if (copy) gather(begin, begin + count, x_copy);
        const T* x = copy ? x_copy : data.data() + begin * d;
        double* partial = w.partials.data() + block * stride;
        double* bias_grad = partial + 2;
        double* fired = partial + 2 + K;
        double* g_sum = partial + 2 + 2 * K;

        // The products add onto b (Z = b + X Wᵀ, as PyTorch's addmm) and onto
        // −X (E = −X + R D): no zeroing pass and no separate addition pass.
        // When streaming, e holds the samples until −X overwrites them.
        if (per_block) {
          // b and −X are block_gemm's addends (the same sums as below).
          detail::block_gemm(false, count, K, d, x, d, weight_t, K, T(0), r, K, {.values = b});
        } else {
          for (int64_t i = 0; i < count; ++i) std::copy(b, b + K, r + i * K);
          detail::gemm(false, true, count, K, d, x, d, W, d, T(1), r, K);
        }
        detail::activate_rows(encoder, r, count, K, scratch);
        if (per_block) {
          detail::block_gemm(false, count, d, K, r, K, dictionary, d, T(0), e, d,
                             {.values = x, .ld = d, .negate = true});
        } else {
          for (int64_t i = 0; i < count * d; ++i) e[i] = -x[i];
          detail::gemm(false, false, count, d, K, r, K, D, d, T(1), e, d);
        }
        partial[0] = detail::square_and_scale(e, count, d, scale);  // e is now G
        detail::add_column_sums(e, count, d, g_sum);
        if (per_block) {
          detail::block_gemm(false, count, K, d, e, d, dictionary_t, K, T(0), gz, K);
        } else {
          detail::gemm(false, true, count, K, d, e, d, D, d, T(0), gz, K);
        }
        detail::count_column_nonzeros(r, count, K, fired);
        if (l1_weight > T(0)) {
          for (int64_t i = 0; i < count; ++i) {
            const T* ri = r + i * K;
            T* gi = gz + i * K;
            for (int k = 0; k < K; ++k) {
              partial[1] += std::abs(static_cast<double>(ri[k]));
              gi[k] += ri[k] > T(0) ? l1_weight : (ri[k] < T(0) ? -l1_weight : T(0));
            }
          }
        }
        detail::backward_rows(encoder, r, gz, count, K);
        detail::add_column_sums(gz, count, K, bias_grad);
        if (per_block) {
          // (∂L/∂D)ᵀ = Gᵀ R and (∂L/∂W)ᵀ = Xᵀ ∂L/∂Z, dim x atoms: the faster
          // layout for thin data.
          T* share = w.grad_partials.data() + 2 * kd * block;
          detail::block_gemm(true, d, K, count, e, d, r, K, T(0), share, K);
          detail::block_gemm(true, d, K, count, x, d, gz, K, T(0), share + kd, K);
        }
      }
      if (per_block) continue;
      // The pass's share of ∂L/∂D = Rᵀ G, then, with the samples gathered
      // again into G's rows, its share of ∂L/∂W = (∂L/∂Z)ᵀ X: gradient (atoms
      // x dim) += left[:, tile]ᵀ right, one task a tile of atoms (the first
      // pass sets the gradient, the others add to it).
      auto add_tile_products = [&](const T* left, const T* right, T* gradient) {
        const T accumulate = pass == 0 ? T(0) : T(1);
#pragma omp for schedule(dynamic, 1)
        for (int64_t tile = 0; tile < tiles; ++tile) {
          const int64_t first = tile * tile_atoms, count = std::min<int64_t>(tile_atoms, K - first);
          detail::gemm(true, false, count, d, pass_count, left + first, K, right, d, accumulate,
                       gradient + first * d, d);
        }
      };
      add_tile_products(codes, residual, gradients_.dictionary.data());
      if (copy) {
#pragma omp for schedule(static)
        for (int64_t block = first_block; block < end_block; ++block) {
          const int64_t begin = block * block_rows, count = std::min(block_rows, rows - begin);
          gather(begin, begin + count, residual + (begin - pass_begin) * d);
        }
      }
      add_tile_products(code_grad, copy ? residual : data.data() + pass_begin * d,
                        gradients_.encoder_weight.data());
    }
    if (per_block) {
      // Each gradient entry: its blocks' shares in block order (added into
      // block 0's row, a row of atoms at a time), transposed back.
#pragma omp for schedule(static)
      for (int j = 0; j < d; ++j) {
        for (int which = 0; which < 2; ++which) {
          T* target = which == 0 ? gradients_.dictionary.data() : gradients_.encoder_weight.data();
          T* sum = w.grad_partials.data() + which * kd + static_cast<int64_t>(j) * K;
          for (int64_t block = 1; block < blocks; ++block) {
            detail::add_scaled(T(1), sum + 2 * kd * block, sum, K);  // 1·x + y: exactly x + y
          }
          for (int k = 0; k < K; ++k) target[static_cast<int64_t>(k) * d + j] = sum[k];
        }
      }
    }
  }
  return blocks;
}

template <typename T>
void Trainer<T>::sparse_from_dense(const Eigen::Ref<const Matrix<T>>& codes, int64_t rows, Workspace& w,
                                   int threads) {
  const int K = model_.n_atoms();
  // CSR of the codes: per row, its nonzero atoms in increasing order.
  w.row_start.assign(rows + 1, 0);
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
  for (int64_t i = 0; i < rows; ++i) {
    const T* ri = codes.data() + i * K;
    int64_t count = 0;
    for (int k = 0; k < K; ++k) count += ri[k] != T(0);
    w.row_start[i + 1] = count;
  }
  for (int64_t i = 0; i < rows; ++i) w.row_start[i + 1] += w.row_start[i];
  const int64_t nonzero = w.row_start[rows];
  w.entry_atom.resize(nonzero);
  w.entry_value.resize(nonzero);
  w.entry_grad.resize(nonzero);
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
  for (int64_t i = 0; i < rows; ++i) {
    const T* ri = codes.data() + i * K;
    int64_t e = w.row_start[i];
    for (int k = 0; k < K; ++k) {
      if (ri[k] == T(0)) continue;
      w.entry_atom[e] = k;
      w.entry_value[e] = ri[k];
      ++e;
    }
  }
}

template <typename T>
void Trainer<T>::sparse_decode(int64_t rows, Workspace& w, int threads) {
  auto residual = w.residual.topRows(rows);
  const int d = model_.dim();
  const T* D = model_.dictionary.data();
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
  for (int64_t i = 0; i < rows; ++i) {
    T* out = residual.data() + i * d;
    std::fill(out, out + d, T(0));
    for (int64_t e = w.row_start[i]; e < w.row_start[i + 1]; ++e) {
      if (w.entry_value[e] != T(0)) detail::add_scaled(w.entry_value[e], D + int64_t{w.entry_atom[e]} * d, out, d);
    }
  }
}

template <typename T>
void Trainer<T>::sparse_backward(int64_t rows, const Eigen::Ref<const Matrix<T>>& Xc, Workspace& w,
                                 int threads, T l1_weight, int64_t stride) {
  const int K = model_.n_atoms(), d = model_.dim();
  const int64_t blocks = (rows + kRowBlock - 1) / kRowBlock;
  const auto G = w.residual.topRows(rows);
  const T* D = model_.dictionary.data();
  // ∂L/∂r at the kept entries only (the others' ∂L/∂z is 0): G_i · d_k, + L1.
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
  for (int64_t block = 0; block < blocks; ++block) {
    const int64_t end = std::min(rows, (block + 1) * kRowBlock);
    double l1 = 0;
    for (int64_t i = block * kRowBlock; i < end; ++i) {
      for (int64_t e = w.row_start[i]; e < w.row_start[i + 1]; ++e) {
        const T value = w.entry_value[e];
        T grad = detail::dot_product(G.data() + i * d, D + int64_t{w.entry_atom[e]} * d, d);
        if (l1_weight > T(0)) {
          l1 += std::abs(static_cast<double>(value));
          grad += value > T(0) ? l1_weight : -l1_weight;
        }
        w.entry_grad[e] = value > T(0) ? grad : T(0);  // ReLU after the selection
      }
    }
    w.partials[block * stride + 1] = l1;
  }
  // The entries regrouped by atom, each atom's in row order: every sum below
  // runs in that order, whichever thread does it.
  const int64_t nonzero = w.row_start[rows];
  w.atom_start.assign(K + 1, 0);
  for (int64_t e = 0; e < nonzero; ++e) ++w.atom_start[w.entry_atom[e] + 1];
  for (int k = 0; k < K; ++k) w.atom_start[k + 1] += w.atom_start[k];
  w.atom_entries.resize(nonzero);
  w.entry_row.resize(nonzero);
  {
    std::vector<int64_t>& next = w.atom_next;
    next.assign(w.atom_start.begin(), w.atom_start.end() - 1);
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t e = w.row_start[i]; e < w.row_start[i + 1]; ++e) {
        w.atom_entries[next[w.entry_atom[e]]++] = e;
        w.entry_row[e] = i;
      }
    }
  }
  double* bias_grad = w.partials.data() + 2;  // block 0's slots; the reduction adds the rest
  double* fired = w.partials.data() + 2 + K;
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
  for (int k = 0; k < K; ++k) {
    double bias = 0;
    for (int64_t a = w.atom_start[k]; a < w.atom_start[k + 1]; ++a) {
      const int64_t e = w.atom_entries[a];
      const int64_t i = w.entry_row[e];
      detail::add_scaled(w.entry_value[e], G.data() + i * d, gradients_.dictionary.data() + int64_t{k} * d, d);
      detail::add_scaled(w.entry_grad[e], Xc.data() + i * Xc.outerStride(),
                         gradients_.encoder_weight.data() + int64_t{k} * d, d);
      bias += static_cast<double>(w.entry_grad[e]);
    }
    bias_grad[k] += bias;
    for (int64_t a = w.atom_start[k]; a < w.atom_start[k + 1]; ++a) {
      fired[k] += w.entry_value[w.atom_entries[a]] != T(0) ? 1.0 : 0.0;
    }
  }
}

template <typename T>
double Trainer<T>::add_auxk(const Eigen::Ref<const Matrix<T>>& z, const Eigen::Ref<const Matrix<T>>& residual,
                            const Eigen::Ref<const Matrix<T>>& Xc, int64_t rows, Workspace& w,
                            Vector<T>& bias_grad) {
  const int K = model_.n_atoms(), d = model_.dim();
  const int64_t dead_after = options_.dead_after > 0 ? options_.dead_after : w.samples;
  w.dead.clear();
  for (int k = 0; k < K; ++k) {
    if (samples_since_fired_[k] >= dead_after) w.dead.push_back(k);
  }
  if (w.dead.empty()) return 0.0;
  const int k_aux = std::min<int>(static_cast<int>(w.dead.size()),
                                  options_.auxk_k > 0 ? options_.auxk_k : std::max(1, std::min(d / 2, K)));
  // e = X − X̂ = −residual, held fixed; its spread around the batch mean normalizes the loss.
  Vector<double> mean = Vector<double>::Zero(d);
  for (int64_t i = 0; i < rows; ++i) mean -= residual.row(i).transpose().template cast<double>();
  mean /= static_cast<double>(rows);
  double spread = 0;
  for (int64_t i = 0; i < rows; ++i) {
    spread += (-residual.row(i).transpose().template cast<double>() - mean).squaredNorm();
  }
  if (spread <= 0) return 0.0;
  double loss = 0;
  Vector<T> estimate(d), diff(d);
  for (int64_t i = 0; i < rows; ++i) {
    w.dead_order = w.dead;
    const T* zi = z.data() + i * K;
    auto larger = [zi](int a, int b) { return zi[a] > zi[b] || (zi[a] == zi[b] && a < b); };
    std::nth_element(w.dead_order.begin(), w.dead_order.begin() + (k_aux - 1), w.dead_order.end(),
                     larger);
    estimate.setZero();
    for (int j = 0; j < k_aux; ++j) {
      const int atom = w.dead_order[j];
      if (zi[atom] > T(0)) estimate += zi[atom] * model_.dictionary.row(atom).transpose();
    }
    diff = estimate + residual.row(i).transpose();  // ê − e
    loss += static_cast<double>(diff.squaredNorm());
    const Vector<T> d_estimate = T(2 * options_.auxk / spread) * diff;
    for (int j = 0; j < k_aux; ++j) {
      const int atom = w.dead_order[j];
      if (zi[atom] <= T(0)) continue;
      gradients_.dictionary.row(atom) += zi[atom] * d_estimate.transpose();
      const T dz = model_.dictionary.row(atom).dot(d_estimate.transpose());
      gradients_.encoder_weight.row(atom) += dz * Xc.row(i);
      bias_grad[atom] += dz;
    }
  }
  return loss * options_.auxk / spread;
}

template <typename T>
void Trainer<T>::apply_update(const BatchResult& batch, int64_t rows, double lr, Workspace& w) {
  const int K = model_.n_atoms();
  if (options_.unit_atoms) {
    for (int k = 0; k < K; ++k) {
      const T norm = model_.dictionary.row(k).norm();
      if (norm <= T(0)) continue;
      const T radial = gradients_.dictionary.row(k).dot(model_.dictionary.row(k)) / (norm * norm);
      gradients_.dictionary.row(k) -= radial * model_.dictionary.row(k);
    }
  }
  ++step_;
  AdamOptions adam = options_.adam;
  adam.lr = lr;
  adam_all(adam, step_, model_, gradients_, first_moment_, second_moment_, w.threads);
  if (options_.unit_atoms) normalize_rows(model_.dictionary);

  for (int k = 0; k < K; ++k) {
    samples_since_fired_[k] = w.fired[k] > 0 ? 0 : samples_since_fired_[k] + rows;
  }
  if (batch.threshold_estimate >= 0) {
    const double decay = options_.threshold_decay;
    model_.encoder.threshold =
        threshold_updates_ == 0 ? batch.threshold_estimate
                                : decay * model_.encoder.threshold + (1 - decay) * batch.threshold_estimate;
    ++threshold_updates_;
  }
}

template <typename T>
double loss_and_gradients(const Model<T>& model, const Matrix<T>& X, Gradients<T>& gradients,
                          const FitOptions& options) {
  FitOptions full = options;
  full.batch_size = 0;
  full.auxk = 0;  // AuxK depends on the training history of dead atoms
  Trainer<T> trainer(model, full);
  const double loss = trainer.evaluate(X);
  gradients = trainer.gradients();
  return loss;
}

template <typename T>
Trainer<T>::Trainer(Model<T> model, FitOptions options)
    : model_(std::move(model)),
      options_(options),
      shuffle_(options.seed ^ 0x5851f42d4c957f2dULL),
      epochs_to_run_(options.epochs) {
  validate(options_);
  validate_model(model_, "initial model");
  zero_like(gradients_, model_);
  zero_like(first_moment_, model_);
  zero_like(second_moment_, model_);
  samples_since_fired_.assign(model_.n_atoms(), 0);
}

template <typename T>
void Trainer<T>::fit(const Matrix<T>& X, const Observer& observer) {
  check_data_matches(model_, X, "data");
  const int64_t bad = detail::first_non_finite(X.data(), X.size());
  DICTLEARN_CHECK(bad < 0, "data: holds non-finite values (row {}, column {}: {})",
                  bad / std::max<int64_t>(1, X.cols()) + 1, bad % std::max<int64_t>(1, X.cols()) + 1,
                  bad < 0 ? 0.0 : static_cast<double>(X.data()[bad]));
  const int64_t n = X.rows();
  const int d = model_.dim(), K = model_.n_atoms();
  const int64_t batch = options_.batch_size > 0 && options_.batch_size < n ? options_.batch_size : n;
  const bool full_batch = batch == n;
  const int64_t batches_per_epoch = (n + batch - 1) / batch;
  // The schedule spans the run as configured, however it is cut into fit() calls.
  const int64_t total_steps = static_cast<int64_t>(options_.epochs) * batches_per_epoch;

  Workspace w;
  prepare(w, X, batch);
  const double spread = total_spread(X, w.threads);

  auto lr_at = [&](int64_t step) {
    double factor = 1;
    if (options_.warmup_steps > 0 && step <= options_.warmup_steps) {
      factor = static_cast<double>(step) / static_cast<double>(options_.warmup_steps);
    }
    if (options_.lr_decay > 0) {
      const int64_t decay_steps =
          std::max<int64_t>(1, std::llround(options_.lr_decay * static_cast<double>(total_steps)));
      const int64_t start = total_steps - decay_steps;
      if (step > start) {
        factor *= static_cast<double>(std::max<int64_t>(0, total_steps - step + 1)) /
                  static_cast<double>(decay_steps);
      }
    }
    return options_.adam.lr * factor;
  };

  stopped_early_ = false;
  const auto start = std::chrono::steady_clock::now();
  losses_.reserve(losses_.size() + epochs_to_run_);
  for (int epoch = 0; epoch < epochs_to_run_; ++epoch) {
    const int epoch_number = static_cast<int>(losses_.size()) + 1;
    double objective_sum = 0, squared_error = 0, nonzero = 0, lr = 0;
    if (!full_batch) {
      std::iota(w.permutation.begin(), w.permutation.end(), int64_t{0});
      for (int64_t i = n - 1; i > 0; --i) {
        std::swap(w.permutation[i], w.permutation[below(shuffle_, i + 1)]);
      }
    }
    for (int64_t b = 0; b < batches_per_epoch; ++b) {
      const int64_t begin = b * batch, rows = std::min(batch, n - begin);
      const BatchResult result =
          compute_batch(X, full_batch ? nullptr : w.permutation.data() + begin, rows, w);
      // A non-finite objective stops before the update: the model stays the last good one.
      DICTLEARN_CHECK(std::isfinite(result.objective),
                      "training: loss is {} at epoch {}; lower the learning rate (--lr) or "
                      "standardize the data",
                      result.objective, epoch_number);
      lr = lr_at(step_ + 1);
      apply_update(result, rows, lr, w);
      objective_sum += result.objective * static_cast<double>(rows);
      squared_error += result.squared_error;
      nonzero += result.nonzero;
    }
    const double loss = objective_sum / static_cast<double>(n);
    losses_.push_back(loss);
    const int64_t dead_after = options_.dead_after > 0 ? options_.dead_after : n;
    EpochStats stats;
    stats.epoch = epoch_number;
    stats.loss = loss;
    stats.mse = squared_error / static_cast<double>(n * d);
    stats.fvu = spread > 0 ? squared_error / spread : 0.0;
    stats.l0 = nonzero / static_cast<double>(n);
    stats.dead_fraction =
        static_cast<double>(std::count_if(samples_since_fired_.begin(), samples_since_fired_.end(),
                                          [&](int64_t s) { return s >= dead_after; })) /
        static_cast<double>(K);
    stats.lr = lr;
    bool stop = false;
    if (losses_.size() == 1 || loss < best_loss_ * (1 - options_.tol)) {
      best_loss_ = loss;
      epochs_without_improvement_ = 0;
    } else if (++epochs_without_improvement_ >= options_.patience && options_.patience > 0) {
      stop = true;
    }
    if (observer) {
      stats.seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      observer(stats, model_);
    }
    if (stop) {
      stopped_early_ = true;
      break;
    }
  }
}

template <typename T>
void Trainer<T>::prepare(Workspace& w, const Matrix<T>& X, int64_t batch) {
  const int d = model_.dim(), K = model_.n_atoms();
  const bool full_batch = batch == X.rows();
  w.threads = resolve_threads(options_.threads);
  w.samples = X.rows();
  w.fired.assign(K, 0.0);
  w.scratch.resize(w.threads);
  const bool small = use_small_kernel(model_, options_);
  if (small && full_batch) {
    w.data_t = X.transpose();
    w.data_t_is_full = true;
  } else if (uses_fused_pass(model_, options_)) {
    // fused_pass() sizes its own buffers (per thread or per batch).
  } else if (!small) {
    w.z.resize(batch, K);
    const bool auxk = options_.auxk > 0 && (model_.encoder.kind == EncoderKind::topk ||
                                             model_.encoder.kind == EncoderKind::batchtopk);
    if (auxk) w.codes.resize(batch, K);
    if (!uses_sparse_codes(model_)) w.code_grad.resize(batch, K);
    w.residual.resize(batch, d);
    if (model_.decoder_bias.size() > 0) w.centered.resize(batch, d);
  }
  if (!full_batch) {
    w.permutation.resize(X.rows());
    if (!uses_fused_pass(model_, options_)) w.batch.resize(batch, d);
  }
}

template <typename T>
Model<T> Trainer<T>::release_model() {
  gradients_ = {};
  first_moment_ = {};
  second_moment_ = {};
  return std::move(model_);
}

template <typename T>
double Trainer<T>::evaluate(const Matrix<T>& X) {
  check_data_matches(model_, X, "data");
  Workspace w;
  prepare(w, X, X.rows());
  return compute_batch(X, nullptr, X.rows(), w).objective;
}

template <typename T>
Model<T> fit(const Matrix<T>& X, const FitOptions& options, const Model<T>* initial,
             std::vector<double>* losses) {
  validate(options);
  Trainer<T> trainer(initial ? *initial : initialize(X, options), options);
  trainer.fit(X);
  if (losses) *losses = trainer.losses();
  return trainer.model();
}

template class Trainer<float>;
template class Trainer<double>;
template Model<float> initialize<float>(const Matrix<float>&, const FitOptions&);
template Model<double> initialize<double>(const Matrix<double>&, const FitOptions&);
template double loss_and_gradients<float>(const Model<float>&, const Matrix<float>&,
                                          Gradients<float>&, const FitOptions&);
template double loss_and_gradients<double>(const Model<double>&, const Matrix<double>&,
                                           Gradients<double>&, const FitOptions&);
template Model<float> fit<float>(const Matrix<float>&, const FitOptions&, const Model<float>*,
                                 std::vector<double>*);
template Model<double> fit<double>(const Matrix<double>&, const FitOptions&,
                                   const Model<double>*, std::vector<double>*);

}  // namespace dictlearn
