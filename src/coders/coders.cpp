// The coder table and the one sparse_encode() entry that dispatches on it.
#include <algorithm>
#include <cmath>
#include <string_view>

#include "coders/coding.hpp"
#include "core/check.hpp"
#include "core/choices.hpp"
#include "core/finite.hpp"
#include "dictlearn/parameters.hpp"
#include "kernels/gemm.hpp"

namespace dictlearn {

namespace {

template <typename T>
using CoderFunction = Matrix<T> (*)(const Dictionary<T>&, MatrixView<T>, const CodingOptions&);

/// A coder's traits and its functions.
struct CoderRow {
  CoderTraits traits;
  CoderFunction<float> encode_float;
  CoderFunction<double> encode_double;
};

/// The coders, in the order of CoderKind: adding one is one row here.
const std::vector<CoderRow>& coder_rows() {
  static const std::vector<CoderRow> rows = {
      {{CoderKind::threshold,
        "threshold",
        "soft threshold of X Dᵀ at alpha (scikit-learn's 'threshold')",
        {"alpha", "positive"}},
       &encode_threshold<float>,
       &encode_threshold<double>},
      {{CoderKind::omp,
        "omp",
        "Batch orthogonal matching pursuit: n_nonzero atoms or squared residual max_error "
        "(scikit-learn's 'omp')",
        {"n_nonzero", "max_error"}},
       &encode_omp<float>,
       &encode_omp<double>},
      {{CoderKind::lars,
        "lars",
        "least-angle regression stopped after n_nonzero atoms (scikit-learn's 'lars')",
        {"n_nonzero"}},
       &encode_lars<float>,
       &encode_lars<double>},
      {{CoderKind::lasso_lars,
        "lasso-lars",
        "lasso (elastic net with l2) by the exact LARS homotopy down to alpha (scikit-learn's "
        "'lasso_lars', SPAMS's lasso)",
        {"alpha", "positive", "l2", "max_iter"}},
       &encode_lasso_lars<float>,
       &encode_lasso_lars<double>},
      {{CoderKind::lasso_cd,
        "lasso-cd",
        "lasso (elastic net with l2) by working-set coordinate descent on the Gram, stopped when "
        "the "
        "duality gap is <= tol·‖x‖² (scikit-learn's 'lasso_cd')",
        {"alpha", "l2", "positive", "max_iter", "tol"}},
       &encode_lasso_cd<float>,
       &encode_lasso_cd<double>},
      {{CoderKind::fista,
        "fista",
        "lasso (elastic net with l2) by FISTA, step 1/λ_max(G + l2·I), stopped when the "
        "duality gap is <= tol·‖x‖²",
        {"alpha", "l2", "positive", "max_iter", "tol"}},
       &encode_fista<float>,
       &encode_fista<double>},
  };
  return rows;
}

/// The row of `kind`, or nullptr for a value no row has.
const CoderRow* find_coder_row(CoderKind kind) {
  for (const CoderRow& row : coder_rows()) {
    if (row.traits.kind == kind) return &row;
  }
  return nullptr;
}

const CoderRow& coder_row(CoderKind kind) {
  const CoderRow* row = find_coder_row(kind);
  DICTLEARN_ASSERT(row != nullptr);
  return *row;
}

bool reads(const CoderTraits& traits, const char* field) {
  for (const char* name : traits.parameters) {
    if (std::string_view(name) == field) return true;
  }
  return false;
}

}  // namespace

const std::vector<CoderTraits>& coder_table() {
  static const std::vector<CoderTraits> table = [] {
    std::vector<CoderTraits> out;
    for (const CoderRow& row : coder_rows()) out.push_back(row.traits);
    return out;
  }();
  return table;
}

const CoderTraits& coder_traits(CoderKind kind) { return coder_row(kind).traits; }

const char* coder_name(CoderKind kind) { return coder_traits(kind).name; }

std::string coder_choices() { return detail::join_choices(coder_table()); }

CoderKind parse_coder(const std::string& name, const std::string& parameter) {
  return detail::row_named(coder_table(), name, parameter, "coder").kind;
}

void validate(const CodingOptions& options) {
  const CoderRow* row = find_coder_row(options.method);
  DICTLEARN_CHECK(row != nullptr, "--coder: unknown coder number {}",
                  static_cast<int>(options.method));
  DICTLEARN_CHECK(!options.positive || reads(row->traits, "positive"),
                  "--positive: the {} coder has no positive form", row->traits.name);
  // The ranges, and their messages naming the flags, are the coding table's rows.
  for (const auto& parameter : coding_parameters()) check_parameter(parameter, options);
}

namespace detail {

template <typename T>
void check_coding_input(const Dictionary<T>& dictionary, MatrixView<T> X,
                        const CodingOptions& options) {
  validate(options);
  validate_dictionary(dictionary, "dictionary");
  DICTLEARN_CHECK(X.cols() == dictionary.dim(),
                  "data: has {} columns but the dictionary's atoms have dimension {}", X.cols(),
                  dictionary.dim());
  for (Eigen::Index i = 0; i < X.rows(); ++i) {
    const T* row = X.data() + i * X.outerStride();
    const int64_t bad = first_non_finite(row, X.cols());
    DICTLEARN_CHECK(bad < 0, "data: holds non-finite values (row {}, column {}: {})", i, bad,
                    bad < 0 ? T(0) : row[bad]);
  }
}

template <typename T>
const T* centered_rows(const Dictionary<T>& dictionary, const T* x, int64_t count,
                       std::vector<T>& centered) {
  if (!dictionary.has_decoder_bias()) return x;
  const int64_t d = dictionary.dim();
  centered.resize(count * d);
  for (int64_t i = 0; i < count; ++i) {
    for (int64_t j = 0; j < d; ++j) centered[i * d + j] = x[i * d + j] - dictionary.decoder_bias[j];
  }
  return centered.data();
}

int64_t nonzero_limit(const CodingOptions& options, int64_t n_atoms, int64_t dim,
                      bool no_default_cap) {
  DICTLEARN_CHECK(options.n_nonzero <= n_atoms,
                  "--n-nonzero: must be at most the dictionary's {} atoms, got {}", n_atoms,
                  options.n_nonzero);
  if (options.n_nonzero > 0) return options.n_nonzero;
  if (no_default_cap) return n_atoms;
  return std::min<int64_t>(std::max<int64_t>(dim / 10, 1), n_atoms);
}

template <typename T>
Matrix<T> gram_matrix(const Matrix<T>& atoms, T diagonal) {
  const int64_t K = atoms.rows(), d = atoms.cols();
  Matrix<T> G(K, K);
  gemm(false, true, K, K, d, atoms.data(), d, atoms.data(), d, T(0), G.data(), K);
  for (int64_t i = 0; i < K; ++i) {
    for (int64_t j = 0; j < i; ++j) G(i, j) = G(j, i);
    G(i, i) += diagonal;
  }
  return G;
}

#define DICTLEARN_INSTANTIATE(T)                                                                  \
  template Matrix<T> gram_matrix<T>(const Matrix<T>&, T);                                         \
  template void check_coding_input<T>(const Dictionary<T>&, MatrixView<T>, const CodingOptions&); \
  template const T* centered_rows<T>(const Dictionary<T>&, const T*, int64_t, std::vector<T>&);
DICTLEARN_INSTANTIATE(float)
DICTLEARN_INSTANTIATE(double)
#undef DICTLEARN_INSTANTIATE

}  // namespace detail

template <typename T>
Matrix<T> sparse_encode(const Dictionary<T>& dictionary, MatrixView<std::type_identity_t<T>> X,
                        const CodingOptions& options) {
  validate(options);
  const CoderRow& row = coder_row(options.method);
  if constexpr (std::is_same_v<T, float>) {
    return row.encode_float(dictionary, X, options);
  } else {
    return row.encode_double(dictionary, X, options);
  }
}

namespace detail {

template <typename T>
SparseCodes<T> sparse_encode_csr(const Dictionary<T>& dictionary, MatrixView<T> X,
                                 const CodingOptions& options, int64_t chunk_rows) {
  DICTLEARN_ASSERT(chunk_rows > 0 && chunk_rows % kCodingBlock == 0);
  SparseCodes<T> codes;
  codes.rows = X.rows();
  codes.cols = dictionary.n_atoms();
  codes.indptr.reserve(X.rows() + 1);
  codes.indptr.push_back(0);
  // The first chunk checks everything (options, dictionary, shapes), so an
  // empty X is checked as sparse_encode() checks it.
  int64_t begin = 0;
  do {
    const int64_t count = std::min<int64_t>(chunk_rows, X.rows() - begin);
    const Matrix<T> dense = sparse_encode(dictionary, X.middleRows(begin, count), options);
    for (int64_t i = 0; i < count; ++i) {
      for (int64_t j = 0; j < dense.cols(); ++j) {
        const T value = dense(i, j);
        if (value != T(0)) {
          codes.indices.push_back(j);
          codes.values.push_back(value);
        }
      }
      codes.indptr.push_back(static_cast<int64_t>(codes.values.size()));
    }
    begin += count;
  } while (begin < X.rows());
  return codes;
}

template SparseCodes<float> sparse_encode_csr<float>(const Dictionary<float>&, MatrixView<float>,
                                                     const CodingOptions&, int64_t);
template SparseCodes<double> sparse_encode_csr<double>(const Dictionary<double>&,
                                                       MatrixView<double>, const CodingOptions&,
                                                       int64_t);

}  // namespace detail

template <typename T>
SparseCodes<T> sparse_encode_csr(const Dictionary<T>& dictionary,
                                 MatrixView<std::type_identity_t<T>> X,
                                 const CodingOptions& options) {
  // Whole coding blocks of about 64 MiB of dense codes.
  const int64_t atoms = std::max(dictionary.n_atoms(), 1);
  const int64_t bytes = int64_t{64} << 20;
  const int64_t blocks = std::max<int64_t>(
      1, bytes / (atoms * static_cast<int64_t>(sizeof(T)) * detail::kCodingBlock));
  return detail::sparse_encode_csr<T>(dictionary, X, options, blocks * detail::kCodingBlock);
}

template SparseCodes<float> sparse_encode_csr<float>(const Dictionary<float>&, MatrixView<float>,
                                                     const CodingOptions&);
template SparseCodes<double> sparse_encode_csr<double>(const Dictionary<double>&,
                                                       MatrixView<double>, const CodingOptions&);

template Matrix<float> sparse_encode<float>(const Dictionary<float>&, MatrixView<float>,
                                            const CodingOptions&);
template Matrix<double> sparse_encode<double>(const Dictionary<double>&, MatrixView<double>,
                                              const CodingOptions&);

}  // namespace dictlearn
