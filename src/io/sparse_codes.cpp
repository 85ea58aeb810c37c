// Sparse codes in CSR form and their .npz file format.
//
// An .npz is a zip archive (PKWARE APPNOTE.TXT,
// https://pkware.cachefly.net/webdocs/casestudies/APPNOTE.TXT) of .npy files
// (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html). The writer produces the
// smallest zip numpy's reader (Python's zipfile) accepts:
//   per entry:  local file header (30 bytes + name), then the entry's bytes, STORED
//   then:       one central directory header per entry (46 bytes + name)
//   then:       the end of central directory record (22 bytes)
// Each entry is a version 1.0 .npy: "\x93NUMPY", 1, 0, a 2-byte header length,
// the header dict padded to a multiple of 64 bytes, then the raw little-endian data.
//
// The reader trusts only the central directory for sizes (numpy's own writer
// puts zip64 extra fields in the local headers), checks every offset and size
// against the file size before reading or allocating, and verifies each
// entry's CRC-32.
#include "dictlearn/sparse_codes.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/check.hpp"
#include "io/npy_header.hpp"
#include "dictlearn/io.hpp"

namespace dictlearn {

template <typename T>
void check_sparse_codes(const SparseCodes<T>& codes, const std::string& what) {
  DICTLEARN_CHECK(codes.rows >= 0 && codes.cols >= 0, "{}: negative shape ({}, {})", what,
                  codes.rows, codes.cols);
  DICTLEARN_CHECK(codes.rows < std::numeric_limits<int64_t>::max() &&
                      codes.indptr.size() == static_cast<uint64_t>(codes.rows) + 1,
                  "{}: indptr has {} entries; {} rows need rows + 1 = {}", what,
                  codes.indptr.size(), codes.rows, static_cast<uint64_t>(codes.rows) + 1);
  DICTLEARN_CHECK(codes.indices.size() == codes.values.size(),
                  "{}: indices has {} entries but values has {}", what, codes.indices.size(),
                  codes.values.size());
  const int64_t nnz = codes.nnz();
  DICTLEARN_CHECK(codes.indptr[0] == 0, "{}: indptr[0] is {}, expected 0", what, codes.indptr[0]);
  for (int64_t row = 0; row < codes.rows; ++row) {
    const int64_t begin = codes.indptr[static_cast<size_t>(row)];
    const int64_t end = codes.indptr[static_cast<size_t>(row) + 1];
    DICTLEARN_CHECK(end >= begin,
                    "{}: indptr is not monotone: indptr[{}] = {} is less than indptr[{}] = {}",
                    what, row + 1, end, row, begin);
    DICTLEARN_CHECK(end <= nnz, "{}: indptr[{}] = {} is past the {} stored entries", what, row + 1,
                    end, nnz);
    for (int64_t k = begin; k < end; ++k) {
      const int64_t column = codes.indices[static_cast<size_t>(k)];
      DICTLEARN_CHECK(column >= 0 && column < codes.cols,
                      "{}: row {}: column index {} (entry {}) is out of range [0, {})", what, row,
                      column, k, codes.cols);
      DICTLEARN_CHECK(k == begin || column > codes.indices[static_cast<size_t>(k) - 1],
                      "{}: row {}: column indices are not strictly ascending ({} after {}, entry "
                      "{})",
                      what, row, column, codes.indices[static_cast<size_t>(k) - 1], k);
    }
  }
  DICTLEARN_CHECK(codes.indptr.back() == nnz,
                  "{}: indptr[{}] is {} but there are {} stored entries", what, codes.rows,
                  codes.indptr.back(), nnz);
}

template <typename T>
SparseCodes<T> to_sparse(const Matrix<T>& dense) {
  SparseCodes<T> codes;
  codes.rows = dense.rows();
  codes.cols = dense.cols();
  // Count first so the arrays are allocated once at their final size.
  int64_t nnz = 0;
  for (int64_t i = 0; i < dense.size(); ++i) nnz += dense.data()[i] != T(0);
  codes.indptr.reserve(static_cast<size_t>(codes.rows) + 1);
  codes.indices.reserve(static_cast<size_t>(nnz));
  codes.values.reserve(static_cast<size_t>(nnz));
  codes.indptr.push_back(0);
  for (int64_t row = 0; row < dense.rows(); ++row) {
    for (int64_t column = 0; column < dense.cols(); ++column) {
      const T value = dense(row, column);
      // != rather than a tolerance: the codes' zeros are exact, and NaN is kept
      // so that a broken encoder shows up in the output instead of vanishing.
      if (value != T(0)) {
        codes.indices.push_back(column);
        codes.values.push_back(value);
      }
    }
    codes.indptr.push_back(static_cast<int64_t>(codes.values.size()));
  }
  return codes;
}

template <typename T>
Matrix<T> to_dense(const SparseCodes<T>& codes) {
  check_sparse_codes(codes, "sparse codes");
  DICTLEARN_CHECK(
      codes.cols == 0 || codes.rows <= std::numeric_limits<Eigen::Index>::max() /
                                           static_cast<Eigen::Index>(sizeof(T)) / codes.cols,
      "sparse codes: a dense {} x {} matrix is too large to allocate", codes.rows, codes.cols);
  Matrix<T> dense = Matrix<T>::Zero(codes.rows, codes.cols);
  for (int64_t row = 0; row < codes.rows; ++row) {
    for (int64_t k = codes.indptr[static_cast<size_t>(row)];
         k < codes.indptr[static_cast<size_t>(row) + 1]; ++k) {
      dense(row, codes.indices[static_cast<size_t>(k)]) = codes.values[static_cast<size_t>(k)];
    }
  }
  return dense;
}

namespace {

// Zip and .npy are little-endian; array data is copied to and from memory as is.
static_assert(std::endian::native == std::endian::little,
              "dictlearn's .npz code assumes a little-endian host");

// ---------------------------------------------------------------------------
// CRC-32 (ISO-HDLC, as zip, gzip and PNG use): reflected polynomial 0xEDB88320,
// initial value and final xor 0xFFFFFFFF, one table lookup per byte.

constexpr std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t byte = 0; byte < 256; ++byte) {
    uint32_t crc = byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1) ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
    table[byte] = crc;
  }
  return table;
}
constexpr std::array<uint32_t, 256> crc_table = make_crc_table();

class Crc32 {
 public:
  void update(const void* data, size_t size) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    uint32_t state = state_;
    for (size_t i = 0; i < size; ++i) state = crc_table[(state ^ bytes[i]) & 0xFF] ^ (state >> 8);
    state_ = state;
  }
  uint32_t value() const { return ~state_; }

 private:
  uint32_t state_ = 0xFFFFFFFFu;
};

// ---------------------------------------------------------------------------
// Little-endian fields.

void put16(std::string& out, uint16_t value) {
  out += static_cast<char>(value & 0xFF);
  out += static_cast<char>(value >> 8);
}
void put32(std::string& out, uint32_t value) {
  put16(out, static_cast<uint16_t>(value & 0xFFFF));
  put16(out, static_cast<uint16_t>(value >> 16));
}
uint16_t get16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t get32(const unsigned char* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}

constexpr uint32_t local_header_signature = 0x04034b50;    // "PK\3\4"
constexpr uint32_t central_header_signature = 0x02014b50;  // "PK\1\2"
constexpr uint32_t end_record_signature = 0x06054b50;      // "PK\5\6"
constexpr uint64_t local_header_size = 30;
constexpr uint64_t central_header_size = 46;
constexpr uint64_t end_record_size = 22;
// 0xFFFFFFFF in a 32-bit field means "see the zip64 extra field".
constexpr uint64_t zip32_limit = 0xFFFFFFFFu;
constexpr uint16_t zip_version = 20;  // 2.0: what Python's zipfile writes for STORED entries
// MS-DOS date 1980-01-01, time 00:00: fixed, so equal codes give equal files.
constexpr uint16_t dos_date = (0 << 9) | (1 << 5) | 1;
constexpr uint16_t dos_time = 0;

constexpr char npy_magic[] = "\x93NUMPY";
constexpr size_t npy_magic_size = 6;

const char* const entry_names[] = {"indptr.npy", "indices.npy", "values.npy", "shape.npy"};

// ---------------------------------------------------------------------------
// Writing.

/// The .npy prefix and header (format 1.0) of a 1-D array, padded like numpy
/// pads it so the data starts on a 64-byte boundary of the entry.
std::string npy_header_1d(const char* descr, uint64_t length) {
  std::string header =
      fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({},), }}", descr, length);
  const size_t prefix_size = npy_magic_size + 2 + 2;
  header.append((64 - (prefix_size + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string out(npy_magic, npy_magic_size);
  out += '\x01';
  out += '\x00';
  put16(out, static_cast<uint16_t>(header.size()));
  return out + header;
}

struct OutputEntry {
  std::string name;
  std::string npy_header;
  const void* data = nullptr;
  uint64_t data_size = 0;
  uint64_t offset = 0;  ///< of the local header
  uint32_t crc = 0;
  uint64_t size() const { return npy_header.size() + data_size; }
};

std::string local_header(const OutputEntry& entry) {
  std::string out;
  put32(out, local_header_signature);
  put16(out, zip_version);  // version needed to extract
  put16(out, 0);            // flags
  put16(out, 0);            // method: STORED
  put16(out, dos_time);
  put16(out, dos_date);
  put32(out, entry.crc);
  put32(out, static_cast<uint32_t>(entry.size()));  // compressed size
  put32(out, static_cast<uint32_t>(entry.size()));  // uncompressed size
  put16(out, static_cast<uint16_t>(entry.name.size()));
  put16(out, 0);  // extra field length
  return out + entry.name;
}

std::string central_header(const OutputEntry& entry) {
  std::string out;
  put32(out, central_header_signature);
  put16(out, zip_version);  // version made by (MS-DOS attributes)
  put16(out, zip_version);  // version needed to extract
  put16(out, 0);            // flags
  put16(out, 0);            // method: STORED
  put16(out, dos_time);
  put16(out, dos_date);
  put32(out, entry.crc);
  put32(out, static_cast<uint32_t>(entry.size()));
  put32(out, static_cast<uint32_t>(entry.size()));
  put16(out, static_cast<uint16_t>(entry.name.size()));
  put16(out, 0);  // extra field length
  put16(out, 0);  // comment length
  put16(out, 0);  // disk number start
  put16(out, 0);  // internal attributes
  put32(out, 0);  // external attributes
  put32(out, static_cast<uint32_t>(entry.offset));
  return out + entry.name;
}

// ---------------------------------------------------------------------------
// Reading.

/// A file read at explicit offsets, its size known up front so that every
/// offset and length found inside it is checked before it is used.
class ZipInput {
 public:
  explicit ZipInput(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) DICTLEARN_FAIL("{}: cannot open: {}", path, std::strerror(errno));
    struct stat info;
    int error = 0;
    if (::fstat(fd_, &info) != 0) {
      error = errno;
    } else if (S_ISDIR(info.st_mode)) {
      error = EISDIR;
    }
    if (error != 0) {
      ::close(fd_);
      DICTLEARN_FAIL("{}: cannot open: {}", path, std::strerror(error));
    }
    size_ = static_cast<uint64_t>(info.st_size);
  }
  ~ZipInput() { ::close(fd_); }
  ZipInput(const ZipInput&) = delete;
  ZipInput& operator=(const ZipInput&) = delete;

  /// Reads exactly `size` bytes at `offset`; callers have checked the range
  /// against size(), so a short read means the file shrank while being read.
  void read_at(uint64_t offset, void* data, uint64_t size) const {
    auto* out = static_cast<char*>(data);
    while (size > 0) {
      const ssize_t got = ::pread(fd_, out, size, static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) DICTLEARN_FAIL("{}: cannot read: {}", path_, std::strerror(errno));
      if (got == 0) DICTLEARN_FAIL("{}: truncated: the file ended at byte {}", path_, offset);
      out += got;
      offset += static_cast<uint64_t>(got);
      size -= static_cast<uint64_t>(got);
    }
  }

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

struct ZipEntry {
  std::string name;
  uint16_t flags = 0;
  uint16_t method = 0;
  uint32_t crc = 0;
  uint64_t compressed_size = 0;
  uint64_t size = 0;
  uint64_t local_offset = 0;
};

struct CentralDirectory {
  std::vector<ZipEntry> entries;
  uint64_t offset = 0;  ///< entry data must end before here
};

CentralDirectory read_central_directory(const ZipInput& file) {
  const std::string& path = file.path();
  const uint64_t file_size = file.size();

  unsigned char start[6] = {};
  file.read_at(0, start, std::min<uint64_t>(file_size, sizeof start));
  const bool starts_like_zip = file_size >= 4 && get32(start) == local_header_signature;

  // The end record is the last 22 bytes plus a comment of at most 65535 bytes.
  const uint64_t tail_size = std::min<uint64_t>(file_size, end_record_size + 0xFFFF);
  std::vector<unsigned char> tail(tail_size);
  file.read_at(file_size - tail_size, tail.data(), tail_size);
  std::optional<uint64_t> found;
  for (uint64_t i = tail_size >= end_record_size ? tail_size - end_record_size + 1 : 0; i-- > 0;) {
    if (get32(&tail[i]) == end_record_signature &&
        i + end_record_size + get16(&tail[i + 20]) == tail_size) {
      found = i;
      break;
    }
  }
  if (!found) {
    if (starts_like_zip) {
      DICTLEARN_FAIL("{}: truncated: the zip archive has no end of central directory record", path);
    }
    if (file_size >= npy_magic_size && std::memcmp(start, npy_magic, npy_magic_size) == 0) {
      DICTLEARN_FAIL("{}: not a zip archive (.npz): this is a single .npy array", path);
    }
    DICTLEARN_FAIL("{}: not a zip archive (.npz): no zip end of central directory record", path);
  }
  const unsigned char* end = &tail[*found];
  const uint64_t end_offset = file_size - tail_size + *found;
  const uint16_t disk = get16(end + 4);
  const uint16_t directory_disk = get16(end + 6);
  const uint16_t disk_entries = get16(end + 8);
  const uint16_t count = get16(end + 10);
  const uint64_t directory_size = get32(end + 12);
  const uint64_t directory_offset = get32(end + 16);
  DICTLEARN_CHECK(
      count != 0xFFFF && directory_size != zip32_limit && directory_offset != zip32_limit,
      "{}: zip64 archive (over 4 GiB); dictlearn reads zip archives up to 4 GiB", path);
  DICTLEARN_CHECK(disk == 0 && directory_disk == 0 && disk_entries == count,
                  "{}: multi-volume zip archives are not supported", path);
  DICTLEARN_CHECK(directory_offset <= end_offset && directory_size <= end_offset - directory_offset,
                  "{}: corrupt zip archive: the central directory ({} bytes at offset {}) does "
                  "not end before the end record at offset {}",
                  path, directory_size, directory_offset, end_offset);

  std::vector<unsigned char> directory(directory_size);
  file.read_at(directory_offset, directory.data(), directory_size);
  CentralDirectory result;
  result.offset = directory_offset;
  uint64_t position = 0;
  for (uint16_t index = 0; index < count; ++index) {
    DICTLEARN_CHECK(position + central_header_size <= directory_size &&
                        get32(&directory[position]) == central_header_signature,
                    "{}: corrupt zip archive: central directory entry {} of {} is malformed", path,
                    index, count);
    const unsigned char* header = &directory[position];
    ZipEntry entry;
    entry.flags = get16(header + 8);
    entry.method = get16(header + 10);
    entry.crc = get32(header + 16);
    entry.compressed_size = get32(header + 20);
    entry.size = get32(header + 24);
    const uint64_t name_size = get16(header + 28);
    const uint64_t extra_size = get16(header + 30);
    const uint64_t comment_size = get16(header + 32);
    entry.local_offset = get32(header + 42);
    const uint64_t record_size = central_header_size + name_size + extra_size + comment_size;
    DICTLEARN_CHECK(position + record_size <= directory_size,
                    "{}: corrupt zip archive: central directory entry {} of {} runs past the "
                    "directory's end",
                    path, index, count);
    entry.name.assign(reinterpret_cast<const char*>(header + central_header_size), name_size);
    result.entries.push_back(std::move(entry));
    position += record_size;
  }
  return result;
}

/// Where an entry's bytes are, after its local header (whose name must match).
uint64_t entry_data_offset(const ZipInput& file, const ZipEntry& entry, uint64_t data_end) {
  const std::string& path = file.path();
  DICTLEARN_CHECK(entry.compressed_size != zip32_limit && entry.size != zip32_limit &&
                      entry.local_offset != zip32_limit,
                  "{}: entry '{}' uses zip64 (over 4 GiB); dictlearn reads zip archives up to "
                  "4 GiB",
                  path, entry.name);
  DICTLEARN_CHECK((entry.flags & 1) == 0, "{}: entry '{}' is encrypted", path, entry.name);
  DICTLEARN_CHECK(entry.method == 0,
                  "{}: entry '{}' is compressed (zip method {}); dictlearn reads uncompressed "
                  ".npz archives (np.savez, not np.savez_compressed)",
                  path, entry.name, entry.method);
  DICTLEARN_CHECK(entry.compressed_size == entry.size,
                  "{}: corrupt zip archive: stored entry '{}' has compressed size {} but size {}",
                  path, entry.name, entry.compressed_size, entry.size);
  DICTLEARN_CHECK(
      entry.local_offset <= data_end && local_header_size <= data_end - entry.local_offset,
      "{}: corrupt zip archive: entry '{}' has its local header at offset {}, past "
      "the entries' end at {}",
      path, entry.name, entry.local_offset, data_end);
  unsigned char header[local_header_size];
  file.read_at(entry.local_offset, header, local_header_size);
  DICTLEARN_CHECK(get32(header) == local_header_signature,
                  "{}: corrupt zip archive: no local header for entry '{}' at offset {}", path,
                  entry.name, entry.local_offset);
  const uint64_t name_size = get16(header + 26);
  const uint64_t extra_size = get16(header + 28);
  const uint64_t data_offset = entry.local_offset + local_header_size + name_size + extra_size;
  DICTLEARN_CHECK(data_offset <= data_end && entry.size <= data_end - data_offset,
                  "{}: truncated or corrupt zip archive: entry '{}' ({} bytes at offset {}) runs "
                  "past the entries' end at {}",
                  path, entry.name, entry.size, data_offset, data_end);
  std::string local_name(name_size, '\0');
  file.read_at(entry.local_offset + local_header_size, local_name.data(), name_size);
  DICTLEARN_CHECK(local_name == entry.name,
                  "{}: corrupt zip archive: the local header at offset {} names '{}', the central "
                  "directory '{}'",
                  path, entry.local_offset, local_name, entry.name);
  return data_offset;
}

/// One array entry whose .npy header has been read and checked: its data is
/// `count` items of `descr` at `data_offset`, exactly filling the entry.
struct NpyEntry {
  std::string where;  ///< "<path>: entry '<name>'"
  std::string descr;
  uint64_t data_offset = 0;
  uint64_t count = 0;
  uint32_t stored_crc = 0;
  Crc32 crc;  ///< of the bytes read so far
};

uint64_t descr_size(const std::string& descr) { return descr.back() == '8' ? 8 : 4; }

/// Reads the .npy prefix and header of an entry; `dtypes` are the accepted
/// descrs, `expected` says so in words for the error.
NpyEntry open_npy(const ZipInput& file, const ZipEntry& entry, uint64_t data_offset,
                  std::initializer_list<const char*> dtypes, const char* expected) {
  NpyEntry npy;
  npy.where = fmt::format("{}: entry '{}'", file.path(), entry.name);
  npy.stored_crc = entry.crc;
  const std::string& where = npy.where;

  unsigned char prefix[12];
  const uint64_t prefix_read = std::min<uint64_t>(entry.size, 10);
  file.read_at(data_offset, prefix, prefix_read);
  DICTLEARN_CHECK(
      prefix_read >= npy_magic_size && std::memcmp(prefix, npy_magic, npy_magic_size) == 0,
      "{}: not a .npy array (bad magic)", where);
  DICTLEARN_CHECK(prefix_read == 10, "{}: truncated: the entry ends inside the .npy header", where);
  const int major = prefix[6];
  const int minor = prefix[7];
  DICTLEARN_CHECK((major == 1 || major == 2 || major == 3) && minor == 0,
                  "{}: unsupported .npy format version {}.{} (dictlearn reads 1.0, 2.0 and 3.0)",
                  where, major, minor);
  uint64_t prefix_size = 10;
  uint64_t header_size = get16(prefix + 8);
  if (major > 1) {
    prefix_size = 12;
    DICTLEARN_CHECK(entry.size >= prefix_size,
                    "{}: truncated: the entry ends inside the .npy header", where);
    file.read_at(data_offset + 10, prefix + 10, 2);
    header_size = get32(prefix + 8);
  }
  DICTLEARN_CHECK(header_size <= entry.size - prefix_size,
                  "{}: truncated: the .npy header announces {} bytes but the entry holds {} after "
                  "the format prefix",
                  where, header_size, entry.size - prefix_size);
  std::string text(header_size, '\0');
  file.read_at(data_offset + prefix_size, text.data(), header_size);
  npy.crc.update(prefix, prefix_size);
  npy.crc.update(text.data(), text.size());

  const detail::PyValue* descr = nullptr;
  const detail::PyValue* shape = nullptr;
  bool has_order = false;
  // Structured dtypes nest a little; anything deeper is not a .npy header.
  const auto items = detail::HeaderParser(text, where, /*max_depth=*/8).parse_dict();
  for (const auto& [key, value] : items) {
    if (key == "descr") descr = &value;
    if (key == "shape") shape = &value;
    if (key == "fortran_order") has_order = true;  // either order: the arrays are 1-D
  }
  DICTLEARN_CHECK(descr != nullptr && shape != nullptr && has_order,
                  "{}: malformed .npy header: it needs 'descr', 'fortran_order' and 'shape'",
                  where);
  DICTLEARN_CHECK(descr->kind == detail::PyValue::Kind::string,
                  "{}: unsupported dtype (a structured array); expected {}", where, expected);
  DICTLEARN_CHECK(std::find(dtypes.begin(), dtypes.end(), descr->text) != dtypes.end(),
                  "{}: unsupported dtype '{}'; expected {}", where, descr->text, expected);
  npy.descr = descr->text;
  DICTLEARN_CHECK(shape->kind == detail::PyValue::Kind::sequence && shape->items.size() == 1 &&
                      shape->items[0].kind == detail::PyValue::Kind::integer && !shape->items[0].negative,
                  "{}: the array is not 1-D (its shape is {})", where,
                  shape->kind == detail::PyValue::Kind::sequence ? fmt::format("{}-D", shape->items.size())
                                                         : std::string("not a tuple of sizes"));
  npy.count = shape->items[0].integer;
  npy.data_offset = data_offset + prefix_size + header_size;
  const uint64_t data_size = entry.size - prefix_size - header_size;
  const uint64_t item = descr_size(npy.descr);
  // Compared by division: a hostile count must not overflow into a match.
  DICTLEARN_CHECK(data_size % item == 0 && data_size / item == npy.count,
                  "{}: the header announces {} items of {} bytes but the entry holds {} data "
                  "bytes",
                  where, npy.count, item, data_size);
  return npy;
}

/// Reads the entry's `count` items, stored as `Stored`, into `out` as `Out`
/// (chunked when converting, so no second full-size buffer), then checks the CRC.
template <typename Stored, typename Out>
void read_items(const ZipInput& file, NpyEntry& npy, std::vector<Out>& out) {
  out.resize(npy.count);
  if constexpr (std::is_same_v<Stored, Out>) {
    file.read_at(npy.data_offset, out.data(), npy.count * sizeof(Out));
    npy.crc.update(out.data(), npy.count * sizeof(Out));
  } else {
    constexpr uint64_t chunk = uint64_t{1} << 16;
    std::vector<Stored> buffer(std::min(npy.count, chunk));
    for (uint64_t done = 0; done < npy.count;) {
      const uint64_t n = std::min(chunk, npy.count - done);
      file.read_at(npy.data_offset + done * sizeof(Stored), buffer.data(), n * sizeof(Stored));
      npy.crc.update(buffer.data(), n * sizeof(Stored));
      for (uint64_t i = 0; i < n; ++i) {
        out[done + i] = static_cast<Out>(buffer[i]);
        if constexpr (std::is_floating_point_v<Out>) {
          DICTLEARN_CHECK(!std::isfinite(buffer[i]) || std::isfinite(out[done + i]),
                          "{}: value {} ({}) is out of range for float32", npy.where, done + i,
                          buffer[i]);
        }
      }
      done += n;
    }
  }
  DICTLEARN_CHECK(npy.crc.value() == npy.stored_crc,
                  "{}: CRC-32 mismatch (stored {:08x}, computed {:08x}); the archive is corrupt",
                  npy.where, npy.stored_crc, npy.crc.value());
}

constexpr const char* integer_dtypes = "int64 '<i8' or int32 '<i4'";
constexpr const char* float_dtypes = "float32 '<f4' or float64 '<f8'";

void read_integers(const ZipInput& file, NpyEntry& npy, std::vector<int64_t>& out) {
  if (npy.descr == "<i8") {
    read_items<int64_t>(file, npy, out);
  } else {
    read_items<int32_t>(file, npy, out);
  }
}

}  // namespace

template <typename T>
void write_sparse_codes(const std::string& path, const SparseCodes<T>& codes) {
  check_sparse_codes(codes, path);
  const int64_t shape[2] = {codes.rows, codes.cols};
  const uint64_t nnz = codes.values.size();
  OutputEntry entries[4];
  entries[0] = {entry_names[0], npy_header_1d("<i8", codes.indptr.size()), codes.indptr.data(),
                codes.indptr.size() * sizeof(int64_t)};
  entries[1] = {entry_names[1], npy_header_1d("<i8", nnz), codes.indices.data(),
                nnz * sizeof(int64_t)};
  entries[2] = {entry_names[2], npy_header_1d(std::is_same_v<T, float> ? "<f4" : "<f8", nnz),
                codes.values.data(), nnz * sizeof(T)};
  entries[3] = {entry_names[3], npy_header_1d("<i8", 2), shape, sizeof shape};

  // Lay the archive out before creating the file, so a too-large one leaves nothing behind.
  uint64_t offset = 0;
  uint64_t directory_size = 0;
  for (OutputEntry& entry : entries) {
    entry.offset = offset;
    offset += local_header_size + entry.name.size() + entry.size();
    directory_size += central_header_size + entry.name.size();
  }
  DICTLEARN_CHECK(offset + directory_size < zip32_limit,
                  "{}: the archive would be {} bytes ({} stored entries); archives over 4 GiB "
                  "need zip64, which dictlearn does not write",
                  path, offset + directory_size + end_record_size, nnz);

  for (OutputEntry& entry : entries) {
    Crc32 crc;
    crc.update(entry.npy_header.data(), entry.npy_header.size());
    crc.update(entry.data, entry.data_size);
    entry.crc = crc.value();
  }

  AtomicFile file(path);
  std::string directory;
  for (const OutputEntry& entry : entries) {
    file.write(local_header(entry));
    file.write(entry.npy_header);
    file.write(entry.data, entry.data_size);
    directory += central_header(entry);
  }
  std::string end;
  put32(end, end_record_signature);
  put16(end, 0);  // this disk
  put16(end, 0);  // disk with the central directory
  put16(end, 4);  // entries on this disk
  put16(end, 4);  // entries in all
  put32(end, static_cast<uint32_t>(directory.size()));
  put32(end, static_cast<uint32_t>(offset));
  put16(end, 0);  // comment length
  file.write(directory);
  file.write(end);
  file.commit();
}

template <typename T>
SparseCodes<T> read_sparse_codes(const std::string& path) {
  const ZipInput file(path);
  const CentralDirectory directory = read_central_directory(file);

  const ZipEntry* found[4] = {};
  for (const ZipEntry& entry : directory.entries) {
    for (int i = 0; i < 4; ++i) {
      if (entry.name != entry_names[i]) continue;
      DICTLEARN_CHECK(found[i] == nullptr, "{}: the archive holds entry '{}' twice", path,
                      entry.name);
      found[i] = &entry;
    }
  }
  for (int i = 0; i < 4; ++i) {
    DICTLEARN_CHECK(found[i] != nullptr,
                    "{}: missing entry '{}' (sparse codes archives hold indptr.npy, indices.npy, "
                    "values.npy and shape.npy)",
                    path, entry_names[i]);
  }
  NpyEntry indptr = open_npy(file, *found[0], entry_data_offset(file, *found[0], directory.offset),
                             {"<i8", "<i4"}, integer_dtypes);
  NpyEntry indices = open_npy(file, *found[1], entry_data_offset(file, *found[1], directory.offset),
                              {"<i8", "<i4"}, integer_dtypes);
  NpyEntry values = open_npy(file, *found[2], entry_data_offset(file, *found[2], directory.offset),
                             {"<f4", "<f8"}, float_dtypes);
  NpyEntry shape = open_npy(file, *found[3], entry_data_offset(file, *found[3], directory.offset),
                            {"<i8", "<i4"}, integer_dtypes);

  SparseCodes<T> codes;
  DICTLEARN_CHECK(shape.count == 2, "{}: holds {} numbers; expected 2 (rows, cols)", shape.where,
                  shape.count);
  std::vector<int64_t> dims;
  read_integers(file, shape, dims);
  codes.rows = dims[0];
  codes.cols = dims[1];
  DICTLEARN_CHECK(codes.rows >= 0 && codes.cols >= 0, "{}: negative shape ({}, {})", shape.where,
                  codes.rows, codes.cols);
  // Sizes agree before the big arrays are read.
  DICTLEARN_CHECK(indptr.count == static_cast<uint64_t>(codes.rows) + 1,
                  "{}: indptr has {} entries; shape ({}, {}) needs rows + 1 = {}", path,
                  indptr.count, codes.rows, codes.cols, static_cast<uint64_t>(codes.rows) + 1);
  DICTLEARN_CHECK(indices.count == values.count, "{}: indices has {} entries but values has {}",
                  path, indices.count, values.count);

  read_integers(file, indptr, codes.indptr);
  read_integers(file, indices, codes.indices);
  if (values.descr == "<f4") {
    read_items<float>(file, values, codes.values);
  } else {
    read_items<double>(file, values, codes.values);
  }
  check_sparse_codes(codes, path);
  return codes;
}

template struct SparseCodes<float>;
template struct SparseCodes<double>;
template SparseCodes<float> to_sparse<float>(const Matrix<float>&);
template SparseCodes<double> to_sparse<double>(const Matrix<double>&);
template Matrix<float> to_dense<float>(const SparseCodes<float>&);
template Matrix<double> to_dense<double>(const SparseCodes<double>&);
template void check_sparse_codes<float>(const SparseCodes<float>&, const std::string&);
template void check_sparse_codes<double>(const SparseCodes<double>&, const std::string&);
template void write_sparse_codes<float>(const std::string&, const SparseCodes<float>&);
template void write_sparse_codes<double>(const std::string&, const SparseCodes<double>&);
template SparseCodes<float> read_sparse_codes<float>(const std::string&);
template SparseCodes<double> read_sparse_codes<double>(const std::string&);

}  // namespace dictlearn
