// The commands that apply a trained model: encode, reconstruct, eval, plot.
#include <fmt/format.h>

#include <filesystem>
#include <optional>

#include "dictlearn/encoders.hpp"
#include "dictlearn/figures.hpp"
#include "dictlearn/io.hpp"
#include "dictlearn/model.hpp"
#include "dictlearn/sparse_codes.hpp"
#include "dictlearn/workflows.hpp"
#include "workflows/paths.hpp"

namespace dictlearn {
namespace {

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

}  // namespace

void run_encode(const std::string& model, const std::string& data, const std::string& output) {
  detail::check_output_paths({{"-o", output}}, {{"model", model}, {"data", data}});
  with_model_and_data(model, data, [&](const auto& m, const auto& X) {
    const auto codes = encode(m, X);
    if (std::filesystem::path(output).extension() == ".npz") {
      write_sparse_codes(output, to_sparse(codes));  // CSR: indptr, indices, values
    } else {
      write_matrix(output, codes);
    }
  });
}

void run_reconstruct(const std::string& model, const std::string& data, const std::string& output) {
  detail::check_output_paths({{"-o", output}}, {{"model", model}, {"data", data}});
  with_model_and_data(
      model, data, [&](const auto& m, const auto& X) { write_matrix(output, reconstruct(m, X)); });
}

EvalSummary run_eval(const std::string& model, const std::string& data) {
  EvalSummary summary;
  with_model_and_data(model, data, [&](const auto& m, const auto& X) {
    summary = EvalSummary{.samples = X.rows(),
                          .dim = X.cols(),
                          .n_atoms = m.n_atoms(),
                          .encoder = m.encoder.kind,
                          .metrics = evaluate(m, X)};
  });
  return summary;
}

PlotResult run_plot(const std::string& data_path, const std::string& model_path,
                    const std::string& log_path, const std::string& folder) {
  detail::check_output_folder({"-o", folder}, figure_files(),
                              {{"data", data_path}, {"--model", model_path}, {"--log", log_path}});
  const auto data = read_matrix<double>(data_path);
  std::optional<TrainingLog> log;
  if (!log_path.empty()) log = read_training_log(log_path);
  std::optional<Model<double>> model;
  if (!model_path.empty()) model = load_model<double>(model_path);
  PlotInput input = make_plot_input(data, log ? &*log : nullptr,
                                    model ? &model->dictionary : nullptr, model_path);
  if (model) {
    check_data_matches(*model, data, data_path);
    input.usage = evaluate(*model, data).usage;
    input.title = fmt::format("{}, {} atoms", encoder_name(model->encoder.kind), model->n_atoms());
  }
  return render_figures(input, folder);
}

}  // namespace dictlearn
