// `dictlearn demo` end to end: the seed's toy data, training as `fit` does,
// the metrics and the figures.
#include <chrono>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "core/check.hpp"
#include "dictlearn/figures.hpp"
#include "dictlearn/io.hpp"
#include "dictlearn/toy.hpp"
#include "dictlearn/workflows.hpp"
#include "workflows/fit_data.hpp"
#include "workflows/paths.hpp"

namespace dictlearn {

DemoSummary run_demo(const DemoJob& job, const FitCallbacks& callbacks) {
  validate(job.options);
  std::vector<std::string> outputs = {"data.npy", "model.safetensors", "log.csv"};
  outputs.insert(outputs.end(), figure_files().begin(), figure_files().end());
  detail::check_output_folder({"-o", job.folder}, outputs, {});
  std::error_code error;
  std::filesystem::create_directories(job.folder, error);
  DICTLEARN_CHECK(!error, "{}: cannot create folder: {}", job.folder, error.message());
  const auto path = [&](const char* name) {
    return (std::filesystem::path(job.folder) / name).string();
  };
  DemoSummary summary;
  summary.data = path("data.npy");
  summary.model = path("model.safetensors");
  summary.log = path("log.csv");
  const auto X = make_toy_data<float>({.seed = job.options.seed});
  write_matrix(summary.data, X);

  const FitJob fit{.data = summary.data,
                   .output = summary.model,
                   .options = job.options,
                   .log = summary.log,
                   .quiet = job.quiet,
                   .preset = "seed"};  // the seed's experiment, whatever the encoder
  const auto start = std::chrono::steady_clock::now();
  // The demo has no --dtype or --snapshot-every: the model records the training options only.
  const Model<float> model = detail::fit_data<float>(fit, X, callbacks, false, summary.fit);
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  summary.training_log = read_training_log(summary.log);
  const Matrix<double> data = X.cast<double>();
  summary.atoms = model.dictionary.cast<double>();
  PlotInput input = make_plot_input(data, &summary.training_log, &summary.atoms, summary.model);
  input.title = fmt::format("{}, {} atoms", encoder_name(model.encoder.kind), model.n_atoms());
  summary.metrics = evaluate(model, X);
  input.usage = summary.metrics.usage;
  summary.figures = render_figures(input, job.folder);
  return summary;
}

}  // namespace dictlearn
