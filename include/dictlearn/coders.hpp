// dictlearn: coders, the classical sparse coding of signals over a fixed
// dictionary. Unlike an encoder (encoders.hpp), which needs a trained Model
// (W, b), a coder works from the Dictionary alone (and, for the methods that
// use it, its Gram matrix G = D Dᵀ). Conventions, those scikit-learn and SPAMS
// share: rows are signals, x ≈ r D with D n_atoms x dim,
//
//   threshold  R = sign(P) ⊙ max(|P| − α, 0), P = X Dᵀ
//              (scikit-learn's sparse_encode(algorithm='threshold')); with
//              `positive`: R = max(P − α, 0)
//   omp        min_r ‖x − rD‖² s.t. ‖r‖₀ ≤ L and/or ‖x − rD‖² ≤ ε, greedily
//              (Batch-OMP; scikit-learn's orthogonal_mp_gram)
//   lars       least-angle regression stopped after L steps (scikit-learn's
//              lars_path(method='lar'))
//   lasso-lars min_r ½‖x − rD‖² + α‖r‖₁ (+ ½λ₂‖r‖²) by the LARS homotopy
//              (scikit-learn's 'lasso_lars', SPAMS's lasso)
//
// A dictionary with a decoder bias b_dec codes X − 1 b_decᵀ in place of X, so
// that R D + b_dec approximates X as a model's reconstruct() does; without one
// (atoms from a plain .npy) the codes are scikit-learn's.
//
// Shapes: X is N x dim (N may be 0), R is N x n_atoms. Calls run over fixed
// blocks of signals on `threads` threads, each block with single-threaded
// products (a multi-threaded product inside the parallel loop oversubscribes),
// so results do not depend on the thread count.
//
// Adding a coder: an enum value here, a row in coder_rows()
// (src/coders/coders.cpp) with its name, help, the CodingOptions fields it
// reads and its float/double functions, and a file pair
// src/coders/<name>.hpp/.cpp defining encode_<name>() (declared here) that
// starts with detail::check_coding_input() and runs detail::for_row_blocks()
// over detail::kCodingBlock signals. A field the coder needs that CodingOptions
// lacks is added here with its check in validate(). The method registry
// (methods.hpp), parse_coder(), coder_choices() and sparse_encode() read the
// table. Coders that work from G = D Dᵀ compute it once per call, before the
// blocks, and share it read-only across them.
#pragma once

#include <string>
#include <type_traits>
#include <vector>

#include "dictlearn/dictionary.hpp"
#include "dictlearn/types.hpp"

namespace dictlearn {

/// The coding methods.
enum class CoderKind {
  threshold,   ///< soft threshold of X Dᵀ at α
  omp,         ///< Batch orthogonal matching pursuit: L atoms or residual ε
  lars,        ///< least-angle regression stopped at L atoms
  lasso_lars,  ///< lasso by the LARS homotopy down to α (exact: kinks and drops)
  lasso_cd,    ///< lasso by coordinate descent on G, stopped on the duality gap
  fista,       ///< lasso / elastic net by FISTA, step 1 / λ_max(G)
};

/// One row of the coder table.
struct CoderTraits {
  CoderKind kind;
  const char* name;                     ///< as in --coder and the method registry
  const char* help;                     ///< one line for help texts and docs
  std::vector<const char*> parameters;  ///< the CodingOptions fields it reads (besides
                                        ///< method and threads), by member name
};

/// The row of `kind`.
const CoderTraits& coder_traits(CoderKind kind);
/// Every coder, in the order of CoderKind.
const std::vector<CoderTraits>& coder_table();
/// The coder's name, e.g. "threshold".
const char* coder_name(CoderKind kind);
/// Parses a coder name; throws Error naming `parameter` for unknown ones.
CoderKind parse_coder(const std::string& name, const std::string& parameter = "--coder");
/// The coders' names as a help text lists them: "a, b or c".
std::string coder_choices();

/// Settings of one coding call. Each field names the methods that read it;
/// the others ignore it (coder_traits(method).parameters lists them). Errors
/// name the CLI flag of `dictlearn encode` (issue 14's names).
struct CodingOptions {
  CoderKind method = CoderKind::threshold;  ///< which coder
  /// threshold: the threshold (scikit-learn's alpha, default 1 as there);
  /// the lasso methods: the ℓ1 weight. >= 0 and finite (--alpha).
  double alpha = 1.0;
  /// Codes >= 0 (scikit-learn's positive, SPAMS's pos), for the coders whose
  /// row lists "positive"; refused for the others (--positive).
  bool positive = false;
  /// omp, lars: the most atoms per signal (L). 0: scikit-learn's sparse_encode
  /// default, max(1, ⌊dim/10⌋) capped at n_atoms, when max_error is 0, and
  /// no cap but n_atoms when max_error is set (orthogonal_mp_gram ignores
  /// n_nonzero_coefs when tol is given). More than n_atoms is refused, as
  /// scikit-learn does. >= 0 (--n-nonzero).
  int n_nonzero = 0;
  /// omp: stop once the squared residual ‖x − rD‖² is <= max_error (ε,
  /// orthogonal_mp_gram's tol); 0: not used. With n_nonzero > 0 as well, the
  /// first of the two rules stops (SPAMS's L and eps). >= 0 and finite
  /// (--max-error).
  double max_error = 0;
  /// The lasso methods: the elastic net's ℓ2 weight λ₂ of ½λ₂‖r‖² (SPAMS's
  /// lambda2); 0: plain lasso. >= 0 and finite (--l2).
  double l2 = 0;
  /// The iterative methods (lasso_cd, fista): the most passes over the atoms
  /// or iterations per signal; lasso_lars: the most steps of its path (atoms
  /// entering or leaving) per signal, scikit-learn's max_iter. >= 1
  /// (--max-iter).
  int max_iter = 1000;
  /// The iterative methods: the stopping tolerance on the duality gap,
  /// relative to ‖x‖² (the coder's row says how). >= 0 and finite
  /// (--coder-tol).
  double tol = 1e-4;
  /// Threads for the blocks of signals; 0: all cores (--threads).
  int threads = 0;
};

/// Checks the options; errors name the flag ("--alpha: ...").
void validate(const CodingOptions& options);

/// Codes R (N x n_atoms) of the signals X (N x dim) by options.method.
/// Throws Error for bad options, an empty or non-finite dictionary, X with
/// another number of columns than dictionary.dim(), or non-finite X (the
/// error names the row). X is any row-major view (a Matrix, a block of one,
/// NumPy's memory); a view with strided rows is copied once.
template <typename T>
Matrix<T> sparse_encode(const Dictionary<T>& dictionary, MatrixView<std::type_identity_t<T>> X,
                        const CodingOptions& options);

/// The coders' form of the one encode entry: the same as sparse_encode().
/// A Model passes as its Dictionary here; encode(model, X, threads) in
/// model.hpp runs the model's own encoder instead.
template <typename T>
Matrix<T> encode(const Dictionary<T>& dictionary, MatrixView<std::type_identity_t<T>> X,
                 const CodingOptions& options) {
  return sparse_encode(dictionary, X, options);
}

/// The threshold coder (options.method is not read): R = sign(P) ⊙
/// max(|P| − α, 0), or max(P − α, 0) with options.positive, where P = (X −
/// b_dec) Dᵀ. Cost: 2·N·dim·n_atoms flops, N·n_atoms memory for R.
template <typename T>
Matrix<T> encode_threshold(const Dictionary<T>& dictionary, MatrixView<std::type_identity_t<T>> X,
                           const CodingOptions& options);

/// The Batch-OMP coder (options.method is not read; Rubinstein, Zibulevsky,
/// Elad 2008, "Efficient implementation of the K-SVD algorithm using Batch
/// Orthogonal Matching Pursuit"): per signal x (x − b_dec with a decoder
/// bias), greedily min_r ‖x − rD‖² s.t. ‖r‖₀ ≤ L, or until ‖x − rD‖² ≤ ε
/// (options.n_nonzero, options.max_error). Step by step as scikit-learn's
/// orthogonal_mp_gram, so supports and coefficients are its own: the atom of
/// largest |α| (the first on exact ties, in its order of swapped positions),
/// a progressive Cholesky factor of G restricted to the support, γ from it,
/// α = α⁰ − G_{:,S} γ with α⁰ = D x, and the residual norm by the Batch-OMP
/// update. Like scikit-learn (which warns) it stops early, keeping what it
/// has, when the best |α|² or the new Cholesky pivot is below the type's
/// epsilon (a residual orthogonal to every atom, or dependent atoms: a zero
/// signal codes as zeros). Throws Error for n_nonzero > n_atoms. Cost: G =
/// D Dᵀ once per call (dim·n_atoms² flops, n_atoms² memory, shared by the
/// blocks), D Xᵀ per block as one product (2·N·dim·n_atoms), then per signal
/// and step k about 2·n_atoms·k flops (α changes by one new column of
/// G_{:,S} L⁻ᵀ a step); workspace per thread n_atoms·256 + n_atoms·L + L²
/// values. Memory: the codes, G and that workspace.
template <typename T>
Matrix<T> encode_omp(const Dictionary<T>& dictionary, MatrixView<std::type_identity_t<T>> X,
                     const CodingOptions& options);

/// The LARS coder (options.method is not read; Efron, Hastie, Johnstone,
/// Tibshirani 2004, "Least angle regression"): per signal x (x − b_dec with a
/// decoder bias), least-angle regression on G = D Dᵀ and D x for L =
/// options.n_nonzero steps (0: omp's default, max(1, ⌊dim/10⌋) capped at
/// n_atoms; more than n_atoms is refused). Step by step as scikit-learn's
/// lars_path(method='lar', max_iter=L) (= sparse_encode(algorithm='lars')),
/// so atoms enter in its order with its coefficients: each step adds the
/// atom of largest |c|, c = D x − G r, and moves r along the equiangular
/// direction until the next atom's |c| ties the active ones'. Quirk kept
/// from scikit-learn: when a coefficient crosses zero before that, its sign
/// flips in the next direction and the next step adds no atom, so a signal
/// can end with fewer than L atoms. It stops early with what it has when
/// every |c| falls to rounding (C <= max(dim·ε_float32, 64 ε_T) times the
/// first C: the residual is orthogonal to the atoms), and passes over an atom
/// dependent on the active ones (a duplicate; its new Cholesky pivot² below
/// 100 ε_T ‖d‖²). With L >= dim, once dim atoms are active (they span the
/// space) it ends at their least-squares fit, an exact fit with dim atoms
/// (scikit-learn goes on adding dependent atoms there and ends away from the
/// fit). It solves the plain problem: atoms of norm ≠ 1 are used as they are,
/// a zero atom never enters. Cost: G once per call (dim·n_atoms² flops, n_atoms²
/// memory), D Xᵀ per block (2·N·dim·n_atoms), then per signal and step k
/// about 2·n_atoms·k + k² flops; workspace per block n_atoms·256 + L² values.
template <typename T>
Matrix<T> encode_lars(const Dictionary<T>& dictionary, MatrixView<std::type_identity_t<T>> X,
                      const CodingOptions& options);

/// The LARS-lasso coder (options.method is not read; Efron et al. 2004,
/// section 3.1; Osborne, Presnell, Turlach 2000's homotopy): per signal x
/// (x − b_dec with a decoder bias), the lasso min_r ½‖x − rD‖² + α‖r‖₁ with
/// α = options.alpha (scikit-learn's alpha in sparse_encode(algorithm=
/// 'lasso_lars'), SPAMS's lambda1), or with options.l2 = λ₂ > 0 the elastic
/// net + ½λ₂‖r‖² (SPAMS's lambda2; the lasso on G + λ₂I), with
/// options.positive r >= 0. The path from λ = max|D x| down to α, exactly:
/// every kink, an atom entering when its |c| (c = D x − G r) reaches λ and
/// leaving when its coefficient reaches zero, then r from G_AA r_A =
/// (D x)_A − α s_A on the final active set A. The result satisfies the KKT
/// conditions |c_j| <= α off the support and c_j = α sign(r_j) on it
/// (positive: c_j <= α, c_j = α) up to rounding; α >= max|D x| gives zeros.
/// At most options.max_iter steps per signal (a signal stopped there keeps
/// the path's point). Atoms dependent on the active ones (duplicates,
/// collinear atoms) are passed over; atoms of norm ≠ 1 are used as they are
/// (the plain objective above, not that of normalized atoms); a zero atom
/// never enters. Cost: G once per call (dim·n_atoms² flops, n_atoms²
/// memory), D Xᵀ per block (2·N·dim·n_atoms), per signal and step k about
/// 2·n_atoms·k + k² flops (a drop adds O(k²)); workspace per block
/// n_atoms·256 values + the active set's Cholesky factor.
template <typename T>
Matrix<T> encode_lasso_lars(const Dictionary<T>& dictionary, MatrixView<std::type_identity_t<T>> X,
                            const CodingOptions& options);

}  // namespace dictlearn
