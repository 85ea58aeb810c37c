// dictlearn: the safetensors container (https://github.com/huggingface/safetensors).
//
// Layout: 8-byte little-endian header length n, n bytes of JSON header
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//  "__metadata__": {"key": "value"}}, then the tensors' bytes.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dictlearn/types.hpp"

namespace dictlearn {

/// One tensor of a safetensors file: float32 or float64 data, row-major.
struct Tensor {
  DType dtype = DType::float32;
  std::vector<int64_t> shape;
  std::vector<double> values;  ///< converted to double; exact for both dtypes
};

/// The whole file: tensors by name and the string metadata.
struct TensorFile {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
};

/// Reads a safetensors file holding F32/F64 tensors. Throws Error naming the
/// file for: unreadable, not safetensors (bad header length or JSON), an
/// unsupported dtype (named), offsets outside the file or inconsistent with
/// the shape. Rejects a header length larger than the file before allocating.
TensorFile read_safetensors(const std::string& path);

/// Writes tensors (each stored with its own dtype) and metadata, atomically.
void write_safetensors(const std::string& path, const TensorFile& file);

}  // namespace dictlearn
