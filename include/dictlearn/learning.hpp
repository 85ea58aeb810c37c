// dictlearn: the classical dictionary learners' shared settings. They learn
// the atoms D (n_atoms x dim) of X ≈ R D by alternating a sparse-coding step
// (a coder of coders.hpp, with no encoder network) with a dictionary step:
//
//   online       Mairal, Bach, Ponce, Sapiro (JMLR 2010): per mini-batch, codes,
//                then the sufficient statistics A = Σ rᵀr, B = Σ xᵀr (with a
//                forgetting schedule) and block coordinate descent over the
//                atoms, warm from the last D (online.hpp)
//   alternating  codes of the whole data, then the same block coordinate
//                descent on its A and B (scikit-learn's DictionaryLearning)
//   mod          codes, then D = (RᵀR)⁻¹ RᵀX (Engan, Aase, Husøy 1999)
//   ksvd         codes, then each atom and its codes from the first singular
//                pair of the atom's restricted residual (Aharon, Elad,
//                Bruckstein 2006), or approximately by one power step
//                (Rubinstein, Zibulevsky, Elad 2008)
//
// The objective of every method is that of its coder: for the lasso coders
// mean over the signals of ½‖x − rD‖² + α‖r‖₁, for omp the residual at L atoms.
// Atoms stay in the unit ball ‖d‖ ≤ 1 (or on the sphere, unit_norm).
//
// Every member of LearningOptions is a row of learning_parameters()
// (parameters.hpp), which gives its flag, check, help and metadata key; the
// flags `fit` shares with the gradient learner (--atoms, --epochs,
// --batch-size, --seed, --threads) come from FitOptions' table.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dictlearn/coders.hpp"
#include "dictlearn/learner.hpp"
#include "dictlearn/model.hpp"

namespace dictlearn {

/// The classical learners (the gradient learner is Trainer, trainer.hpp).
enum class LearningMethod {
  online,       ///< online dictionary learning, mini-batches (OnlineDictionaryLearner)
  alternating,  ///< codes of all the data, then BCD on the atoms (BatchDictionaryLearner)
  mod,          ///< codes, then the least-squares dictionary (BatchDictionaryLearner)
  ksvd,         ///< codes, then atom by atom SVD updates (BatchDictionaryLearner)
};

/// "online", "alternating", "mod", "ksvd".
const char* learning_method_name(LearningMethod method);

/// How the online learner weighs its past statistics A and B (β per step t,
/// counted from 0, for batches of b samples; A ← β A + rᵀr / b, the same for B).
enum class Forgetting {
  /// SPAMS's trainDL default (Mairal et al. 2010, §3.4; its automatic
  /// weighting, dicts.h train()): β = (m + 1 − b) / (m + 1) with m =
  /// min(2N, t·b) for t < b, else min(2N, b² + t − b), b the nominal batch
  /// size and N the data's rows (β = 1 − b at t = 0, as there). A and B are
  /// the sum of three parts, each faded by β every step: t0's start t0·I and
  /// t0·D0 (t0 = 1e-5), kept only while t·b < 10,000; the previous epoch's
  /// statistics; this epoch's, to which the batch is added. When the samples
  /// stepped on after a batch reach the next multiple of N, this epoch's
  /// become the previous ones and the previous ones are dropped (a window of
  /// two epochs). partial_fit() before any fit has no N: no cap, no window.
  spams,
  /// scikit-learn's MiniBatchDictionaryLearning: θ = (t + 1)·b for t < b − 1,
  /// else b² + t + 1 − b; β = (θ + 1 − b) / (θ + 1), b the batch's rows (the
  /// last batch of an epoch may be short); A and B start at 0.
  sklearn,
  /// The default: `spams` with its horizon capped, m = min(spams's m,
  /// memory samples), so that once the cap is reached β = (M + 1 − b) /
  /// (M + 1) every step, an exponential forgetting of time constant about
  /// M / b steps (SPAMS's fixed-β mode, modeParam=2, with ρ = that β); the
  /// same three parts, window and t0 as `spams`. SPAMS's own m grows past
  /// b² samples (40,000 for b = 200), which holds codes of atoms long since
  /// changed; a memory of some thousands of samples fits the current atoms
  /// and reached a lower objective on every workload measured
  /// (docs/LEARNING.md).
  capped,
};

/// "spams", "sklearn", "capped".
const char* forgetting_name(Forgetting forgetting);

/// How the first dictionary is made when no initial atoms are given.
enum class AtomInit {
  samples,  ///< distinct random samples, scaled to unit norm (SPAMS's default)
  svd,      ///< the top right singular vectors of X scaled by their singular values,
            ///< then into the unit ball (scikit-learn's default)
};

/// "samples", "svd".
const char* atom_init_name(AtomInit init);

/// Settings of a classical learner. Defaults: online learning with the lasso
/// coded by LARS at α = 1 and SPAMS's schedule.
struct LearningOptions {
  LearningMethod method = LearningMethod::online;  ///< the learner (--method)
  int n_atoms = 0;  ///< atoms; 0: those of the initial dictionary (--atoms)
  /// The coding step: coder and its settings (--coder, --alpha, --n-nonzero,
  /// --max-error, --l2, --positive, --max-iter, --coder-tol; coding_parameters()).
  CodingOptions coding = {.method = CoderKind::lasso_lars, .alpha = 1.0};
  int epochs = 10;  ///< online: passes over the data; the batch methods: iterations (--epochs)
  int64_t batch_size = 256;  ///< online: signals per step (--batch-size)
  int64_t max_steps = 0;     ///< online: stop after this many steps in all; 0: no limit
  double max_seconds = 0;    ///< stop after this much wall time (SPAMS's negative iter); 0: none
  Forgetting forgetting = Forgetting::capped;  ///< online: how past statistics fade
  /// online with the capped schedule: the most samples its weighting counts
  /// (M above); 0: the larger of 5,000 and 20 per atom (--memory).
  int64_t memory = 0;
  bool shuffle = true;  ///< online: a new order of the samples every pass (else in file order)
  /// online: stop when ‖D_new − D_old‖_F / n_atoms <= dict_tol after a step
  /// (scikit-learn's tol); 0: off (--dict-tol).
  double dict_tol = 0;
  /// online: stop after this many steps without improvement of the smoothed
  /// batch cost (scikit-learn's max_no_improvement); 0: off.
  int max_no_improvement = 0;
  bool positive_dict = false;  ///< atoms >= 0 (--positive-dict)
  bool unit_norm = false;      ///< ‖d‖ = 1 for every atom, not only ≤ 1 (--unit-norm)
  /// online and alternating: an atom with A_kk <= 1e-6 (unused) becomes a
  /// random sample of the batch plus 1% noise, as scikit-learn does (online
  /// with SPAMS's schedule: once t·b >= 10,000, when SPAMS cleans); false:
  /// it is left as it is (--no-resample-unused)
  bool resample_unused = true;
  AtomInit init = AtomInit::samples;  ///< the first dictionary, when none is given (--init-atoms)
  bool approximate = false;  ///< ksvd: Rubinstein et al.'s approximate update (--approximate)
  /// ksvd: a signal whose new code is worse than its previous one keeps the
  /// previous one, so that no iteration increases the objective (--keep-better-codes)
  bool keep_better_codes = false;
  uint64_t seed = 0;  ///< seeds the initialization, the shuffles and the resampling (--seed)
  int threads = 0;    ///< worker threads; 0: all cores; results do not depend on it (--threads)
};

/// Checks the options; errors name the flag ("--alpha: ...", "--method ksvd:
/// omp needs --n-nonzero or --max-error").
void validate(const LearningOptions& options);

/// The memory M the capped schedule uses for `n_atoms` atoms: options.memory,
/// or when that is 0, max(5,000, 20·n_atoms).
int64_t capped_memory(const LearningOptions& options, int64_t n_atoms);

/// The settings a resumed run must share with its checkpoint (Learner::settings()):
/// the rows of learning_parameters() and coding_parameters() marked
/// resume_must_match, as "train.<flag>" keys without the prefix.
Settings learning_settings(const LearningOptions& options);

/// What the online learner reports after every step (set_step_observer).
struct StepStats {
  int64_t step = 0;            ///< steps done so far, this one included
  double batch_cost = 0;       ///< the batch's objective with its codes, before the update
  double smoothed_cost = 0;    ///< scikit-learn's exponentially weighted average of it
  double nonzero = 0;          ///< mean nonzero codes per signal of the batch
  int64_t atoms_replaced = 0;  ///< unused atoms replaced in this step
  double seconds = 0;          ///< wall time since fit() or the first partial_fit()
};

/// One call: learns a dictionary from X (N x dim) with options.method,
/// starting from `atoms` (n_atoms x dim) or, when null, from
/// initial_atoms(X, options.n_atoms, options.init, options.seed). Returns a
/// model with the atoms and no encoder, its metadata naming the method, the
/// coder and their settings (so encode() of the workflows codes with them);
/// `losses` (if not null) receives each epoch's objective.
template <typename T>
Model<T> learn_dictionary(MatrixView<std::type_identity_t<T>> X, const LearningOptions& options,
                          const Matrix<T>* atoms = nullptr, std::vector<double>* losses = nullptr);

/// The first dictionary (n_atoms x dim) from X by `init` and `seed`; throws
/// Error naming --atoms when X has fewer distinct rows than atoms to draw.
template <typename T>
Matrix<T> initial_atoms(MatrixView<std::type_identity_t<T>> X, int n_atoms, AtomInit init,
                        uint64_t seed);

}  // namespace dictlearn
