// The gradient Trainer (trainer.hpp): construction, the Learner interface
// that EpochLoop drives (begin_fit, step, end_epoch), evaluate(), the free
// functions; and validate(). The batch engines are in the files engine.hpp
// lists.
#include "dictlearn/trainer.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <span>
#include <string>
#include <utility>

#include "core/check.hpp"
#include "core/contiguous.hpp"
#include "core/data_shape.hpp"
#include "core/memory.hpp"
#include "dictlearn/encoders.hpp"
#include "learners/autoencoder/engine.hpp"

namespace dictlearn {
namespace {

template <typename T>
void zero_like(Gradients<T>& out, const Model<T>& model) {
  out.dictionary.setZero(model.n_atoms(), model.dim());
  out.encoder_weight.setZero(model.n_atoms(), model.dim());
  out.encoder_bias.setZero(model.n_atoms());
  out.decoder_bias.setZero(model.decoder_bias.size());
}

/// The one reduction point of a batch (reduction.hpp): the gradient sums,
/// the fired counts and the scalar statistics, summed across processes.
template <typename T>
void reduce(detail::TrainerState<T>& s, detail::BatchResult& result, detail::Workspace<T>& w) {
  Gradients<T>& g = s.gradients;
  const std::array<std::span<T>, 4> sums{
      std::span<T>(g.dictionary.data(), g.dictionary.size()),
      std::span<T>(g.encoder_weight.data(), g.encoder_weight.size()),
      std::span<T>(g.encoder_bias.data(), g.encoder_bias.size()),
      std::span<T>(g.decoder_bias.data(), g.decoder_bias.size())};
  std::array<double, 3> scalars{result.objective, result.squared_error, result.nonzero};
  const std::span<double> fired(w.fired), statistics(scalars);
  if constexpr (std::is_same_v<T, float>) {
    const std::array<std::span<double>, 2> doubles{fired, statistics};
    s.reducer->sum(sums, doubles);
  } else {
    const std::array<std::span<double>, 6> doubles{sums[0], sums[1], sums[2],
                                                   sums[3], fired,   statistics};
    s.reducer->sum({}, doubles);
  }
  result.objective = scalars[0];
  result.squared_error = scalars[1];
  result.nonzero = scalars[2];
}

/// compute_batch, the reduction, then the ortho term (it depends on the
/// model alone, so it is added once, after the sums over the batch).
template <typename T>
detail::BatchResult reduced_batch(detail::TrainerState<T>& s, const T* data, const int64_t* index,
                                  int64_t rows, detail::Workspace<T>& w) {
  detail::BatchResult result = detail::compute_batch(s, data, index, rows, w);
  reduce(s, result, w);
  if (s.options.ortho > 0) {
    result.objective +=
        detail::add_ortho_penalty(s.model.dictionary, s.options.ortho, s.gradients.dictionary);
  }
  return result;
}

/// The learning rate of step `step` (counted from 1): linear warm-up, then
/// linear decay over the last lr_decay of the run's steps.
inline double lr_at(const FitOptions& options, int64_t total_steps, int64_t step) {
  double factor = 1;
  if (options.warmup_steps > 0 && step <= options.warmup_steps) {
    factor = static_cast<double>(step) / static_cast<double>(options.warmup_steps);
  }
  if (options.lr_decay > 0) {
    const int64_t decay_steps =
        std::max<int64_t>(1, std::llround(options.lr_decay * static_cast<double>(total_steps)));
    const int64_t start = total_steps - decay_steps;
    if (step > start) {
      factor *= static_cast<double>(std::max<int64_t>(0, total_steps - step + 1)) /
                static_cast<double>(decay_steps);
    }
  }
  return options.adam.lr * factor;
}

/// The remedy in the error of a non-finite loss: the setting most likely to
/// blame, judged from what amplifies the steps -- a tiny temperature (the
/// codes' gradients grow as 1/temperature), huge penalty weights, a huge
/// learning rate -- by how many decades each lies beyond its usual range;
/// the learning rate (or the data) where none does.
std::string non_finite_remedy(const FitOptions& options, const EncoderOptions& encoder) {
  std::string remedy = "lower the learning rate (--lr) or standardize the data";
  double worst = std::log10(options.adam.lr / 0.1);  // decades beyond lr 0.1
  auto suspect = [&](double decades, std::string text) {
    if (decades > worst && decades > 0) {
      worst = decades;
      remedy = std::move(text);
    }
  };
  if (encoder_traits(encoder.kind).has_temperature) {
    suspect(std::log10(1e-2 / encoder.temperature),
            fmt::format("the likely cause is --temperature {}: the codes divide the "
                        "pre-activations by it, so their gradients grow as 1/temperature; raise it",
                        encoder.temperature));
  }
  const std::pair<const char*, double> penalties[] = {
      {"l1", options.l1}, {"ortho", options.ortho}, {"auxk", options.auxk}};
  for (const auto& [flag, weight] : penalties) {
    suspect(std::log10(weight / 10),
            fmt::format("the likely cause is --{} {}: the penalty and its gradient are that much "
                        "larger than the reconstruction's; lower it",
                        flag, weight));
  }
  return remedy;
}

}  // namespace

template <typename T>
Trainer<T>::Trainer(Model<T> model, FitOptions options)
    : state_(std::make_unique<detail::TrainerState<T>>()) {
  detail::TrainerState<T>& s = *state_;
  s.model = std::move(model);
  s.options = options;
  s.loop = EpochLoop(options.seed ^ 0x5851f42d4c957f2dULL);
  s.epochs_to_run = options.epochs;
  s.reducer = &local_reducer();
  validate(s.options);
  validate_model(s.model, "initial model");
  DICTLEARN_CHECK(s.model.has_encoder(),
                  "initial model: has no encoder (a classical learner's); the gradient learner "
                  "trains the encoder with the atoms and needs one to start from");
  zero_like(s.gradients, s.model);
  zero_like(s.first_moment, s.model);
  zero_like(s.second_moment, s.model);
  s.samples_since_fired.assign(s.model.n_atoms(), 0);
}

template <typename T>
Trainer<T>::~Trainer() = default;
template <typename T>
Trainer<T>::Trainer(Trainer&& other) noexcept = default;
template <typename T>
Trainer<T>& Trainer<T>::operator=(Trainer&& other) noexcept = default;

template <typename T>
Trainer<T>::Trainer(const Trainer& other)
    : state_(other.state_ ? std::make_unique<detail::TrainerState<T>>(*other.state_) : nullptr) {}

template <typename T>
Trainer<T>& Trainer<T>::operator=(const Trainer& other) {
  if (this != &other) {
    state_ = other.state_ ? std::make_unique<detail::TrainerState<T>>(*other.state_) : nullptr;
    work_.reset();
  }
  return *this;
}

template <typename T>
const Model<T>& Trainer<T>::model() const {
  return state_->model;
}
template <typename T>
void Trainer<T>::set_epochs(int epochs) {
  state_->epochs_to_run = epochs;
}
template <typename T>
const std::vector<double>& Trainer<T>::losses() const {
  return state_->loop.losses();
}
template <typename T>
int64_t Trainer<T>::steps() const {
  return state_->step;
}
template <typename T>
bool Trainer<T>::stopped_early() const {
  return state_->loop.stopped_early();
}
template <typename T>
const std::vector<int64_t>& Trainer<T>::samples_since_fired() const {
  return state_->samples_since_fired;
}
template <typename T>
void Trainer<T>::set_reducer(Reducer& reducer) {
  state_->reducer = &reducer;
}
template <typename T>
const Gradients<T>& Trainer<T>::gradients() const {
  return state_->gradients;
}

template <typename T>
void Trainer<T>::fit(const DataSource<T>& data, const Observer& observer) {
  state_->loop.run(*this, data, state_->epochs_to_run, observer);
}

template <typename T>
void Trainer<T>::fit(MatrixView<T> X, const Observer& observer) {
  fit(MatrixSource<T>(X), observer);
}

template <typename T>
void Trainer<T>::set_batch_progress(std::function<void(const BatchProgress&)> progress,
                                    double interval_seconds) {
  state_->loop.set_batch_progress(std::move(progress), interval_seconds);
}

template <typename T>
EpochLoopOptions Trainer<T>::loop_options() const {
  const FitOptions& o = state_->options;
  return {.batch_size = o.batch_size, .patience = o.patience, .tol = o.tol, .threads = o.threads};
}

template <typename T>
void Trainer<T>::begin_fit(const DataSource<T>& data, int64_t batch_rows) {
  detail::TrainerState<T>& s = *state_;
  detail::check_data_shape(s.model.dim(), data.rows(), data.dim(), "data");
  // A full batch's workspace grows with N: refused before it is allocated
  // (or half-allocated and ended by "out of memory" with no hint).
  if (batch_rows == data.rows()) {
    detail::check_full_batch_fits(data.rows(), detail::workspace_bytes(s, data.rows(), batch_rows),
                                  detail::available_memory());
  }
  check_finite(data);
  work_ = std::make_unique<detail::Workspace<T>>();
  detail::prepare(s, *work_, data.rows(), batch_rows);
  // The schedule spans the run as configured, however it is cut into fit() calls.
  const int64_t batches_per_epoch = (data.rows() + batch_rows - 1) / batch_rows;
  s.total_steps = static_cast<int64_t>(s.options.epochs) * batches_per_epoch;
}

template <typename T>
BatchStats Trainer<T>::step(const Batch<T>& batch) {
  DICTLEARN_CHECK(work_ != nullptr, "Trainer::step: no fit under way (begin_fit() comes first)");
  detail::TrainerState<T>& s = *state_;
  const detail::BatchResult result = reduced_batch(s, batch.data, batch.index, batch.rows, *work_);
  // A non-finite objective stops before the update: the model stays the last good one.
  DICTLEARN_CHECK(std::isfinite(result.objective), "training: loss is {} at epoch {}; {}",
                  std::isnan(result.objective) ? "nan" : fmt::format("{}", result.objective),
                  batch.epoch, non_finite_remedy(s.options, s.model.encoder));
  s.last_lr = lr_at(s.options, s.total_steps, s.step + 1);
  detail::apply_update(s, result, batch.rows, s.last_lr, *work_);
  if (detail::resample_due(s)) detail::resample_dead_atoms(s, batch, *work_);
  return {.objective = result.objective,
          .squared_error = result.squared_error,
          .nonzero = result.nonzero};
}

template <typename T>
EpochStats Trainer<T>::end_epoch(const EpochTotals& totals) {
  const detail::TrainerState<T>& s = *state_;
  EpochStats stats = summarize(totals);
  const int64_t dead_after = s.options.dead_after > 0 ? s.options.dead_after : totals.samples;
  stats.dead_fraction =
      static_cast<double>(std::count_if(s.samples_since_fired.begin(), s.samples_since_fired.end(),
                                        [&](int64_t n) { return n >= dead_after; })) /
      static_cast<double>(s.model.n_atoms());
  stats.lr = s.last_lr;
  return stats;
}

template <typename T>
void Trainer<T>::end_fit() {
  work_.reset();
}

template <typename T>
Model<T> Trainer<T>::release_model() {
  detail::TrainerState<T>& s = *state_;
  s.gradients = {};
  s.first_moment = {};
  s.second_moment = {};
  return std::move(s.model);
}

template <typename T>
double Trainer<T>::evaluate(MatrixView<T> X) {
  detail::TrainerState<T>& s = *state_;
  check_data_matches(s.model, X, "data");
  const detail::ContiguousRows<T> rows(X);  // rows with gaps between them are copied once
  detail::Workspace<T> w;
  detail::prepare(s, w, X.rows(), X.rows());
  return reduced_batch(s, rows.data(), nullptr, X.rows(), w).objective;
}

template <typename T>
double loss_and_gradients(const Model<T>& model, std::type_identity_t<MatrixView<T>> X,
                          Gradients<T>& gradients, const FitOptions& options) {
  FitOptions full = options;
  full.batch_size = 0;
  full.auxk = 0;  // AuxK depends on the training history of dead atoms
  Trainer<T> trainer(model, full);
  const double loss = trainer.evaluate(X);
  gradients = trainer.gradients();
  return loss;
}

template <typename T>
Model<T> fit(MatrixView<T> X, const FitOptions& options, const Model<T>* initial,
             std::vector<double>* losses) {
  validate(options);
  Trainer<T> trainer(initial ? *initial : initialize<T>(X, options), options);
  trainer.fit(X);
  if (losses) *losses = trainer.losses();
  return trainer.model();
}

template class Trainer<float>;
template class Trainer<double>;
template double loss_and_gradients<float>(const Model<float>&, MatrixView<float>, Gradients<float>&,
                                          const FitOptions&);
template double loss_and_gradients<double>(const Model<double>&, MatrixView<double>,
                                           Gradients<double>&, const FitOptions&);
template Model<float> fit<float>(MatrixView<float>, const FitOptions&, const Model<float>*,
                                 std::vector<double>*);
template Model<double> fit<double>(MatrixView<double>, const FitOptions&, const Model<double>*,
                                   std::vector<double>*);

}  // namespace dictlearn
