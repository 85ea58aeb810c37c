// dictlearn: what a command does end to end, for the CLI and (later) the
// Python package: read the files, train or apply a model, write the results.
// The CLI only parses, calls one of these and prints what it returns.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dictlearn/coders.hpp"
#include "dictlearn/io.hpp"
#include "dictlearn/learning.hpp"
#include "dictlearn/metrics.hpp"
#include "dictlearn/patches.hpp"
#include "dictlearn/plot.hpp"
#include "dictlearn/trainer.hpp"
#include "dictlearn/training_log.hpp"

namespace dictlearn {

/// A training run as `dictlearn fit` describes it: files, schedule and the
/// training options. Its rows are fit_job_parameters() (dictlearn/parameters.hpp).
struct FitJob {
  std::string data = {};    ///< training data (.npy or .csv), one sample per row
  std::string output = {};  ///< model file to write (.safetensors)
  FitOptions options = {};  ///< the training settings (fit_parameters())
  std::string init = {};    ///< start from this model's parameters; "": a new model
  std::string log = {};     ///< training log to write (CSV); "": none
  /// --method online: a CSV with one row per step (step, batch_cost,
  /// smoothed_cost, l0, atoms_replaced, seconds: StepStats); "": none
  std::string step_log = {};
  std::string checkpoint = {};  ///< checkpoint written as training goes; "": none
  int checkpoint_every = 10;    ///< epochs between checkpoints (and the last epoch)
  std::string resume = {};      ///< checkpoint to continue; "": start anew
  std::string dtype = {};  ///< "float32", "float64", or "": float32, or the --init/--resume model's
  int snapshot_every = 0;  ///< epochs between atom snapshots in the log; 0: about 200 per run
  bool quiet = false;      ///< no notes and no progress to the callbacks
  /// The data's samples are HEIGHTxWIDTH image patches ("8x8"; H * W = the
  /// data's columns), recorded in the model so `plot` draws its atoms as images; "": not images
  std::string patch_shape = {};
  std::set<std::string> given = {};  ///< flags given explicitly ("encoder", "k", ...): with --init
                                     ///< they replace the model's own settings, and a preset
                                     ///< leaves them as they are
  /// "seed", "sae" or "auto" (sae for encoders other than softmax): fills the
  /// options not in `given` (dictlearn/presets.hpp). The library's default is
  /// "seed", so options set in code are trained as set; the CLI passes "auto".
  std::string preset = "seed";
  /// A classical learner (--method online|alternating|mod|ksvd) and all its
  /// settings, used as they are (set_fit_method, parameters.hpp, fills them
  /// from the CLI's flags); empty: the gradient learner with `options`.
  std::optional<LearningOptions> learning = {};
};

/// Checks the job's options and its own fields; errors name the flag.
void validate(const FitJob& job);

/// What a training run reports while it goes. Either may be empty.
struct FitCallbacks {
  /// A remark for the user, e.g. "<data>: values of magnitude 1e+30; training
  /// on the data divided by it (...)" (the CLI prints "dictlearn: note: " before it).
  std::function<void(const std::string&)> note{};
  /// After every epoch: its statistics (loss in the trained units) and the
  /// run's total number of epochs.
  std::function<void(const EpochStats&, int total_epochs)> progress{};
  /// Within an epoch, at most about ten times a second: the samples done
  /// (EpochLoop::set_batch_progress) and the run's total number of epochs.
  std::function<void(const BatchProgress&, int total_epochs)> batch_progress{};
  /// Before the data file is read: its path, size and (.npy) shape.
  std::function<void(const std::string& path, const DataFileInfo& info)> reading{};
};

/// What a training run did.
struct FitSummary {
  std::string output = {};                     ///< the model file written
  int n_atoms = 0;                             ///< atoms of the trained model
  EncoderKind encoder = EncoderKind::softmax;  ///< its encoder
  int64_t samples = 0;                         ///< rows of the data
  int64_t dim = 0;                             ///< columns of the data
  int epochs = 0;                              ///< epochs done, a resumed checkpoint's included
  bool stopped_early = false;                  ///< early stopping (--patience) ended the run
  double first_loss = 0;  ///< objective of epoch 1, in units of loss_unit (0 with no epochs)
  double last_loss = 0;   ///< objective of the last epoch, in units of loss_unit
  /// The first epoch this run trained: 1, or a resumed run's first own epoch
  /// (0 with no epochs). first_mse and first_objective are of this epoch.
  int first_epoch = 0;
  double first_mse = 0;        ///< reconstruction MSE of first_epoch, in units of loss_unit
  double first_objective = 0;  ///< objective of first_epoch, in units of loss_unit
  double last_mse = 0;         ///< reconstruction MSE of the last epoch, in units of loss_unit
  double last_fvu = 0;         ///< fraction of variance unexplained of the last epoch
  /// The objective's terms beyond the reconstruction MSE, e.g. "L1 + AuxK";
  /// empty when the objective is the MSE alone (then the two differ only by rounding).
  std::string objective_terms = {};
  double data_scale = 1;  ///< the data was trained on divided by this (1: as it is)
  /// The losses (here and in the log) are the trained ones times this:
  /// data_scale², the data's units, unless that overflows or underflows a
  /// double (data_scale beyond about 1e154 or below 1e-154); then 1, the units
  /// of the data divided by data_scale.
  double loss_unit = 1;
  /// A classical learner's run (--method): its name and its coder's ("" and
  /// "" for the gradient learner); `epochs` then counts passes (online) or
  /// iterations, the losses are the coder's objective, last_l0 the last
  /// epoch's mean nonzero codes per sample.
  std::string method = {};
  std::string coder = {};
  double last_l0 = 0;
};

/// `dictlearn fit`: validates the job, reads the data (as float32 or float64:
/// job.dtype, else the --init/--resume model's, else float32), trains from a
/// new model, job.init or job.resume, and writes job.output (with the options
/// as train.<flag> metadata), the log and the checkpoints. Data of extreme
/// magnitude (root mean square above 1e10 or below 1e-10, computed without
/// overflow or underflow over the whole double range) is trained on divided by
/// its RMS and the model scaled back; data whose magnitude is subnormal in the
/// dtype is refused. Throws Error naming the file or flag.
FitSummary run_fit(const FitJob& job, const FitCallbacks& callbacks = {});

/// A training run on data in memory (fit_matrix()).
template <typename T>
struct FitResult {
  Model<T> model;      ///< the trained model, its metadata as run_fit records it
  FitSummary summary;  ///< what run_fit would report
};

/// run_fit on data already in memory, X (N x dim; a view whose rows are not
/// contiguous is copied once, a contiguous one never): the same computation
/// as run_fit on the data read from a file with --dtype T, bit for bit. The
/// gradient learner or, with job.learning, a classical one. job.data only
/// names the data in messages and metadata ("": "the data", none recorded);
/// `start` (else job.init or job.resume) is a model to continue: its encoder
/// and atoms for the gradient learner, its atoms for a classical one.
/// job.output, job.log and job.checkpoint are written when set (empty: not).
/// Throws Error naming the flag or value, with nothing written.
template <typename T>
FitResult<T> fit_matrix(const FitJob& job, MatrixView<std::type_identity_t<T>> X,
                        const FitCallbacks& callbacks = {}, const Model<T>* start = nullptr);

/// `dictlearn demo`: the seed's experiment in a folder.
struct DemoJob {
  std::string folder =
      "dictlearn-demo";     ///< written: data.npy, model.safetensors, log.csv, figures
  FitOptions options = {};  ///< training options (the seed's by default)
  bool quiet = false;       ///< no notes and no progress to the callbacks
};

/// What the demo did, for its printed summary.
struct DemoSummary {
  FitSummary fit = {};                          ///< the training run
  std::string data = {}, model = {}, log = {};  ///< the files written
  double seconds = 0;                           ///< training and saving, wall time
  TrainingLog training_log = {};                ///< the log as written
  Matrix<double> atoms = {};                    ///< the trained dictionary (n_atoms x 2)
  Metrics metrics = {};                         ///< of the trained model on the data
  PlotResult figures = {};                      ///< the figures written
};

/// `dictlearn demo`: toy data (two Gaussian clusters from options.seed),
/// training as run_fit, metrics and figures.
DemoSummary run_demo(const DemoJob& job, const FitCallbacks& callbacks = {});

/// `dictlearn encode`: the codes of `data` under `model` to `output`: .npy
/// or .csv dense, .npz sparse (CSR). In the model's dtype. Codes that are not
/// finite are never written: Error naming the model file, the row and the
/// likely cause (e.g. a temperature too small for the dtype). A plain atoms
/// file (is_atoms_file) has no encoder: Error saying to choose a coder
/// (the CodingOptions form below).
void run_encode(const std::string& model, const std::string& data, const std::string& output);

/// Whether `path` names the atoms of a plain dictionary (a .npy or .csv file,
/// n_atoms x dim, one atom per row) rather than a model file: by extension,
/// as the data files and outputs are told apart.
bool is_atoms_file(const std::string& path);

/// `dictlearn encode --coder`: the codes of `data` by the coder of `coding`
/// (sparse_encode) to `output` (.npy or .csv dense, .npz sparse CSR, a block
/// of rows at a time), over the dictionary in `dictionary`: a model file's
/// atoms and decoder bias (the coder codes x − b_dec), or a plain atoms file
/// (is_atoms_file; its dtype: a .npy's own, float64 for .csv). The data is
/// read in that dtype. Checks, each an Error naming the file or flag before
/// anything is written: the options (validate), the output path, an empty or
/// non-finite dictionary or data (the position named), a zero atom ("atom 3
/// is zero (norm 0)", counted from 0), n_nonzero above the atoms for a coder
/// that reads it, and the data's columns against the atoms' dimension.
void run_encode(const std::string& dictionary, const std::string& data, const std::string& output,
                const CodingOptions& coding);

/// `dictlearn reconstruct`: the reconstructions of `data` to `output` (.npy or .csv).
void run_reconstruct(const std::string& model, const std::string& data, const std::string& output);

/// What `dictlearn eval` prints.
struct EvalSummary {
  int64_t samples = 0;
  int64_t dim = 0;
  int n_atoms = 0;
  EncoderKind encoder = EncoderKind::softmax;  ///< the model's encoder (unused with a coder)
  Metrics metrics = {};
  /// The coder and its settings when a coder made the codes (eval --coder);
  /// none: the model's own encoder did.
  std::optional<CodingOptions> coding = {};
  /// With a coder that reads alpha: the lasso objective per sample,
  /// lasso_objective(metrics, alpha, l2), l2 counted when the coder reads it.
  std::optional<double> objective = {};
};

/// `dictlearn eval`: loss and code statistics of `model` on `data`. Throws
/// Error naming the model file, the row and the likely cause when the codes or
/// reconstructions are not finite (as run_encode and run_reconstruct do,
/// writing nothing); an MSE beyond double's range (data near 1e160) is inf,
/// the FVU finite. A plain atoms file is refused as by run_encode.
EvalSummary run_eval(const std::string& model, const std::string& data);

/// `dictlearn eval --coder`: the metrics of the codes of `coding`'s coder
/// (reconstructions R D + b_dec), with the residual, L0 (mean and max) and,
/// for a coder that reads alpha, the lasso objective. The dictionary and the
/// checks are run_encode's (above).
EvalSummary run_eval(const std::string& dictionary, const std::string& data,
                     const CodingOptions& coding);

/// `dictlearn plot`: figures of `data` with an optional model ("" for none)
/// and training log ("" for none) into `folder`. The atoms are also drawn as
/// images (atoms_grid.png) when the data are patches: `patch_shape` ("HxW",
/// H * W = the data's columns), else the model's recorded `train.patch-shape`;
/// a malformed or mismatched shape is an Error naming its flag (or the model
/// file and key) and value, before anything is written.
PlotResult run_plot(const std::string& data, const std::string& model, const std::string& log,
                    const std::string& folder, const std::string& patch_shape = {});

/// `dictlearn patches`: what to cut from which image, and where to write it.
struct PatchesJob {
  std::string image = {};   ///< PNG or PGM (read_image)
  std::string output = {};  ///< .npy or .csv; its geometry goes to OUTPUT + ".json"
  PatchOptions options = {};
  std::string dtype = "float32";  ///< "float32" or "float64" (.npy's values; CSV is text)
};

/// What `run_patches` wrote.
struct PatchesSummary {
  int64_t image_height = 0, image_width = 0;
  bool was_color = false;
  int64_t rows = 0, cols = 0, available = 0;
  int64_t zero_norm = 0;  ///< with normalize: flat patches left unscaled
  std::string sidecar;    ///< the geometry file written next to the output
};

/// The name of the geometry file next to a patches file: PATH + ".json",
/// {"patch_shape": "HxW", ...}; `fit` reads its patch_shape when given no
/// --patch-shape and records it as train.patch-shape, so `plot` draws the
/// atom grid.
std::string patches_sidecar(const std::string& patches_path);

/// Reads the patch shape ("HxW") from the sidecar of `data`; "" when there is
/// none. Throws Error naming the sidecar when it exists but is unreadable,
/// malformed, or its shape does not fit `dim` values per sample.
std::string read_patches_sidecar(const std::string& data, int64_t dim);

/// Reads the image, cuts the patches and writes them, then their sidecar,
/// each through the atomic writer; on an error neither is left behind.
PatchesSummary run_patches(const PatchesJob& job);

}  // namespace dictlearn
