// The dictlearn command-line tool: parse the flags (the parameter tables make
// fit's), call one library workflow (dictlearn/workflows.hpp), print its summary.
//
// Exit codes: 0 success; 1 a user error (bad file, bad value), reported as one
// line "dictlearn: error: <file or parameter>: <what is wrong>"; 2 a usage
// error (unknown flag, missing argument).
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <csignal>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

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
  dl::LearningOptions learning;  // fit's --method and the classical learners' flags
};

std::string flag_names(const std::string& flag, const std::string& short_flag) {
  return short_flag.empty() ? "--" + flag : "-" + short_flag + ",--" + flag;
}

/// One flag per row of `table`, bound to the member of `options` it sets
/// (choice rows to text, resolved after parsing); `only`, when not empty,
/// picks the rows.
template <typename Options>
void add_parameters(CLI::App* app, const std::vector<dl::Parameter<Options>>& table,
                    Options& options, std::map<std::string, std::string>& choices,
                    const std::set<std::string>& only = {}) {
  for (const auto& row : table) {
    if (!only.empty() && only.count(row.flag) == 0) continue;
    const std::string names = row.positional ? row.flag : flag_names(row.flag, row.short_flag);
    const std::string value = dl::parameter_value(row, options);
    CLI::Option* option = std::visit(
        [&](const auto& field) -> CLI::Option* {
          using Field = std::decay_t<decltype(field)>;
          // Choices, and unsigned integers (CLI11 wraps "-1" and 2^64 into
          // range), are read as text and parsed by the table (exit 1, naming the flag).
          if constexpr (std::is_same_v<Field, dl::ChoiceField<Options>> ||
                        std::is_same_v<Field, uint64_t& (*)(Options&)>) {
            return app->add_option(names, choices[row.flag], row.help);
          } else if constexpr (std::is_same_v<Field, bool& (*)(Options&)>) {
            // A negated bool's flag (--no-shuffle) sets its member false.
            if (row.negated) {
              return app->add_flag_callback(
                  names, [field, &options] { field(options) = false; }, row.help);
            }
            return app->add_flag(names, field(options), row.help);
          } else {
            return app->add_option(names, field(options), row.help);
          }
        },
        row.field);
    if (!value.empty() && !std::holds_alternative<bool& (*)(Options&)>(row.field)) {
      option->default_str(value);
    }

    if (std::holds_alternative<uint64_t& (*)(Options&)>(row.field)) option->type_name("UINT");
    if (row.required) option->required();
  }
}

/// Resolves the choice flags of `table` given to `command` (errors name the
/// flag: exit 1) and adds the flags given to `given`.
template <typename Options>
void resolve(CLI::App* command, const std::vector<dl::Parameter<Options>>& table, Options& options,
             std::map<std::string, std::string>& choices, std::set<std::string>& given,
             const std::set<std::string>& skip = {}) {
  for (const auto& row : table) {
    if (row.positional || skip.count(row.flag) > 0 ||
        command->get_option_no_throw("--" + row.flag) == nullptr)
      continue;
    if (command->count("--" + row.flag) == 0) continue;
    given.insert(row.flag);
    if (std::holds_alternative<dl::ChoiceField<Options>>(row.field) ||
        std::holds_alternative<uint64_t& (*)(Options&)>(row.field)) {
      dl::set_parameter_value(row, options, choices[row.flag]);
    }
  }
}

template <typename Options>
void resolve(FitArgs& args, const std::vector<dl::Parameter<Options>>& table, Options& options) {
  resolve(args.command, table, options, args.choices, args.job.given);
}

void resolve(FitArgs& args) {
  resolve(args, dl::fit_parameters(), args.job.options);
  resolve(args, dl::fit_job_parameters(), args.job);
}

/// Files from this size on get a "reading" line: smaller ones read in well
/// under a second, and the line would only clutter every small run's stderr.
constexpr int64_t kReadingLineBytes = int64_t{16} << 20;

std::string format_size(int64_t bytes) {
  constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  for (; value >= 1024 && unit < 4; ++unit) value /= 1024;
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.3g} {}", value, units[unit]);
}

/// "dictlearn: reading DATA (1.91 GiB, 4000000 x 128)" on stderr before a
/// big data file is read (stdout stays the command's summary for scripts).
void print_reading(const std::string& path, const dl::DataFileInfo& info) {
  if (info.bytes < kReadingLineBytes) return;
  const std::string shape =
      info.rows >= 0 ? fmt::format(", {} x {}", info.rows, info.cols) : std::string();
  fmt::print(stderr, "dictlearn: reading {} ({}{})\n", dl::printable_text(path),
             format_size(info.bytes), shape);
  std::fflush(stderr);
}

/// Prints the workflow's notes and the reading line, and draws the progress
/// bar (the workflow calls none of them under --quiet).
struct Reporter {
  std::optional<dl::cli::ProgressBar> bar;
  dl::FitCallbacks callbacks() {
    return {.note =
                [](const std::string& note) {
                  fmt::print(stderr, "dictlearn: note: {}\n", dl::printable_text(note));
                },
            .progress =
                [this](const dl::EpochStats& stats, int total_epochs) {
                  if (!bar) bar.emplace(total_epochs, true);
                  bar->update(stats.epoch, stats.mse, stats.seconds);
                },
            .batch_progress =
                [this](const dl::BatchProgress& at, int total_epochs) {
                  if (!bar) bar.emplace(total_epochs, true);
                  bar->update_batch(at.epoch, at.samples_done, at.samples_total, at.run_samples,
                                    at.seconds);
                },
            .reading = print_reading};
  }
};

/// A note when --threads asks for more threads than max_threads(), which
/// every parallel region is capped at.
void note_threads_cap(const FitArgs& args) {
  const int threads = args.job.options.threads;
  if (args.job.quiet || threads <= dl::max_threads()) return;
  fmt::print(stderr, "dictlearn: note: --threads {}: capped at {} ({} per core on {} cores)\n",
             threads, dl::max_threads(), dl::kThreadsPerCore,
             dl::max_threads() / dl::kThreadsPerCore);
}

/// The training options' flags (and --quiet), as fit and demo share them.
void add_fit_flags(CLI::App* app, FitArgs& args) {
  args.command = app;
  add_parameters(app, dl::fit_parameters(), args.job.options, args.choices);
  add_parameters(app, dl::fit_job_parameters(), args.job, args.choices, {"quiet"});
}

/// fit's summary line for a classical learner: its objective (the coder's),
/// first -> last epoch, the last epoch's MSE, FVU and L0.
void print_fit_classical(const dl::FitSummary& trained) {
  const bool online = trained.method == "online";
  std::string measures;
  if (trained.epochs > 0 && trained.first_epoch > 0) {
    const std::string from =
        trained.first_epoch == 1
            ? ""
            : fmt::format(" at {} {}", online ? "epoch" : "iteration", trained.first_epoch);
    // One epoch in this run: its objective, not a start and an end.
    const std::string objective =
        trained.first_epoch == trained.epochs
            ? fmt::format("{:.6g}", trained.last_loss)
            : fmt::format("{:.6g}{} -> {:.6g}", trained.first_objective, from, trained.last_loss);
    measures = fmt::format("; objective {}, MSE {:.6g}, FVU {:.4g}, L0 {:.4g}", objective,
                           trained.last_mse, trained.last_fvu, trained.last_l0);
  }
  fmt::print("trained {} atoms by {} ({} coder) on {} x {} for {} {}{}{}; wrote {}\n",
             trained.n_atoms, trained.method, trained.coder, trained.samples, trained.dim,
             trained.epochs, online ? "epochs" : "iterations",
             trained.stopped_early ? " (stopped early)" : "", measures,
             dl::printable_text(trained.output));
}

/// fit's summary line: this run's reconstruction MSE, first -> last epoch, the
/// last epoch's FVU, and the objective only when terms beyond the MSE are in it
/// (an AuxK or penalty term may grow while the MSE falls).
void print_fit(const dl::FitSummary& trained) {
  std::string measures;
  if (trained.epochs > 0 && trained.first_epoch > 0) {
    const std::string from =
        trained.first_epoch == 1 ? "" : fmt::format(" at epoch {}", trained.first_epoch);
    // One epoch in this run (one pass over big data): its MSE is the mean over
    // its batches, not a start and an end ("MSE a -> a" read as no progress).
    const bool one_epoch = trained.first_epoch == trained.epochs;
    measures = one_epoch ? fmt::format("; MSE {:.6g} (mean over the epoch's batches), FVU {:.4g}",
                                       trained.last_mse, trained.last_fvu)
                         : fmt::format("; MSE {:.6g}{} -> {:.6g}, FVU {:.4g}", trained.first_mse,
                                       from, trained.last_mse, trained.last_fvu);
    if (!trained.objective_terms.empty()) {
      measures += one_epoch ? fmt::format("; objective (MSE + {}) {:.6g}", trained.objective_terms,
                                          trained.last_loss)
                            : fmt::format("; objective (MSE + {}) {:.6g} -> {:.6g}",
                                          trained.objective_terms, trained.first_objective,
                                          trained.last_loss);
    }
  }
  fmt::print("trained {} {} atoms on {} x {} for {} epochs{}{}; wrote {}\n", trained.n_atoms,
             dl::encoder_name(trained.encoder), trained.samples, trained.dim, trained.epochs,
             trained.stopped_early ? " (stopped early)" : "", measures,
             dl::printable_text(trained.output));
}

void print_eval(const dl::EvalSummary& eval) {
  const dl::Metrics& metrics = eval.metrics;
  std::vector<double> usage = metrics.usage;
  std::sort(usage.begin(), usage.end());
  fmt::print("samples          {}\n", eval.samples);
  fmt::print("dim              {}\n", eval.dim);
  fmt::print("atoms            {}\n", eval.n_atoms);
  if (eval.coding) {
    fmt::print("coder            {}\n", dl::coder_flag_name(eval.coding->method));
  } else {
    fmt::print("encoder          {}\n", dl::encoder_name(eval.encoder));
  }
  fmt::print("MSE              {:.8g}\n", metrics.mse);
  fmt::print("FVU              {:.6g}\n", metrics.fvu);
  if (eval.coding) {
    // The coders' report: what their objectives are made of, per sample.
    fmt::print("residual         {:.8g} (mean |x - rD|^2 per sample), relative {:.6g}\n",
               metrics.residual, metrics.relative_residual);
    if (eval.objective) {
      fmt::print("objective        {:.8g} (mean per sample of 1/2 |x - rD|^2 + alpha |r|_1{})\n",
                 *eval.objective, eval.coding->l2 > 0 ? " + 1/2 l2 |r|^2" : "");
    }
    fmt::print("L0               {:.4g} of {} atoms per sample, max {}\n", metrics.l0, eval.n_atoms,
               metrics.max_l0);
  } else {
    fmt::print("L0               {:.4g} of {} atoms per sample\n", metrics.l0, eval.n_atoms);
  }
  fmt::print("dead atoms       {:.2f}% (never nonzero on this data)\n",
             100 * metrics.dead_fraction);
  fmt::print("atom usage       min {:.4g}, median {:.4g}, max {:.4g} (fraction of samples)\n",
             usage.front(), usage[usage.size() / 2], usage.back());
  fmt::print("codes below 1e-3 {:.2f}%\n", 100 * metrics.codes.fraction_below);
  fmt::print("codes exactly 0  {:.2f}%\n", 100 * metrics.codes.fraction_zero);
  fmt::print("mean largest     {:.4f}\n", metrics.codes.mean_max);
}

void print_demo(const dl::DemoSummary& demo, double lr) {
  const dl::FitSummary& fit = demo.fit;
  const char* encoder = dl::encoder_name(fit.encoder);
  const dl::TrainingLog& log = demo.training_log;
  const int epochs = static_cast<int>(log.rows.size());
  fmt::print(
      "dictlearn demo: the seed's problem, {} x {} data, {} {} atoms, Adam lr {}, {} epochs\n",
      fit.samples, fit.dim, fit.n_atoms, encoder, lr, epochs);
  fmt::print("  training + saving: {:.3f} s ({:.1f} us per epoch)\n", demo.seconds,
             epochs > 0 ? 1e6 * demo.seconds / epochs : 0.0);
  // The seed's objective is the reconstruction MSE: the log's mse column.
  if (const int mse = log.column("mse"); !log.rows.empty() && mse >= 0) {
    fmt::print("  MSE: {:.6g} at epoch 1, {:.6g} at epoch {}\n", log.rows.front()[mse],
               log.rows.back()[mse], epochs);
  }
  const dl::Metrics& metrics = demo.metrics;
  fmt::print("  final: MSE {:.6g}, FVU {:.4g}, L0 {:.3g} of {} atoms, dead atoms {:.0f}%\n",
             metrics.mse, metrics.fvu, metrics.l0, fit.n_atoms, 100 * metrics.dead_fraction);
  for (int k = 0; k < fit.n_atoms; ++k) {
    fmt::print("  atom {}: ({:.3f}, {:.3f})\n", k, demo.atoms(k, 0), demo.atoms(k, 1));
  }
  const dl::CodeStats& stats = metrics.codes;
  fmt::print(
      "  code sparsity: {:.1f}% of entries below 1e-3, {:.1f}% exactly zero, "
      "mean largest entry {:.3f}\n",
      100 * stats.fraction_below, 100 * stats.fraction_zero, stats.mean_max);
  if (stats.fraction_zero == 0)
    fmt::print("  ({} codes are dense: no entry is exactly zero)\n", encoder);
  fmt::print("  wrote {}, {}, {}\n", dl::printable_text(demo.data), dl::printable_text(demo.model),
             dl::printable_text(demo.log));
  for (const auto& file : demo.figures.written)
    fmt::print("  wrote {}\n", dl::printable_text(file));
  if (!demo.figures.gnuplot_found)
    fmt::print(stderr, "dictlearn: {}\n", dl::printable_text(demo.figures.message));
}

/// toy's --seed: an unsigned 64-bit integer, refused (exit 1) as fit's is.
uint64_t parse_seed(const std::string& text) {
  uint64_t seed = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, seed);
  if (text.empty() || error != std::errc() || stop != end) {
    throw dl::Error(fmt::format("--seed: must be an integer in [0, {}], got '{}'",
                                std::numeric_limits<uint64_t>::max(), text));
  }
  return seed;
}

/// The commands and where their flags are parsed to.
struct Commands {
  CLI::App* toy = nullptr;
  std::string toy_output;
  dl::ToyOptions toy_options;
  std::string toy_seed = "0";

  CLI::App* fit = nullptr;
  FitArgs fit_args;

  CLI::App *encode = nullptr, *reconstruct = nullptr, *eval = nullptr;
  std::string model_path, data_path, output_path;
  dl::CodingOptions coding;  // encode and eval: the coding table's flags
  std::map<std::string, std::string> coding_choices;

  CLI::App* plot = nullptr;
  std::string plot_model, plot_log, plot_dir = "figures", plot_patch_shape;

  CLI::App* patches = nullptr;
  dl::PatchesJob patches_job;
  std::string patches_size = "8";

  CLI::App* demo = nullptr;
  std::string demo_dir = "dictlearn-demo";
  FitArgs demo_args;
};

void define_commands(CLI::App& app, Commands& c) {
  c.toy = app.add_subcommand("toy", "write the seed's toy data set (two Gaussian clusters)");
  c.toy->add_option("-o,--output", c.toy_output, "output data file (.npy or .csv)")->required();
  // As text, parsed below: CLI11 wraps "-1" and 2^64 into uint64's range.
  c.toy->add_option("--seed", c.toy_seed, "random seed")->capture_default_str()->type_name("UINT");
  c.toy->add_option("--points", c.toy_options.points_per_cluster, "points per cluster")
      ->capture_default_str();

  c.fit = app.add_subcommand("fit", "train a dictionary model on DATA");
  FitArgs& fit = c.fit_args;
  fit.job = dl::cli_fit_job();  // --preset auto
  add_parameters(c.fit, dl::fit_job_parameters(), fit.job, fit.choices,
                 {"data", "output", "preset"});
  add_fit_flags(c.fit, fit);
  add_parameters(c.fit, dl::fit_job_parameters(), fit.job, fit.choices,
                 {"init", "log", "step-log", "checkpoint", "checkpoint-every", "resume", "dtype",
                  "snapshot-every", "patch-shape"});
  // The classical learners' flags and their coding step's, in groups of their own.
  add_parameters(c.fit, dl::learning_parameters(), fit.learning, fit.choices);
  std::set<std::string> coding_flags;
  for (const auto& row : dl::coding_parameters()) {
    if (row.flag != "threads") coding_flags.insert(row.flag);  // --threads is fit's own
  }
  add_parameters(c.fit, dl::coding_parameters(), fit.learning.coding, fit.choices, coding_flags);
  for (const auto& row : dl::learning_parameters())
    c.fit->get_option("--" + row.flag)->group("Classical learners (--method)");
  for (const auto& flag : coding_flags) {
    c.fit->get_option("--" + flag)
        ->group(
            "Coding step of the classical learners (--method; default coder: omp for ksvd "
            "and mod, else lasso-lars)");
  }
  c.fit->get_option("--coder")->description(
      "the coder of the coding step, recorded in the model for encode (the list is below)");
  c.fit->footer("\n" + dl::presets_help() + "\n" + dl::coders_help());
  fit.choices["method"] = "gradient";
  c.fit->get_option("--method")->default_str("gradient");
  for (const char* flag : {"--coder", "--n-nonzero"}) c.fit->get_option(flag)->default_str("");

  c.encode = app.add_subcommand("encode", "write the codes of DATA under MODEL");
  c.reconstruct = app.add_subcommand("reconstruct", "write the reconstructions of DATA");
  c.eval = app.add_subcommand(
      "eval", "print the reconstruction MSE, FVU and code statistics of MODEL on DATA");
  c.reconstruct->add_option("model", c.model_path, "model file (.safetensors)")->required();
  c.reconstruct->add_option("data", c.data_path, "data file (.npy or .csv)")->required();
  for (CLI::App* sub : {c.encode, c.eval}) {
    sub->add_option("model", c.model_path,
                    "model file (.safetensors), or a dictionary's atoms (.npy or .csv, n_atoms x "
                    "dim; needs --coder)")
        ->required();
    sub->add_option("data", c.data_path, "data file (.npy or .csv)")->required();
  }
  c.encode
      ->add_option("-o,--output", c.output_path,
                   "output codes: .npy or .csv (dense), .npz (sparse CSR)")
      ->required();
  c.reconstruct->add_option("-o,--output", c.output_path, "output reconstructions (.npy or .csv)")
      ->required();
  for (CLI::App* sub : {c.encode, c.eval}) {
    add_parameters(sub, dl::coding_parameters(), c.coding, c.coding_choices);
    // Left out, --coder is the model's own encoder and --n-nonzero the
    // coder's default, not CodingOptions' threshold and 0 (which the CLI refuses).
    for (const char* flag : {"--coder", "--n-nonzero"}) sub->get_option(flag)->default_str("");
    sub->footer("\n" + dl::coders_help());
  }

  c.plot = app.add_subcommand("plot", "render the figures from data, a model and a log");
  c.plot->add_option("data", c.data_path, "data file (.npy or .csv)")->required();
  c.plot->add_option("--model,-m", c.plot_model, "model file: draws the final atoms");
  c.plot->add_option("--log,-l", c.plot_log,
                     "training log: draws the MSE (and objective) per epoch and the atoms' paths");
  c.plot->add_option("-o,--output", c.plot_dir, "output folder")->capture_default_str();
  c.plot->add_option("--patch-shape", c.plot_patch_shape,
                     "the samples are HEIGHTxWIDTH image patches (e.g. 8x8): draws the atoms as "
                     "images (default: the model's recorded shape)");

  c.patches = app.add_subcommand("patches", "cut a PNG or PGM image into patches (.npy or .csv)");
  c.patches->add_option("image", c.patches_job.image, "PNG or PGM image (colour: BT.601 luma)")
      ->required();
  c.patches
      ->add_option("-o,--output", c.patches_job.output,
                   "patches file (.npy or .csv), one patch a row; its geometry goes to "
                   "OUTPUT.json, which fit reads")
      ->required();
  c.patches->add_option("--size", c.patches_size, "patch size: S (S x S) or HxW")
      ->capture_default_str();
  c.patches->add_option("--stride", c.patches_job.options.stride, "step between patches")
      ->capture_default_str();
  c.patches->add_option("--max-patches", c.patches_job.options.max_patches,
                        "a random subset of this many patches (without replacement, raster "
                        "order); default: all");
  c.patches->add_option("--seed", c.patches_job.options.seed, "the subset's seed")
      ->capture_default_str();
  c.patches->add_flag("--remove-mean", c.patches_job.options.remove_mean,
                      "subtract each patch's mean");
  c.patches->add_flag("--normalize", c.patches_job.options.normalize,
                      "scale each patch to unit norm (after --remove-mean); flat ones stay");
  c.patches->add_option("--dtype", c.patches_job.dtype, "float32 or float64 (.npy)")
      ->capture_default_str();
  c.demo = app.add_subcommand(
      "demo", "the seed's experiment: toy data, 2 softmax atoms, Adam, figures and a summary");
  c.demo->add_option("-o,--output", c.demo_dir, "output folder")->capture_default_str();
  add_fit_flags(c.demo, c.demo_args);
}

/// The coding flags of encode or eval: their values checked (validate) and
/// the flags given checked against the coder (check_coding_flags), before
/// any file is read. Whether --coder was given.
bool resolve_coding(Commands& c, CLI::App* command) {
  std::set<std::string> given;
  resolve(command, dl::coding_parameters(), c.coding, c.coding_choices, given);
  dl::validate(c.coding);
  dl::check_coding_flags(c.coding, given);
  return given.count("coder") > 0;
}

/// Runs the parsed command: one library call, then its printed summary.
void run_command(Commands& c) {
  if (c.toy->parsed()) {
    c.toy_options.seed = parse_seed(c.toy_seed);
    dl::write_matrix(c.toy_output, dl::make_toy_data<float>(c.toy_options));
  } else if (c.fit->parsed()) {
    FitArgs& args = c.fit_args;
    resolve(args);
    // --method is resolved by set_fit_method (gradient is no LearningOptions value).
    resolve(args.command, dl::learning_parameters(), args.learning, args.choices, args.job.given,
            {"method"});
    resolve(args.command, dl::coding_parameters(), args.learning.coding, args.choices,
            args.job.given);
    if (args.command->count("--method") > 0) args.job.given.insert("method");
    dl::set_fit_method(args.job, args.choices["method"], args.learning);
    note_threads_cap(args);
    Reporter reporter;
    const dl::FitSummary trained = dl::run_fit(args.job, reporter.callbacks());
    if (!args.job.quiet) trained.method.empty() ? print_fit(trained) : print_fit_classical(trained);
  } else if (c.encode->parsed()) {
    const bool coder = resolve_coding(c, c.encode);
    print_reading(c.data_path, dl::data_file_info(c.data_path));
    if (coder) {
      dl::run_encode(c.model_path, c.data_path, c.output_path, c.coding);
    } else {
      dl::run_encode(c.model_path, c.data_path, c.output_path);
    }
  } else if (c.reconstruct->parsed()) {
    print_reading(c.data_path, dl::data_file_info(c.data_path));
    dl::run_reconstruct(c.model_path, c.data_path, c.output_path);
  } else if (c.eval->parsed()) {
    const bool coder = resolve_coding(c, c.eval);
    print_reading(c.data_path, dl::data_file_info(c.data_path));
    print_eval(coder ? dl::run_eval(c.model_path, c.data_path, c.coding)
                     : dl::run_eval(c.model_path, c.data_path));
  } else if (c.plot->parsed()) {
    const dl::PlotResult result =
        dl::run_plot(c.data_path, c.plot_model, c.plot_log, c.plot_dir, c.plot_patch_shape);
    for (const auto& file : result.written) fmt::print("wrote {}\n", dl::printable_text(file));
    if (!result.gnuplot_found)
      fmt::print(stderr, "dictlearn: {}\n", dl::printable_text(result.message));
  } else if (c.patches->parsed()) {
    dl::PatchesJob job = c.patches_job;
    dl::PatchShape shape;
    try {  // S alone is S x S
      const bool square = c.patches_size.find_first_of("xX") == std::string::npos;
      shape = dl::parse_patch_shape(square ? c.patches_size + "x" + c.patches_size : c.patches_size,
                                    0, "--size");
    } catch (const dl::Error&) {
      throw dl::Error(
          fmt::format("--size: must be S or HxW, positive whole numbers (e.g. 8 or 8x6), got '{}'",
                      c.patches_size));
    }
    job.options.height = shape.height;
    job.options.width = shape.width;
    if (c.patches->count("--max-patches") > 0 && job.options.max_patches < 1) {
      throw dl::Error(
          fmt::format("--max-patches: must be at least 1, got {}", job.options.max_patches));
    }
    const dl::PatchesSummary summary = dl::run_patches(job);
    fmt::print("read {}: {} x {} pixels{}\n", dl::printable_text(job.image), summary.image_height,
               summary.image_width, summary.was_color ? " (colour, converted to gray)" : "");
    if (summary.zero_norm > 0) {
      fmt::print(stderr,
                 "dictlearn: note: --normalize: {} of {} patches have norm < 1e-12 and were "
                 "kept unscaled\n",
                 summary.zero_norm, summary.rows);
    }
    fmt::print("wrote {}: {} patches x {} values ({} available)\nwrote {}\n",
               dl::printable_text(job.output), summary.rows, summary.cols, summary.available,
               dl::printable_text(summary.sidecar));
  } else if (c.demo->parsed()) {
    resolve(c.demo_args);
    note_threads_cap(c.demo_args);
    Reporter reporter;
    const dl::DemoJob job{
        .folder = c.demo_dir, .options = c.demo_args.job.options, .quiet = c.demo_args.job.quiet};
    print_demo(dl::run_demo(job, reporter.callbacks()), job.options.adam.lr);
  }
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
  // Parse errors echo the arguments: escaped like every message (line by line).
  app.failure_message([](const CLI::App* app, const CLI::Error& e) {
    const std::string message = CLI::FailureMessage::simple(app, e);
    std::string printable;
    size_t begin = 0;
    for (size_t end; (end = message.find('\n', begin)) != std::string::npos; begin = end + 1)
      printable += dl::printable_text(std::string_view(message).substr(begin, end - begin)) + '\n';
    return printable + dl::printable_text(std::string_view(message).substr(begin));
  });
  Commands commands;
  define_commands(app, commands);

  std::signal(SIGXFSZ, SIG_IGN);  // a file-size limit must surface as a write error, not a kill
  // SIGINT, SIGTERM, SIGHUP: temporaries removed, gnuplot stopped, exit status the signal's.
  dl::install_temp_file_cleanup();
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
  run_command(commands);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const dl::Error& e) {
    // Messages quote files' text (metadata, headers, fields) and file names:
    // escaped, so that none of it reaches the terminal as a control sequence.
    fmt::print(stderr, "dictlearn: error: {}\n", dl::printable_text(e.what()));
    return 1;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "dictlearn: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "dictlearn: error: internal: {}\n", dl::printable_text(e.what()));
    return 1;
  }
}
