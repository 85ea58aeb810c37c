// dictlearn: what a command does end to end, for the CLI and (later) the
// Python package: read the files, train or apply a model, write the results.
// The CLI only parses, calls one of these and prints what it returns.
#pragma once

#include <set>
#include <string>

#include "dictlearn/trainer.hpp"

namespace dictlearn {

/// A training run as `dictlearn fit` describes it: files, schedule and the
/// training options. Its rows are fit_job_parameters() (dictlearn/parameters.hpp).
struct FitJob {
  std::string data;           ///< training data (.npy or .csv), one sample per row
  std::string output;         ///< model file to write (.safetensors)
  FitOptions options = {};    ///< the training settings (fit_parameters())
  std::string init;           ///< start from this model's parameters; "": a new model
  std::string log;            ///< training log to write (CSV); "": none
  std::string checkpoint;     ///< checkpoint written as training goes; "": none
  int checkpoint_every = 10;  ///< epochs between checkpoints (and the last epoch)
  std::string resume;         ///< checkpoint to continue; "": start anew
  std::string dtype;       ///< "float32", "float64", or "": float32, or the --init/--resume model's
  int snapshot_every = 0;  ///< epochs between atom snapshots in the log; 0: about 200 per run
  bool quiet = false;      ///< no notes and no progress to the callbacks
  std::set<std::string> given;  ///< flags given explicitly ("encoder", "k", ...): with --init
                                ///< they replace the model's own settings
};

/// Checks the job's options and its own fields; errors name the flag.
void validate(const FitJob& job);

}  // namespace dictlearn
