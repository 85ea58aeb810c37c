// dictlearn: presets, named sets of training defaults. `seed` is the blog
// post's loop (FitOptions' own defaults: 2 atoms, U[0,1) atoms, full batch,
// 10,000 epochs, lr 1e-3). `sae` is what sparse-autoencoder practice uses
// on real data (OpenAI's top-k SAEs, sparsify, dictionary_learning): random
// atoms, unit-norm and tied, the data's mean as decoder bias, batches
// of 256 for 6,000-20,000 steps, a learning rate scaled to the atom count,
// linear decay over the last 20%, AuxK for dead atoms. The preset only fills
// the options a run does not set itself (FitJob::given); each row of
// preset_table() states its rule, and docs/OPTIONS.md and `fit --help` show
// the table.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "dictlearn/trainer.hpp"

namespace dictlearn {

/// A named set of defaults for `dictlearn fit`.
enum class Preset {
  seed,  ///< FitOptions' defaults: the seed's toy loop, exactly
  sae,   ///< sparse-autoencoder practice, sized from the data
};

/// "seed" or "sae".
const char* preset_name(Preset preset);

/// The preset a run gets: "seed" or "sae" as named; "auto" (the default):
/// `sae` for an encoder other than softmax, `seed` for softmax (so a plain
/// `dictlearn fit DATA -o M` is the seed's loop). Throws Error naming
/// --preset for another name.
Preset choose_preset(const std::string& name, EncoderKind encoder);

/// The shape of the training data, which some of a preset's values follow.
struct DataShape {
  int64_t rows = 0;  ///< N samples
  int64_t dim = 0;   ///< values per sample
};

/// One row of the preset table: a training option and its value under each
/// preset. `apply` sets the `sae` value, given the data's shape and the
/// options chosen so far (rows apply in table order: atoms before k and lr),
/// and returns true; false, setting nothing, where the option does not act on
/// the encoder (k, AuxK for encoders that do not select the top k).
struct PresetRow {
  std::string flag;  ///< the fit option's flag, a row of fit_parameters()
  std::string sae;   ///< the `sae` value or its rule, as docs and --help state it
  std::string why;   ///< where the value comes from (measurement or practice)
  bool (*apply)(FitOptions& options, const DataShape& shape);
};

/// The options the `sae` preset sets, in the order they are applied. Every
/// other option keeps FitOptions' default under both presets.
const std::vector<PresetRow>& preset_table();

/// Gives every option of `preset` that is not in `given` (flags, as
/// FitJob::given holds them) its preset value for data of `shape`. `seed`
/// changes nothing: FitOptions' defaults are the seed's. With `given` empty
/// every row applies. Returns the flags it set, in table order (what a run
/// prints as the preset's choice).
std::vector<std::string> apply_preset(Preset preset, FitOptions& options,
                                      const std::set<std::string>& given, const DataShape& shape);

/// The table as Markdown (docs/OPTIONS.md) and as plain lines (`fit --help`).
std::string presets_markdown();
std::string presets_help();

}  // namespace dictlearn
