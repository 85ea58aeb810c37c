#include "coders/omp.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "coders/coding.hpp"
#include "core/blocks.hpp"
#include "core/check.hpp"
#include "core/contiguous.hpp"
#include "kernels/gemm.hpp"

namespace dictlearn {

namespace detail {

namespace {

/// scikit-learn's argmax among exact ties of |α| = value: the first of its
/// swapped positions holding it. Its positions start as the atoms' numbers,
/// and the k-th chosen atom swaps places with position k.
template <typename T>
int64_t first_position_of(T value, const T* alpha, int64_t K, int64_t active,
                          OmpWorkspace<T>& work) {
  std::vector<int64_t>& order = work.order;
  std::vector<int64_t>& position = work.position;
  order.resize(K);
  position.resize(K);
  for (int64_t p = 0; p < K; ++p) order[p] = position[p] = p;
  for (int64_t j = 0; j < active; ++j) {
    const int64_t p = position[work.atoms[j]];
    std::swap(order[j], order[p]);
    position[order[j]] = j;
    position[order[p]] = p;
  }
  for (int64_t p = 0; p < K; ++p) {
    if (std::abs(alpha[order[p]]) == value) return order[p];
  }
  DICTLEARN_ASSERT(false);
  return 0;
}

}  // namespace

template <typename T>
int64_t omp_signal(const T* G, int64_t n_atoms, const T* alpha0, T norm2, int64_t max_atoms,
                   bool use_error, T max_error, OmpWorkspace<T>& work, T* code) {
  const int64_t K = n_atoms;
  // scikit-learn compares with the dtype's epsilon (np.finfo(Gram.dtype).eps).
  const T eps = std::numeric_limits<T>::epsilon();
  work.alpha.resize(K);
  // A's rows: the last chosen atom's is never needed.
  work.columns.resize(std::max<int64_t>(max_atoms - 1, 1) * K);
  work.cholesky.resize(max_atoms * max_atoms);
  work.projected.resize(max_atoms);
  work.gamma.resize(max_atoms);
  work.atoms.resize(max_atoms);
  std::fill(code, code + K, T(0));
  T* A = work.columns.data();
  T* L = work.cholesky.data();
  T* z = work.projected.data();
  int64_t* atoms = work.atoms.data();
  // Scikit-learn's step recomputes α = α⁰ − G_{:,S} γ from the new γ. With
  // A = G_{:,S} L⁻ᵀ and z = L⁻¹ α⁰_S, α = α⁰ − A z, and a new atom appends
  // a column to A and an entry to z, so α changes by one column:
  //   w = L⁻¹ G_{S,new} = A's row of the new atom (no triangular solve),
  //   pivot = G_new,new − ‖w‖² (L's new diagonal entry squared),
  //   a = (G_{:,new} − A w) / √pivot,  z_new = α_new / √pivot,  α −= z_new a,
  // the same flops as scikit-learn's product but one pass over the atoms,
  // fused with the next argmax (kernels/pursuit.cpp); γ = L⁻ᵀ z once at the
  // end, and ‖x − rD‖² = ‖x‖² − ‖z‖² (scikit-learn's δ = γᵀβ_S = ‖z‖²).
  // Mathematically scikit-learn's α, γ and residual; in floating point they
  // differ by rounding (~1e-16 relative in double), which changes the choice
  // only between atoms tied to that precision.
  const T* alpha = alpha0;
  AbsArgmax<T> best = work.kernels.abs_argmax(alpha, K);
  T error = norm2;
  int64_t active = 0;
  while (true) {
    // A residual orthogonal to every atom: stop (whichever atom wins). The
    // pass ignores NaN (values past overflow) and reports -1 when no value
    // was a number: stop then too.
    if (!(best.value >= 0) || best.value * best.value < eps) break;
    // numpy's argmax over scikit-learn's swapped positions: the first
    // position of the largest |α| wins, so exact ties go as there.
    const int64_t atom =
        best.unique ? best.index : first_position_of(best.value, alpha, K, active, work);
    // An active atom again: stop.
    if (std::find(atoms, atoms + active, atom) != atoms + active) break;
    const T* g = G + atom * K;
    T* w = L + active * max_atoms;
    T pivot = g[atom];
    if (active > 0) {
      T v = 0;
      for (int64_t j = 0; j < active; ++j) {
        w[j] = A[j * K + atom];
        v += w[j] * w[j];
      }
      pivot -= v;
      if (pivot <= eps) break;  // the new atom depends on the support
    }
    const T diagonal = std::sqrt(pivot);
    w[active] = diagonal;
    atoms[active] = atom;
    z[active] = alpha[atom] / diagonal;
    ++active;
    if (use_error) {
      error -= z[active - 1] * z[active - 1];
      if (std::abs(error) <= max_error) break;
    }
    if (active == max_atoms) break;
    const OmpStep<T> step{.g = g,
                          .a = A,
                          .stride = K,
                          .w = w,
                          .k = active - 1,
                          .scale = T(1) / diagonal,
                          .z = z[active - 1],
                          .a_out = A + (active - 1) * K,
                          .alpha_in = alpha,
                          .alpha_out = work.alpha.data(),
                          .n = K};
    best = work.kernels.omp_step(step);
    alpha = work.alpha.data();
  }
  // γ from Lᵀ γ = z (backward substitution).
  T* gamma = work.gamma.data();
  for (int64_t i = active - 1; i >= 0; --i) {
    T sum = z[i];
    for (int64_t j = i + 1; j < active; ++j) sum -= L[j * max_atoms + i] * gamma[j];
    gamma[i] = sum / L[i * max_atoms + i];
  }
  for (int64_t j = 0; j < active; ++j) code[atoms[j]] = gamma[j];
  return active;
}

template int64_t omp_signal<float>(const float*, int64_t, const float*, float, int64_t, bool, float,
                                   OmpWorkspace<float>&, float*);
template int64_t omp_signal<double>(const double*, int64_t, const double*, double, int64_t, bool,
                                    double, OmpWorkspace<double>&, double*);

}  // namespace detail

template <typename T>
Matrix<T> encode_omp(const Dictionary<T>& dictionary, MatrixView<std::type_identity_t<T>> X,
                     const CodingOptions& options) {
  detail::check_coding_input<T>(dictionary, X, options);
  const int64_t K = dictionary.n_atoms(), d = dictionary.dim();
  const bool use_error = options.max_error > 0;
  // With tol alone orthogonal_mp_gram runs up to n_atoms.
  const int64_t max_atoms = detail::nonzero_limit(options, K, d, use_error);
  const detail::ContiguousRows<T> rows(X);
  Matrix<T> codes(X.rows(), K);
  if (X.rows() == 0) return codes;
  const T* D = dictionary.dictionary.data();
  const Matrix<T> G = detail::gram_matrix(dictionary.dictionary);
  const T max_error = static_cast<T>(options.max_error);
  const double work = static_cast<double>(X.rows()) * static_cast<double>(K) *
                      (2.0 * static_cast<double>(d) + 2.0 * static_cast<double>(max_atoms));
  // Per thread: the block's D Xᵀ, its centered rows and the pursuit's scratch.
  struct Scratch {
    std::vector<T> alpha0, centered;
    detail::OmpWorkspace<T> pursuit;
  };
  std::vector<Scratch> scratch(resolve_threads(options.threads));
  detail::for_row_blocks(
      X.rows(), detail::kCodingBlock, options.threads, work,
      [&](int64_t begin, int64_t count, int thread) {
        Scratch& s = scratch[thread];
        const T* x = detail::centered_rows(dictionary, rows.data() + begin * d, count, s.centered);
        s.alpha0.resize(count * K);
        detail::gemm(false, true, count, K, d, x, d, D, d, T(0), s.alpha0.data(), K);
        for (int64_t i = 0; i < count; ++i) {
          T norm2 = 0;
          for (int64_t j = 0; j < d; ++j) norm2 += x[i * d + j] * x[i * d + j];
          detail::omp_signal(G.data(), K, s.alpha0.data() + i * K, norm2, max_atoms, use_error,
                             max_error, s.pursuit, codes.data() + (begin + i) * K);
        }
      });
  return codes;
}

template Matrix<float> encode_omp<float>(const Dictionary<float>&, MatrixView<float>,
                                         const CodingOptions&);
template Matrix<double> encode_omp<double>(const Dictionary<double>&, MatrixView<double>,
                                           const CodingOptions&);

}  // namespace dictlearn
