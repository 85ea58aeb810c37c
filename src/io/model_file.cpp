// Model files: safetensors with the seed module's state_dict keys.
#include <cmath>
#include <map>
#include <string>

#include "core/check.hpp"
#include "dictlearn/model.hpp"
#include "dictlearn/parameters.hpp"
#include "dictlearn/safetensors.hpp"
#include "io/safetensors_write.hpp"

namespace dictlearn {
namespace {

constexpr const char* kDictionary = "dictionary";
constexpr const char* kWeight = "attributor.0.weight";
constexpr const char* kBias = "attributor.0.bias";
constexpr const char* kDecoderBias = "decoder_bias";
/// The metadata `encoder` of a model without one (a classical learner's).
constexpr const char* kNoEncoder = "none";

double metadata_number(const std::map<std::string, std::string>& metadata, const std::string& key,
                       double fallback, const std::string& path) {
  auto it = metadata.find(key);
  if (it == metadata.end()) return fallback;
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(it->second, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  DICTLEARN_CHECK(used > 0 && used == it->second.size(), "{}: metadata '{}': '{}' is not a number",
                  path, key, it->second);
  return value;
}

const Tensor& find_tensor(const TensorFile& file, const std::string& name, const std::string& path,
                          size_t rank) {
  auto it = file.tensors.find(name);
  DICTLEARN_CHECK(it != file.tensors.end(), "{}: missing tensor '{}' (not a dictlearn model?)",
                  path, name);
  DICTLEARN_CHECK(it->second.shape.size() == rank, "{}: tensor '{}' has {} dimensions, expected {}",
                  path, name, it->second.shape.size(), rank);
  return it->second;
}

}  // namespace

template <typename T>
void save_model(const std::string& path, const Model<T>& model) {
  validate_model(model, path);
  // The tensors are written from the model's own arrays: no copy while saving.
  constexpr DType dtype = sizeof(T) == 4 ? DType::float32 : DType::float64;
  const int64_t atoms = model.n_atoms(), dim = model.dim();
  const uint64_t kd = static_cast<uint64_t>(atoms * dim);
  std::map<std::string, detail::TensorSource> tensors;
  tensors[kDictionary] = {dtype, {atoms, dim}, kd, model.dictionary.data(), nullptr};
  if (model.has_encoder()) {
    tensors[kWeight] = {dtype, {atoms, dim}, kd, model.encoder_weight.data(), nullptr};
    tensors[kBias] = {
        dtype, {atoms}, static_cast<uint64_t>(atoms), model.encoder_bias.data(), nullptr};
  } else {
    // Its codes come from the coder it records: a file that names none could not be used.
    recorded_coding(model.metadata, path);
  }
  if (model.decoder_bias.size() > 0) {
    tensors[kDecoderBias] = {
        dtype, {dim}, static_cast<uint64_t>(dim), model.decoder_bias.data(), nullptr};
  }
  // std::string values ("1"s): assigning a short literal to a map's string is
  // where GCC 12 reports a false -Wrestrict overlap (its bug 105329).
  using namespace std::string_literals;
  std::map<std::string, std::string> metadata = model.metadata;
  metadata["format"] = "dictlearn.model"s;
  metadata["format_version"] = "1"s;
  if (model.has_encoder()) {
    metadata["encoder"] = encoder_name(model.encoder.kind);
    metadata["temperature"] = fmt::format("{}", model.encoder.temperature);
    metadata["k"] = std::to_string(model.encoder.k);
    metadata["threshold"] = fmt::format("{}", model.encoder.threshold);
  } else {
    metadata["encoder"] = kNoEncoder;
    for (const char* key : {"temperature", "k", "threshold"}) metadata.erase(key);
  }
  metadata["n_atoms"] = std::to_string(atoms);
  metadata["dim"] = std::to_string(dim);
  metadata["dtype"] = sizeof(T) == 4 ? "float32"s : "float64"s;
  detail::write_safetensors(path, tensors, metadata);
}

template <typename T>
Model<T> load_model(const std::string& path) {
  const TensorFile file = read_safetensors(path);
  const Tensor& dictionary = find_tensor(file, kDictionary, path, 2);
  auto encoder = file.metadata.find("encoder");
  const bool coded = encoder != file.metadata.end() && encoder->second == kNoEncoder;
  if (coded) {
    for (const char* name : {kWeight, kBias}) {
      DICTLEARN_CHECK(file.tensors.count(name) == 0,
                      "{}: metadata 'encoder' is {} (a model without an encoder) but the file "
                      "holds tensor '{}'",
                      path, kNoEncoder, name);
    }
    recorded_coding(file.metadata, path);
  }
  Model<T> model;
  model.dictionary.resize(dictionary.shape[0], dictionary.shape[1]);
  for (Eigen::Index i = 0; i < model.dictionary.size(); ++i) {
    model.dictionary.data()[i] = static_cast<T>(dictionary.values[i]);
  }
  auto read_decoder_bias = [&] {
    if (file.tensors.count(kDecoderBias) == 0) return;
    const Tensor& tensor = find_tensor(file, kDecoderBias, path, 1);
    model.decoder_bias.resize(tensor.shape[0]);
    for (Eigen::Index i = 0; i < model.decoder_bias.size(); ++i) {
      model.decoder_bias[i] = static_cast<T>(tensor.values[i]);
    }
  };
  model.metadata = file.metadata;
  if (coded) {
    read_decoder_bias();
    validate_model(model, path);
    return model;
  }
  const Tensor& weight = find_tensor(file, kWeight, path, 2);
  const Tensor& bias = find_tensor(file, kBias, path, 1);
  model.encoder_weight.resize(weight.shape[0], weight.shape[1]);
  for (Eigen::Index i = 0; i < model.encoder_weight.size(); ++i) {
    model.encoder_weight.data()[i] = static_cast<T>(weight.values[i]);
  }
  model.encoder_bias.resize(bias.shape[0]);
  for (Eigen::Index i = 0; i < model.encoder_bias.size(); ++i) {
    model.encoder_bias[i] = static_cast<T>(bias.values[i]);
  }
  read_decoder_bias();
  // A state_dict saved from the seed's PyTorch module carries no metadata: softmax.
  if (encoder != file.metadata.end()) {
    model.encoder.kind = parse_encoder(encoder->second, path + ": metadata 'encoder'");
  }
  model.encoder.temperature = metadata_number(file.metadata, "temperature", 1.0, path);
  const double k = metadata_number(file.metadata, "k", 0.0, path);
  DICTLEARN_CHECK(k >= 0 && k <= 1e9 && k == std::floor(k), "{}: metadata 'k': {} is not a count",
                  path, k);
  model.encoder.k = static_cast<int>(k);
  model.encoder.threshold = metadata_number(file.metadata, "threshold", 0.0, path);
  validate_model(model, path);
  return model;
}

DType model_dtype(const std::string& path) {
  const TensorFile file = read_safetensors(path);
  return find_tensor(file, kDictionary, path, 2).dtype;
}

template void save_model<float>(const std::string&, const Model<float>&);
template void save_model<double>(const std::string&, const Model<double>&);
template Model<float> load_model<float>(const std::string&);
template Model<double> load_model<double>(const std::string&);

}  // namespace dictlearn
