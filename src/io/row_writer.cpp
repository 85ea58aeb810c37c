// RowWriter (row_writer.hpp): .npy, .csv and sparse .npz written a block of
// rows at a time.
//
// Sparse codes are the one format whose layout depends on what is not known
// until the last row: the archive holds indptr, indices, values and shape
// (sparse_codes.hpp), and where values starts depends on the number of stored
// entries. So:
//   indptr   its length (rows + 1) is known: written as zeros at the start,
//            each block's offsets patched in place (AtomicFile::write_at);
//   indices  streamed into place; its .npy header (which names nnz) is
//            written as a placeholder of the same length and patched;
//   values   staged in a second AtomicFile, never committed (removed when the
//            writer ends), then copied in after indices;
//   shape    at the end.
// CRCs are taken as the bytes pass; a header learned afterwards is joined to
// its data's CRC by Crc32::combine. The result is byte for byte what
// write_sparse_codes writes for the same codes.
#include "io/row_writer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <type_traits>
#include <vector>

#include "core/check.hpp"
#include "core/contiguous.hpp"
#include "dictlearn/atomic_file.hpp"
#include "dictlearn/sparse_codes.hpp"
#include "io/detail.hpp"
#include "io/npy_header.hpp"
#include "io/zip.hpp"

namespace dictlearn::detail {
namespace {

/// The piece in which zeros are written and staged values copied.
constexpr uint64_t kCopyBytes = uint64_t{4} << 20;

std::string npy_header_1d(const char* descr, uint64_t length) {
  return npy_header_v1(descr, fmt::format("({},)", length));
}

}  // namespace

template <typename T>
struct RowWriter<T>::State {
  State(const std::string& path) : file(path) {}

  bool npy = false;
  RowFormat format = RowFormat::dense;
  int64_t rows = 0, cols = 0, done = 0;
  AtomicFile file;
  // Sparse codes only.
  std::optional<AtomicFile> staged;  ///< the values, until nnz is known
  std::optional<ZipWriter> zip;
  size_t indptr_entry = 0, indices_entry = 0;
  uint64_t indptr_header = 0, indices_header = 0;  ///< sizes of their .npy headers
  int64_t nnz = 0;
  Crc32 indptr_crc, indices_crc;  ///< indptr's entry; indices' data alone
};

template <typename T>
RowWriter<T>::RowWriter(const std::string& path, RowFormat format, int64_t rows, int64_t cols)
    : state_(std::make_unique<State>(path)) {
  State& s = *state_;
  s.format = format;
  s.rows = rows;
  s.cols = cols;
  const char* descr = std::is_same_v<T, float> ? "<f4" : "<f8";
  if (format == RowFormat::dense) {
    s.npy = is_npy_path(path);
    if (s.npy) s.file.write(npy_header_v1(descr, fmt::format("({}, {})", rows, cols)));
    return;
  }
  s.staged.emplace(path);
  s.zip.emplace(s.file);
  ZipWriter& zip = *s.zip;
  s.indptr_entry = zip.begin_entry("indptr.npy");
  const std::string header = npy_header_1d("<i8", static_cast<uint64_t>(rows) + 1);
  s.indptr_header = header.size();
  zip.write(header.data(), header.size());
  s.indptr_crc.update(header.data(), header.size());
  const int64_t first = 0;
  s.indptr_crc.update(&first, sizeof first);
  const std::vector<char> zeros(kCopyBytes, 0);
  for (uint64_t left = (static_cast<uint64_t>(rows) + 1) * sizeof(int64_t); left > 0;) {
    const uint64_t n = std::min(left, kCopyBytes);
    zip.write(zeros.data(), n);
    left -= n;
  }
  s.indices_entry = zip.begin_entry("indices.npy");
  // A placeholder of the final header's length: 1-D headers pad to 128 bytes
  // for any length up to 10^60 (checked at commit).
  const std::string placeholder = npy_header_1d("<i8", 0);
  s.indices_header = placeholder.size();
  zip.write(placeholder.data(), placeholder.size());
}

template <typename T>
RowWriter<T>::~RowWriter() = default;

template <typename T>
void RowWriter<T>::append(MatrixView<std::type_identity_t<T>> block) {
  State& s = *state_;
  DICTLEARN_CHECK(block.cols() == s.cols && block.rows() <= s.rows - s.done,
                  "{}: a block of {} x {} after {} of {} rows of {} columns", s.file.path(),
                  block.rows(), block.cols(), s.done, s.rows, s.cols);
  if (s.format == RowFormat::dense) {
    if (s.npy) {
      const ContiguousRows<T> rows(block);
      s.file.write(rows.data(), static_cast<size_t>(block.size()) * sizeof(T));
    } else {
      write_csv_block(s.file, block);
    }
    s.done += block.rows();
    return;
  }
  SparseCodes<T> codes = to_sparse(block);
  // The block's offsets continue the previous blocks' count.
  std::vector<int64_t>& offsets = codes.indptr;
  for (int64_t& offset : offsets) offset += s.nnz;
  const uint64_t bytes = static_cast<uint64_t>(block.rows()) * sizeof(int64_t);
  s.zip->patch(s.indptr_entry, s.indptr_header + (s.done + 1) * sizeof(int64_t), offsets.data() + 1,
               bytes);
  s.indptr_crc.update(offsets.data() + 1, bytes);
  s.zip->write(codes.indices.data(), codes.indices.size() * sizeof(int64_t));
  s.indices_crc.update(codes.indices.data(), codes.indices.size() * sizeof(int64_t));
  s.staged->write(codes.values.data(), codes.values.size() * sizeof(T));
  s.nnz += codes.nnz();
  s.done += block.rows();
}

template <typename T>
void RowWriter<T>::commit() {
  State& s = *state_;
  DICTLEARN_CHECK(s.done == s.rows, "{}: {} of {} rows written", s.file.path(), s.done, s.rows);
  if (s.format == RowFormat::sparse) {
    ZipWriter& zip = *s.zip;
    const auto nnz = static_cast<uint64_t>(s.nnz);
    const std::string indices_header = npy_header_1d("<i8", nnz);
    DICTLEARN_CHECK(indices_header.size() == s.indices_header,
                    "{}: the indices header of {} entries is {} bytes, not {}", s.file.path(), nnz,
                    indices_header.size(), s.indices_header);
    zip.patch(s.indices_entry, 0, indices_header.data(), indices_header.size());
    Crc32 header_crc;
    header_crc.update(indices_header.data(), indices_header.size());
    zip.set_crc(s.indices_entry,
                Crc32::combine(header_crc.value(), s.indices_crc.value(), nnz * sizeof(int64_t)));
    zip.set_crc(s.indptr_entry, s.indptr_crc.value());

    zip.begin_entry("values.npy");
    const std::string values_header = npy_header_1d(std::is_same_v<T, float> ? "<f4" : "<f8", nnz);
    zip.write(values_header.data(), values_header.size());
    std::vector<char> buffer(std::min<uint64_t>(kCopyBytes, s.staged->size()));
    for (uint64_t at = 0; at < s.staged->size();) {
      const uint64_t n = std::min<uint64_t>(buffer.size(), s.staged->size() - at);
      s.staged->read_at(at, buffer.data(), n);
      zip.write(buffer.data(), n);
      at += n;
    }
    s.staged.reset();  // removes the staged values

    zip.begin_entry("shape.npy");
    const std::string shape_header = npy_header_1d("<i8", 2);
    const int64_t shape[2] = {s.rows, s.cols};
    zip.write(shape_header.data(), shape_header.size());
    zip.write(shape, sizeof shape);
    zip.finish();
  }
  s.file.commit();
}

template class RowWriter<float>;
template class RowWriter<double>;

}  // namespace dictlearn::detail
