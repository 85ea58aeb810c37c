// The presets of `dictlearn fit`: the table of the `sae` values and the rule
// that picks a preset when none is named.
#include "dictlearn/presets.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/check.hpp"
#include "dictlearn/encoders.hpp"
#include "dictlearn/parameters.hpp"

namespace dictlearn {
namespace {

/// Adam steps an `sae` run takes at least: enough for 64-256 atoms on 8x8
/// patches to settle (measured on digits and face patches, docs/RECIPES.md).
constexpr int64_t kSaeSteps = 6000;
/// Passes over the data an `sae` run makes while they cost at most
/// kSaeMostSteps steps: on 50,000-100,000 samples more passes kept improving
/// held-out FVU (face patches, 256 batchtopk atoms: 31 passes 0.0714, 64
/// passes 0.0683), and the cap keeps such runs within a minute on two cores.
constexpr int64_t kSaePasses = 64;
constexpr int64_t kSaeMostSteps = 20000;
constexpr int64_t kSaeBatch = 256;
/// An atom that fires on none of this many samples is dead (AuxK's rule):
/// one epoch, but no longer than this on big data, where an epoch may be the
/// whole run and AuxK would never start.
constexpr int64_t kSaeDeadAfter = 65536;

int sae_atoms(const DataShape& shape) {
  // Four atoms per dimension (an overcomplete dictionary, as patch
  // dictionaries and SAEs are), no more than the samples (so that
  // --init-dict data works too).
  return static_cast<int>(std::clamp<int64_t>(4 * shape.dim, 1, std::max<int64_t>(shape.rows, 1)));
}

int64_t batches_per_epoch(int64_t rows, int64_t batch) {
  if (batch <= 0 || batch >= rows) return 1;
  return (rows + batch - 1) / batch;
}

}  // namespace

const char* preset_name(Preset preset) { return preset == Preset::sae ? "sae" : "seed"; }

Preset choose_preset(const std::string& name, EncoderKind encoder) {
  if (name == "seed") return Preset::seed;
  if (name == "sae") return Preset::sae;
  DICTLEARN_CHECK(name == "auto" || name.empty(), "--preset: must be auto, seed or sae, got '{}'",
                  name);
  return encoder == EncoderKind::softmax ? Preset::seed : Preset::sae;
}

const std::vector<PresetRow>& preset_table() {
  static const std::vector<PresetRow> table = {
      {"atoms", "4 x dim, at most N", "overcomplete by 4, as patch dictionaries and small SAEs",
       [](FitOptions& o, const DataShape& s) {
         o.n_atoms = sae_atoms(s);
         return true;
       }},
      {"k", "round(dim / 10), in [1, 32] and at most the atoms (topk, batchtopk)",
       "scikit-learn's OMP default (10% of dim); sparsify's k = 32 as the ceiling",
       [](FitOptions& o, const DataShape& s) {
         if (!encoder_traits(o.encoder.kind).needs_k) return false;
         const int k = static_cast<int>(std::clamp<int64_t>((s.dim + 5) / 10, 1, 32));
         o.encoder.k = std::min(k, std::max(o.n_atoms, 1));
         return true;
       }},
      {"batch-size", "256", "SAE practice; measured on digits and face patches",
       [](FitOptions& o, const DataShape&) {
         o.batch_size = kSaeBatch;
         return true;
       }},
      {"epochs",
       "at least 6,000 steps; up to 64 passes while they stay within 20,000 steps; at least 1",
       "short runs on small data overfit less (digits), passes over plentiful data help "
       "(face patches, synth: docs/RECIPES.md); one pass over big data",
       [](FitOptions& o, const DataShape& s) {
         const int64_t per_epoch = batches_per_epoch(s.rows, o.batch_size);
         const int64_t least = (kSaeSteps + per_epoch - 1) / per_epoch;
         const int64_t passes = std::min<int64_t>(kSaePasses, kSaeMostSteps / per_epoch);
         o.epochs = static_cast<int>(std::max<int64_t>({1, least, passes}));
         return true;
       }},
      {"lr", "2e-4 / sqrt(atoms / 2^14), at most 1e-2 (64 atoms: 3.2e-3; 256: 1.6e-3)",
       "sparsify's rule",
       [](FitOptions& o, const DataShape&) {
         o.adam.lr = std::min(1e-2, 2e-4 / std::sqrt(std::max(o.n_atoms, 1) / 16384.0));
         return true;
       }},
      {"lr-decay", "0.2", "linear decay over the last 20% of steps, as dictionary_learning",
       [](FitOptions& o, const DataShape&) {
         o.lr_decay = 0.2;
         return true;
       }},
      {"init-dict", "uniform",
       "random atoms, unit-normalized: 1.7-7% better held-out FVU than samples on face "
       "patches, within 2.2% on digits (docs/RECIPES.md)",
       [](FitOptions& o, const DataShape&) {
         o.dictionary_init = DictionaryInit::uniform;
         return true;
       }},
      {"unit-atoms", "true", "unit-norm atoms (OpenAI, sparsify, dictionary_learning)",
       [](FitOptions& o, const DataShape&) {
         o.unit_atoms = true;
         return true;
       }},
      {"tied", "true", "encoder starts as the dictionary (OpenAI's tied start)",
       [](FitOptions& o, const DataShape&) {
         o.tied = true;
         return true;
       }},
      {"decoder-bias", "mean", "the data's mean as decoder bias, trained",
       [](FitOptions& o, const DataShape&) {
         o.decoder_bias = DecoderBiasInit::mean;
         return true;
       }},
      {"auxk", "0.125 (topk, batchtopk)", "AuxK for dead atoms; 1/8 measured on face patches",
       [](FitOptions& o, const DataShape&) {
         if (!encoder_traits(o.encoder.kind).selects_top_k) return false;
         o.auxk = 0.125;
         return true;
       }},
      {"auxk-k", "k (topk, batchtopk)",
       "the default dim/2 made AuxK one dense fit that kept dead atoms just below the k-th "
       "(digits, 256 atoms: 14% dead by the log, 1.6% with k; docs/TRAINING.md)",
       [](FitOptions& o, const DataShape&) {
         if (!encoder_traits(o.encoder.kind).selects_top_k) return false;
         o.auxk_k = std::max(o.encoder.k, 1);
         return true;
       }},
      {"resample-every",
       "1/12 of the run's steps (500 of 6,000): six resamplings in its first half",
       "dead atoms restarted at badly reconstructed samples; digits 256 topk: 1.6% to 0.4% dead",
       [](FitOptions& o, const DataShape& s) {
         const int64_t steps = int64_t{o.epochs} * batches_per_epoch(s.rows, o.batch_size);
         o.resample_every = std::max<int64_t>(1, steps / 12);
         return true;
       }},
      {"resample-scale", "1",
       "at Anthropic's 0.2 restarted atoms rarely reach the top k and die again",
       [](FitOptions& o, const DataShape&) {
         o.resample_scale = 1;
         return true;
       }},
      {"dead-after", "one epoch, at most 65,536 samples",
       "so AuxK starts within a run that is one pass over big data",
       [](FitOptions& o, const DataShape& s) {
         o.dead_after = std::clamp<int64_t>(s.rows, 1, kSaeDeadAfter);
         return true;
       }},
  };
  return table;
}

std::vector<std::string> apply_preset(Preset preset, FitOptions& options,
                                      const std::set<std::string>& given, const DataShape& shape) {
  std::vector<std::string> applied;
  if (preset == Preset::seed) return applied;
  for (const PresetRow& row : preset_table()) {
    if (given.count(row.flag) == 0 && row.apply(options, shape)) applied.push_back(row.flag);
  }
  return applied;
}

namespace {

/// Each row of the table with its option's value under the seed's preset.
std::vector<std::pair<const PresetRow*, std::string>> rows_with_seed_values() {
  const FitOptions seed;
  std::vector<std::pair<const PresetRow*, std::string>> rows;
  for (const PresetRow& row : preset_table()) {
    const auto* parameter = find_parameter(fit_parameters(), row.flag);
    DICTLEARN_CHECK(parameter != nullptr, "preset row {} names no fit option", row.flag);
    rows.emplace_back(&row, parameter_value(*parameter, seed));
  }
  return rows;
}

}  // namespace

std::string presets_markdown() {
  std::string text =
      "| option | `seed` | `sae` | why |\n"
      "|---|---|---|---|\n";
  for (const auto& [row, seed] : rows_with_seed_values()) {
    fmt::format_to(std::back_inserter(text), "| `--{}` | `{}` | {} | {} |\n", row->flag, seed,
                   row->sae, row->why);
  }
  return text;
}

std::string presets_help() {
  std::string text =
      "Presets (--preset; auto: sae for an encoder other than softmax, else seed; a flag given "
      "overrides its row):\n";
  for (const auto& [row, seed] : rows_with_seed_values()) {
    fmt::format_to(std::back_inserter(text), "  --{:<14} seed: {:<9} sae: {}\n", row->flag, seed,
                   row->sae);
  }
  return text;
}

}  // namespace dictlearn
