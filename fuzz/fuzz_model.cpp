// libFuzzer target: model loading (load_model<float>, load_model<double>,
// model_dtype) on files that are, or nearly are, safetensors.
//
// Two modes, picked by the first byte:
//  - '~': structured. The rest of the input drives a generator that writes a
//    well-formed safetensors file whose content is wrong for a model: missing
//    or extra tensors, other dtypes, ranks and shapes (0, 1, 2^31, 2^40, 2^62,
//    -1, 1.5), offsets that are off by a little or a lot, non-finite values,
//    metadata with unknown encoders, bad numbers or non-string values. Random bytes rarely
//    make valid JSON, so this reaches load_model's own checks far more often.
//  - anything else: the input is the file itself (the seeds are real models).
//
// Beyond "no crash, only dictlearn::Error": a model that loads is consistent
// (validate_model passes again) and fits in the file's bytes.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <string>
#include <vector>

#include "dictlearn/model.hpp"
#include "fuzz_input.hpp"

using dictlearn::fuzz::expect_ok_or_error;
using dictlearn::fuzz::json_string;

namespace {

std::string pick_dimension(FuzzedDataProvider& input, uint64_t& count, bool& count_known) {
  static const char* const odd[] = {"2147483648",
                                    "1099511627776",
                                    "4611686018427387904",
                                    "18446744073709551615",
                                    "18446744073709551616",
                                    "-1",
                                    "1.5",
                                    "1e3",
                                    "null",
                                    "\"2\"",
                                    "[2]"};
  const int choice = input.ConsumeIntegralInRange<int>(0, 15);
  if (choice < 5) {
    count *= static_cast<uint64_t>(choice);
    return std::to_string(choice);
  }
  if (choice < 10) {
    const auto dim = input.ConsumeIntegralInRange<uint64_t>(0, 64);
    count *= dim;
    return std::to_string(dim);
  }
  const std::string text = odd[input.ConsumeIntegralInRange<size_t>(0, std::size(odd) - 1)];
  count_known = false;
  return text;
}

/// A safetensors file from the generator's choices (see the file comment).
std::string make_file(FuzzedDataProvider& input) {
  static const char* const names[] = {"dictionary", "attributor.0.weight", "attributor.0.bias",
                                      "decoder_bias", "__metadata__"};
  static const char* const dtypes[] = {"F32", "F64", "F16", "BF16", "I64", "U8", "f32", ""};
  std::string header = "{";
  std::vector<std::string> blobs;
  uint64_t offset = 0;
  const int entries = input.ConsumeIntegralInRange<int>(0, 6);
  for (int e = 0; e < entries; ++e) {
    if (header.size() > 1) header += ',';
    const size_t which = input.ConsumeIntegralInRange<size_t>(0, std::size(names) - 1);
    const std::string name = which < std::size(names) - 1 || input.ConsumeBool()
                                 ? std::string(names[which])
                                 : input.ConsumeRandomLengthString(12);
    if (name == "__metadata__") {
      static const char* const keys[] = {
          "encoder",        "temperature", "k",   "threshold", "format",
          "format_version", "n_atoms",     "dim", "dtype",     "lr"};
      // Encoder names and numbers, valid and not, for whichever key they land on.
      static const char* const values[] = {
          "softmax", "Softmax", "",    "omp",   "topk",   "top_k", "relu", "nan", "inf",       "-1",
          "0",       "2",       "0.5", "1e400", "1e-400", "0x10",  " 3",   "3 ",  "2147483648"};
      header += "\"__metadata__\":{";
      const int n = input.ConsumeIntegralInRange<int>(0, 4);
      for (int i = 0; i < n; ++i) {
        if (i > 0) header += ',';
        header += json_string(keys[input.ConsumeIntegralInRange<size_t>(0, std::size(keys) - 1)]);
        header += ':';
        switch (input.ConsumeIntegralInRange<int>(0, 3)) {
          case 0:
            header +=
                json_string(values[input.ConsumeIntegralInRange<size_t>(0, std::size(values) - 1)]);
            break;
          case 1:
            header += json_string(input.ConsumeRandomLengthString(16));
            break;
          case 2:
            header += std::to_string(input.ConsumeIntegral<int>());
            break;
          default:
            header += "{\"a\":[1,2]}";
        }
      }
      header += '}';
      continue;
    }
    const std::string dtype =
        dtypes[input.ConsumeIntegralInRange<size_t>(0, std::size(dtypes) - 1)];
    const uint64_t item = dtype == "F64" || dtype == "I64" ? 8 : dtype == "F32" ? 4 : 2;
    const int rank = input.ConsumeIntegralInRange<int>(0, 3);
    std::string shape = "[";
    uint64_t count = 1;
    bool count_known = true;
    for (int d = 0; d < rank; ++d) {
      if (d > 0) shape += ',';
      shape += pick_dimension(input, count, count_known);
    }
    shape += ']';
    uint64_t bytes = count_known ? count * item : input.ConsumeIntegralInRange<uint64_t>(0, 64);
    if (bytes > (1u << 16)) bytes = input.ConsumeIntegralInRange<uint64_t>(0, 64);
    uint64_t begin = offset, end = offset + bytes;
    switch (input.ConsumeIntegralInRange<int>(0, 7)) {
      case 0:
        end += input.ConsumeIntegralInRange<uint64_t>(1, 8);
        break;
      case 1:
        if (end > begin) --end;
        break;
      case 2:
        begin = 0;  // overlaps an earlier tensor
        end = bytes;
        break;
      case 3:
        end = uint64_t{1} << 40;
        break;
      default:
        break;
    }
    header += json_string(name) + ":{\"dtype\":" + json_string(dtype) + ",\"shape\":" + shape +
              ",\"data_offsets\":[" + std::to_string(begin) + "," + std::to_string(end) + "]}";
    if (end >= begin && end - begin <= (1u << 16) && begin == offset) {
      // The tensor's bytes: fuzzer-chosen (NaN, Inf, huge values), zero-padded.
      std::string blob = input.ConsumeBytesAsString(end - begin);
      blob.resize(end - begin, '\0');
      blobs.push_back(std::move(blob));
      offset = end;
    }
  }
  header += '}';
  if (input.ConsumeBool()) header.append(input.ConsumeIntegralInRange<size_t>(0, 7), ' ');
  std::string file(8, '\0');
  uint64_t length = header.size();
  if (input.ConsumeIntegralInRange<int>(0, 15) == 0)
    length += input.ConsumeIntegralInRange<int>(-2, 2);
  for (int i = 0; i < 8; ++i) file[i] = static_cast<char>(length >> (8 * i));
  file += header;
  for (const std::string& blob : blobs) file += blob;
  if (input.ConsumeIntegralInRange<int>(0, 7) == 0) file.resize(file.size() / 2);
  return file;
}

template <typename T>
void load_and_check(const std::string& path, size_t size) {
  const dictlearn::Model<T> model = dictlearn::load_model<T>(path);
  try {
    dictlearn::validate_model(model, path);
  } catch (const dictlearn::Error&) {
    std::abort();  // load_model returned a model that its own checks refuse
  }
  const size_t values = static_cast<size_t>(model.dictionary.size() + model.encoder_weight.size() +
                                            model.encoder_bias.size());
  if (values * 2 > size) std::abort();  // 2 bytes: less than any supported dtype takes
  if (model.n_atoms() < 1 || model.dim() < 1) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static dictlearn::fuzz::MemoryFile file;
  std::string bytes;
  if (size > 0 && data[0] == '~') {
    FuzzedDataProvider input(data + 1, size - 1);
    bytes = make_file(input);
  } else {
    bytes.assign(reinterpret_cast<const char*>(data), size);
  }
  file.set(bytes.data(), bytes.size());
  expect_ok_or_error([&] { dictlearn::model_dtype(file.path()); });
  expect_ok_or_error([&] { load_and_check<float>(file.path(), bytes.size()); });
  expect_ok_or_error([&] { load_and_check<double>(file.path(), bytes.size()); });
  return 0;
}
