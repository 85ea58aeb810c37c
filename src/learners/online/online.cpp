// OnlineDictionaryLearner (include/dictlearn/online.hpp): the Learner around
// the step of online_step.hpp, its convergence tests and its checkpoint state.
#include "dictlearn/online.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <sstream>

#include "core/check.hpp"
#include "core/contiguous.hpp"
#include "core/finite.hpp"
#include "learners/checkpoint_fields.hpp"
#include "learners/online/online_step.hpp"

namespace dictlearn {

namespace detail {

/// The learner's state and workspaces.
template <typename T>
struct OnlineState {
  OnlineState(Matrix<T> atoms, const LearningOptions& learning)
      : options(learning),
        epochs(learning.epochs),
        loop(learning.seed),
        coder(learning.coding, atoms.rows(), atoms.cols()),
        // Its own stream, apart from the shuffle's (seeded with the same seed).
        engine(learning.seed ^ 0x9e3779b97f4a7c15ULL) {
    stats.reset(options.forgetting, atoms);
    model.dictionary = std::move(atoms);
  }

  LearningOptions options;
  Model<T> model;
  int epochs;
  EpochLoop loop;
  BatchCoder<T> coder;
  CodedBatch<T> coded;
  SufficientStatistics<T> stats;
  int64_t steps = 0;        ///< steps done
  int64_t samples = 0;      ///< samples stepped on
  int64_t window_rows = 0;  ///< N of the last fit (SPAMS's cap and window); 0: none yet
  // scikit-learn's _check_convergence.
  double ewa = 0, ewa_min = 0;
  bool has_ewa = false, has_min = false;
  int64_t no_improvement = 0;
  bool converged = false;
  std::mt19937_64 engine;         ///< the resampling's draws
  int64_t replaced_in_epoch = 0;  ///< atoms resampled since the epoch began

  // Not state.
  bool in_fit = false;
  bool started = false;
  std::chrono::steady_clock::time_point start;
  std::function<void(const StepStats&)> step_observer;
  std::vector<int64_t> first_rows;  ///< 0 ... N − 1: a whole-data batch's samples
  bool cache_restored = false;      ///< the coder's support cache came from a checkpoint
  Matrix<T> previous;               ///< D before the step (dict_tol)

  int64_t nominal_batch() const {
    return window_rows > 0 ? std::min(options.batch_size, window_rows) : options.batch_size;
  }
  double seconds() const {
    return started ? std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()
                   : 0.0;
  }
  void start_clock() {
    start = std::chrono::steady_clock::now();
    started = true;
  }

  /// One step on the batch's signals X.
  BatchStats run_step(const BatchRows<T>& X, int epoch, const int64_t* sample_rows = nullptr) {
    const int64_t rows = X.rows;
    coder.code(model, X, options.threads, coded, sample_rows);
    const double cost = coder.batch_cost(coded);
    // Nothing is updated from codes that are not finite: the model stays the last good one.
    DICTLEARN_CHECK(std::isfinite(cost), "epoch {}, step {}: the batch's cost is not finite ({})",
                    epoch, steps + 1, cost);
    BatchStats result{.objective = cost};
    for (int64_t i = 0; i < rows; ++i) {
      result.squared_error += coded.squared_error[i];
      result.nonzero += static_cast<double>(coded.count[i]);
    }
    stats.add(options.forgetting, coded, X, steps, samples, nominal_batch(), window_rows,
              capped_memory(options, model.n_atoms()), options.threads);
    const bool check_change = in_fit && options.dict_tol > 0;
    if (check_change) previous = model.dictionary;
    Resample resample;
    // Under SPAMS's schedule A starts at t0·I and its first β is 1 − b, so
    // while t0's start is in A (t·b < 10,000) an atom's A_kk says little
    // about its use: SPAMS replaces unused atoms only after that, and so
    // does this learner (else nearly every atom of the first batch would be
    // drawn again).
    const bool warming =
        options.forgetting != Forgetting::sklearn &&
        static_cast<double>(steps) * static_cast<double>(nominal_batch()) < 10000.0;
    if (options.resample_unused && !warming) {
      resample = [&](int64_t, void* atom) { draw_atom(engine, X, static_cast<T*>(atom)); };
    }
    const int64_t replaced = update_atoms(model.dictionary, stats.A, stats.B, options.positive_dict,
                                          options.unit_norm, resample);
    replaced_in_epoch += replaced;
    ++steps;
    samples += rows;
    if (in_fit) check_convergence(cost, rows, check_change);
    if (step_observer) {
      step_observer(StepStats{.step = steps,
                              .batch_cost = cost,
                              .smoothed_cost = has_ewa ? ewa : cost,
                              .nonzero = result.nonzero / static_cast<double>(rows),
                              .atoms_replaced = replaced,
                              .seconds = seconds()});
    }
    return result;
  }

  /// scikit-learn's _check_convergence after a step of `rows` signals.
  void check_convergence(double cost, int64_t rows, bool check_change) {
    const double n = static_cast<double>(window_rows), b = static_cast<double>(rows);
    // The first steps (a pass, at most 100) would start the average too high.
    if (static_cast<double>(steps) <= std::min(100.0, n / b)) return;
    if (!has_ewa) {
      ewa = cost;
      has_ewa = true;
    } else {
      const double weight = std::min(b / (n + 1), 1.0);
      ewa = ewa * (1 - weight) + cost * weight;
    }
    if (check_change) {
      const double change =
          (model.dictionary - previous).norm() / static_cast<double>(model.n_atoms());
      if (change <= options.dict_tol) {
        converged = true;
        return;
      }
    }
    if (!has_min || ewa < ewa_min) {
      no_improvement = 0;
      ewa_min = ewa;
      has_min = true;
    } else {
      ++no_improvement;
    }
    if (options.max_no_improvement > 0 && no_improvement >= options.max_no_improvement) {
      converged = true;
    }
  }
};

namespace {

void check_options(const LearningOptions& options) {
  DICTLEARN_CHECK(options.method == LearningMethod::online,
                  "--method: OnlineDictionaryLearner learns by the online method, not {}",
                  learning_method_name(options.method));
  // The table's checks (ranges, settings the online method or the coder
  // would not read), then what this learner relies on.
  validate(options);
  DICTLEARN_CHECK(options.batch_size >= 1, "--batch-size: must be >= 1, got {}",
                  options.batch_size);
  DICTLEARN_CHECK(options.epochs >= 0, "--epochs: must be >= 0, got {}", options.epochs);
  DICTLEARN_CHECK(options.max_steps >= 0, "--max-steps: must be >= 0, got {}", options.max_steps);
  DICTLEARN_CHECK(std::isfinite(options.max_seconds) && options.max_seconds >= 0,
                  "--max-seconds: must be >= 0 and finite, got {}", options.max_seconds);
  DICTLEARN_CHECK(std::isfinite(options.dict_tol) && options.dict_tol >= 0,
                  "--dict-tol: must be >= 0 and finite, got {}", options.dict_tol);
  DICTLEARN_CHECK(options.max_no_improvement >= 0, "--max-no-improvement: must be >= 0, got {}",
                  options.max_no_improvement);
  DICTLEARN_CHECK(options.threads >= 0, "--threads: must be >= 0, got {}", options.threads);
}

template <typename T>
Matrix<T> checked_atoms(Matrix<T> atoms, const LearningOptions& options) {
  check_options(options);
  DICTLEARN_CHECK(atoms.rows() >= 1 && atoms.cols() >= 1,
                  "--init: the initial dictionary is empty ({} x {})", atoms.rows(), atoms.cols());
  const int64_t bad = first_non_finite(atoms.data(), atoms.size());
  DICTLEARN_CHECK(bad < 0,
                  "--init: the initial dictionary holds non-finite values (atom {}, "
                  "value {}: {})",
                  bad / atoms.cols() + 1, bad % atoms.cols() + 1,
                  bad < 0 ? T(0) : atoms.data()[bad]);
  DICTLEARN_CHECK(options.n_atoms == 0 || options.n_atoms == atoms.rows(),
                  "--atoms: {} atoms asked for, but the initial dictionary has {}", options.n_atoms,
                  atoms.rows());
  return atoms;
}

std::string engine_text(const std::mt19937_64& engine) {
  std::ostringstream out;
  out << engine;
  return out.str();
}

}  // namespace

}  // namespace detail

template <typename T>
OnlineDictionaryLearner<T>::OnlineDictionaryLearner(Matrix<T> atoms, const LearningOptions& options)
    : state_(std::make_unique<detail::OnlineState<T>>(
          detail::checked_atoms(std::move(atoms), options), options)) {}

template <typename T>
OnlineDictionaryLearner<T>::~OnlineDictionaryLearner() = default;
template <typename T>
OnlineDictionaryLearner<T>::OnlineDictionaryLearner(OnlineDictionaryLearner&& other) noexcept =
    default;
template <typename T>
OnlineDictionaryLearner<T>& OnlineDictionaryLearner<T>::operator=(
    OnlineDictionaryLearner&& other) noexcept = default;

template <typename T>
void OnlineDictionaryLearner<T>::fit(const DataSource<T>& data, const Observer& observer) {
  detail::OnlineState<T>& s = *state_;
  s.start_clock();
  struct InFit {
    detail::OnlineState<T>& state;
    ~InFit() { state.in_fit = false; }
  } in_fit{s};
  s.loop.run(*this, data, s.epochs, observer);
}

template <typename T>
void OnlineDictionaryLearner<T>::fit(MatrixView<T> X, const Observer& observer) {
  const MatrixSource<T> source(X);
  fit(source, observer);
}

template <typename T>
BatchStats OnlineDictionaryLearner<T>::partial_fit(MatrixView<T> batch) {
  detail::OnlineState<T>& s = *state_;
  const int64_t d = s.model.dim();
  DICTLEARN_CHECK(batch.cols() == d, "batch: has {} columns, the dictionary's atoms have {}",
                  batch.cols(), d);
  DICTLEARN_CHECK(batch.rows() >= 1, "batch: has no rows");
  const detail::ContiguousRows<T> rows(batch);
  const int64_t bad = detail::first_non_finite(rows.data(), batch.rows() * d);
  DICTLEARN_CHECK(bad < 0, "batch: holds non-finite values (row {}, column {}: {})", bad / d + 1,
                  bad % d + 1, bad < 0 ? T(0) : rows.data()[bad]);
  if (!s.started) s.start_clock();
  return s.run_step(detail::BatchRows<T>{.data = rows.data(), .rows = batch.rows(), .dim = d}, 0);
}

template <typename T>
void OnlineDictionaryLearner<T>::set_step_observer(std::function<void(const StepStats&)> observer) {
  state_->step_observer = std::move(observer);
}

template <typename T>
const Model<T>& OnlineDictionaryLearner<T>::model() const {
  return state_->model;
}

template <typename T>
Model<T> OnlineDictionaryLearner<T>::release_model() {
  return std::move(state_->model);
}

template <typename T>
void OnlineDictionaryLearner<T>::set_epochs(int epochs) {
  DICTLEARN_CHECK(epochs >= 0, "--epochs: must be >= 0, got {}", epochs);
  state_->epochs = epochs;
}

template <typename T>
const std::vector<double>& OnlineDictionaryLearner<T>::losses() const {
  return state_->loop.losses();
}

template <typename T>
bool OnlineDictionaryLearner<T>::stopped_early() const {
  return state_->loop.stopped_early();
}

template <typename T>
int64_t OnlineDictionaryLearner<T>::steps() const {
  return state_->steps;
}

template <typename T>
void OnlineDictionaryLearner<T>::set_batch_progress(
    std::function<void(const BatchProgress&)> progress, double interval_seconds) {
  state_->loop.set_batch_progress(std::move(progress), interval_seconds);
}

template <typename T>
void OnlineDictionaryLearner<T>::save_checkpoint(const std::string& path, const DataSource<T>& data,
                                                 const TensorFile& extra) const {
  dictlearn::save_checkpoint<T>(path, *this, state_->loop, data, extra);
}

template <typename T>
void OnlineDictionaryLearner<T>::save_checkpoint(const std::string& path, MatrixView<T> X,
                                                 const TensorFile& extra) const {
  const MatrixSource<T> source(X);
  save_checkpoint(path, source, extra);
}

template <typename T>
TensorFile OnlineDictionaryLearner<T>::load_checkpoint(const std::string& path,
                                                       const DataSource<T>& data) {
  return dictlearn::load_checkpoint<T>(path, *this, state_->loop, data);
}

template <typename T>
TensorFile OnlineDictionaryLearner<T>::load_checkpoint(const std::string& path, MatrixView<T> X) {
  const MatrixSource<T> source(X);
  return load_checkpoint(path, source);
}

template <typename T>
EpochLoopOptions OnlineDictionaryLearner<T>::loop_options() const {
  const LearningOptions& o = state_->options;
  return {.batch_size = o.batch_size, .patience = 0, .threads = o.threads, .shuffle = o.shuffle};
}

template <typename T>
void OnlineDictionaryLearner<T>::begin_fit(const DataSource<T>& data, int64_t batch_rows) {
  detail::OnlineState<T>& s = *state_;
  DICTLEARN_CHECK(data.dim() == s.model.dim(),
                  "data: has {} columns, the dictionary's atoms have {}", data.dim(),
                  s.model.dim());
  DICTLEARN_CHECK(data.rows() >= 1, "data: has no rows");
  check_finite(data);
  s.window_rows = data.rows();
  s.in_fit = true;
  // A run that comes back to its samples: each sample's coding starts from
  // its support of the pass before (lasso-lars; BatchCoder::enable_cache). A
  // checkpoint's cache carries on.
  if (!(s.cache_restored && s.coder.cache_samples() == data.rows())) {
    const double N = static_cast<double>(data.rows());
    const bool revisits =
        s.epochs > 1 && (s.options.max_steps == 0 ||
                         static_cast<double>(s.options.max_steps) *
                                 static_cast<double>(std::min(s.options.batch_size, data.rows())) >
                             N);
    if (revisits) {
      s.coder.enable_cache(data.rows(), N * static_cast<double>(data.dim() * sizeof(T)));
    } else {
      s.coder.drop_cache();
    }
  }
  s.cache_restored = false;
  if (s.coder.cache_samples() > 0) {
    s.first_rows.resize(std::min(batch_rows, data.rows()));
    std::iota(s.first_rows.begin(), s.first_rows.end(), int64_t{0});
  }
}

template <typename T>
BatchStats OnlineDictionaryLearner<T>::step(const Batch<T>& batch) {
  detail::OnlineState<T>& s = *state_;
  // The rows in place: each thread reads its own signals (no gathered copy).
  const detail::BatchRows<T> X{
      .data = batch.data, .index = batch.index, .rows = batch.rows, .dim = batch.dim};
  const bool cached = s.coder.cache_samples() > 0;
  const int64_t* sample_rows = batch.samples != nullptr ? batch.samples : s.first_rows.data();
  return s.run_step(X, batch.epoch, cached ? sample_rows : nullptr);
}

template <typename T>
EpochStats OnlineDictionaryLearner<T>::end_epoch(const EpochTotals& totals) {
  EpochStats stats = summarize(totals);
  stats.atoms_replaced = state_->replaced_in_epoch;
  state_->replaced_in_epoch = 0;
  return stats;
}

template <typename T>
void OnlineDictionaryLearner<T>::end_fit() {
  state_->in_fit = false;
  state_->previous = Matrix<T>();
}

template <typename T>
bool OnlineDictionaryLearner<T>::finished() const {
  const detail::OnlineState<T>& s = *state_;
  if (s.options.max_steps > 0 && s.steps >= s.options.max_steps) return true;
  if (s.converged) return true;
  return s.options.max_seconds > 0 && s.seconds() >= s.options.max_seconds;
}

template <typename T>
Settings OnlineDictionaryLearner<T>::settings() const {
  return learning_settings(state_->options);
}

template <typename T>
void OnlineDictionaryLearner<T>::save_state(TensorFile& file) const {
  using detail::tensor_of;
  const detail::OnlineState<T>& s = *state_;
  const int64_t K = s.model.n_atoms(), d = s.model.dim();
  file.tensors["dictionary"] = tensor_of(s.model.dictionary, {K, d});
  file.tensors["online.A"] = tensor_of(s.stats.A, {K, K});
  file.tensors["online.B"] = tensor_of(s.stats.B, {K, d});
  if (s.options.forgetting != Forgetting::sklearn) {
    file.tensors["online.A_current"] = tensor_of(s.stats.A_current, {K, K});
    file.tensors["online.B_current"] = tensor_of(s.stats.B_current, {K, d});
    file.tensors["online.A_previous"] = tensor_of(s.stats.A_previous, {K, K});
    file.tensors["online.B_previous"] = tensor_of(s.stats.B_previous, {K, d});
    file.tensors["online.A_initial"] = tensor_of(s.stats.A_initial, {K, K});
    file.tensors["online.B_initial"] = tensor_of(s.stats.B_initial, {K, d});
  }
  auto& meta = file.metadata;
  if (s.coder.cache_samples() > 0) {
    // The support cache: a resumed run codes as the uninterrupted one would.
    const std::vector<int16_t> cache = s.coder.cache_state();
    Tensor tensor;
    tensor.dtype = DType::float32;  // int16 values, exact
    tensor.shape = {s.coder.cache_samples(), detail::BatchCoder<T>::kCacheWidth + 1};
    tensor.values.assign(cache.begin(), cache.end());
    file.tensors["online.support_cache"] = std::move(tensor);
  }
  meta["dtype"] = sizeof(T) == 4 ? "float32" : "float64";
  meta["online.steps"] = std::to_string(s.steps);
  meta["online.samples"] = std::to_string(s.samples);
  meta["online.window_rows"] = std::to_string(s.window_rows);
  meta["online.odd_window"] = std::to_string(s.stats.odd_window ? 1 : 0);
  // Shortest round-trip text: the doubles come back exactly.
  meta["online.ewa"] = fmt::format("{}", s.ewa);
  meta["online.has_ewa"] = std::to_string(s.has_ewa ? 1 : 0);
  meta["online.ewa_min"] = fmt::format("{}", s.ewa_min);
  meta["online.has_min"] = std::to_string(s.has_min ? 1 : 0);
  meta["online.no_improvement"] = std::to_string(s.no_improvement);
  meta["online.converged"] = std::to_string(s.converged ? 1 : 0);
  meta["online.replaced_in_epoch"] = std::to_string(s.replaced_in_epoch);
  meta["online.resample_state"] = detail::engine_text(s.engine);
}

template <typename T>
void OnlineDictionaryLearner<T>::load_state(const TensorFile& file, const std::string& path) {
  using detail::fill;
  using detail::parse_number;
  using detail::require;
  detail::OnlineState<T>& s = *state_;
  const size_t K = static_cast<size_t>(s.model.n_atoms()), d = static_cast<size_t>(s.model.dim());
  // Everything is read before anything is set: a bad file leaves the learner as it was.
  const Tensor& atoms = require(file, "dictionary", K * d, path);
  std::vector<const Tensor*> parts{&require(file, "online.A", K * K, path),
                                   &require(file, "online.B", K * d, path)};
  if (s.options.forgetting != Forgetting::sklearn) {
    for (const char* name : {"current", "previous", "initial"}) {
      parts.push_back(&require(file, fmt::format("online.A_{}", name), K * K, path));
      parts.push_back(&require(file, fmt::format("online.B_{}", name), K * d, path));
    }
  }
  const auto steps = parse_number<int64_t>(file, "online.steps", path);
  const auto samples = parse_number<int64_t>(file, "online.samples", path);
  const auto window_rows = parse_number<int64_t>(file, "online.window_rows", path);
  const auto odd = parse_number<int>(file, "online.odd_window", path);
  const auto ewa = parse_number<double>(file, "online.ewa", path);
  const auto has_ewa = parse_number<int>(file, "online.has_ewa", path);
  const auto ewa_min = parse_number<double>(file, "online.ewa_min", path);
  const auto has_min = parse_number<int>(file, "online.has_min", path);
  const auto no_improvement = parse_number<int64_t>(file, "online.no_improvement", path);
  const auto converged = parse_number<int>(file, "online.converged", path);
  const auto replaced = parse_number<int64_t>(file, "online.replaced_in_epoch", path);
  // Non-finite atoms or statistics would train on NaN from the first step.
  for (const auto& [name, tensor] : file.tensors) {
    if (name != "dictionary" && name.rfind("online.", 0) != 0) continue;
    for (const double value : tensor.values) {
      DICTLEARN_CHECK(std::isfinite(value), "{}: checkpoint tensor '{}' holds {}, not finite", path,
                      name, value);
    }
  }
  std::vector<int16_t> cache;
  const auto cache_tensor = file.tensors.find("online.support_cache");
  if (cache_tensor != file.tensors.end()) {
    for (const double value : cache_tensor->second.values) {
      DICTLEARN_CHECK(value == std::floor(value) && value >= -32768 && value <= 32767,
                      "{}: checkpoint tensor 'online.support_cache' holds {}, not an atom entry",
                      path, value);
      cache.push_back(static_cast<int16_t>(value));
    }
    detail::BatchCoder<T> check(s.options.coding, s.model.n_atoms(), s.model.dim());
    DICTLEARN_CHECK(!cache.empty() && check.set_cache(cache),
                    "{}: checkpoint tensor 'online.support_cache' is not a support cache of {} "
                    "atoms",
                    path, s.model.n_atoms());
  }
  std::mt19937_64 engine;
  std::istringstream engine_text(detail::meta(file, "online.resample_state", path));
  engine_text >> engine;
  DICTLEARN_CHECK(!engine_text.fail(),
                  "{}: checkpoint metadata 'online.resample_state' is not "
                  "a generator state",
                  path);
  DICTLEARN_CHECK(steps >= 0 && samples >= 0 && window_rows >= 0 && no_improvement >= 0,
                  "{}: checkpoint counters of the online learner are negative", path);

  fill(s.model.dictionary, atoms);
  fill(s.stats.A, *parts[0]);
  fill(s.stats.B, *parts[1]);
  if (s.options.forgetting != Forgetting::sklearn) {
    fill(s.stats.A_current, *parts[2]);
    fill(s.stats.B_current, *parts[3]);
    fill(s.stats.A_previous, *parts[4]);
    fill(s.stats.B_previous, *parts[5]);
    fill(s.stats.A_initial, *parts[6]);
    fill(s.stats.B_initial, *parts[7]);
  }
  s.steps = steps;
  s.samples = samples;
  s.window_rows = window_rows;
  s.stats.odd_window = odd != 0;
  s.ewa = ewa;
  s.has_ewa = has_ewa != 0;
  s.ewa_min = ewa_min;
  s.has_min = has_min != 0;
  s.no_improvement = no_improvement;
  s.converged = converged != 0;
  s.replaced_in_epoch = replaced;
  if (cache.empty()) {
    s.coder.drop_cache();
  } else {
    s.coder.set_cache(cache);
  }
  s.cache_restored = !cache.empty();
  s.engine = engine;
}

template class OnlineDictionaryLearner<float>;
template class OnlineDictionaryLearner<double>;

}  // namespace dictlearn
