// Checkpoints: the complete state of a Trainer in a safetensors file.
#include <cmath>
#include <type_traits>
#include <cstring>
#include <sstream>

#include "core/check.hpp"
#include "dictlearn/parameters.hpp"
#include "dictlearn/trainer.hpp"

namespace dictlearn {
namespace {

constexpr const char* kFormat = "dictlearn.checkpoint";

/// The settings a resumed run must share with the run that wrote the
/// checkpoint (the number of epochs and of threads may differ): the rows of
/// fit_parameters() marked resume_must_match, as (flag, value).
std::vector<std::pair<std::string, std::string>> settings(const FitOptions& o) {
  return resume_settings(o);
}

template <typename T>
uint64_t data_hash(const Matrix<T>& X) {
  // FNV-1a over the bytes: cheap next to training, and enough to tell data sets apart.
  uint64_t hash = 1469598103934665603ULL;
  const auto* bytes = reinterpret_cast<const unsigned char*>(X.data());
  const size_t size = static_cast<size_t>(X.size()) * sizeof(T);
  for (size_t i = 0; i < size; ++i) hash = (hash ^ bytes[i]) * 1099511628211ULL;
  return hash;
}

template <typename Array>
Tensor tensor_of(const Array& array, std::vector<int64_t> shape) {
  using Scalar = std::remove_cv_t<std::remove_reference_t<decltype(*array.data())>>;
  Tensor tensor;
  tensor.dtype = sizeof(Scalar) == 4 ? DType::float32 : DType::float64;
  tensor.shape = std::move(shape);
  tensor.values.assign(array.data(), array.data() + array.size());
  return tensor;
}

const Tensor& require(const TensorFile& file, const std::string& name, size_t size,
                      const std::string& path) {
  auto it = file.tensors.find(name);
  DICTLEARN_CHECK(it != file.tensors.end(), "{}: checkpoint lacks tensor '{}'", path, name);
  DICTLEARN_CHECK(it->second.values.size() == size,
                  "{}: checkpoint tensor '{}' has {} values, expected {}", path, name,
                  it->second.values.size(), size);
  return it->second;
}

const std::string& meta(const TensorFile& file, const std::string& key, const std::string& path) {
  auto it = file.metadata.find(key);
  DICTLEARN_CHECK(it != file.metadata.end(), "{}: checkpoint lacks metadata '{}'", path, key);
  return it->second;
}

/// A metadata number, or an Error naming the key.
template <typename Number>
Number parse_number(const TensorFile& file, const std::string& key, const std::string& path) {
  const std::string& text = meta(file, key, path);
  try {
    size_t used = 0;
    Number value;
    if constexpr (std::is_floating_point_v<Number>) {
      value = static_cast<Number>(std::stod(text, &used));
    } else {
      value = static_cast<Number>(std::stoll(text, &used));
    }
    if (used == text.size()) return value;
  } catch (const std::exception&) {
  }
  DICTLEARN_FAIL("{}: checkpoint metadata '{}': '{}' is not a number", path, key, text);
}

template <typename Array>
void fill(Array& array, const Tensor& tensor) {
  using Scalar = std::remove_reference_t<decltype(*array.data())>;
  for (Eigen::Index i = 0; i < array.size(); ++i) array.data()[i] = static_cast<Scalar>(tensor.values[i]);
}

}  // namespace

template <typename T>
void Trainer<T>::save_checkpoint(const std::string& path, const Matrix<T>& X,
                                 const TensorFile& extra) const {
  TensorFile file = extra;
  const int64_t K = model_.n_atoms(), d = model_.dim();
  auto add = [&](const std::string& prefix, const Gradients<T>& g) {
    file.tensors[prefix + "dictionary"] = tensor_of(g.dictionary, {K, d});
    file.tensors[prefix + "attributor.0.weight"] = tensor_of(g.encoder_weight, {K, d});
    file.tensors[prefix + "attributor.0.bias"] = tensor_of(g.encoder_bias, {K});
    if (model_.decoder_bias.size() > 0) file.tensors[prefix + "decoder_bias"] = tensor_of(g.decoder_bias, {d});
  };
  Gradients<T> parameters{model_.dictionary, model_.encoder_weight, model_.encoder_bias,
                          model_.decoder_bias};
  add("", parameters);
  add("adam.m.", first_moment_);
  add("adam.v.", second_moment_);
  Vector<double> losses = Eigen::Map<const Vector<double>>(losses_.data(), losses_.size());
  file.tensors["train.losses"] = tensor_of(losses, {static_cast<int64_t>(losses_.size())});
  Vector<double> since(samples_since_fired_.size());
  for (size_t k = 0; k < samples_since_fired_.size(); ++k) since[k] = static_cast<double>(samples_since_fired_[k]);
  file.tensors["train.samples_since_fired"] = tensor_of(since, {K});

  for (const auto& [key, value] : model_.metadata) file.metadata.emplace(key, value);
  file.metadata["format"] = kFormat;
  file.metadata["encoder"] = encoder_name(model_.encoder.kind);
  file.metadata["temperature"] = fmt::format("{}", model_.encoder.temperature);
  file.metadata["k"] = std::to_string(model_.encoder.k);
  file.metadata["threshold"] = fmt::format("{}", model_.encoder.threshold);
  file.metadata["dtype"] = sizeof(T) == 4 ? "float32" : "float64";
  file.metadata["checkpoint.step"] = std::to_string(step_);
  file.metadata["checkpoint.epochs_done"] = std::to_string(losses_.size());
  file.metadata["checkpoint.threshold_updates"] = std::to_string(threshold_updates_);
  file.metadata["checkpoint.best_loss"] = fmt::format("{}", best_loss_);
  file.metadata["checkpoint.epochs_without_improvement"] = std::to_string(epochs_without_improvement_);
  std::ostringstream engine;
  engine << shuffle_;
  file.metadata["checkpoint.shuffle_state"] = engine.str();
  file.metadata["checkpoint.data_shape"] = fmt::format("{}x{}", X.rows(), X.cols());
  file.metadata["checkpoint.data_hash"] = fmt::format("{:016x}", data_hash(X));
  // The model's own schema: train.<flag>, as the CLI records a model's options.
  for (const auto& [key, value] : settings(options_)) file.metadata["train." + key] = value;
  write_safetensors(path, file);
}

template <typename T>
TensorFile Trainer<T>::load_checkpoint(const std::string& path, const Matrix<T>& X) {
  TensorFile file = read_safetensors(path);
  auto format = file.metadata.find("format");
  DICTLEARN_CHECK(format != file.metadata.end() && format->second == kFormat,
                  "{}: not a dictlearn checkpoint (write one with --checkpoint)", path);
  const std::string shape = fmt::format("{}x{}", X.rows(), X.cols());
  DICTLEARN_CHECK(meta(file, "checkpoint.data_shape", path) == shape,
                  "{}: checkpoint was made on data of shape {}, this data is {}", path,
                  meta(file, "checkpoint.data_shape", path), shape);
  DICTLEARN_CHECK(meta(file, "checkpoint.data_hash", path) == fmt::format("{:016x}", data_hash(X)),
                  "{}: checkpoint was made on other data of the same shape", path);
  for (const auto& [key, value] : settings(options_)) {
    const std::string& saved = meta(file, resume_setting_key(file.metadata, key), path);
    DICTLEARN_CHECK(saved == value, "{}: checkpoint was made with --{} {}, this run has --{} {}", path,
                    key, saved, key, value);
  }
  const int64_t K = model_.n_atoms(), d = model_.dim();
  const std::string encoder = meta(file, "encoder", path);
  DICTLEARN_CHECK(encoder == encoder_name(model_.encoder.kind),
                  "{}: checkpoint was made with --encoder {}, this run has --encoder {}", path, encoder,
                  encoder_name(model_.encoder.kind));
  const Tensor& dictionary = require(file, "dictionary", K * d, path);
  DICTLEARN_CHECK(dictionary.shape.size() == 2 && dictionary.shape[0] == K && dictionary.shape[1] == d,
                  "{}: checkpoint has a {}-atom dictionary, this run {} atoms of dimension {}", path,
                  dictionary.shape.empty() ? 0 : dictionary.shape[0], K, d);
  const bool has_decoder_bias = model_.decoder_bias.size() > 0;
  DICTLEARN_CHECK(has_decoder_bias == (file.tensors.count("decoder_bias") > 0),
                  "{}: checkpoint {} a decoder bias, this run {}", path,
                  has_decoder_bias ? "lacks" : "has", has_decoder_bias ? "has one" : "has none");
  auto restore = [&](const std::string& prefix, Gradients<T>& g) {
    fill(g.dictionary, require(file, prefix + "dictionary", K * d, path));
    fill(g.encoder_weight, require(file, prefix + "attributor.0.weight", K * d, path));
    fill(g.encoder_bias, require(file, prefix + "attributor.0.bias", K, path));
    if (has_decoder_bias) fill(g.decoder_bias, require(file, prefix + "decoder_bias", d, path));
  };
  Gradients<T> parameters{model_.dictionary, model_.encoder_weight, model_.encoder_bias,
                          model_.decoder_bias};
  restore("", parameters);
  restore("adam.m.", first_moment_);
  restore("adam.v.", second_moment_);
  model_.dictionary = parameters.dictionary;
  model_.encoder_weight = parameters.encoder_weight;
  model_.encoder_bias = parameters.encoder_bias;
  if (has_decoder_bias) model_.decoder_bias = parameters.decoder_bias;
  model_.encoder.threshold = parse_number<double>(file, "threshold", path);

  const int64_t epochs_done = parse_number<int64_t>(file, "checkpoint.epochs_done", path);
  DICTLEARN_CHECK(epochs_done >= 0, "{}: checkpoint metadata 'checkpoint.epochs_done' is negative", path);
  const Tensor& losses = require(file, "train.losses", static_cast<size_t>(epochs_done), path);
  losses_.assign(losses.values.begin(), losses.values.end());
  const Tensor& since = require(file, "train.samples_since_fired", K, path);
  for (int64_t k = 0; k < K; ++k) samples_since_fired_[k] = static_cast<int64_t>(since.values[k]);
  step_ = parse_number<int64_t>(file, "checkpoint.step", path);
  threshold_updates_ = parse_number<int64_t>(file, "checkpoint.threshold_updates", path);
  best_loss_ = parse_number<double>(file, "checkpoint.best_loss", path);
  epochs_without_improvement_ = parse_number<int>(file, "checkpoint.epochs_without_improvement", path);
  std::istringstream engine(meta(file, "checkpoint.shuffle_state", path));
  engine >> shuffle_;
  DICTLEARN_CHECK(!engine.fail(), "{}: checkpoint's shuffle state is unreadable", path);
  return file;
}

template void Trainer<float>::save_checkpoint(const std::string&, const Matrix<float>&,
                                              const TensorFile&) const;
template void Trainer<double>::save_checkpoint(const std::string&, const Matrix<double>&,
                                               const TensorFile&) const;
template TensorFile Trainer<float>::load_checkpoint(const std::string&, const Matrix<float>&);
template TensorFile Trainer<double>::load_checkpoint(const std::string&, const Matrix<double>&);

}  // namespace dictlearn
