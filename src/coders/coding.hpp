// Internal: what every coder does before its work.
#pragma once

#include <cstdint>
#include <vector>

#include "dictlearn/coders.hpp"

namespace dictlearn::detail {

/// Signals per block of a coding call: fixed, so results do not depend on the
/// thread count.
constexpr int64_t kCodingBlock = 256;

/// Checks the options, the dictionary (not empty, finite, b_dec's size), X's
/// column count and X's finiteness (the error names the first bad row and
/// column), in that order, before any work.
template <typename T>
void check_coding_input(const Dictionary<T>& dictionary, MatrixView<T> X,
                        const CodingOptions& options);

/// Rows x − b_dec of `count` signals at x (dim columns, contiguous) into
/// `centered`, returning the rows to code: x itself without a decoder bias.
/// G = D Dᵀ (n_atoms x n_atoms) of the atoms (rows of D) as one product,
/// made exactly symmetric (the coders read its rows where scikit-learn reads
/// columns), plus `diagonal` on the diagonal (the elastic net's λ₂). Computed
/// once per coding call and shared read-only by the blocks.
template <typename T>
Matrix<T> gram_matrix(const Matrix<T>& atoms, T diagonal = T(0));

/// sparse_encode_csr() with chunks of `chunk_rows` signals, a multiple of
/// kCodingBlock (tests use small chunks to cross their boundaries): whole
/// blocks, since fista's rounding depends on a signal's block mates (its
/// product path follows the block's density), so other chunks could change
/// its codes in the last bits.
template <typename T>
SparseCodes<T> sparse_encode_csr(const Dictionary<T>& dictionary, MatrixView<T> X,
                                 const CodingOptions& options, int64_t chunk_rows);

/// The most atoms per signal of the L0 coders (omp, lars): options.n_nonzero,
/// refused above n_atoms as scikit-learn does, or for 0 sparse_encode's
/// default min(max(⌊dim/10⌋, 1), n_atoms), or n_atoms when `no_default_cap`
/// (omp with max_error alone).
int64_t nonzero_limit(const CodingOptions& options, int64_t n_atoms, int64_t dim,
                      bool no_default_cap);

template <typename T>
const T* centered_rows(const Dictionary<T>& dictionary, const T* x, int64_t count,
                       std::vector<T>& centered);

}  // namespace dictlearn::detail
