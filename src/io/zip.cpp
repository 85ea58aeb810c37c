// The zip container of .npz files (see zip.hpp). The writer produces the
// smallest zip that numpy's reader (Python's zipfile) accepts:
//   per entry:  local file header (30 bytes + name), then the entry's bytes, STORED
//   then:       one central directory header per entry (46 bytes + name)
//   then:       the end of central directory record (22 bytes)
// The reader trusts only the central directory for sizes (numpy's own writer
// puts zip64 extra fields in the local headers).
#include "io/zip.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include "core/check.hpp"
#include "dictlearn/io.hpp"
#include "io/npy_header.hpp"

namespace dictlearn::detail {
namespace {

// Zip fields are little-endian; entry bytes are copied to and from memory as is.
static_assert(std::endian::native == std::endian::little,
              "dictlearn's .npz code assumes a little-endian host");

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

void put16(std::string& out, uint16_t value) {
  out += static_cast<char>(value & 0xFF);
  out += static_cast<char>(value >> 8);
}
void put32(std::string& out, uint32_t value) {
  put16(out, static_cast<uint16_t>(value & 0xFFFF));
  put16(out, static_cast<uint16_t>(value >> 16));
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
// MS-DOS date 1980-01-01, time 00:00: fixed, so equal entries give equal files.
constexpr uint16_t dos_date = (0 << 9) | (1 << 5) | 1;
constexpr uint16_t dos_time = 0;

/// What a local and a central header say of an entry.
struct EntryFields {
  const std::string& name;
  uint64_t size = 0;
  uint32_t crc = 0;
  uint64_t offset = 0;  ///< of its local header
};

/// The fields that the local and the central header share, from the flags to
/// the extra field's length.
void put_entry_fields(std::string& out, const EntryFields& entry) {
  put16(out, 0);  // flags
  put16(out, 0);  // method: STORED
  put16(out, dos_time);
  put16(out, dos_date);
  put32(out, entry.crc);
  put32(out, static_cast<uint32_t>(entry.size));  // compressed size
  put32(out, static_cast<uint32_t>(entry.size));  // uncompressed size
  put16(out, static_cast<uint16_t>(entry.name.size()));
  put16(out, 0);  // extra field length
}

std::string local_header(const EntryFields& entry) {
  std::string out;
  put32(out, local_header_signature);
  put16(out, zip_version);  // version needed to extract
  put_entry_fields(out, entry);
  return out + entry.name;
}

std::string central_header(const EntryFields& entry) {
  std::string out;
  put32(out, central_header_signature);
  put16(out, zip_version);  // version made by (MS-DOS attributes)
  put16(out, zip_version);  // version needed to extract
  put_entry_fields(out, entry);
  put16(out, 0);  // comment length
  put16(out, 0);  // disk number start
  put16(out, 0);  // internal attributes
  put32(out, 0);  // external attributes
  put32(out, static_cast<uint32_t>(entry.offset));
  return out + entry.name;
}

/// a(x) b(x) modulo the CRC polynomial, in the reflected bit order of the
/// register (zlib's multmodp).
uint32_t multiply_mod_p(uint32_t a, uint32_t b) {
  uint32_t m = uint32_t{1} << 31, product = 0;
  for (;;) {
    if (a & m) {
      product ^= b;
      if ((a & (m - 1)) == 0) break;
    }
    m >>= 1;
    b = (b & 1) ? (b >> 1) ^ 0xEDB88320u : b >> 1;
  }
  return product;
}

/// x^(8 n) modulo the CRC polynomial: what n zero bytes do to the register.
uint32_t shift_of_bytes(uint64_t n) {
  uint32_t power = uint32_t{1} << 30;   // x^1
  uint32_t result = uint32_t{1} << 31;  // x^0
  // power runs through x^(2^k); the bytes' 8 n bits start at k = 3.
  for (int k = 0; k < 3; ++k) power = multiply_mod_p(power, power);
  for (; n != 0; n >>= 1) {
    if (n & 1) result = multiply_mod_p(power, result);
    power = multiply_mod_p(power, power);
  }
  return result;
}

uint16_t get16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t get32(const unsigned char* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}

}  // namespace

void Crc32::update(const void* data, size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  uint32_t state = state_;
  for (size_t i = 0; i < size; ++i) state = crc_table[(state ^ bytes[i]) & 0xFF] ^ (state >> 8);
  state_ = state;
}

uint32_t Crc32::combine(uint32_t crc_a, uint32_t crc_b, uint64_t size_b) {
  return multiply_mod_p(shift_of_bytes(size_b), crc_a) ^ crc_b;
}

ZipWriter::ZipWriter(AtomicFile& file) : file_(file), start_(file.size()) {}

void ZipWriter::check_size(uint64_t more) const {
  uint64_t directory = 0;
  for (const Entry& entry : entries_) directory += central_header_size + entry.name.size();
  const uint64_t total = file_.size() - start_ + more + directory + end_record_size;
  DICTLEARN_CHECK(total - end_record_size < zip32_limit && entries_.size() < 0xFFFF,
                  "{}: the archive would be {} bytes or more ({} entries); archives over 4 GiB "
                  "need zip64, which dictlearn does not write",
                  file_.path(), total, entries_.size());
}

size_t ZipWriter::begin_entry(const std::string& name) {
  Entry entry;
  entry.name = name;
  entry.offset = file_.size() - start_;
  entries_.push_back(entry);
  check_size(0);
  file_.write(local_header({.name = name, .offset = entry.offset}));
  return entries_.size() - 1;
}

void ZipWriter::write(const void* data, uint64_t size) {
  DICTLEARN_ASSERT(!entries_.empty());
  check_size(size);
  Entry& entry = entries_.back();
  entry.crc.update(data, size);
  entry.size += size;
  file_.write(data, size);
}

void ZipWriter::patch(size_t index, uint64_t position, const void* data, uint64_t size) {
  const Entry& entry = entries_.at(index);
  DICTLEARN_ASSERT(position + size <= entry.size);
  file_.write_at(start_ + entry.offset + local_header_size + entry.name.size() + position, data,
                 size);
}

void ZipWriter::set_crc(size_t index, uint32_t crc) { entries_.at(index).given_crc = crc; }

uint64_t ZipWriter::entry_size() const { return entries_.empty() ? 0 : entries_.back().size; }

void ZipWriter::finish() {
  check_size(0);
  const uint64_t directory_offset = file_.size() - start_;
  std::string directory;
  for (const Entry& entry : entries_) {
    const EntryFields fields{.name = entry.name,
                             .size = entry.size,
                             .crc = entry.given_crc.value_or(entry.crc.value()),
                             .offset = entry.offset};
    file_.write_at(start_ + entry.offset, local_header(fields).data(),
                   local_header_size + entry.name.size());
    directory += central_header(fields);
  }
  std::string end;
  put32(end, end_record_signature);
  put16(end, 0);                                       // this disk
  put16(end, 0);                                       // disk with the central directory
  put16(end, static_cast<uint16_t>(entries_.size()));  // entries on this disk
  put16(end, static_cast<uint16_t>(entries_.size()));  // entries in all
  put32(end, static_cast<uint32_t>(directory.size()));
  put32(end, static_cast<uint32_t>(directory_offset));
  put16(end, 0);  // comment length
  file_.write(directory);
  file_.write(end);
}

void write_zip(const std::string& path, const std::vector<ZipOutputEntry>& entries) {
  // Sized before the file is created, so a too-large archive leaves nothing behind.
  uint64_t size = end_record_size;
  for (const ZipOutputEntry& entry : entries) {
    size += local_header_size + central_header_size + 2 * entry.name.size();
    for (const ZipBytes& piece : entry.pieces) size += piece.size;
  }
  DICTLEARN_CHECK(size - end_record_size < zip32_limit && entries.size() < 0xFFFF,
                  "{}: the archive would be {} bytes ({} entries); archives over 4 GiB need "
                  "zip64, which dictlearn does not write",
                  path, size, entries.size());
  AtomicFile file(path);
  ZipWriter zip(file);
  for (const ZipOutputEntry& entry : entries) {
    zip.begin_entry(entry.name);
    for (const ZipBytes& piece : entry.pieces) zip.write(piece.data, piece.size);
  }
  zip.finish();
  file.commit();
}

ZipReader::ZipReader(const std::string& path) : path_(path) {
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
  try {
    read_central_directory();
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

ZipReader::~ZipReader() { ::close(fd_); }

void ZipReader::read_at(uint64_t offset, void* data, uint64_t size) const {
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

void ZipReader::read_central_directory() {
  const std::string& path = path_;
  const uint64_t file_size = size_;

  unsigned char start[6] = {};
  read_at(0, start, std::min<uint64_t>(file_size, sizeof start));
  const bool starts_like_zip = file_size >= 4 && get32(start) == local_header_signature;

  // The end record is the last 22 bytes plus a comment of at most 65535 bytes.
  const uint64_t tail_size = std::min<uint64_t>(file_size, end_record_size + 0xFFFF);
  std::vector<unsigned char> tail(tail_size);
  read_at(file_size - tail_size, tail.data(), tail_size);
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
  read_at(directory_offset, directory.data(), directory_size);
  directory_offset_ = directory_offset;
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
    entries_.push_back(std::move(entry));
    position += record_size;
  }
}

uint64_t ZipReader::data_offset(const ZipEntry& entry) const {
  const std::string& path = path_;
  const uint64_t data_end = directory_offset_;
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
  read_at(entry.local_offset, header, local_header_size);
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
  read_at(entry.local_offset + local_header_size, local_name.data(), name_size);
  DICTLEARN_CHECK(local_name == entry.name,
                  "{}: corrupt zip archive: the local header at offset {} names '{}', the central "
                  "directory '{}'",
                  path, entry.local_offset, local_name, entry.name);
  return data_offset;
}

}  // namespace dictlearn::detail
