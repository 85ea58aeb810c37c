// Internal: the safetensors writer on tensors held anywhere -- a TensorFile's
// double values, or a model's own arrays written in place (no copy of the
// model while saving).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dictlearn/types.hpp"

namespace dictlearn::detail {

/// One tensor to write: `count` values, either `raw` (already in `dtype`) or
/// `values` (doubles, converted to `dtype` while writing).
struct TensorSource {
  DType dtype = DType::float32;
  std::vector<int64_t> shape;
  uint64_t count = 0;
  const void* raw = nullptr;
  const double* values = nullptr;
};

/// Writes the tensors (laid out in name order, as the header lists them) and
/// the metadata, atomically. Throws Error naming the file.
void write_safetensors(const std::string& path, const std::map<std::string, TensorSource>& tensors,
                       const std::map<std::string, std::string>& metadata);

}  // namespace dictlearn::detail
