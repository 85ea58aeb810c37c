// The dictlearn command-line tool: parse -> options -> library call.
//
// Exit codes: 0 success; 1 a user error (bad file, bad value), reported as one
// line "dictlearn: error: <file or parameter>: <what is wrong>"; 2 a usage
// error (unknown flag, missing argument).
#include <array>
#include <CLI/CLI.hpp>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>

#include <fmt/format.h>

#include "dictlearn/dictlearn.hpp"
#include "progress.hpp"

namespace dl = dictlearn;

namespace {

struct FitArgs {
  std::string data;
  std::string output;
  dl::FitOptions options;
  std::string init;
  std::string log;
  std::string checkpoint;
  int checkpoint_every = 10;
  std::string resume;
  std::string dtype;  // empty: float32, or the --init model's dtype
  std::string encoder = "softmax";
  std::string dictionary_init = "uniform";
  std::string decoder_bias = "none";
  int snapshot_every = 0;
  bool quiet = false;
  CLI::App* command = nullptr;  // to tell flags given from defaults
};

/// Resolves the string flags into the options (errors name the flag: exit 1).
void resolve(FitArgs& args) {
  args.options.encoder.kind = dl::parse_encoder(args.encoder);
  if (args.dictionary_init == "uniform") {
    args.options.dictionary_init = dl::DictionaryInit::uniform;
  } else if (args.dictionary_init == "data") {
    args.options.dictionary_init = dl::DictionaryInit::data;
  } else {
    throw dl::Error(fmt::format("--init-dict: must be uniform or data, got '{}'", args.dictionary_init));
  }
  if (args.decoder_bias == "none") {
    args.options.decoder_bias = dl::DecoderBiasInit::none;
  } else if (args.decoder_bias == "zero") {
    args.options.decoder_bias = dl::DecoderBiasInit::zero;
  } else if (args.decoder_bias == "mean") {
    args.options.decoder_bias = dl::DecoderBiasInit::mean;
  } else {
    throw dl::Error(fmt::format("--decoder-bias: must be none, zero or mean, got '{}'", args.decoder_bias));
  }
}

dl::DType parse_dtype(const std::string& name) {
  if (name == "float32") return dl::DType::float32;
  if (name == "float64") return dl::DType::float64;
  throw dl::Error(fmt::format("--dtype: must be float32 or float64, got '{}'", name));
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
dl::Model<T> run_fit(FitArgs args, const dl::Matrix<T>& data, bool print_summary) {
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
    if (!args.quiet) {
      fmt::print(stderr,
                 "dictlearn: note: {}: values of magnitude {:.3g}; training on the data divided by it "
                 "(the model is scaled back; the log's loss and mse are in the data's units)\n",
                 args.data, rms);
    }
  }
  const dl::Matrix<T>& X = rescale ? scaled : data;
  const double scale = rescale ? rms : 1.0;
  dl::Model<T> initial;
  if (!args.resume.empty()) {
    initial = dl::load_model<T>(args.resume);
    dl::check_data_matches(initial, X, args.data);
    args.options.n_atoms = initial.n_atoms();
  } else if (!args.init.empty()) {
    initial = dl::load_model<T>(args.init);
    dl::check_data_matches(initial, X, args.data);
    // Encoder flags given with --init replace the model's own settings.
    if (args.command->count("--encoder") > 0) initial.encoder.kind = args.options.encoder.kind;
    if (args.command->count("--k") > 0) initial.encoder.k = args.options.encoder.k;
    if (args.command->count("--temperature") > 0) {
      initial.encoder.temperature = args.options.encoder.temperature;
    }
    args.options.n_atoms = initial.n_atoms();
    dl::validate(initial.encoder, initial.n_atoms());
    if (rescale) dl::scale_model(initial, 1 / scale);
  } else {
    initial = dl::initialize<T>(X, args.options);
  }
  // The training settings travel with the model: every flag of the command, given or default.
  for (const CLI::Option* option : args.command->get_options()) {
    const std::string name = option->get_single_name();
    if (name.empty() || name == "help" || name == "o" || name == "output" || name == "quiet" ||
        name == "log" || name == "init" || name == "data" || name == "threads" ||
        name == "checkpoint" || name == "checkpoint-every" || name == "resume") {
      continue;
    }
    const std::string value = option->count() > 0 ? option->as<std::string>() : option->get_default_str();
    if (!value.empty()) initial.metadata["train." + name] = value;
  }
  initial.metadata["train.data"] = std::filesystem::path(args.data).filename().string();

  const int n_atoms = initial.n_atoms();
  const int total_epochs = args.options.epochs;
  dl::Trainer<T> trainer(std::move(initial), args.options);
  std::optional<dl::LogRecorder<T>> recorder;
  if (!args.log.empty()) {
    const dl::RecorderOptions options{.snapshot_every = args.snapshot_every};
    // The projection is only needed for the atom columns, which many atoms leave out.
    recorder.emplace(n_atoms <= options.max_atoms ? dl::make_projection(X.template cast<double>())
                                                  : dl::Projection{},
                     n_atoms, total_epochs, options);
  }
  if (!args.resume.empty()) {
    const dl::TensorFile state = trainer.load_checkpoint(args.resume, X);
    if (recorder) {
      // The log of the epochs before the checkpoint travels inside it.
      auto rows = state.tensors.find("log.rows");
      auto columns = state.metadata.find("log.columns");
      if (rows == state.tensors.end() || columns == state.metadata.end()) {
        throw dl::Error(fmt::format("--log: {} was written without a log; resume without --log or "
                                    "checkpoint with --log",
                                    args.resume));
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
    trainer.save_checkpoint(args.checkpoint, X, extra);
  };
  dl::cli::ProgressBar bar(total_epochs, !args.quiet);
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
    if (!args.checkpoint.empty() && (stats.epoch % args.checkpoint_every == 0 || stats.epoch == total_epochs)) {
      save_checkpoint();
    }
    bar.update(stats.epoch, stats.loss, stats.seconds);
  });
  if (!args.checkpoint.empty() && trainer.stopped_early()) save_checkpoint();
  dl::Model<T> trained = trainer.release_model();
  if (rescale) {
    dl::scale_model(trained, scale);
    trained.metadata["train.data_scale"] = fmt::format("{}", scale);
  }
  dl::save_model(args.output, trained);
  if (recorder) dl::write_training_log(args.log, recorder->log());
  if (print_summary && !args.quiet) {
    const auto& losses = trainer.losses();
    fmt::print("trained {} {} atoms on {} x {} for {} epochs{}; loss {:.6g} -> {:.6g}; wrote {}\n",
               n_atoms, dl::encoder_name(trained.encoder.kind), X.rows(), X.cols(),
               losses.size(), trainer.stopped_early() ? " (stopped early)" : "",
               losses.empty() ? 0.0 : losses.front() * scale * scale,
               losses.empty() ? 0.0 : losses.back() * scale * scale, args.output);
  }
  return trained;
}

void add_fit_flags(CLI::App* app, FitArgs& args) {
  args.command = app;
  dl::FitOptions& o = args.options;
  app->add_option("--atoms", o.n_atoms, "number of dictionary atoms (>= 1)")->capture_default_str();
  app->add_option("--epochs,-e", o.epochs, "passes over the data (>= 0)")->capture_default_str();
  app->add_option("--batch-size,-b", o.batch_size, "samples per Adam step (0: the full batch)")
      ->capture_default_str();
  app->add_option("--encoder", args.encoder, "softmax, sparsemax, relu, topk or batchtopk")
      ->capture_default_str();
  app->add_option("--k", o.encoder.k, "topk/batchtopk: active atoms per sample")->capture_default_str();
  app->add_option("--temperature", o.encoder.temperature, "softmax: Z is divided by it")
      ->capture_default_str();
  app->add_option("--l1", o.l1, "weight of the L1 penalty on codes (mean over samples of sum |r|)")
      ->capture_default_str();
  app->add_option("--ortho", o.ortho, "weight of the penalty |D^D^T - I|_F^2 on unit-normalized atoms")
      ->capture_default_str();
  app->add_flag("--unit-atoms", o.unit_atoms, "keep atoms at unit norm");
  app->add_option("--init-dict", args.dictionary_init, "uniform (the seed's U[0,1)) or data (samples)")
      ->capture_default_str();
  app->add_flag("--tied", o.tied, "start the encoder weights equal to the dictionary");
  app->add_option("--decoder-bias", args.decoder_bias, "none, zero or mean (of the data)")
      ->capture_default_str();
  app->add_option("--warmup-steps", o.warmup_steps, "linear learning-rate warm-up over these steps")
      ->capture_default_str();
  app->add_option("--lr-decay", o.lr_decay, "fraction of steps, at the end, of linear decay to 0")
      ->capture_default_str();
  app->add_option("--patience", o.patience, "stop after this many epochs without improvement (0: never)")
      ->capture_default_str();
  app->add_option("--tol", o.tol, "relative improvement that resets --patience")->capture_default_str();
  app->add_option("--dead-after", o.dead_after, "samples without firing before an atom is dead (0: one epoch)")
      ->capture_default_str();
  app->add_option("--auxk", o.auxk, "weight of the AuxK loss for dead atoms (topk/batchtopk; 1/32 typical)")
      ->capture_default_str();
  app->add_option("--auxk-k", o.auxk_k, "dead atoms AuxK uses per sample (0: dim/2)")->capture_default_str();
  app->add_option("--lr", o.adam.lr, "Adam learning rate (> 0)")->capture_default_str();
  app->add_option("--seed", o.seed, "seed of the initialization and the shuffles")->capture_default_str();
  app->add_option("--threads", args.options.threads, "worker threads (0: all cores); results do not depend on it")
      ->capture_default_str();
  app->add_flag("--quiet,-q", args.quiet, "no progress bar or summary");
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
  fit->add_option("data", fit_args.data, "training data (.npy or .csv), one sample per row")
      ->required();
  fit->add_option("-o,--output", fit_args.output, "output model file (.safetensors)")->required();
  add_fit_flags(fit, fit_args);
  fit->add_option("--init", fit_args.init, "start from this model file's parameters");
  fit->add_option("--log", fit_args.log, "write the training log (CSV: epoch, loss, ...)");
  fit->add_option("--checkpoint", fit_args.checkpoint,
                  "save the complete training state to this file as training goes");
  fit->add_option("--checkpoint-every", fit_args.checkpoint_every, "epochs between checkpoints")
      ->capture_default_str();
  fit->add_option("--resume", fit_args.resume,
                  "continue the run saved in this checkpoint (same data and settings; --epochs is the total)");
  fit->add_option("--dtype", fit_args.dtype,
                  "float32 or float64 (default: float32, or the --init model's)");
  fit->add_option("--snapshot-every", fit_args.snapshot_every,
                  "epochs between atom snapshots in the log (0: about 200 per run)")
      ->capture_default_str();

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
    dl::validate(fit_args.options);
    if (fit_args.checkpoint_every < 1) {
      throw dl::Error(fmt::format("--checkpoint-every: must be >= 1, got {}", fit_args.checkpoint_every));
    }
    if (!fit_args.resume.empty() && !fit_args.init.empty()) {
      throw dl::Error("--resume: cannot be combined with --init (the checkpoint holds the model)");
    }
    dl::DType dtype = dl::DType::float32;
    if (!fit_args.dtype.empty()) {
      dtype = parse_dtype(fit_args.dtype);
    } else if (!fit_args.init.empty()) {
      dtype = dl::model_dtype(fit_args.init);
    } else if (!fit_args.resume.empty()) {
      dtype = dl::model_dtype(fit_args.resume);
    }
    if (!fit_args.init.empty() && fit->count("--atoms") > 0) {
      // --atoms with --init must agree with the model rather than be ignored silently.
      const auto init = dl::load_model<double>(fit_args.init);
      if (init.n_atoms() != fit_args.options.n_atoms) {
        throw dl::Error(fmt::format("--atoms: {} differs from the {} atoms of --init {}",
                                    fit_args.options.n_atoms, init.n_atoms(), fit_args.init));
      }
    }
    with_dtype(dtype, [&]<typename T>() {
      const auto X = dl::read_matrix<T>(fit_args.data);
      run_fit<T>(fit_args, X, true);
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
    dl::validate(demo_args.options);
    std::error_code error;
    std::filesystem::create_directories(demo_dir, error);
    if (error) throw dl::Error(fmt::format("{}: cannot create folder: {}", demo_dir, error.message()));
    const auto path = [&](const char* name) { return (std::filesystem::path(demo_dir) / name).string(); };
    const auto X = dl::make_toy_data<float>({.seed = demo_args.options.seed});
    dl::write_matrix(path("data.npy"), X);
    demo_args.data = path("data.npy");
    demo_args.output = path("model.safetensors");
    demo_args.log = path("log.csv");
    const auto start = std::chrono::steady_clock::now();
    const auto model = run_fit<float>(demo_args, X, false);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto log = dl::read_training_log(demo_args.log);
    const dl::Matrix<double> data = X.cast<double>();
    const dl::Matrix<double> atoms = model.dictionary.cast<double>();
    dl::PlotInput input = dl::make_plot_input(data, &log, &atoms, demo_args.output);
    input.title = fmt::format("{}, {} atoms", dl::encoder_name(model.encoder.kind), model.n_atoms());
    const dl::Metrics metrics = dl::evaluate(model, X);
    input.usage = metrics.usage;
    const dl::PlotResult figures = dl::render_figures(input, demo_dir);
    const dl::CodeStats& stats = metrics.codes;
    const int epochs = static_cast<int>(log.rows.size());
    fmt::print("dictlearn demo: the seed's problem, {} x {} data, {} {} atoms, Adam lr {}, {} epochs\n",
               X.rows(), X.cols(), model.n_atoms(), dl::encoder_name(model.encoder.kind),
               demo_args.options.adam.lr, epochs);
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
    fmt::print("  wrote {}, {}, {}\n", demo_args.data, demo_args.output, demo_args.log);
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
