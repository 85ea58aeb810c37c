// BatchDictionaryLearner (batch_learning.hpp): one iteration per epoch --
// the codes of all signals, their objective, then the method's dictionary
// stage (ksvd.cpp, mod.cpp, alternating.cpp) -- and its checkpoint state.
#include <cmath>
#include <sstream>

#include "core/check.hpp"
#include "core/data_shape.hpp"
#include "core/finite.hpp"
#include "dictlearn/batch_learning.hpp"
#include "dictlearn/coders.hpp"
#include "learners/batch/alternating.hpp"
#include "learners/batch/clearing.hpp"
#include "learners/batch/codes.hpp"
#include "learners/batch/ksvd.hpp"
#include "learners/batch/mod.hpp"
#include "learners/checkpoint_fields.hpp"

namespace dictlearn {
namespace {

const char* method_name(LearningMethod method) {
  switch (method) {
    case LearningMethod::online:
      return "online";
    case LearningMethod::alternating:
      return "alternating";
    case LearningMethod::mod:
      return "mod";
    case LearningMethod::ksvd:
      return "ksvd";
  }
  return "?";
}

/// The resampling's generator starts from its own stream of the seed (the
/// initialization draws from the seed itself).
constexpr uint64_t kResampleStream = 0x9e3779b97f4a7c15ULL;

}  // namespace

template <typename T>
BatchDictionaryLearner<T>::BatchDictionaryLearner(Matrix<T> atoms, const LearningOptions& options)
    : options_(options),
      loop_(options.seed),
      epochs_to_run_(options.epochs),
      random_(options.seed ^ kResampleStream) {
  model_.dictionary = std::move(atoms);
  const LearningMethod method = options.method;
  DICTLEARN_CHECK(method == LearningMethod::alternating || method == LearningMethod::mod ||
                      method == LearningMethod::ksvd,
                  "--method {}: not a batch learner (alternating, mod or ksvd)",
                  method_name(method));
  validate_dictionary(model_, "initial atoms");
  DICTLEARN_CHECK(options.n_atoms == 0 || options.n_atoms == model_.n_atoms(),
                  "--atoms {}: the initial dictionary has {} atoms", options.n_atoms,
                  model_.n_atoms());
  DICTLEARN_CHECK(!options.positive_dict || method == LearningMethod::alternating,
                  "--positive-dict: --method {} keeps no sign constraint on the atoms (alternating "
                  "and online do)",
                  method_name(method));
  DICTLEARN_CHECK(options.epochs >= 0, "--epochs: must be >= 0, got {}", options.epochs);
  DICTLEARN_CHECK(std::isfinite(options.max_seconds) && options.max_seconds >= 0,
                  "--max-seconds: must be >= 0 and finite, got {}", options.max_seconds);
  validate(options.coding);
}

template <typename T>
const Model<T>& BatchDictionaryLearner<T>::model() const {
  return model_;
}
template <typename T>
Model<T> BatchDictionaryLearner<T>::release_model() {
  previous_codes_ = {};
  return std::move(model_);
}
template <typename T>
void BatchDictionaryLearner<T>::set_epochs(int epochs) {
  epochs_to_run_ = epochs;
}
template <typename T>
const std::vector<double>& BatchDictionaryLearner<T>::losses() const {
  return loop_.losses();
}
template <typename T>
bool BatchDictionaryLearner<T>::stopped_early() const {
  return loop_.stopped_early();
}
template <typename T>
int64_t BatchDictionaryLearner<T>::iterations() const {
  return iterations_;
}
template <typename T>
void BatchDictionaryLearner<T>::set_batch_progress(
    std::function<void(const BatchProgress&)> progress, double interval_seconds) {
  loop_.set_batch_progress(std::move(progress), interval_seconds);
}

template <typename T>
void BatchDictionaryLearner<T>::fit(const DataSource<T>& data, const Observer& observer) {
  loop_.run(*this, data, epochs_to_run_, observer);
}
template <typename T>
void BatchDictionaryLearner<T>::fit(MatrixView<T> X, const Observer& observer) {
  fit(MatrixSource<T>(X), observer);
}

template <typename T>
EpochLoopOptions BatchDictionaryLearner<T>::loop_options() const {
  return {.batch_size = 0, .patience = 0, .threads = options_.threads, .shuffle = false};
}

template <typename T>
void BatchDictionaryLearner<T>::begin_fit(const DataSource<T>& data, int64_t batch_rows) {
  detail::check_data_shape(model_.dim(), data.rows(), data.dim(), "data");
  DICTLEARN_CHECK(batch_rows == data.rows(),
                  "BatchDictionaryLearner: batches of {} rows, the batch learners take all {}",
                  batch_rows, data.rows());
  check_finite(data);
  // The codes of other data (another number of rows) are no previous codes.
  if (previous_codes_.rows() != data.rows()) previous_codes_ = {};
  atoms_replaced_ = 0;
  fit_start_ = std::chrono::steady_clock::now();
  fitting_ = true;
}

template <typename T>
void BatchDictionaryLearner<T>::end_fit() {
  seconds_before_ = seconds_spent();
  fitting_ = false;
}

template <typename T>
double BatchDictionaryLearner<T>::seconds_spent() const {
  if (!fitting_) return seconds_before_;
  return seconds_before_ +
         std::chrono::duration<double>(std::chrono::steady_clock::now() - fit_start_).count();
}

template <typename T>
bool BatchDictionaryLearner<T>::finished() const {
  return options_.max_seconds > 0 && seconds_spent() >= options_.max_seconds;
}

template <typename T>
BatchStats BatchDictionaryLearner<T>::step(const Batch<T>& batch) {
  const int64_t n = batch.rows, d = batch.dim, K = model_.n_atoms();
  DICTLEARN_ASSERT(batch.index == nullptr);
  const Eigen::Map<const Matrix<T>> data(batch.data, n, d);
  const MatrixView<T> X(data);
  const int threads = options_.threads;
  CodingOptions coding = options_.coding;
  coding.threads = threads;
  const detail::CodeObjective objective = detail::code_objective(coding);

  Matrix<T> R = sparse_encode<T>(model_, X, coding);
  Matrix<T> E;
  detail::residual<T>(X, R, model_.dictionary, E, threads);
  std::vector<double> objectives;
  detail::signal_objectives(E, R, objective, objectives, threads);
  if (options_.keep_better_codes && previous_codes_.rows() == n && previous_codes_.cols() == K) {
    // A signal keeps its previous code where that is strictly better under
    // the current atoms: no iteration then increases the objective.
    Matrix<T> previous_residual;
    detail::residual<T>(X, previous_codes_, model_.dictionary, previous_residual, threads);
    std::vector<double> previous;
    detail::signal_objectives(previous_residual, previous_codes_, objective, previous, threads);
    for (int64_t i = 0; i < n; ++i) {
      if (previous[i] < objectives[i]) {
        R.row(i) = previous_codes_.row(i);
        E.row(i) = previous_residual.row(i);
        objectives[i] = previous[i];
      }
    }
  }
  BatchStats stats;
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    total += objectives[i];
    stats.squared_error += E.row(i).template cast<double>().squaredNorm();
  }
  stats.objective = total / static_cast<double>(n);
  stats.nonzero = static_cast<double>((R.array() != T(0)).count());
  DICTLEARN_CHECK(std::isfinite(stats.objective),
                  "training: objective is {} at epoch {} (--method {}, --coder {})",
                  stats.objective, batch.epoch, method_name(options_.method),
                  coder_name(coding.method));

  Matrix<T> atoms = model_.dictionary;
  int64_t replaced = 0;
  std::vector<char> taken, replaced_atoms;  // signals made atoms, atoms replaced
  // K-SVD and MOD clear duplicate and rarely used atoms as ksvdbox does; it
  // drops codes, so it is off where the objective must not rise.
  const bool clearing = options_.method != LearningMethod::alternating &&
                        options_.resample_unused && !options_.keep_better_codes;
  switch (options_.method) {
    case LearningMethod::ksvd:
      replaced = detail::ksvd_stage<T>(X, atoms, R, E, options_.approximate, taken, replaced_atoms);
      break;
    case LearningMethod::mod:
      replaced = detail::mod_stage<T>(X, atoms, R, E, threads, taken, replaced_atoms);
      // The residual of the new atoms, for the clearing's worst signals.
      if (clearing) detail::residual<T>(X, R, atoms, E, threads);
      break;
    case LearningMethod::alternating:
      replaced = detail::bcd_stage<T>(X, atoms, R,
                                      {.positive = options_.positive_dict,
                                       .unit_norm = options_.unit_norm,
                                       .resample = options_.resample_unused},
                                      random_, threads);
      break;
    case LearningMethod::online:
      break;
  }
  if (clearing) replaced += detail::clear_atoms<T>(X, atoms, R, E, taken, replaced_atoms);
  DICTLEARN_CHECK(detail::all_finite(atoms.data(), atoms.size()),
                  "training: the {} update made non-finite atoms at epoch {}",
                  method_name(options_.method), batch.epoch);
  model_.dictionary = std::move(atoms);
  atoms_replaced_ += replaced;
  if (options_.keep_better_codes) previous_codes_ = std::move(R);
  ++iterations_;
  return stats;
}

template <typename T>
EpochStats BatchDictionaryLearner<T>::end_epoch(const EpochTotals& totals) {
  EpochStats stats = summarize(totals);
  stats.atoms_replaced = atoms_replaced_;
  atoms_replaced_ = 0;
  return stats;
}

template <typename T>
Settings BatchDictionaryLearner<T>::settings() const {
  // The table's resume_must_match rows (learning and coding), as the online learner's.
  return learning_settings(options_);
}

template <typename T>
void BatchDictionaryLearner<T>::save_state(TensorFile& file) const {
  using detail::tensor_of;
  const int64_t K = model_.n_atoms(), d = model_.dim();
  file.tensors["dictionary"] = tensor_of(model_.dictionary, {K, d});
  for (const auto& [key, value] : model_.metadata) file.metadata.emplace(key, value);
  file.metadata["dtype"] = sizeof(T) == 4 ? "float32" : "float64";
  file.metadata["batch.iterations"] = std::to_string(iterations_);
  file.metadata["batch.seconds"] = fmt::format("{}", seconds_spent());
  std::ostringstream engine;
  engine << random_;
  file.metadata["batch.random_state"] = engine.str();
  if (options_.keep_better_codes && previous_codes_.size() > 0) {
    file.tensors["batch.codes"] = tensor_of(previous_codes_, {previous_codes_.rows(), K});
  }
}

template <typename T>
void BatchDictionaryLearner<T>::load_state(const TensorFile& file, const std::string& path) {
  using detail::parse_number;
  const int64_t K = model_.n_atoms(), d = model_.dim();
  const auto atoms = file.tensors.find("dictionary");
  DICTLEARN_CHECK(atoms != file.tensors.end(), "{}: checkpoint lacks tensor 'dictionary'", path);
  DICTLEARN_CHECK(atoms->second.shape == (std::vector<int64_t>{K, d}),
                  "{}: checkpoint's dictionary is not {} atoms of dimension {} (this run's)", path,
                  K, d);
  Matrix<T> dictionary(K, d);
  detail::fill(dictionary, detail::require(file, "dictionary", static_cast<size_t>(K * d), path));
  DICTLEARN_CHECK(detail::all_finite(dictionary.data(), dictionary.size()),
                  "{}: checkpoint's dictionary holds non-finite values", path);
  const int64_t iterations = parse_number<int64_t>(file, "batch.iterations", path);
  DICTLEARN_CHECK(iterations >= 0, "{}: checkpoint metadata 'batch.iterations' is negative", path);
  const double seconds = parse_number<double>(file, "batch.seconds", path);
  std::mt19937_64 random;
  std::istringstream engine(detail::meta(file, "batch.random_state", path));
  engine >> random;
  DICTLEARN_CHECK(!engine.fail(), "{}: checkpoint's 'batch.random_state' is unreadable", path);
  Matrix<T> codes;
  if (options_.keep_better_codes) {
    const auto saved = file.tensors.find("batch.codes");
    if (saved != file.tensors.end()) {
      const std::vector<int64_t>& shape = saved->second.shape;
      DICTLEARN_CHECK(shape.size() == 2 && shape[0] >= 0 && shape[1] == K,
                      "{}: checkpoint tensor 'batch.codes' is not N x {} codes", path, K);
      codes.resize(shape[0], K);
      detail::fill(codes,
                   detail::require(file, "batch.codes", static_cast<size_t>(codes.size()), path));
      DICTLEARN_CHECK(detail::all_finite(codes.data(), codes.size()),
                      "{}: checkpoint tensor 'batch.codes' holds non-finite values", path);
    }
  }
  model_.dictionary = std::move(dictionary);
  iterations_ = iterations;
  seconds_before_ = seconds;
  random_ = random;
  previous_codes_ = std::move(codes);
}

template <typename T>
void BatchDictionaryLearner<T>::save_checkpoint(const std::string& path, const DataSource<T>& data,
                                                const TensorFile& extra) const {
  dictlearn::save_checkpoint(path, *this, loop_, data, extra);
}
template <typename T>
void BatchDictionaryLearner<T>::save_checkpoint(const std::string& path, MatrixView<T> X,
                                                const TensorFile& extra) const {
  save_checkpoint(path, MatrixSource<T>(X), extra);
}
template <typename T>
TensorFile BatchDictionaryLearner<T>::load_checkpoint(const std::string& path,
                                                      const DataSource<T>& data) {
  return dictlearn::load_checkpoint(path, *this, loop_, data);
}
template <typename T>
TensorFile BatchDictionaryLearner<T>::load_checkpoint(const std::string& path, MatrixView<T> X) {
  return load_checkpoint(path, MatrixSource<T>(X));
}

template class BatchDictionaryLearner<float>;
template class BatchDictionaryLearner<double>;

}  // namespace dictlearn
