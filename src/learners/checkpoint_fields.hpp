// Internal: reading and writing the fields of a checkpoint (a safetensors
// file) with errors that name the file and the field.
#pragma once

#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "core/check.hpp"
#include "dictlearn/safetensors.hpp"

namespace dictlearn::detail {

/// A tensor of `array`'s values (any array with data() and size()) in its dtype.
template <typename Array>
Tensor tensor_of(const Array& array, std::vector<int64_t> shape) {
  using Scalar = std::remove_cv_t<std::remove_reference_t<decltype(*array.data())>>;
  Tensor tensor;
  tensor.dtype = sizeof(Scalar) == 4 ? DType::float32 : DType::float64;
  tensor.shape = std::move(shape);
  tensor.values.assign(array.data(), array.data() + array.size());
  return tensor;
}

/// The tensor `name` with `size` values, or an Error naming the file.
inline const Tensor& require(const TensorFile& file, const std::string& name, size_t size,
                             const std::string& path) {
  auto it = file.tensors.find(name);
  DICTLEARN_CHECK(it != file.tensors.end(), "{}: checkpoint lacks tensor '{}'", path, name);
  DICTLEARN_CHECK(it->second.values.size() == size,
                  "{}: checkpoint tensor '{}' has {} values, expected {}", path, name,
                  it->second.values.size(), size);
  return it->second;
}

/// The metadata value of `key`, or an Error naming the file.
inline const std::string& meta(const TensorFile& file, const std::string& key,
                               const std::string& path) {
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
      const long long wide = std::stoll(text, &used);
      // A count that does not fit its type is not a number of this checkpoint's.
      if (wide < std::numeric_limits<Number>::min() || wide > std::numeric_limits<Number>::max())
        used = 0;
      value = static_cast<Number>(wide);
    }
    if (used == text.size()) return value;
  } catch (const std::exception&) {
  }
  DICTLEARN_FAIL("{}: checkpoint metadata '{}': '{}' is not a number", path, key, text);
}

/// `array`'s values from a tensor of as many (require() checked the count).
template <typename Array>
void fill(Array& array, const Tensor& tensor) {
  using Scalar = std::remove_reference_t<decltype(*array.data())>;
  for (Eigen::Index i = 0; i < array.size(); ++i)
    array.data()[i] = static_cast<Scalar>(tensor.values[i]);
}

}  // namespace dictlearn::detail
