// encode and eval with a coder (--coder): the codes of the data by a coder of
// coders.hpp over a model file's dictionary or a plain atoms file.
//
// As the model's own encoder (apply.cpp), the data goes in blocks of rows
// (detail::apply_block_rows: whole 256-row coding blocks, so every row gets
// the codes of one sparse_encode call over all the data): each block is coded,
// checked finite and written through RowWriter (CSR per block for .npz), or
// added to the metrics. Every check runs before the first byte is written.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <string_view>

#include "core/check.hpp"
#include "core/finite.hpp"
#include "dictlearn/coders.hpp"
#include "dictlearn/io.hpp"
#include "dictlearn/metrics.hpp"
#include "dictlearn/model.hpp"
#include "dictlearn/parameters.hpp"
#include "dictlearn/safetensors.hpp"
#include "dictlearn/workflows.hpp"
#include "io/row_writer.hpp"
#include "workflows/apply.hpp"
#include "workflows/paths.hpp"

namespace dictlearn {
namespace {

/// The path's extension in lower case (".npy"), as the readers compare it.
std::string lower_extension(const std::string& path) {
  std::string extension = std::filesystem::path(path).extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension;
}

bool reads(CoderKind kind, std::string_view member) {
  const auto& names = coder_traits(kind).parameters;
  return std::any_of(names.begin(), names.end(), [&](const char* name) { return member == name; });
}

/// A plain atoms file's dtype: a .npy's own; CSV text is read as float64,
/// which holds every number a float32 or float64 CSV was written from.
DType dictionary_dtype(const std::string& path) {
  if (!is_atoms_file(path)) return model_dtype(path);
  return lower_extension(path) == ".npy" ? npy_dtype(path) : DType::float64;
}

/// The dictionary of a model file (atoms and decoder bias), or the atoms of a
/// plain file (read_matrix: not empty, finite, errors naming the position).
template <typename T>
Dictionary<T> load_dictionary(const std::string& path) {
  if (is_atoms_file(path)) return Dictionary<T>{.dictionary = read_matrix<T>(path)};
  Model<T> model = load_model<T>(path);
  return Dictionary<T>{.dictionary = std::move(model.dictionary),
                       .decoder_bias = std::move(model.decoder_bias)};
}

/// Calls `body.template operator()<T>(dictionary, X)` in the dictionary
/// file's dtype, after the checks that need the files: a zero atom, --n-nonzero
/// above the atoms, and the data's columns against the atoms.
template <typename Body>
void with_dictionary_and_data(const std::string& dictionary_path, const std::string& data_path,
                              const CodingOptions& coding, Body&& body) {
  auto run = [&]<typename T>() {
    const Dictionary<T> dictionary = load_dictionary<T>(dictionary_path);
    validate_dictionary(dictionary, dictionary_path);
    // Every coder divides by an atom's norm or its Gram entry somewhere (OMP's
    // Cholesky pivot, CD's step 1/G_kk, LARS's correlations): a zero atom is
    // refused here for all of them, by its row in the file.
    for (Eigen::Index k = 0; k < dictionary.dictionary.rows(); ++k) {
      DICTLEARN_CHECK(!dictionary.dictionary.row(k).isZero(0),
                      "{}: atom {} is zero (norm 0); the coders need atoms of nonzero norm "
                      "(atoms counted from 0)",
                      dictionary_path, k);
    }
    DICTLEARN_CHECK(!reads(coding.method, "n_nonzero") || coding.n_nonzero <= dictionary.n_atoms(),
                    "--n-nonzero: {} is more than the {} atoms of {}", coding.n_nonzero,
                    dictionary.n_atoms(), dictionary_path);
    const Matrix<T> X = read_matrix<T>(data_path);
    DICTLEARN_CHECK(X.cols() == dictionary.dim(),
                    "{}: data has {} columns but the atoms of {} have dimension {}", data_path,
                    X.cols(), dictionary_path, dictionary.dim());
    body(dictionary, X);
  };
  if (dictionary_dtype(dictionary_path) == DType::float64) {
    run.template operator()<double>();
  } else {
    run.template operator()<float>();
  }
}

/// Throws Error naming the dictionary file, the data, the row and the column
/// (1-based, as apply.cpp's messages) of the first non-finite entry of
/// `values` (the `what` of the data's rows from `first_row` on).
template <typename T>
void check_finite_block(const Matrix<T>& values, int64_t first_row, const char* what,
                        const char* unit, const CodingOptions& coding,
                        const std::string& dictionary_path, const std::string& data_path) {
  const int64_t bad = detail::first_non_finite(values.data(), values.size());
  if (bad < 0) return;
  const double value = static_cast<double>(values.data()[bad]);
  DICTLEARN_FAIL(
      "{}: the {} of {} by the {} coder are not finite (row {}, {} {}: {}); the data or the "
      "atoms are too large for {}",
      dictionary_path, what, data_path, coder_flag_name(coding.method),
      first_row + bad / values.cols() + 1, unit, bad % values.cols() + 1,
      std::isnan(value) ? "nan" : fmt::format("{}", value), detail::dtype_name(values));
}

/// The codes of one block of rows and their reconstructions R·D (+ decoder
/// bias), each checked finite (the error names the row of the whole data).
template <typename T>
std::pair<Matrix<T>, Matrix<T>> code_and_reconstruct(const Dictionary<T>& D, MatrixView<T> rows,
                                                     int64_t first_row, const CodingOptions& coding,
                                                     const std::string& dictionary_path,
                                                     const std::string& data_path) {
  Matrix<T> codes = sparse_encode(D, rows, coding);
  check_finite_block(codes, first_row, "codes", "atom", coding, dictionary_path, data_path);
  Matrix<T> out(rows.rows(), rows.cols());
  out.noalias() = codes * D.dictionary;
  if (D.has_decoder_bias()) out.rowwise() += D.decoder_bias.transpose();
  check_finite_block(out, first_row, "reconstructions", "column", coding, dictionary_path,
                     data_path);
  return {std::move(codes), std::move(out)};
}

int64_t block_rows_for(int n_atoms, int dim, size_t value_size, int64_t requested) {
  return requested > 0 ? requested : detail::apply_block_rows(n_atoms, dim, value_size);
}

}  // namespace

bool is_atoms_file(const std::string& path) {
  const std::string extension = lower_extension(path);
  return extension == ".npy" || extension == ".csv";
}

namespace detail {

void run_encode(const std::string& dictionary, const std::string& data, const std::string& output,
                const CodingOptions& coding, int64_t block_rows) {
  validate(coding);
  detail::check_output_paths(
      {{"-o", output, {".npy", ".csv", ".npz"}}},
      {{is_atoms_file(dictionary) ? "dictionary" : "model", dictionary}, {"data", data}});
  const bool sparse = std::filesystem::path(output).extension() == ".npz";
  with_dictionary_and_data(
      dictionary, data, coding, [&]<typename T>(const Dictionary<T>& D, const Matrix<T>& X) {
        const int64_t block = block_rows_for(D.n_atoms(), D.dim(), sizeof(T), block_rows);
        RowWriter<T> writer(output, sparse ? RowFormat::sparse : RowFormat::dense, X.rows(),
                            D.n_atoms());
        for (int64_t begin = 0; begin < X.rows(); begin += block) {
          const Matrix<T> codes =
              sparse_encode(D, X.middleRows(begin, std::min(block, X.rows() - begin)), coding);
          check_finite_block(codes, begin, "codes", "atom", coding, dictionary, data);
          writer.append(codes);
        }
        writer.commit();
      });
}

void run_reconstruct(const std::string& dictionary, const std::string& data,
                     const std::string& output, const CodingOptions& coding, int64_t block_rows) {
  validate(coding);
  detail::check_output_paths(
      {{"-o", output, {".npy", ".csv"}}},
      {{is_atoms_file(dictionary) ? "dictionary" : "model", dictionary}, {"data", data}});
  with_dictionary_and_data(
      dictionary, data, coding, [&]<typename T>(const Dictionary<T>& D, const Matrix<T>& X) {
        const int64_t block = block_rows_for(D.n_atoms(), D.dim(), sizeof(T), block_rows);
        RowWriter<T> writer(output, RowFormat::dense, X.rows(), D.dim());
        for (int64_t begin = 0; begin < X.rows(); begin += block) {
          const auto rows = X.middleRows(begin, std::min(block, X.rows() - begin));
          const auto [codes, out] =
              code_and_reconstruct<T>(D, rows, begin, coding, dictionary, data);
          writer.append(out);
        }
        writer.commit();
      });
}

std::optional<CodingOptions> model_coding(const std::string& model) {
  if (is_atoms_file(model)) return std::nullopt;
  const TensorFile file = read_safetensors(model);
  const auto encoder = file.metadata.find("encoder");
  if (encoder == file.metadata.end() || encoder->second != "none") return std::nullopt;
  return recorded_coding(file.metadata, model);
}

EvalSummary run_eval(const std::string& dictionary, const std::string& data,
                     const CodingOptions& coding, int64_t block_rows) {
  validate(coding);
  EvalSummary summary;
  with_dictionary_and_data(
      dictionary, data, coding, [&]<typename T>(const Dictionary<T>& D, const Matrix<T>& X) {
        const int64_t block = block_rows_for(D.n_atoms(), D.dim(), sizeof(T), block_rows);
        MetricsAccumulator<T> sums(D, X);
        for (int64_t begin = 0; begin < X.rows(); begin += block) {
          const auto rows = X.middleRows(begin, std::min(block, X.rows() - begin));
          const auto [codes, out] =
              code_and_reconstruct<T>(D, rows, begin, coding, dictionary, data);
          sums.add(rows, codes, out);
        }
        summary = EvalSummary{.samples = X.rows(),
                              .dim = X.cols(),
                              .n_atoms = D.n_atoms(),
                              .metrics = sums.result(),
                              .coding = coding};
      });
  // Finite reconstructions whose squared error overflows double (data near
  // 1e160) leave an infinite MSE and residual, as eval reports them for a model.
  if (reads(coding.method, "alpha")) {
    summary.objective = lasso_objective(summary.metrics, coding.alpha,
                                        reads(coding.method, "l2") ? coding.l2 : 0.0);
  }
  return summary;
}

}  // namespace detail

void run_encode(const std::string& dictionary, const std::string& data, const std::string& output,
                const CodingOptions& coding) {
  detail::run_encode(dictionary, data, output, coding, 0);
}

EvalSummary run_eval(const std::string& dictionary, const std::string& data,
                     const CodingOptions& coding) {
  return detail::run_eval(dictionary, data, coding, 0);
}

}  // namespace dictlearn
