// The gradient Trainer's part of a checkpoint (learner.hpp writes the rest):
// its parameters under the model's names, Adam's moments and step count, the
// dead-atom counters, BatchTopK's threshold; and the settings a resumed run
// must share.
#include <cmath>
#include <cstring>

#include "core/check.hpp"
#include "dictlearn/parameters.hpp"
#include "dictlearn/trainer.hpp"
#include "learners/autoencoder/engine.hpp"
#include "learners/checkpoint_fields.hpp"

namespace dictlearn {
namespace {

/// The settings a resumed run must share with the run that wrote the
/// checkpoint (the number of epochs and of threads may differ): the rows of
/// fit_parameters() marked resume_must_match, as (flag, value).
std::vector<std::pair<std::string, std::string>> settings(const FitOptions& o) {
  return resume_settings(o);
}

}  // namespace

template <typename T>
Settings Trainer<T>::settings() const {
  return dictlearn::settings(state_->options);
}

template <typename T>
void Trainer<T>::save_state(TensorFile& file) const {
  using detail::tensor_of;
  const detail::TrainerState<T>& s = *state_;
  const Model<T>& model = s.model;
  const int64_t K = model.n_atoms(), d = model.dim();
  auto add = [&](const std::string& prefix, const Gradients<T>& g) {
    file.tensors[prefix + "dictionary"] = tensor_of(g.dictionary, {K, d});
    file.tensors[prefix + "attributor.0.weight"] = tensor_of(g.encoder_weight, {K, d});
    file.tensors[prefix + "attributor.0.bias"] = tensor_of(g.encoder_bias, {K});
    if (model.decoder_bias.size() > 0)
      file.tensors[prefix + "decoder_bias"] = tensor_of(g.decoder_bias, {d});
  };
  Gradients<T> parameters{model.dictionary, model.encoder_weight, model.encoder_bias,
                          model.decoder_bias};
  add("", parameters);
  add("adam.m.", s.first_moment);
  add("adam.v.", s.second_moment);
  Vector<double> since(s.samples_since_fired.size());
  for (size_t k = 0; k < s.samples_since_fired.size(); ++k)
    since[k] = static_cast<double>(s.samples_since_fired[k]);
  file.tensors["train.samples_since_fired"] = tensor_of(since, {K});

  // The model's own metadata first, without replacing the caller's extra keys.
  for (const auto& [key, value] : model.metadata) file.metadata.emplace(key, value);
  file.metadata["encoder"] = encoder_name(model.encoder.kind);
  file.metadata["temperature"] = fmt::format("{}", model.encoder.temperature);
  file.metadata["k"] = std::to_string(model.encoder.k);
  file.metadata["threshold"] = fmt::format("{}", model.encoder.threshold);
  file.metadata["dtype"] = sizeof(T) == 4 ? "float32" : "float64";
  file.metadata["checkpoint.step"] = std::to_string(s.step);
  file.metadata["checkpoint.threshold_updates"] = std::to_string(s.threshold_updates);
}

template <typename T>
void Trainer<T>::load_state(const TensorFile& file, const std::string& path) {
  using detail::fill;
  using detail::meta;
  using detail::parse_number;
  using detail::require;
  detail::TrainerState<T>& s = *state_;
  Model<T>& model = s.model;
  const int64_t K = model.n_atoms(), d = model.dim();
  // The checkpoint's model against this run's options (not against the model
  // loaded from the checkpoint itself), for the settings the file does not
  // record (dictlearn 0.1's): load_checkpoint compared the recorded ones. A
  // run started from --init records its model's encoder and atoms, but its
  // --decoder-bias as given, which need not tell whether that model has one.
  const FitOptions& o = s.options;
  auto unrecorded = [&](const std::string& flag) {
    return file.metadata.count(resume_setting_key(file.metadata, flag)) == 0;
  };
  const std::string made[] = {meta(file, "encoder", path), meta(file, "k", path),
                              meta(file, "temperature", path)};
  const std::string run[] = {encoder_name(o.encoder.kind), std::to_string(o.encoder.k),
                             fmt::format("{}", o.encoder.temperature)};
  const char* flags[] = {"encoder", "k", "temperature"};
  for (size_t i = 0; i < std::size(flags); ++i) {
    DICTLEARN_CHECK(!unrecorded(flags[i]) || made[i] == run[i],
                    "{}: checkpoint was made with --{} {}, this run has --{} {}", path, flags[i],
                    made[i], flags[i], run[i]);
  }
  const Tensor& dictionary = require(file, "dictionary", K * d, path);
  DICTLEARN_CHECK(
      dictionary.shape.size() == 2 && dictionary.shape[0] == K && dictionary.shape[1] == d,
      "{}: checkpoint has a {}-atom dictionary, this run {} atoms of dimension {}", path,
      dictionary.shape.empty() ? 0 : dictionary.shape[0], K, d);
  DICTLEARN_CHECK(!unrecorded("atoms") || K == o.n_atoms,
                  "{}: checkpoint was made with --atoms {}, this run has --atoms {}", path, K,
                  o.n_atoms);
  const bool has_decoder_bias = model.decoder_bias.size() > 0;
  DICTLEARN_CHECK(has_decoder_bias == (file.tensors.count("decoder_bias") > 0),
                  "{}: checkpoint {} a decoder bias, this run {}", path,
                  has_decoder_bias ? "lacks" : "has", has_decoder_bias ? "has one" : "has none");
  DICTLEARN_CHECK(
      !unrecorded("decoder-bias") || has_decoder_bias == (o.decoder_bias != DecoderBiasInit::none),
      "{}: checkpoint was made {} a decoder bias, this run has --decoder-bias {}", path,
      has_decoder_bias ? "with" : "without",
      parameter_value(*find_parameter(fit_parameters(), "decoder-bias"), o));
  auto restore = [&](const std::string& prefix, Gradients<T>& g) {
    fill(g.dictionary, require(file, prefix + "dictionary", K * d, path));
    fill(g.encoder_weight, require(file, prefix + "attributor.0.weight", K * d, path));
    fill(g.encoder_bias, require(file, prefix + "attributor.0.bias", K, path));
    if (has_decoder_bias) fill(g.decoder_bias, require(file, prefix + "decoder_bias", d, path));
  };
  Gradients<T> parameters{model.dictionary, model.encoder_weight, model.encoder_bias,
                          model.decoder_bias};
  restore("", parameters);
  restore("adam.m.", s.first_moment);
  restore("adam.v.", s.second_moment);
  model.dictionary = parameters.dictionary;
  model.encoder_weight = parameters.encoder_weight;
  model.encoder_bias = parameters.encoder_bias;
  if (has_decoder_bias) model.decoder_bias = parameters.decoder_bias;
  model.encoder.threshold = parse_number<double>(file, "threshold", path);

  const Tensor& since = require(file, "train.samples_since_fired", K, path);
  for (int64_t k = 0; k < K; ++k) {
    // Counts of samples: whole, not negative, exact in a double (and so in int64).
    const double count = since.values[k];
    DICTLEARN_CHECK(count >= 0 && count <= 9007199254740992.0 && count == std::floor(count),
                    "{}: checkpoint tensor 'train.samples_since_fired' holds {}, not a count", path,
                    count);
    s.samples_since_fired[k] = static_cast<int64_t>(count);
  }
  s.step = parse_number<int64_t>(file, "checkpoint.step", path);
  s.threshold_updates = parse_number<int64_t>(file, "checkpoint.threshold_updates", path);
  DICTLEARN_CHECK(s.step >= 0 && s.threshold_updates >= 0,
                  "{}: checkpoint metadata 'checkpoint.step' or 'checkpoint.threshold_updates' is "
                  "negative",
                  path);
}

template <typename T>
void Trainer<T>::save_checkpoint(const std::string& path, const DataSource<T>& data,
                                 const TensorFile& extra) const {
  dictlearn::save_checkpoint(path, *this, state_->loop, data, extra);
}

template <typename T>
void Trainer<T>::save_checkpoint(const std::string& path, MatrixView<T> X,
                                 const TensorFile& extra) const {
  save_checkpoint(path, MatrixSource<T>(X), extra);
}

template <typename T>
TensorFile Trainer<T>::load_checkpoint(const std::string& path, const DataSource<T>& data) {
  return dictlearn::load_checkpoint(path, *this, state_->loop, data);
}

template <typename T>
TensorFile Trainer<T>::load_checkpoint(const std::string& path, MatrixView<T> X) {
  return load_checkpoint(path, MatrixSource<T>(X));
}

template Settings Trainer<float>::settings() const;
template Settings Trainer<double>::settings() const;
template void Trainer<float>::save_state(TensorFile&) const;
template void Trainer<double>::save_state(TensorFile&) const;
template void Trainer<float>::load_state(const TensorFile&, const std::string&);
template void Trainer<double>::load_state(const TensorFile&, const std::string&);
template void Trainer<float>::save_checkpoint(const std::string&, const DataSource<float>&,
                                              const TensorFile&) const;
template void Trainer<double>::save_checkpoint(const std::string&, const DataSource<double>&,
                                               const TensorFile&) const;
template void Trainer<float>::save_checkpoint(const std::string&, MatrixView<float>,
                                              const TensorFile&) const;
template void Trainer<double>::save_checkpoint(const std::string&, MatrixView<double>,
                                               const TensorFile&) const;
template TensorFile Trainer<float>::load_checkpoint(const std::string&, const DataSource<float>&);
template TensorFile Trainer<double>::load_checkpoint(const std::string&, const DataSource<double>&);
template TensorFile Trainer<float>::load_checkpoint(const std::string&, MatrixView<float>);
template TensorFile Trainer<double>::load_checkpoint(const std::string&, MatrixView<double>);

}  // namespace dictlearn
