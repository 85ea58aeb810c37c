// compute_batch: one batch's loss terms and gradient sums. Picks the engine
// (the fused pass, the small kernel, or the matrix products below) and holds
// the last. The matrix-product path runs in phases: encode (Z = X Wᵀ +
// b, R = f(Z)), decode (E = R D + b_dec − X), backward (G, ∂L/∂D, ∂L/∂Z,
// ∂L/∂W), each over fixed blocks of rows.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <tuple>
#include <utility>

#include "core/parallel.hpp"
#include "core/threads.hpp"
#include "kernels/gemm.hpp"
#include "kernels/row_kernels.hpp"
#include "learners/autoencoder/engine.hpp"

namespace dictlearn::detail {
namespace {

/// What the phases of the matrix-product path share. Our own fixed
/// partitions parallelize the products (gemm.hpp) and the row passes (blocks
/// of kRowBlock rows); every partial sum is added in block order, so nothing
/// depends on the thread count.
template <typename T>
struct DensePass {
  TrainerState<T>& s;
  Workspace<T>& w;
  const T* X;   // the batch's samples, rows x d
  const T* Xc;  // the samples minus the decoder bias (X itself without one)
  int64_t rows;
  int K, d;
  int row_threads;
  int64_t blocks;
  int64_t stride;  // per block: squared error, |R| sum, ∂L/∂b (K), fired counts (K), colsum G (d)
  bool keep_z;     // AuxK needs Z apart from R
  bool sparse;     // TopK codes as sparse rows
  T* z;
  T* codes;
  T* residual;
};

/// Runs body(block) for each fixed block of rows, on up to row_threads threads.
template <typename T, typename Body>
void for_row_blocks(const DensePass<T>& p, Body&& body) {
  ParallelErrors errors;
#pragma omp parallel for num_threads(p.row_threads) if (p.row_threads > 1) schedule(static)
  for (int64_t block = 0; block < p.blocks; ++block) errors.run([&] { body(block); });
  errors.rethrow();
}

/// Z = Xc Wᵀ + b and R = f(Z); TopK's sparse codes go straight into CSR form.
/// Returns BatchTopK's threshold estimate (−1 otherwise).
template <typename T>
double dense_encode(DensePass<T>& p) {
  const Model<T>& model = p.s.model;
  const int K = p.K, d = p.d;
  const int64_t rows = p.rows;
  Workspace<T>& w = p.w;
  constexpr int64_t kRows = 1024;
  parallel_gemm<T>(false, true, rows, K, d, p.Xc, d, model.encoder_weight.data(), d, T(0), p.z, K,
                   w.threads, kRows);
  const T* b = model.encoder_bias.data();
  Eigen::Map<Matrix<T>> z(p.z, rows, K), codes(p.codes, rows, K);
  if (p.keep_z) codes = z;
  if (p.sparse && model.encoder.kind == EncoderKind::topk) {
    // TopK writes its k entries per row straight into the sparse form.
    const int k = model.encoder.k;
    w.row_start.resize(rows + 1);
    w.entry_atom.resize(rows * k);
    w.entry_value.resize(rows * k);
    w.entry_grad.resize(rows * k);
    for_row_blocks(p, [&](int64_t block) {
      const int64_t end = std::min(rows, (block + 1) * kRowBlock);
      RowScratch<T>& scratch = w.scratch[omp_thread()];
      std::vector<int>& order = scratch.order;
      for (int64_t i = block * kRowBlock; i < end; ++i) {
        T* zi = p.z + i * K;
        for (int j = 0; j < K; ++j) zi[j] += b[j];
        topk_select(zi, K, k, order, scratch.values);
        w.row_start[i] = i * k;
        for (int j = 0; j < k; ++j) {
          w.entry_atom[i * k + j] = order[j];
          w.entry_value[i * k + j] = std::max(zi[order[j]], T(0));
        }
      }
    });
    w.row_start[rows] = rows * k;
    return -1;
  }
  if (model.encoder.kind == EncoderKind::batchtopk) {
    codes.rowwise() += model.encoder_bias.transpose();
    if (p.keep_z) z.rowwise() += model.encoder_bias.transpose();
    return batch_topk(p.codes, rows, K, model.encoder.k, w.order);
  }
  for_row_blocks(p, [&](int64_t block) {
    const int64_t begin = block * kRowBlock, count = std::min(kRowBlock, rows - begin);
    for (int64_t i = begin; i < begin + count; ++i) {
      T* ci = p.codes + i * K;
      for (int k = 0; k < K; ++k) ci[k] += b[k];
      if (p.keep_z) std::copy(ci, ci + K, p.z + i * K);
    }
    activate_rows(model.encoder, p.codes + begin * K, count, K, w.scratch[omp_thread()]);
  });
  return -1;
}

/// E = R D + b_dec − X into residual, with each block's squared error.
template <typename T>
void dense_decode(DensePass<T>& p) {
  const Model<T>& model = p.s.model;
  const int d = p.d;
  const int64_t rows = p.rows;
  Workspace<T>& w = p.w;
  constexpr int64_t kRows = 1024;
  // TopK codes have at most k of n_atoms entries per row: the decoder and
  // every gradient product then run over those entries only.
  if (p.sparse) {
    if (model.encoder.kind != EncoderKind::topk) {
      sparse_from_dense<T>(p.s, Eigen::Map<const Matrix<T>>(p.codes, rows, p.K), rows, w,
                           p.row_threads);
    }
    sparse_decode(p.s, rows, w, p.row_threads);
  } else {
    parallel_gemm<T>(false, false, rows, d, p.K, p.codes, p.K, model.dictionary.data(), d, T(0),
                     p.residual, d, w.threads, kRows);
  }
  const T* decoder_bias = model.decoder_bias.size() > 0 ? model.decoder_bias.data() : nullptr;
  for_row_blocks(p, [&](int64_t block) {
    const int64_t begin = block * kRowBlock, end = std::min(rows, begin + kRowBlock);
    double sum = 0;
    for (int64_t i = begin; i < end; ++i) {
      T* e = p.residual + i * d;
      const T* x = p.X + i * d;
      for (int j = 0; j < d; ++j) {
        if (decoder_bias) e[j] += decoder_bias[j];
        e[j] -= x[j];
        sum += static_cast<double>(e[j]) * static_cast<double>(e[j]);
      }
    }
    w.partials[block * p.stride] = sum;
  });
}

/// G = 2E/(rows·d) in place (and its column sums), then ∂L/∂D = Rᵀ G,
/// ∂L/∂R = G Dᵀ (+ L1), ∂L/∂Z = f'(∂L/∂R), ∂L/∂b and ∂L/∂W = (∂L/∂Z)ᵀ Xc.
template <typename T>
void dense_backward(DensePass<T>& p) {
  const Model<T>& model = p.s.model;
  Gradients<T>& gradients = p.s.gradients;
  const int K = p.K, d = p.d;
  const int64_t rows = p.rows, stride = p.stride;
  Workspace<T>& w = p.w;
  constexpr int64_t kRows = 1024, kAtoms = 128;
  const T scale = static_cast<T>(2.0 / static_cast<double>(rows * d));
  const T l1_weight = static_cast<T>(p.s.options.l1 / static_cast<double>(rows));
  for_row_blocks(p, [&](int64_t block) {
    const int64_t begin = block * kRowBlock, end = std::min(rows, begin + kRowBlock);
    double* g_sum = w.partials.data() + block * stride + 2 + 2 * K;
    for (int64_t i = begin; i < end; ++i) {
      T* e = p.residual + i * d;
      for (int j = 0; j < d; ++j) {
        e[j] *= scale;  // now G
        g_sum[j] += static_cast<double>(e[j]);
      }
    }
  });
  if (p.sparse) {
    sparse_backward<T>(p.s, rows, Eigen::Map<const Matrix<T>>(p.Xc, rows, d), w, p.row_threads,
                       l1_weight, stride);
    return;
  }
  T* code_grad = w.code_grad.data();
  parallel_gemm<T>(true, false, K, d, rows, p.codes, K, p.residual, d, T(1),
                   gradients.dictionary.data(), d, w.threads, kAtoms);
  parallel_gemm<T>(false, true, rows, K, d, p.residual, d, model.dictionary.data(), d, T(0),
                   code_grad, K, w.threads, kRows);
  for_row_blocks(p, [&](int64_t block) {
    const int64_t begin = block * kRowBlock, count = std::min(kRowBlock, rows - begin);
    double* partial = w.partials.data() + block * stride;
    double* bias_grad = partial + 2;
    double* fired = partial + 2 + K;
    for (int64_t i = begin; i < begin + count; ++i) {
      const T* ri = p.codes + i * K;
      T* gi = code_grad + i * K;
      for (int k = 0; k < K; ++k) {
        fired[k] += ri[k] != T(0) ? 1.0 : 0.0;
        if (l1_weight > T(0)) {
          partial[1] += std::abs(static_cast<double>(ri[k]));
          gi[k] += ri[k] > T(0) ? l1_weight : (ri[k] < T(0) ? -l1_weight : T(0));
        }
      }
    }
    backward_rows(model.encoder, p.codes + begin * K, code_grad + begin * K, count, K);
    for (int64_t i = begin; i < begin + count; ++i) {
      const T* gi = code_grad + i * K;
      for (int k = 0; k < K; ++k) bias_grad[k] += static_cast<double>(gi[k]);
    }
  });
  parallel_gemm<T>(true, false, K, d, rows, code_grad, K, p.Xc, d, T(1),
                   gradients.encoder_weight.data(), d, w.threads, kAtoms);
}

/// The matrix-product path; returns the squared error, Σ|R| and the AuxK loss.
template <typename T>
std::tuple<double, double, double> matrix_product_batch(TrainerState<T>& s, const T* X,
                                                        int64_t rows, Workspace<T>& w,
                                                        BatchResult& result) {
  const Model<T>& model = s.model;
  const int K = model.n_atoms(), d = model.dim();
  const bool has_decoder_bias = model.decoder_bias.size() > 0;
  const bool keep_z = uses_auxk(model.encoder.kind, s.options);
  DensePass<T> p{.s = s,
                 .w = w,
                 .X = X,
                 .Xc = X,
                 .rows = rows,
                 .K = K,
                 .d = d,
                 .row_threads = threads_for(w.threads, 20.0 * static_cast<double>(rows) * K),
                 .blocks = (rows + kRowBlock - 1) / kRowBlock,
                 .stride = 2 + 2 * K + d,
                 .keep_z = keep_z,
                 .sparse = uses_sparse_codes(model),
                 .z = w.z.data(),
                 // Without AuxK nothing needs Z once R exists, so R overwrites it.
                 .codes = keep_z ? w.codes.data() : w.z.data(),
                 .residual = w.residual.data()};
  w.partials.assign(p.blocks * p.stride, 0.0);
  if (has_decoder_bias) {
    w.centered.topRows(rows) =
        Eigen::Map<const Matrix<T>>(X, rows, d).rowwise() - model.decoder_bias.transpose();
    p.Xc = w.centered.data();
  }
  result.threshold_estimate = dense_encode(p);
  dense_decode(p);
  s.gradients.dictionary.setZero();
  s.gradients.encoder_weight.setZero();
  Vector<T> aux_bias_grad = Vector<T>::Zero(K);
  double aux_loss = 0;
  if (keep_z) {
    aux_loss = add_auxk<T>(s, Eigen::Map<const Matrix<T>>(p.z, rows, K),
                           Eigen::Map<const Matrix<T>>(p.residual, rows, d),
                           Eigen::Map<const Matrix<T>>(p.Xc, rows, d), rows, w, aux_bias_grad);
  }
  dense_backward(p);
  const auto [squared_error, l1_sum] = add_block_sums(w.partials, p.blocks, model, aux_bias_grad,
                                                      w.block_sums, w.fired, s.gradients);
  return {squared_error, l1_sum, aux_loss};
}

}  // namespace

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

template <typename T>
BatchResult compute_batch(TrainerState<T>& s, const T* data, const int64_t* index, int64_t rows,
                          Workspace<T>& w) {
  const Model<T>& model = s.model;
  const int d = model.dim();
  const bool fused = uses_fused_pass(model, s.options);
  const T* X = data;
  if (index && !fused) {
    for (int64_t i = 0; i < rows; ++i) {
      std::copy(data + index[i] * d, data + (index[i] + 1) * d, w.batch.data() + i * d);
    }
    X = w.batch.data();
  }
  double squared_error = 0, l1_sum = 0, aux_loss = 0;
  std::fill(w.fired.begin(), w.fired.end(), 0.0);
  BatchResult result;
  if (fused) {
    const int64_t blocks = fused_pass(s, data, index, rows, w);
    std::tie(squared_error, l1_sum) =
        add_block_sums(w.partials, blocks, model, Vector<T>(), w.block_sums, w.fired, s.gradients);
  } else if (use_small_kernel(model, s.options)) {
    squared_error = small_kernel_batch(s, Eigen::Map<const Matrix<T>>(X, rows, d), rows,
                                       !index && rows == w.samples, w);
  } else {
    std::tie(squared_error, l1_sum, aux_loss) = matrix_product_batch(s, X, rows, w, result);
  }
  result.objective = squared_error / static_cast<double>(rows * d) +
                     s.options.l1 * l1_sum / static_cast<double>(rows) + aux_loss;
  result.squared_error = squared_error;
  result.nonzero = std::accumulate(w.fired.begin(), w.fired.end(), 0.0);
  return result;
}

template <typename T>
void prepare(const TrainerState<T>& s, Workspace<T>& w, int64_t samples, int64_t batch) {
  const Model<T>& model = s.model;
  const int d = model.dim(), K = model.n_atoms();
  const bool full_batch = batch == samples;
  w.threads = resolve_threads(s.options.threads);
  w.samples = samples;
  w.fired.assign(K, 0.0);
  w.scratch.resize(w.threads);
  const bool small = use_small_kernel(model, s.options);
  if (uses_fused_pass(model, s.options)) {
    // fused_pass() sizes its own buffers (per thread or per batch).
  } else if (!small) {
    w.z.resize(batch, K);
    if (uses_auxk(model.encoder.kind, s.options)) w.codes.resize(batch, K);
    if (!uses_sparse_codes(model)) w.code_grad.resize(batch, K);
    w.residual.resize(batch, d);
    if (model.decoder_bias.size() > 0) w.centered.resize(batch, d);
  }
  if (!full_batch && !uses_fused_pass(model, s.options)) w.batch.resize(batch, d);
}

template <typename T>
int64_t workspace_bytes(const TrainerState<T>& s, int64_t samples, int64_t batch) {
  const Model<T>& model = s.model;
  const int64_t d = model.dim(), K = model.n_atoms();
  const bool full_batch = batch == samples;
  // In values of T, as prepare() sizes them.
  int64_t values = 0;
  if (use_small_kernel(model, s.options)) {
    if (full_batch) values += d * batch;  // the batch transposed, made once
  } else if (!uses_fused_pass(model, s.options)) {
    int64_t per_row = K + d;  // z, residual
    if (uses_auxk(model.encoder.kind, s.options)) per_row += K;
    if (!uses_sparse_codes(model)) per_row += K;
    if (model.decoder_bias.size() > 0) per_row += d;
    values += per_row * batch;
  }
  if (!full_batch && !uses_fused_pass(model, s.options)) values += d * batch;
  int64_t bytes = values * static_cast<int64_t>(sizeof(T));
  if (uses_sparse_codes(model) && !uses_fused_pass(model, s.options)) {
    // CSR by row and by atom: k entries a row, each two indices, its row,
    // its atom, its value and gradient; one row start per row.
    const int64_t entries = batch * model.encoder.k;
    bytes += entries * static_cast<int64_t>(3 * sizeof(int64_t) + sizeof(int) + 2 * sizeof(T)) +
             (batch + 1) * static_cast<int64_t>(sizeof(int64_t));
  }
  return bytes;
}

#define DICTLEARN_INSTANTIATE(T)                                                             \
  template int64_t workspace_bytes<T>(const TrainerState<T>&, int64_t, int64_t);             \
  template std::pair<double, double> add_block_sums<T>(                                      \
      const std::vector<double>&, int64_t, const Model<T>&, const Vector<T>&,                \
      std::vector<double>&, std::vector<double>&, Gradients<T>&);                            \
  template BatchResult compute_batch<T>(TrainerState<T>&, const T*, const int64_t*, int64_t, \
                                        Workspace<T>&);                                      \
  template void prepare<T>(const TrainerState<T>&, Workspace<T>&, int64_t, int64_t);
DICTLEARN_INSTANTIATE(float)
DICTLEARN_INSTANTIATE(double)
#undef DICTLEARN_INSTANTIATE

}  // namespace dictlearn::detail
