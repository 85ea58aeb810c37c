// The commands that apply a trained model: encode, reconstruct, eval, plot.
//
// encode, reconstruct and eval go through the data in blocks of rows
// (workflows/apply.hpp): each block's codes and reconstructions are computed
// (in parallel inside), checked finite and written (or added to the metrics)
// before the next, so that memory is the data, the model and one block's
// workspace (about 64 MiB), whatever the number of rows.
#include "workflows/apply.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <optional>

#include "core/check.hpp"
#include "core/contiguous.hpp"
#include "core/finite.hpp"
#include "dictlearn/encoders.hpp"
#include "dictlearn/error.hpp"
#include "dictlearn/figures.hpp"
#include "dictlearn/io.hpp"
#include "dictlearn/metrics.hpp"
#include "dictlearn/model.hpp"
#include "dictlearn/parameters.hpp"
#include "dictlearn/sparse_codes.hpp"
#include "dictlearn/workflows.hpp"
#include "io/row_writer.hpp"
#include "workflows/paths.hpp"

namespace dictlearn {
namespace {

/// Rows coded at a time for plot's usage of a model without an encoder.
constexpr int64_t kCodingRows = 4096;

/// Where fit records --patch-shape (its row in fit_job_parameters()).
constexpr const char* kPatchShapeKey = "train.patch-shape";

/// Calls `body.template operator()<T>(model, X)` in the model file's dtype,
/// after checking that the data fits the model.
template <typename Body>
void with_model_and_data(const std::string& model_path, const std::string& data_path, Body&& body) {
  auto run = [&]<typename T>() {
    const auto model = load_model<T>(model_path);
    const auto X = read_matrix<T>(data_path);
    check_data_matches(model, X, data_path);
    body(model, X);
  };
  if (model_dtype(model_path) == DType::float64) {
    run.template operator()<double>();
  } else {
    run.template operator()<float>();
  }
}

/// Why the codes or reconstructions of X under `model` hold a NaN or an
/// infinity (the first is at `row`): the phrase after "; " in the error.
template <typename T>
std::string non_finite_cause(const Model<T>& model, const Matrix<T>& X, int64_t row,
                             const std::string& model_path, bool codes) {
  const Matrix<T> z = pre_activations(model, X.row(row));
  const double largest = z.cwiseAbs().template cast<double>().maxCoeff();
  const char* dtype = detail::dtype_name(X);
  const double most = std::numeric_limits<T>::max();
  if (!(largest <= most)) {
    return fmt::format(
        "its pre-activations b + (x - b_dec) W^T overflow {} there: the row's values times the "
        "encoder weights of {} exceed its range",
        dtype, model_path);
  }
  const double temperature = static_cast<T>(model.encoder.temperature);
  if (encoder_traits(model.encoder.kind).has_temperature &&
      !(std::max(1.0, largest) / temperature <= most)) {
    return fmt::format(
        "the model's temperature {} is too small for {}: its codes divide the pre-activations "
        "(up to {:.3g} there) by it, beyond {}'s range",
        model.encoder.temperature, dtype, largest, dtype);
  }
  if (!codes) {
    return fmt::format("its atoms (entries up to {:.3g}) times the finite codes overflow {} there",
                       model.dictionary.cwiseAbs().template cast<double>().maxCoeff(), dtype);
  }
  return fmt::format("its {} encoder gives them from finite pre-activations (up to {:.3g} there)",
                     encoder_name(model.encoder.kind), largest);
}

/// Throws Error naming the model file, the row and the likely cause when
/// `values` (the `what` of the rows of `data` from `first_row` on, under
/// `model`) hold a NaN or an infinity: nothing non-finite is written or printed.
template <typename T>
void check_finite_output(MatrixView<T> values, int64_t first_row, const char* what,
                         const Model<T>& model, const Matrix<T>& X, const std::string& model_path,
                         const std::string& data_path) {
  const detail::ContiguousRows<T> rows(values);
  const int64_t bad = detail::first_non_finite(rows.data(), values.size());
  if (bad < 0) return;
  const int64_t row = first_row + bad / values.cols(), column = bad % values.cols();
  const bool codes = std::string(what) == "codes";
  const double value = static_cast<double>(rows.data()[bad]);
  // Positions 1-based, as the data readers' errors give them.
  DICTLEARN_FAIL("{}: the {} of {} are not finite (row {}, {} {}: {}); {}", model_path, what,
                 data_path, row + 1, codes ? "atom" : "column", column + 1,
                 std::isnan(value) ? "nan" : fmt::format("{}", value),
                 non_finite_cause(model, X, row, model_path, codes));
}

/// Throws the codes' error of the first row from `begin` on whose codes are
/// not finite, if any (encoding block after block).
template <typename T>
void check_codes_from(int64_t begin, int64_t block, const Model<T>& model, const Matrix<T>& X,
                      const std::string& model_path, const std::string& data_path) {
  for (; begin < X.rows(); begin += block) {
    const Matrix<T> codes = encode(model, X.middleRows(begin, std::min(block, X.rows() - begin)));
    check_finite_output<T>(codes, begin, "codes", model, X, model_path, data_path);
  }
}

/// encode and eval without --coder code with the model's own encoder: a plain
/// atoms file has none.
void refuse_atoms_without_coder(const std::string& path) {
  std::string names;
  for (const CoderTraits& traits : coder_table())
    names += (names.empty() ? "" : ", ") + coder_flag_name(traits.kind);
  DICTLEARN_CHECK(!is_atoms_file(path),
                  "{}: a plain dictionary (atoms) has no encoder of its own; choose a coder with "
                  "--coder ({})",
                  path, names);
}

/// The rows of one block: whatever the data, a block's codes and
/// reconstructions (and the CSR form of its codes) take about kWorkspaceBytes.
int64_t rows_per_block(int n_atoms, int dim, size_t value_size, int64_t requested) {
  if (requested > 0) return requested;
  // Codes, their CSR form at worst (a value and an int64 index per entry),
  // and the reconstructions.
  const auto row_bytes =
      static_cast<int64_t>(static_cast<size_t>(n_atoms) * (2 * value_size + sizeof(int64_t)) +
                           static_cast<size_t>(dim) * value_size);
  const int64_t rows = detail::kWorkspaceBytes / std::max<int64_t>(row_bytes, 1);
  // Whole inference blocks, so a block's codes are bit for bit those of the
  // same rows encoded with all the data.
  return std::max(detail::kBlockAlignment,
                  rows / detail::kBlockAlignment * detail::kBlockAlignment);
}

}  // namespace

namespace detail {

int64_t apply_block_rows(int n_atoms, int dim, size_t value_size) {
  return rows_per_block(n_atoms, dim, value_size, 0);
}

void run_encode(const std::string& model, const std::string& data, const std::string& output,
                int64_t block_rows) {
  refuse_atoms_without_coder(model);
  detail::check_output_paths({{"-o", output, {".npy", ".csv", ".npz"}}},
                             {{"model", model}, {"data", data}});
  // A classical learner's model codes with the coder it was learned with.
  if (const auto coding = model_coding(model)) {
    run_encode(model, data, output, *coding, block_rows);
    return;
  }
  const bool sparse = std::filesystem::path(output).extension() == ".npz";
  with_model_and_data(model, data, [&]<typename T>(const Model<T>& m, const Matrix<T>& X) {
    const int64_t block = rows_per_block(m.n_atoms(), m.dim(), sizeof(T), block_rows);
    // CSR for .npz (indptr, indices, values), never dense in memory.
    RowWriter<T> writer(output, sparse ? RowFormat::sparse : RowFormat::dense, X.rows(),
                        m.n_atoms());
    for (int64_t begin = 0; begin < X.rows(); begin += block) {
      const Matrix<T> codes = encode(m, X.middleRows(begin, std::min(block, X.rows() - begin)));
      check_finite_output<T>(codes, begin, "codes", m, X, model, data);
      writer.append(codes);
    }
    writer.commit();
  });
}

void run_reconstruct(const std::string& model, const std::string& data, const std::string& output,
                     int64_t block_rows) {
  detail::check_output_paths({{"-o", output, {".npy", ".csv"}}},
                             {{"model", model}, {"data", data}});
  if (const auto coding = model_coding(model)) {
    run_reconstruct(model, data, output, *coding, block_rows);
    return;
  }
  with_model_and_data(model, data, [&]<typename T>(const Model<T>& m, const Matrix<T>& X) {
    const int64_t block = rows_per_block(m.n_atoms(), m.dim(), sizeof(T), block_rows);
    RowWriter<T> writer(output, RowFormat::dense, X.rows(), m.dim());
    for (int64_t begin = 0; begin < X.rows(); begin += block) {
      const auto rows = X.middleRows(begin, std::min(block, X.rows() - begin));
      const Matrix<T> out = reconstruct(m, rows);
      if (detail::first_non_finite(out.data(), out.size()) >= 0) {
        // The codes' cause first, of any row: a later row's codes may be the
        // ones that are not finite when this one's atoms overflow.
        check_finite_output<T>(encode(m, rows), begin, "codes", m, X, model, data);
        check_codes_from(begin + rows.rows(), block, m, X, model, data);
        check_finite_output<T>(out, begin, "reconstructions", m, X, model, data);
      }
      writer.append(out);
    }
    writer.commit();
  });
}

EvalSummary run_eval(const std::string& model, const std::string& data, int64_t block_rows) {
  refuse_atoms_without_coder(model);
  if (const auto coding = model_coding(model)) return run_eval(model, data, *coding, block_rows);
  EvalSummary summary;
  with_model_and_data(model, data, [&]<typename T>(const Model<T>& m, const Matrix<T>& X) {
    const int64_t block = rows_per_block(m.n_atoms(), m.dim(), sizeof(T), block_rows);
    MetricsAccumulator<T> sums(m, X);
    // Block by block as evaluate() does it whole: its metrics, bit for bit.
    for (int64_t begin = 0; begin < X.rows(); begin += block)
      sums.add_encoded(m, X.middleRows(begin, std::min(block, X.rows() - begin)));
    summary = EvalSummary{.samples = X.rows(),
                          .dim = X.cols(),
                          .n_atoms = m.n_atoms(),
                          .encoder = m.encoder.kind,
                          .metrics = sums.result()};
    const Metrics& metrics = summary.metrics;
    // Non-finite reconstructions make the FVU so (its sums are taken at the
    // data's scale): name the first and its cause. An MSE beyond double's
    // range with a finite FVU (data near 1e160) is reported as inf.
    if (!std::isfinite(metrics.fvu) || std::isnan(metrics.mse)) {
      // A second pass, on failure only: the first non-finite code of any
      // row, else the first non-finite reconstruction.
      check_codes_from(0, block, m, X, model, data);
      for (int64_t begin = 0; begin < X.rows(); begin += block) {
        const auto rows = X.middleRows(begin, std::min(block, X.rows() - begin));
        check_finite_output<T>(reconstruct(m, rows), begin, "reconstructions", m, X, model, data);
      }
      DICTLEARN_FAIL("{}: the squared error of its reconstructions of {} overflows float64", model,
                     data);
    }
  });
  return summary;
}

}  // namespace detail

void run_encode(const std::string& model, const std::string& data, const std::string& output) {
  detail::run_encode(model, data, output, 0);
}

void run_reconstruct(const std::string& model, const std::string& data, const std::string& output) {
  detail::run_reconstruct(model, data, output, 0);
}

EvalSummary run_eval(const std::string& model, const std::string& data) {
  return detail::run_eval(model, data, 0);
}

PlotResult run_plot(const std::string& data_path, const std::string& model_path,
                    const std::string& log_path, const std::string& folder,
                    const std::string& patch_shape) {
  detail::check_output_folder({"-o", folder}, figure_files(),
                              {{"data", data_path}, {"--model", model_path}, {"--log", log_path}});
  if (!patch_shape.empty()) parse_patch_shape(patch_shape);  // a malformed value before any work
  const auto data = read_matrix<double>(data_path);
  PatchShape shape;
  if (!patch_shape.empty()) shape = parse_patch_shape(patch_shape, data.cols());
  std::optional<TrainingLog> log;
  if (!log_path.empty()) log = read_training_log(log_path);
  std::optional<Model<double>> model;
  if (!model_path.empty()) model = load_model<double>(model_path);
  PlotInput input = make_plot_input(data, log ? &*log : nullptr,
                                    model ? &model->dictionary : nullptr, model_path);
  if (model) {
    check_data_matches(*model, data, data_path);
    // The shape fit recorded (fit --patch-shape), unless the flag gives one.
    const auto recorded = model->metadata.find(kPatchShapeKey);
    if (patch_shape.empty() && recorded != model->metadata.end()) {
      shape = parse_patch_shape(recorded->second, data.cols(),
                                fmt::format("{}: {}", model_path, kPatchShapeKey));
    }
    input.patch_shape = shape;
    if (model->has_encoder()) {
      input.usage = evaluate(*model, data).usage;
      input.title =
          fmt::format("{}, {} atoms", encoder_name(model->encoder.kind), model->n_atoms());
    } else {
      // A classical learner's model: the usage of the codes of its recorded coder.
      const CodingOptions coding = recorded_coding(model->metadata, model_path);
      MetricsAccumulator<double> sums(*model, data);
      for (int64_t begin = 0; begin < data.rows(); begin += kCodingRows) {
        const auto rows = data.middleRows(begin, std::min(kCodingRows, data.rows() - begin));
        const Matrix<double> codes = sparse_encode(*model, rows, coding);
        Matrix<double> out = codes * model->dictionary;
        if (model->has_decoder_bias()) out.rowwise() += model->decoder_bias.transpose();
        sums.add(rows, codes, out);
      }
      input.usage = sums.result().usage;
      const auto method = model->metadata.find("train.method");
      input.title = fmt::format("{}{} coder, {} atoms",
                                method == model->metadata.end() ? "" : method->second + ", ",
                                coder_flag_name(coding.method), model->n_atoms());
    }
  }
  return render_figures(input, folder);
}

}  // namespace dictlearn
