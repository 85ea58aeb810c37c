// Internal: the zip container of .npz files (PKWARE APPNOTE.TXT,
// https://pkware.cachefly.net/webdocs/casestudies/APPNOTE.TXT), reduced to what
// numpy's np.savez writes and reads: STORED (uncompressed) entries, no zip64.
//
// The writer is byte-reproducible (every entry carries the same fixed time) and
// writes through AtomicFile. The reader trusts only the central directory for
// sizes, checks every offset and size against the file size before it reads or
// allocates, and leaves the CRC-32 check to the caller, which streams the bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dictlearn/atomic_file.hpp"

namespace dictlearn::detail {

/// CRC-32 (ISO-HDLC, as zip, gzip and PNG use): reflected polynomial
/// 0xEDB88320, initial value and final xor 0xFFFFFFFF, one table lookup per byte.
class Crc32 {
 public:
  /// Adds `size` bytes at `data`.
  void update(const void* data, size_t size);
  /// The CRC of every byte added so far.
  uint32_t value() const { return ~state_; }

  /// The CRC of bytes A then B from the CRC of A, the CRC of B and B's length
  /// (zlib's crc32_combine): a writer that learns a header only after its data
  /// (an array's length) takes the data's CRC as it streams and combines.
  static uint32_t combine(uint32_t crc_a, uint32_t crc_b, uint64_t size_b);

 private:
  uint32_t state_ = 0xFFFFFFFFu;
};

/// A piece of an entry's bytes, written where it lies (no copy).
struct ZipBytes {
  const void* data = nullptr;
  uint64_t size = 0;
};

/// One entry to write: its name and its bytes, the pieces one after the other.
struct ZipOutputEntry {
  std::string name;
  std::vector<ZipBytes> pieces;
};

/// Writes `entries`, in order, as a zip archive of STORED entries dated
/// 1980-01-01 00:00 (so equal entries give equal files) to `path` through
/// AtomicFile. Throws Error before creating anything when the archive would
/// need zip64 (4 GiB or more).
void write_zip(const std::string& path, const std::vector<ZipOutputEntry>& entries);

/// A zip archive written entry by entry into an AtomicFile, for data streamed
/// as it is computed: each local header is written with its CRC and sizes
/// left as zeros and patched when the archive is finished, so the file has
/// exactly the bytes of write_zip() for the same entries (no data
/// descriptors, which some readers mishandle). Bytes of an entry may be
/// rewritten later (patch()), the caller then giving its CRC (set_crc()).
/// Throws Error, naming the file, as soon as the archive would need zip64.
class ZipWriter {
 public:
  /// Writes into `file` from its current end (normally empty).
  explicit ZipWriter(AtomicFile& file);

  /// Starts an entry named `name` after the previous one; returns its index.
  size_t begin_entry(const std::string& name);
  /// Appends to the entry begun last (its CRC is taken as the bytes pass).
  void write(const void* data, uint64_t size);
  /// Overwrites `size` bytes of entry `entry` at `position` within its data;
  /// its CRC is then the caller's to give through set_crc().
  void patch(size_t entry, uint64_t position, const void* data, uint64_t size);
  void set_crc(size_t entry, uint32_t crc);
  /// The bytes written so far into the entry begun last.
  uint64_t entry_size() const;

  /// Patches every local header, writes the central directory and the end
  /// record. The caller commits the AtomicFile.
  void finish();

 private:
  struct Entry {
    std::string name;
    uint64_t offset = 0;  ///< of its local header
    uint64_t size = 0;
    Crc32 crc;
    std::optional<uint32_t> given_crc;
  };
  void check_size(uint64_t more) const;

  AtomicFile& file_;
  uint64_t start_ = 0;
  std::vector<Entry> entries_;
};

/// An entry as the central directory describes it.
struct ZipEntry {
  std::string name;
  uint16_t flags = 0;
  uint16_t method = 0;
  uint32_t crc = 0;
  uint64_t compressed_size = 0;
  uint64_t size = 0;
  uint64_t local_offset = 0;  ///< of its local header
};

/// A zip archive opened for reading: the central directory is read and checked
/// on construction; entries' bytes are read at explicit offsets. Errors name
/// the file and speak of .npz archives, the one use.
class ZipReader {
 public:
  /// Opens `path` and reads its central directory; throws Error when it is
  /// not a zip archive, is truncated, multi-volume or zip64.
  explicit ZipReader(const std::string& path);
  ~ZipReader();
  ZipReader(const ZipReader&) = delete;
  ZipReader& operator=(const ZipReader&) = delete;

  const std::string& path() const { return path_; }
  /// The entries in central-directory order (names may repeat).
  const std::vector<ZipEntry>& entries() const { return entries_; }

  /// Where `entry`'s `entry.size` bytes start. Checks that it is stored,
  /// unencrypted and not zip64, that its local header names it and that its
  /// bytes end before the central directory.
  uint64_t data_offset(const ZipEntry& entry) const;

  /// Reads exactly `size` bytes at `offset`; callers have checked the range,
  /// so a short read means the file shrank while being read.
  void read_at(uint64_t offset, void* data, uint64_t size) const;

 private:
  void read_central_directory();

  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  std::vector<ZipEntry> entries_;
  uint64_t directory_offset_ = 0;  ///< entries' bytes must end before here
};

}  // namespace dictlearn::detail
