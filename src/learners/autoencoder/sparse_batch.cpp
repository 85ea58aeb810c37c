// Sparse codes: TopK and BatchTopK keep at most k of n_atoms codes per row,
// so the decoder and every gradient product run over the kept entries only,
// held as CSR rows (row_start, entry_atom, entry_value) and, for the
// gradients, the same entries regrouped by atom.
#include <algorithm>
#include <cmath>

#include "core/parallel.hpp"
#include "kernels/row_kernels.hpp"
#include "learners/autoencoder/engine.hpp"

namespace dictlearn::detail {

template <typename T>
void sparse_from_dense(const TrainerState<T>& s, const Eigen::Ref<const Matrix<T>>& codes,
                       int64_t rows, Workspace<T>& w, int threads) {
  const int K = s.model.n_atoms();
  // CSR of the codes: per row, its nonzero atoms in increasing order. (The
  // row loops below cannot throw: the vectors are sized before them.)
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
void sparse_decode(const TrainerState<T>& s, int64_t rows, Workspace<T>& w, int threads) {
  T* residual = w.residual.data();
  const int d = s.model.dim();
  const T* D = s.model.dictionary.data();
  // Cannot throw: reads and writes sized buffers only.
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
  for (int64_t i = 0; i < rows; ++i) {
    T* out = residual + i * d;
    std::fill(out, out + d, T(0));
    for (int64_t e = w.row_start[i]; e < w.row_start[i + 1]; ++e) {
      if (w.entry_value[e] != T(0))
        add_scaled(w.entry_value[e], D + int64_t{w.entry_atom[e]} * d, out, d);
    }
  }
}

namespace {

/// The entries regrouped by atom, each atom's in row order: every sum of
/// sparse_backward runs in that order, whichever thread does it.
template <typename T>
void group_by_atom(int K, int64_t rows, Workspace<T>& w) {
  const int64_t nonzero = w.row_start[rows];
  w.atom_start.assign(K + 1, 0);
  for (int64_t e = 0; e < nonzero; ++e) ++w.atom_start[w.entry_atom[e] + 1];
  for (int k = 0; k < K; ++k) w.atom_start[k + 1] += w.atom_start[k];
  w.atom_entries.resize(nonzero);
  w.entry_row.resize(nonzero);
  std::vector<int64_t>& next = w.atom_next;
  next.assign(w.atom_start.begin(), w.atom_start.end() - 1);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t e = w.row_start[i]; e < w.row_start[i + 1]; ++e) {
      w.atom_entries[next[w.entry_atom[e]]++] = e;
      w.entry_row[e] = i;
    }
  }
}

}  // namespace

template <typename T>
void sparse_backward(TrainerState<T>& s, int64_t rows, const Eigen::Ref<const Matrix<T>>& Xc,
                     Workspace<T>& w, int threads, T l1_weight, int64_t stride) {
  const int K = s.model.n_atoms(), d = s.model.dim();
  const int64_t blocks = (rows + kRowBlock - 1) / kRowBlock;
  const T* G = w.residual.data();
  const T* D = s.model.dictionary.data();
  // ∂L/∂r at the kept entries only (the others' ∂L/∂z is 0): G_i · d_k, + L1.
  // (These loops cannot throw: every buffer is sized before them.)
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
  for (int64_t block = 0; block < blocks; ++block) {
    const int64_t end = std::min(rows, (block + 1) * kRowBlock);
    double l1 = 0;
    for (int64_t i = block * kRowBlock; i < end; ++i) {
      for (int64_t e = w.row_start[i]; e < w.row_start[i + 1]; ++e) {
        const T value = w.entry_value[e];
        T grad = dot_product(G + i * d, D + int64_t{w.entry_atom[e]} * d, d);
        if (l1_weight > T(0)) {
          l1 += std::abs(static_cast<double>(value));
          grad += value > T(0) ? l1_weight : -l1_weight;
        }
        w.entry_grad[e] = value > T(0) ? grad : T(0);  // ReLU after the selection
      }
    }
    w.partials[block * stride + 1] = l1;
  }
  group_by_atom(K, rows, w);
  double* bias_grad = w.partials.data() + 2;  // block 0's slots; the reduction adds the rest
  double* fired = w.partials.data() + 2 + K;
  Gradients<T>& gradients = s.gradients;
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
  for (int k = 0; k < K; ++k) {
    double bias = 0;
    for (int64_t a = w.atom_start[k]; a < w.atom_start[k + 1]; ++a) {
      const int64_t e = w.atom_entries[a];
      const int64_t i = w.entry_row[e];
      add_scaled(w.entry_value[e], G + i * d, gradients.dictionary.data() + int64_t{k} * d, d);
      add_scaled(w.entry_grad[e], Xc.data() + i * Xc.outerStride(),
                 gradients.encoder_weight.data() + int64_t{k} * d, d);
      bias += static_cast<double>(w.entry_grad[e]);
    }
    bias_grad[k] += bias;
    for (int64_t a = w.atom_start[k]; a < w.atom_start[k + 1]; ++a) {
      fired[k] += w.entry_value[w.atom_entries[a]] != T(0) ? 1.0 : 0.0;
    }
  }
}

#define DICTLEARN_INSTANTIATE(T)                                                                  \
  template void sparse_from_dense<T>(const TrainerState<T>&, const Eigen::Ref<const Matrix<T>>&,  \
                                     int64_t, Workspace<T>&, int);                                \
  template void sparse_decode<T>(const TrainerState<T>&, int64_t, Workspace<T>&, int);            \
  template void sparse_backward<T>(TrainerState<T>&, int64_t, const Eigen::Ref<const Matrix<T>>&, \
                                   Workspace<T>&, int, T, int64_t);
DICTLEARN_INSTANTIATE(float)
DICTLEARN_INSTANTIATE(double)
#undef DICTLEARN_INSTANTIATE

}  // namespace dictlearn::detail
