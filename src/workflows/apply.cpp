// The commands that apply a trained model: encode, reconstruct, eval, plot.
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <optional>

#include "core/check.hpp"
#include "core/finite.hpp"
#include "dictlearn/encoders.hpp"
#include "dictlearn/figures.hpp"
#include "dictlearn/io.hpp"
#include "dictlearn/model.hpp"
#include "dictlearn/sparse_codes.hpp"
#include "dictlearn/workflows.hpp"
#include "workflows/paths.hpp"

namespace dictlearn {
namespace {

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

const char* dtype_name(const Matrix<float>&) { return "float32"; }
const char* dtype_name(const Matrix<double>&) { return "float64"; }

/// Why the codes or reconstructions of X under `model` hold a NaN or an
/// infinity (the first is at `row`): the phrase after "; " in the error.
template <typename T>
std::string non_finite_cause(const Model<T>& model, const Matrix<T>& X, int64_t row,
                             const std::string& model_path, bool codes) {
  const Matrix<T> z = pre_activations(model, X.row(row));
  const double largest = z.cwiseAbs().template cast<double>().maxCoeff();
  const char* dtype = dtype_name(X);
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
/// `values` (the `what` of `data` under `model`) hold a NaN or an infinity:
/// nothing non-finite is written or printed.
template <typename T>
void check_finite_output(const Matrix<T>& values, const char* what, const Model<T>& model,
                         const Matrix<T>& X, const std::string& model_path,
                         const std::string& data_path) {
  const int64_t bad = detail::first_non_finite(values.data(), values.size());
  if (bad < 0) return;
  const int64_t row = bad / values.cols(), column = bad % values.cols();
  const bool codes = std::string(what) == "codes";
  const double value = static_cast<double>(values.data()[bad]);
  // Positions 1-based, as the data readers' errors give them.
  DICTLEARN_FAIL("{}: the {} of {} are not finite (row {}, {} {}: {}); {}", model_path, what,
                 data_path, row + 1, codes ? "atom" : "column", column + 1,
                 std::isnan(value) ? "nan" : fmt::format("{}", value),
                 non_finite_cause(model, X, row, model_path, codes));
}

}  // namespace

void run_encode(const std::string& model, const std::string& data, const std::string& output) {
  detail::check_output_paths({{"-o", output, {".npy", ".csv", ".npz"}}},
                             {{"model", model}, {"data", data}});
  with_model_and_data(model, data, [&](const auto& m, const auto& X) {
    const auto codes = encode(m, X);
    check_finite_output(codes, "codes", m, X, model, data);
    if (std::filesystem::path(output).extension() == ".npz") {
      write_sparse_codes(output, to_sparse(codes));  // CSR: indptr, indices, values
    } else {
      write_matrix(output, codes);
    }
  });
}

void run_reconstruct(const std::string& model, const std::string& data, const std::string& output) {
  detail::check_output_paths({{"-o", output, {".npy", ".csv"}}},
                             {{"model", model}, {"data", data}});
  with_model_and_data(model, data, [&](const auto& m, const auto& X) {
    const auto out = reconstruct(m, X);
    if (detail::first_non_finite(out.data(), out.size()) >= 0) {
      check_finite_output(encode(m, X), "codes", m, X, model, data);  // the codes' cause first
      check_finite_output(out, "reconstructions", m, X, model, data);
    }
    write_matrix(output, out);
  });
}

EvalSummary run_eval(const std::string& model, const std::string& data) {
  EvalSummary summary;
  with_model_and_data(model, data, [&](const auto& m, const auto& X) {
    summary = EvalSummary{.samples = X.rows(),
                          .dim = X.cols(),
                          .n_atoms = m.n_atoms(),
                          .encoder = m.encoder.kind,
                          .metrics = evaluate(m, X)};
    const Metrics& metrics = summary.metrics;
    // Non-finite codes or reconstructions make the FVU so (its sums are taken
    // at the data's scale): name the first and its cause. An MSE beyond
    // double's range with a finite FVU (data near 1e160) is reported as inf.
    if (!std::isfinite(metrics.fvu) || std::isnan(metrics.mse)) {
      check_finite_output(encode(m, X), "codes", m, X, model, data);
      check_finite_output(reconstruct(m, X), "reconstructions", m, X, model, data);
      DICTLEARN_FAIL("{}: the squared error of its reconstructions of {} overflows float64", model,
                     data);
    }
  });
  return summary;
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
    input.usage = evaluate(*model, data).usage;
    input.title = fmt::format("{}, {} atoms", encoder_name(model->encoder.kind), model->n_atoms());
  }
  return render_figures(input, folder);
}

}  // namespace dictlearn
