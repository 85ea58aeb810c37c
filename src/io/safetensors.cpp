// Reading and writing safetensors files (F32 and F64 tensors, string metadata).
//
// Everything the header announces is checked against the file size before any
// tensor is allocated, so a corrupt or hostile header cannot make us allocate
// more than the file holds.
#include "dictlearn/safetensors.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/check.hpp"
#include "dictlearn/io.hpp"
#include "io/safetensors_write.hpp"

namespace dictlearn {
namespace {

using nlohmann::json;

// Tensor bytes are copied to and from float/double storage directly.
static_assert(std::endian::native == std::endian::little,
              "dictlearn's safetensors code assumes a little-endian host");

/// The reference implementation's limit; a larger header is surely corrupt.
constexpr uint64_t max_header_size = 100'000'000;

/// Nesting a header may have; valid ones have 3.
constexpr int max_json_depth = 16;

constexpr const char* safetensors_dtype(DType dtype) {
  return dtype == DType::float32 ? "F32" : "F64";
}

constexpr size_t item_size(DType dtype) { return dtype == DType::float32 ? 4 : 8; }

/// "(2, 3)" for error messages.
std::string shape_text(const std::vector<int64_t>& shape) {
  return fmt::format("({})", fmt::join(shape, ", "));
}

/// Closes the file on every path out of read_safetensors.
struct FileCloser {
  std::FILE* file;
  ~FileCloser() { std::fclose(file); }
};

void read_exact(std::FILE* file, void* data, size_t size, const std::string& path) {
  if (std::fread(data, 1, size, file) != size) {
    if (std::ferror(file)) DICTLEARN_FAIL("{}: cannot read: {}", path, std::strerror(errno));
    DICTLEARN_FAIL("{}: truncated: the file ended while reading", path);
  }
}

/// Copies stored values (`count` of them, as Stored) into doubles.
template <typename Stored>
void read_values(std::FILE* file, double* out, size_t count, const std::string& path) {
  constexpr size_t chunk = size_t{1} << 16;
  std::vector<Stored> buffer(std::min(count, chunk));
  for (size_t done = 0; done < count;) {
    const size_t n = std::min(chunk, count - done);
    read_exact(file, buffer.data(), n * sizeof(Stored), path);
    std::copy(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(n), out + done);
    done += n;
  }
}

/// The shape's element count, or false when a dimension is negative or the
/// product (times 8 bytes) overflows.
bool element_count(const std::vector<int64_t>& shape, uint64_t& count) {
  count = 1;
  for (const int64_t dim : shape) {
    if (dim < 0 || __builtin_mul_overflow(count, static_cast<uint64_t>(dim), &count)) return false;
  }
  return count <= UINT64_MAX / 8;
}

/// A tensor's header entry, validated; values are left empty for the caller.
struct TensorEntry {
  Tensor tensor;
  uint64_t begin = 0;  ///< offset of its data from the end of the header
  size_t count = 0;    ///< number of values
};

TensorEntry read_tensor_entry(const std::string& path, const std::string& name, const json& entry,
                              uint64_t data_size) {
  DICTLEARN_CHECK(entry.is_object(), "{}: tensor '{}': the header entry is not a JSON object", path,
                  name);
  Tensor tensor;
  const auto dtype = entry.find("dtype");
  DICTLEARN_CHECK(dtype != entry.end() && dtype->is_string(), "{}: tensor '{}': no dtype string",
                  path, name);
  const std::string& dtype_text = dtype->get_ref<const std::string&>();
  if (dtype_text == "F32") {
    tensor.dtype = DType::float32;
  } else if (dtype_text == "F64") {
    tensor.dtype = DType::float64;
  } else {
    DICTLEARN_FAIL("{}: tensor '{}': unsupported dtype '{}' (dictlearn reads F32 or F64)", path,
                   name, dtype_text);
  }

  const auto shape = entry.find("shape");
  DICTLEARN_CHECK(shape != entry.end() && shape->is_array(), "{}: tensor '{}': no shape array",
                  path, name);
  for (const json& dim : *shape) {
    DICTLEARN_CHECK(dim.is_number_unsigned() && dim.get<uint64_t>() <= uint64_t{INT64_MAX},
                    "{}: tensor '{}': shape {} is not a list of non-negative integers", path, name,
                    shape->dump());
    tensor.shape.push_back(dim.get<int64_t>());
  }
  uint64_t count = 0;
  DICTLEARN_CHECK(element_count(tensor.shape, count), "{}: tensor '{}': shape {} is too large",
                  path, name, shape_text(tensor.shape));

  const auto offsets = entry.find("data_offsets");
  DICTLEARN_CHECK(offsets != entry.end() && offsets->is_array() && offsets->size() == 2 &&
                      (*offsets)[0].is_number_unsigned() && (*offsets)[1].is_number_unsigned(),
                  "{}: tensor '{}': data_offsets must be [begin, end], two non-negative integers",
                  path, name);
  const auto begin = (*offsets)[0].get<uint64_t>();
  const auto end = (*offsets)[1].get<uint64_t>();
  DICTLEARN_CHECK(
      begin <= end && end <= data_size,
      "{}: tensor '{}': data_offsets [{}, {}] lie outside the {} data bytes of the file", path,
      name, begin, end, data_size);
  const uint64_t bytes = count * item_size(tensor.dtype);
  DICTLEARN_CHECK(
      end - begin == bytes,
      "{}: tensor '{}': data_offsets [{}, {}] span {} bytes but shape {} of {} needs {}", path,
      name, begin, end, end - begin, shape_text(tensor.shape), dtype_text, bytes);
  return {std::move(tensor), begin, static_cast<size_t>(count)};
}

}  // namespace

TensorFile read_safetensors(const std::string& path) {
  std::FILE* raw = std::fopen(path.c_str(), "rb");
  if (raw == nullptr) DICTLEARN_FAIL("{}: cannot open: {}", path, std::strerror(errno));
  const FileCloser closer{raw};
  struct stat info;
  if (::fstat(::fileno(raw), &info) != 0) {
    DICTLEARN_FAIL("{}: cannot open: {}", path, std::strerror(errno));
  }
  if (S_ISDIR(info.st_mode)) DICTLEARN_FAIL("{}: cannot open: {}", path, std::strerror(EISDIR));
  const auto file_size = static_cast<uint64_t>(info.st_size);

  DICTLEARN_CHECK(file_size >= 8,
                  "{}: not a safetensors file ({} bytes, less than the 8-byte header length)", path,
                  file_size);
  unsigned char length_bytes[8];
  read_exact(raw, length_bytes, 8, path);
  uint64_t header_length = 0;
  for (int i = 7; i >= 0; --i) header_length = (header_length << 8) | length_bytes[i];
  DICTLEARN_CHECK(header_length <= file_size - 8,
                  "{}: not a safetensors file (header length {} exceeds the {} bytes that follow)",
                  path, header_length, file_size - 8);
  DICTLEARN_CHECK(header_length <= max_header_size,
                  "{}: not a safetensors file (header length {} exceeds the {}-byte limit)", path,
                  header_length, max_header_size);

  std::string header_text(header_length, '\0');
  read_exact(raw, header_text.data(), header_text.size(), path);
  json header;
  try {
    // A valid header nests 3 levels ({"name": {"shape": [...]}}). Deeper input
    // is refused while parsing: printing it in an error (dump) recurses per
    // level and would overflow the stack on a header of a million '['.
    header = json::parse(header_text, [&](int depth, json::parse_event_t, json&) {
      DICTLEARN_CHECK(depth <= max_json_depth,
                      "{}: not a safetensors file (the header nests deeper than {} levels)", path,
                      max_json_depth);
      return true;
    });
  } catch (const json::exception& error) {
    // parse_error, or out_of_range for a number beyond double ("1e400").
    // Drop nlohmann's "[json.exception.parse_error.101] " prefix.
    std::string_view what = error.what();
    if (const size_t close = what.find("] "); close != std::string_view::npos) {
      what.remove_prefix(close + 2);
    }
    DICTLEARN_FAIL("{}: not a safetensors file (the header is not valid JSON: {})", path, what);
  }
  DICTLEARN_CHECK(header.is_object(),
                  "{}: not a safetensors file (the header is JSON but not an object)", path);

  const uint64_t data_start = 8 + header_length;
  const uint64_t data_size = file_size - data_start;
  TensorFile result;
  std::vector<std::pair<std::string, TensorEntry>> entries;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      DICTLEARN_CHECK(entry.is_object(), "{}: __metadata__ is not a JSON object", path);
      for (const auto& [key, value] : entry.items()) {
        DICTLEARN_CHECK(value.is_string(), "{}: __metadata__ '{}' is not a string (it is {})", path,
                        key, value.dump());
        result.metadata[key] = value.get<std::string>();
      }
      continue;
    }
    entries.emplace_back(name, read_tensor_entry(path, name, entry, data_size));
  }
  // Each tensor lies inside the data, but tensors sharing bytes would let a
  // small file announce, and make us allocate, any multiple of its size.
  std::vector<const std::pair<std::string, TensorEntry>*> by_offset;
  for (const auto& named : entries) by_offset.push_back(&named);
  std::stable_sort(by_offset.begin(), by_offset.end(),
                   [](const auto* a, const auto* b) { return a->second.begin < b->second.begin; });
  uint64_t previous_end = 0;
  const std::string* previous_name = nullptr;
  for (const auto* named : by_offset) {
    const TensorEntry& entry = named->second;
    if (entry.count == 0) continue;
    DICTLEARN_CHECK(previous_name == nullptr || entry.begin >= previous_end,
                    "{}: tensors '{}' and '{}' overlap in the file's data (data_offsets)", path,
                    *previous_name, named->first);
    previous_end = entry.begin + entry.count * item_size(entry.tensor.dtype);
    previous_name = &named->first;
  }

  for (auto& [name, entry] : entries) {
    auto& [tensor, begin, count] = entry;
    tensor.values.resize(count);
    if (std::fseek(raw, static_cast<long>(data_start + begin), SEEK_SET) != 0) {
      DICTLEARN_FAIL("{}: cannot read: {}", path, std::strerror(errno));
    }
    if (tensor.dtype == DType::float32) {
      read_values<float>(raw, tensor.values.data(), count, path);
    } else {
      read_values<double>(raw, tensor.values.data(), count, path);
    }
    result.tensors.emplace(name, std::move(tensor));
  }
  return result;
}

void write_safetensors(const std::string& path, const TensorFile& file) {
  std::map<std::string, detail::TensorSource> sources;
  for (const auto& [name, tensor] : file.tensors) {
    uint64_t count = 0;
    DICTLEARN_CHECK(element_count(tensor.shape, count),
                    "{}: tensor '{}': shape {} has a negative or too large dimension", path, name,
                    shape_text(tensor.shape));
    DICTLEARN_CHECK(count == tensor.values.size(),
                    "{}: tensor '{}': shape {} holds {} values but {} were given", path, name,
                    shape_text(tensor.shape), count, tensor.values.size());
    sources[name] = {tensor.dtype, tensor.shape, count, nullptr, tensor.values.data()};
  }
  detail::write_safetensors(path, sources, file.metadata);
}

namespace detail {

void write_safetensors(const std::string& path, const std::map<std::string, TensorSource>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  uint64_t offset = 0;
  // json objects keep keys sorted like std::map, so iterating the map lays
  // the data out in the order the header lists it.
  for (const auto& [name, tensor] : tensors) {
    DICTLEARN_CHECK(name != "__metadata__", "{}: '__metadata__' cannot be a tensor name", path);
    uint64_t count = 0;
    DICTLEARN_CHECK(element_count(tensor.shape, count) && count == tensor.count,
                    "{}: tensor '{}': shape {} does not hold {} values", path, name,
                    shape_text(tensor.shape), tensor.count);
    const uint64_t bytes = count * item_size(tensor.dtype);
    header[name] = {{"dtype", safetensors_dtype(tensor.dtype)},
                    {"shape", tensor.shape},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;

  std::string text;
  try {
    text = header.dump();
  } catch (const json::type_error&) {
    DICTLEARN_FAIL("{}: a tensor name or metadata string is not valid UTF-8", path);
  }
  // Pad with spaces so the data starts 8-byte aligned, as the reference
  // implementation does (readers may then map F64 data in place).
  text.append((8 - text.size() % 8) % 8, ' ');

  unsigned char length_bytes[8];
  for (int i = 0; i < 8; ++i) length_bytes[i] = static_cast<unsigned char>(text.size() >> (8 * i));

  AtomicFile out(path);
  out.write(length_bytes, sizeof length_bytes);
  out.write(text);
  for (const auto& [name, tensor] : tensors) {
    if (tensor.raw) {
      out.write(tensor.raw, tensor.count * item_size(tensor.dtype));
    } else if (tensor.dtype == DType::float64) {
      out.write(tensor.values, tensor.count * sizeof(double));
    } else {
      constexpr uint64_t chunk = uint64_t{1} << 16;
      std::vector<float> buffer;
      for (uint64_t done = 0; done < tensor.count; done += chunk) {
        const uint64_t n = std::min(chunk, tensor.count - done);
        buffer.assign(tensor.values + done, tensor.values + done + n);
        out.write(buffer.data(), n * sizeof(float));
      }
    }
  }
  out.commit();
}

}  // namespace detail
}  // namespace dictlearn
