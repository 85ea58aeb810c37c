// Model files: safetensors with the seed module's state_dict keys.
#include <string>

#include "check.hpp"
#include "dictlearn/model.hpp"
#include "dictlearn/safetensors.hpp"

namespace dictlearn {
namespace {

constexpr const char* kDictionary = "dictionary";
constexpr const char* kWeight = "attributor.0.weight";
constexpr const char* kBias = "attributor.0.bias";

template <typename T>
Tensor to_tensor(const T* data, std::vector<int64_t> shape, Eigen::Index size) {
  Tensor tensor;
  tensor.dtype = sizeof(T) == 4 ? DType::float32 : DType::float64;
  tensor.shape = std::move(shape);
  tensor.values.assign(data, data + size);
  return tensor;
}

const Tensor& find_tensor(const TensorFile& file, const std::string& name,
                          const std::string& path, size_t rank) {
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
  TensorFile file;
  const int64_t atoms = model.n_atoms(), dim = model.dim();
  file.tensors[kDictionary] = to_tensor(model.dictionary.data(), {atoms, dim}, atoms * dim);
  file.tensors[kWeight] = to_tensor(model.encoder_weight.data(), {atoms, dim}, atoms * dim);
  file.tensors[kBias] = to_tensor(model.encoder_bias.data(), {atoms}, atoms);
  file.metadata = model.metadata;
  file.metadata["format"] = "dictlearn.model";
  file.metadata["format_version"] = "1";
  file.metadata["encoder"] = encoder_name(model.encoder);
  file.metadata["n_atoms"] = std::to_string(atoms);
  file.metadata["dim"] = std::to_string(dim);
  file.metadata["dtype"] = sizeof(T) == 4 ? "float32" : "float64";
  write_safetensors(path, file);
}

template <typename T>
Model<T> load_model(const std::string& path) {
  const TensorFile file = read_safetensors(path);
  const Tensor& dictionary = find_tensor(file, kDictionary, path, 2);
  const Tensor& weight = find_tensor(file, kWeight, path, 2);
  const Tensor& bias = find_tensor(file, kBias, path, 1);
  Model<T> model;
  model.dictionary.resize(dictionary.shape[0], dictionary.shape[1]);
  for (Eigen::Index i = 0; i < model.dictionary.size(); ++i) {
    model.dictionary.data()[i] = static_cast<T>(dictionary.values[i]);
  }
  model.encoder_weight.resize(weight.shape[0], weight.shape[1]);
  for (Eigen::Index i = 0; i < model.encoder_weight.size(); ++i) {
    model.encoder_weight.data()[i] = static_cast<T>(weight.values[i]);
  }
  model.encoder_bias.resize(bias.shape[0]);
  for (Eigen::Index i = 0; i < model.encoder_bias.size(); ++i) {
    model.encoder_bias[i] = static_cast<T>(bias.values[i]);
  }
  model.metadata = file.metadata;
  // A state_dict saved from the seed's PyTorch module carries no metadata: softmax.
  auto encoder = file.metadata.find("encoder");
  if (encoder != file.metadata.end()) {
    model.encoder = parse_encoder(encoder->second, path + ": metadata 'encoder'");
  }
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
