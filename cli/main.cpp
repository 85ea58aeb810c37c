// The dictlearn command-line tool: parse -> options -> library call.
//
// Exit codes: 0 success; 1 a user error (bad file, bad value), reported as one
// line "dictlearn: error: <file or parameter>: <what is wrong>"; 2 a usage
// error (unknown flag, missing argument).
#include <array>
#include <CLI/CLI.hpp>
#include <cmath>
#include <csignal>
#include <map>
#include <set>
#include <variant>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>

#include <fmt/format.h>

#include "dictlearn/dictlearn.hpp"
#include "dictlearn/parameters.hpp"
#include "dictlearn/workflows.hpp"
#include "progress.hpp"

namespace dl = dictlearn;

namespace {

/// A parsed fit (or demo) command: the job, the text of its choice flags until
/// they are resolved, and the command (to tell flags given from defaults).
struct FitArgs {
  dl::FitJob job;
  std::map<std::string, std::string> choices;  // flag -> text, for choice rows
  CLI::App* command = nullptr;
};

std::string flag_names(const std::string& flag, const std::string& short_flag) {
  return short_flag.empty() ? "--" + flag : "-" + short_flag + ",--" + flag;
}

/// One flag per row of `table`, bound to the member of `options` it sets
/// (choice rows to text, resolved after parsing); `only`, when not empty,
/// picks the rows.
template <typename Options>
void add_parameters(CLI::App* app, const std::vector<dl::Parameter<Options>>& table, Options& options,
                    std::map<std::string, std::string>& choices, const std::set<std::string>& only = {}) {
  for (const auto& row : table) {
    if (!only.empty() && only.count(row.flag) == 0) continue;
    const std::string names = row.positional ? row.flag : flag_names(row.flag, row.short_flag);
    const std::string value = dl::parameter_value(row, options);
    CLI::Option* option = std::visit(
        [&](const auto& field) -> CLI::Option* {
          using Field = std::decay_t<decltype(field)>;
          if constexpr (std::is_same_v<Field, dl::ChoiceField<Options>>) {
            return app->add_option(names, choices[row.flag], row.help);
          } else if constexpr (std::is_same_v<Field, bool& (*)(Options&)>) {
            return app->add_flag(names, field(options), row.help);
          } else {
            return app->add_option(names, field(options), row.help);
          }
        },
        row.field);
    if (!value.empty() && !std::holds_alternative<bool& (*)(Options&)>(row.field)) {
      option->default_str(value);
    }
    if (row.required) option->required();
  }
}

/// Resolves the choice flags given (errors name the flag: exit 1) and notes
/// which flags were given.
template <typename Options>
void resolve(FitArgs& args, const std::vector<dl::Parameter<Options>>& table, Options& options) {
  for (const auto& row : table) {
    if (row.positional || args.command->get_option_no_throw("--" + row.flag) == nullptr) continue;
    if (args.command->count("--" + row.flag) == 0) continue;
    args.job.given.insert(row.flag);
    if (std::holds_alternative<dl::ChoiceField<Options>>(row.field)) {
      dl::set_parameter_value(row, options, args.choices[row.flag]);
    }
  }
}

void resolve(FitArgs& args) {
  resolve(args, dl::fit_parameters(), args.job.options);
  resolve(args, dl::fit_job_parameters(), args.job);
}

dl::DType parse_dtype(const std::string& name) {
  return name == "float64" ? dl::DType::float64 : dl::DType::float32;
}

// Runs `body.template operator()<T>()` with T = float or double.
template <typename Body>
void with_dtype(dl::DType dtype, Body&& body) {
  if (dtype == dl::DType::float64) {
    body.template operator()<double>();
  } else {
    body.template operator()<float>();
  }
}

/// Data whose typical magnitude is this far from 1 is trained on divided by
/// its root mean square: squares of 1e30 overflow float, and Adam's steps
/// (about lr per step) are meaningless next to values of 1e-30.
constexpr double kExtremeScale = 1e10;

/// Trains as `fit` asks; returns the trained model and writes the model (and log).
template <typename T>
dl::Model<T> run_fit(FitArgs args, const dl::Matrix<T>& data, bool print_summary, bool record_job) {
  // Eight running sums: no chain of dependent additions over the whole data.
  std::array<double, 8> lanes{};
  const T* values = data.data();
  const Eigen::Index size = data.size(), whole = size / 8 * 8;
  for (Eigen::Index i = 0; i < whole; i += 8) {
    for (int lane = 0; lane < 8; ++lane) {
      const double x = static_cast<double>(values[i + lane]);
      lanes[lane] += x * x;
    }
  }
  for (Eigen::Index i = whole; i < size; ++i) lanes[0] += static_cast<double>(values[i]) * values[i];
  double rms = 0;
  for (const double lane : lanes) rms += lane;
  rms = std::sqrt(rms / static_cast<double>(size));
  const bool rescale = std::isfinite(rms) && rms > 0 && (rms > kExtremeScale || rms < 1 / kExtremeScale);
  dl::Matrix<T> scaled;
  if (rescale) {
    scaled = (data.template cast<double>() / rms).template cast<T>();
    if (!args.job.quiet) {
      fmt::print(stderr,
                 "dictlearn: note: {}: values of magnitude {:.3g}; training on the data divided by it "
                 "(the model is scaled back; the log's loss and mse are in the data's units)\n",
                 args.job.data, rms);
    }
  }
  const dl::Matrix<T>& X = rescale ? scaled : data;
  const double scale = rescale ? rms : 1.0;
  // The training settings travel with the model: the options as asked for
  // (before --init or --resume supply the number of atoms).
  std::map<std::string, std::string> recorded;
  dl::record_parameters(dl::fit_parameters(), args.job.options, recorded);
  if (record_job) dl::record_parameters(dl::fit_job_parameters(), args.job, recorded);
  recorded["train.data"] = std::filesystem::path(args.job.data).filename().string();
  dl::Model<T> initial;
  if (!args.job.resume.empty()) {
    initial = dl::load_model<T>(args.job.resume);
    dl::check_data_matches(initial, X, args.job.data);
    // The checkpoint's bookkeeping and settings are not the model's: this run records its own.
    std::erase_if(initial.metadata, [](const auto& entry) {
      return entry.first.starts_with("checkpoint.") || entry.first.starts_with("train.") ||
             entry.first == "log.columns";
    });
    args.job.options.n_atoms = initial.n_atoms();
  } else if (!args.job.init.empty()) {
    initial = dl::load_model<T>(args.job.init);
    dl::check_data_matches(initial, X, args.job.data);
    // Encoder flags given with --init replace the model's own settings.
    if (args.job.given.count("encoder") > 0) initial.encoder.kind = args.job.options.encoder.kind;
    if (args.job.given.count("k") > 0) initial.encoder.k = args.job.options.encoder.k;
    if (args.job.given.count("temperature") > 0) {
      initial.encoder.temperature = args.job.options.encoder.temperature;
    }
    args.job.options.n_atoms = initial.n_atoms();
    dl::validate(initial.encoder, initial.n_atoms());
    if (rescale) dl::scale_model(initial, 1 / scale);
  } else {
    initial = dl::initialize<T>(X, args.job.options);
  }
  for (const auto& [key, value] : recorded) initial.metadata[key] = value;

  const int n_atoms = initial.n_atoms();
  const int total_epochs = args.job.options.epochs;
  dl::Trainer<T> trainer(std::move(initial), args.job.options);
  std::optional<dl::LogRecorder<T>> recorder;
  if (!args.job.log.empty()) {
    const dl::RecorderOptions options{.snapshot_every = args.job.snapshot_every};
    // The projection is only needed for the atom columns, which many atoms leave out.
    recorder.emplace(n_atoms <= options.max_atoms ? dl::make_projection(X.template cast<double>())
                                                  : dl::Projection{},
                     n_atoms, total_epochs, options);
  }
  if (!args.job.resume.empty()) {
    const dl::TensorFile state = trainer.load_checkpoint(args.job.resume, X);
    if (recorder) {
      // The log of the epochs before the checkpoint travels inside it.
      auto rows = state.tensors.find("log.rows");
      auto columns = state.metadata.find("log.columns");
      if (rows == state.tensors.end() || columns == state.metadata.end()) {
        throw dl::Error(fmt::format("--log: {} was written without a log; resume without --log or "
                                    "checkpoint with --log",
                                    args.job.resume));
      }
      dl::TrainingLog earlier;
      std::stringstream names(columns->second);
      for (std::string name; std::getline(names, name, ',');) earlier.columns.push_back(name);
      const size_t width = earlier.columns.size();
      const auto& values = rows->second.values;
      for (size_t r = 0; width > 0 && r < values.size() / width; ++r) {
        earlier.rows.emplace_back(values.begin() + r * width, values.begin() + (r + 1) * width);
      }
      recorder->restore(earlier);
    }
  }
  const int done = static_cast<int>(trainer.losses().size());
  // --epochs counts the whole run, resumed or not.
  trainer.set_epochs(std::max(0, total_epochs - done));
  auto save_checkpoint = [&]() {
    dl::TensorFile extra;
    if (recorder) {
      const dl::TrainingLog& log = recorder->log();
      std::string names;
      for (const auto& name : log.columns) names += (names.empty() ? "" : ",") + name;
      extra.metadata["log.columns"] = names;
      dl::Tensor rows;
      rows.dtype = dl::DType::float64;
      rows.shape = {static_cast<int64_t>(log.rows.size()), static_cast<int64_t>(log.columns.size())};
      for (const auto& row : log.rows) rows.values.insert(rows.values.end(), row.begin(), row.end());
      extra.tensors["log.rows"] = std::move(rows);
    }
    trainer.save_checkpoint(args.job.checkpoint, X, extra);
  };
  dl::cli::ProgressBar bar(total_epochs, !args.job.quiet);
  trainer.fit(X, [&](const dl::EpochStats& stats, const dl::Model<T>& model) {
    if (recorder) {
      dl::EpochStats in_data_units = stats;
      in_data_units.loss *= scale * scale;
      in_data_units.mse *= scale * scale;
      if (rescale) {
        dl::Model<T> unscaled = model;
        dl::scale_model(unscaled, scale);
        (*recorder)(in_data_units, unscaled);
      } else {
        (*recorder)(in_data_units, model);
      }
    }
    if (!args.job.checkpoint.empty() && (stats.epoch % args.job.checkpoint_every == 0 || stats.epoch == total_epochs)) {
      save_checkpoint();
    }
    bar.update(stats.epoch, stats.loss, stats.seconds);
  });
  if (!args.job.checkpoint.empty() && trainer.stopped_early()) save_checkpoint();
  dl::Model<T> trained = trainer.release_model();
  if (rescale) {
    dl::scale_model(trained, scale);
    trained.metadata["train.data_scale"] = fmt::format("{}", scale);
  }
  dl::save_model(args.job.output, trained);
  if (recorder) dl::write_training_log(args.job.log, recorder->log());
  if (print_summary && !args.job.quiet) {
    const auto& losses = trainer.losses();
    fmt::print("trained {} {} atoms on {} x {} for {} epochs{}; loss {:.6g} -> {:.6g}; wrote {}\n",
               n_atoms, dl::encoder_name(trained.encoder.kind), X.rows(), X.cols(),
               losses.size(), trainer.stopped_early() ? " (stopped early)" : "",
               losses.empty() ? 0.0 : losses.front() * scale * scale,
               losses.empty() ? 0.0 : losses.back() * scale * scale, args.job.output);
  }
  return trained;
}

/// The training options' flags (and --quiet), as fit and demo share them.
void add_fit_flags(CLI::App* app, FitArgs& args) {
  args.command = app;
  add_parameters(app, dl::fit_parameters(), args.job.options, args.choices);
  add_parameters(app, dl::fit_job_parameters(), args.job, args.choices, {"quiet"});
}

int run(int argc, char** argv) {
  CLI::App app{"dictlearn: dictionary learning (X ≈ R·D with sparse codes R)", "dictlearn"};
  app.set_version_flag("--version", [] {
    return fmt::format("dictlearn {} (matrix products: {}; vector kernels: {})",
                       DICTLEARN_VERSION_STRING, dl::matrix_product_backend(),
                       dl::vector_kernel_level());
  });
  app.require_subcommand(1);
  app.get_formatter()->column_width(36);

  // toy
  std::string toy_output;
  dl::ToyOptions toy_options;
  auto* toy = app.add_subcommand("toy", "write the seed's toy data set (two Gaussian clusters)");
  toy->add_option("-o,--output", toy_output, "output data file (.npy or .csv)")->required();
  toy->add_option("--seed", toy_options.seed, "random seed")->capture_default_str();
  toy->add_option("--points", toy_options.points_per_cluster, "points per cluster")
      ->capture_default_str();

  // fit
  FitArgs fit_args;
  auto* fit = app.add_subcommand("fit", "train a dictionary model on DATA");
  add_parameters(fit, dl::fit_job_parameters(), fit_args.job, fit_args.choices, {"data", "output"});
  add_fit_flags(fit, fit_args);
  add_parameters(fit, dl::fit_job_parameters(), fit_args.job, fit_args.choices,
                 {"init", "log", "checkpoint", "checkpoint-every", "resume", "dtype", "snapshot-every"});

  // encode / reconstruct / eval
  std::string model_path, data_path, output_path;
  auto* encode = app.add_subcommand("encode", "write the codes of DATA under MODEL");
  auto* reconstruct = app.add_subcommand("reconstruct", "write the reconstructions of DATA");
  auto* eval = app.add_subcommand("eval", "print the loss and code statistics of MODEL on DATA");
  for (CLI::App* sub : {encode, reconstruct, eval}) {
    sub->add_option("model", model_path, "model file (.safetensors)")->required();
    sub->add_option("data", data_path, "data file (.npy or .csv)")->required();
  }
  encode->add_option("-o,--output", output_path, "output codes: .npy or .csv (dense), .npz (sparse CSR)")
      ->required();
  reconstruct->add_option("-o,--output", output_path, "output reconstructions (.npy or .csv)")
      ->required();

  // plot
  std::string plot_model, plot_log, plot_dir = "figures";
  auto* plot = app.add_subcommand("plot", "render the figures from data, a model and a log");
  plot->add_option("data", data_path, "data file (.npy or .csv)")->required();
  plot->add_option("--model,-m", plot_model, "model file: draws the final atoms");
  plot->add_option("--log,-l", plot_log, "training log: draws the loss and the atoms' paths");
  plot->add_option("-o,--output", plot_dir, "output folder")->capture_default_str();

  // demo
  std::string demo_dir = "dictlearn-demo";
  FitArgs demo_args;
  auto* demo = app.add_subcommand(
      "demo", "the seed's experiment: toy data, 2 softmax atoms, Adam, figures and a summary");
  demo->add_option("-o,--output", demo_dir, "output folder")->capture_default_str();
  add_fit_flags(demo, demo_args);

  std::signal(SIGXFSZ, SIG_IGN);  // a file-size limit must surface as a write error, not a kill
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }

  if (toy->parsed()) {
    const auto data = dl::make_toy_data<float>(toy_options);
    dl::write_matrix(toy_output, data);
    return 0;
  }
  if (fit->parsed()) {
    resolve(fit_args);
    const dl::FitJob& job = fit_args.job;
    dl::validate(job);
    dl::DType dtype = dl::DType::float32;
    if (!job.dtype.empty()) {
      dtype = parse_dtype(job.dtype);
    } else if (!job.init.empty()) {
      dtype = dl::model_dtype(job.init);
    } else if (!job.resume.empty()) {
      dtype = dl::model_dtype(job.resume);
    }
    if (!job.init.empty() && job.given.count("atoms") > 0) {
      // --atoms with --init must agree with the model rather than be ignored silently.
      const auto init = dl::load_model<double>(job.init);
      if (init.n_atoms() != job.options.n_atoms) {
        throw dl::Error(fmt::format("--atoms: {} differs from the {} atoms of --init {}",
                                    job.options.n_atoms, init.n_atoms(), job.init));
      }
    }
    with_dtype(dtype, [&]<typename T>() {
      const auto X = dl::read_matrix<T>(job.data);
      run_fit<T>(fit_args, X, true, true);
    });
    return 0;
  }
  if (encode->parsed() || reconstruct->parsed() || eval->parsed()) {
    with_dtype(dl::model_dtype(model_path), [&]<typename T>() {
      const auto model = dl::load_model<T>(model_path);
      const auto X = dl::read_matrix<T>(data_path);
      dl::check_data_matches(model, X, data_path);
      if (encode->parsed()) {
        const dl::Matrix<T> codes = dl::encode(model, X);
        if (std::filesystem::path(output_path).extension() == ".npz") {
          dl::write_sparse_codes(output_path, dl::to_sparse(codes));  // CSR: indptr, indices, values
        } else {
          dl::write_matrix(output_path, codes);
        }
      } else if (reconstruct->parsed()) {
        dl::write_matrix(output_path, dl::reconstruct(model, X));
      } else {
        const dl::Metrics metrics = dl::evaluate(model, X);
        std::vector<double> usage = metrics.usage;
        std::sort(usage.begin(), usage.end());
        fmt::print("samples          {}\n", X.rows());
        fmt::print("dim              {}\n", X.cols());
        fmt::print("atoms            {}\n", model.n_atoms());
        fmt::print("encoder          {}\n", dl::encoder_name(model.encoder.kind));
        fmt::print("loss (MSE)       {:.8g}\n", metrics.mse);
        fmt::print("FVU              {:.6g}\n", metrics.fvu);
        fmt::print("L0               {:.4g} of {} atoms per sample\n", metrics.l0, model.n_atoms());
        fmt::print("dead atoms       {:.2f}% (never nonzero on this data)\n", 100 * metrics.dead_fraction);
        fmt::print("atom usage       min {:.4g}, median {:.4g}, max {:.4g} (fraction of samples)\n",
                   usage.front(), usage[usage.size() / 2], usage.back());
        fmt::print("codes below 1e-3 {:.2f}%\n", 100 * metrics.codes.fraction_below);
        fmt::print("codes exactly 0  {:.2f}%\n", 100 * metrics.codes.fraction_zero);
        fmt::print("mean largest     {:.4f}\n", metrics.codes.mean_max);
      }
    });
    return 0;
  }
  if (plot->parsed()) {
    const auto data = dl::read_matrix<double>(data_path);
    std::optional<dl::TrainingLog> log;
    if (!plot_log.empty()) log = dl::read_training_log(plot_log);
    std::optional<dl::Model<double>> model;
    if (!plot_model.empty()) model = dl::load_model<double>(plot_model);
    dl::PlotInput input = dl::make_plot_input(data, log ? &*log : nullptr,
                                              model ? &model->dictionary : nullptr, plot_model);
    if (model) {
      dl::check_data_matches(*model, data, data_path);
      input.usage = dl::evaluate(*model, data).usage;
      input.title = fmt::format("{}, {} atoms", dl::encoder_name(model->encoder.kind), model->n_atoms());
    }
    const dl::PlotResult result = dl::render_figures(input, plot_dir);
    for (const auto& file : result.written) fmt::print("wrote {}\n", file);
    if (!result.gnuplot_found) fmt::print(stderr, "dictlearn: {}\n", result.message);
    return 0;
  }
  if (demo->parsed()) {
    resolve(demo_args);
    dl::validate(demo_args.job.options);
    std::error_code error;
    std::filesystem::create_directories(demo_dir, error);
    if (error) throw dl::Error(fmt::format("{}: cannot create folder: {}", demo_dir, error.message()));
    const auto path = [&](const char* name) { return (std::filesystem::path(demo_dir) / name).string(); };
    const auto X = dl::make_toy_data<float>({.seed = demo_args.job.options.seed});
    dl::write_matrix(path("data.npy"), X);
    demo_args.job.data = path("data.npy");
    demo_args.job.output = path("model.safetensors");
    demo_args.job.log = path("log.csv");
    const auto start = std::chrono::steady_clock::now();
    const auto model = run_fit<float>(demo_args, X, false, false);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto log = dl::read_training_log(demo_args.job.log);
    const dl::Matrix<double> data = X.cast<double>();
    const dl::Matrix<double> atoms = model.dictionary.cast<double>();
    dl::PlotInput input = dl::make_plot_input(data, &log, &atoms, demo_args.job.output);
    input.title = fmt::format("{}, {} atoms", dl::encoder_name(model.encoder.kind), model.n_atoms());
    const dl::Metrics metrics = dl::evaluate(model, X);
    input.usage = metrics.usage;
    const dl::PlotResult figures = dl::render_figures(input, demo_dir);
    const dl::CodeStats& stats = metrics.codes;
    const int epochs = static_cast<int>(log.rows.size());
    fmt::print("dictlearn demo: the seed's problem, {} x {} data, {} {} atoms, Adam lr {}, {} epochs\n",
               X.rows(), X.cols(), model.n_atoms(), dl::encoder_name(model.encoder.kind),
               demo_args.job.options.adam.lr, epochs);
    fmt::print("  training + saving: {:.3f} s ({:.1f} us per epoch)\n", seconds,
               epochs > 0 ? 1e6 * seconds / epochs : 0.0);
    if (!log.rows.empty()) {
      fmt::print("  loss: {:.6g} at epoch 1, {:.6g} at epoch {}\n", log.rows.front()[1],
                 log.rows.back()[1], epochs);
    }
    fmt::print("  final: MSE {:.6g}, FVU {:.4g}, L0 {:.3g} of {} atoms, dead atoms {:.0f}%\n", metrics.mse,
               metrics.fvu, metrics.l0, model.n_atoms(), 100 * metrics.dead_fraction);
    for (int k = 0; k < model.n_atoms(); ++k) {
      fmt::print("  atom {}: ({:.3f}, {:.3f})\n", k, model.dictionary(k, 0), model.dictionary(k, 1));
    }
    fmt::print("  code sparsity: {:.1f}% of entries below 1e-3, {:.1f}% exactly zero, "
               "mean largest entry {:.3f}\n",
               100 * stats.fraction_below, 100 * stats.fraction_zero, stats.mean_max);
    if (stats.fraction_zero == 0) {
      fmt::print("  ({} codes are dense: no entry is exactly zero)\n", dl::encoder_name(model.encoder.kind));
    }
    fmt::print("  wrote {}, {}, {}\n", demo_args.job.data, demo_args.job.output, demo_args.job.log);
    for (const auto& file : figures.written) fmt::print("  wrote {}\n", file);
    if (!figures.gnuplot_found) fmt::print(stderr, "dictlearn: {}\n", figures.message);
    return 0;
  }
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const dl::Error& e) {
    fmt::print(stderr, "dictlearn: error: {}\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "dictlearn: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "dictlearn: error: internal: {}\n", e.what());
    return 1;
  }
}
