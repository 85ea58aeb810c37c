// libFuzzer target: the safetensors reader (read_safetensors).
//
// Beyond "no crash, only dictlearn::Error": the tensors of a file that reads
// must fit, together, in its data bytes (no two may share bytes, or a small
// file could make the reader allocate without bound), and every tensor's
// value count must match its shape.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "dictlearn/safetensors.hpp"
#include "fuzz_input.hpp"

using dictlearn::fuzz::expect_ok_or_error;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static dictlearn::fuzz::MemoryFile file;
  file.set(data, size);
  expect_ok_or_error([&] {
    const dictlearn::TensorFile tensors = dictlearn::read_safetensors(file.path());
    size_t bytes = 0;
    for (const auto& [name, tensor] : tensors.tensors) {
      size_t count = 1;
      for (const int64_t dim : tensor.shape) count *= static_cast<size_t>(dim);
      if (count != tensor.values.size()) std::abort();
      bytes += count * (tensor.dtype == dictlearn::DType::float32 ? 4 : 8);
    }
    uint64_t header_length = 0;
    for (int i = 7; i >= 0; --i) header_length = (header_length << 8) | data[i];
    if (bytes > size - 8 - header_length) std::abort();
  });
  return 0;
}
