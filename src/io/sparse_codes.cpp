// Sparse codes in CSR form and their .npz file format.
//
// An .npz is a zip archive (io/zip.hpp) of .npy files
// (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
// indptr.npy, indices.npy, values.npy and shape.npy (docs/SPARSE_CODES.md). Each
// entry is written as a version 1.0 .npy: "\x93NUMPY", 1, 0, a 2-byte header
// length, the header dict padded to a multiple of 64 bytes, then the raw
// little-endian data. The reader checks every .npy header against its entry's
// size before reading or allocating, and verifies each entry's CRC-32.
#include "dictlearn/sparse_codes.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/check.hpp"
#include "io/npy_header.hpp"
#include "io/zip.hpp"

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
SparseCodes<T> sparse_rows(MatrixView<T> dense) {
  SparseCodes<T> codes;
  codes.rows = dense.rows();
  codes.cols = dense.cols();
  // Count first so the arrays are allocated once at their final size.
  int64_t nnz = 0;
  for (int64_t row = 0; row < dense.rows(); ++row) {
    for (int64_t column = 0; column < dense.cols(); ++column) nnz += dense(row, column) != T(0);
  }
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

using detail::Crc32;
using detail::ZipEntry;
using detail::ZipReader;

// .npy data is copied to and from memory as is.
static_assert(std::endian::native == std::endian::little,
              "dictlearn's .npz code assumes a little-endian host");

const char* const entry_names[] = {"indptr.npy", "indices.npy", "values.npy", "shape.npy"};

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

/// The .npy prefix and header of a 1-D array of `length` items.
std::string npy_header_1d(const char* descr, uint64_t length) {
  return detail::npy_header_v1(descr, fmt::format("({},)", length));
}

/// Reads the .npy prefix and header of an entry; `dtypes` are the accepted
/// descrs, `expected` says so in words for the error.
NpyEntry open_npy(const ZipReader& file, const ZipEntry& entry,
                  std::initializer_list<const char*> dtypes, const char* expected) {
  const uint64_t data_offset = file.data_offset(entry);
  NpyEntry npy;
  npy.where = fmt::format("{}: entry '{}'", file.path(), entry.name);
  npy.stored_crc = entry.crc;
  const std::string& where = npy.where;

  unsigned char prefix[12];
  const uint64_t prefix_read = std::min<uint64_t>(entry.size, 10);
  file.read_at(data_offset, prefix, prefix_read);
  const int major = detail::check_npy_prefix(prefix, prefix_read, 10, where, "array", "entry");
  uint64_t prefix_size = 10;
  if (major > 1) {
    prefix_size = 12;
    DICTLEARN_CHECK(entry.size >= prefix_size,
                    "{}: truncated: the entry ends inside the .npy header", where);
    file.read_at(data_offset + 10, prefix + 10, 2);
  }
  const uint64_t header_size = detail::npy_header_length(major, prefix + 8);
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
  DICTLEARN_CHECK(
      shape->kind == detail::PyValue::Kind::sequence && shape->items.size() == 1 &&
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
void read_items(const ZipReader& file, NpyEntry& npy, std::vector<Out>& out) {
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

void read_integers(const ZipReader& file, NpyEntry& npy, std::vector<int64_t>& out) {
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
  const std::string headers[4] = {
      npy_header_1d("<i8", codes.indptr.size()), npy_header_1d("<i8", nnz),
      npy_header_1d(std::is_same_v<T, float> ? "<f4" : "<f8", nnz), npy_header_1d("<i8", 2)};
  const detail::ZipBytes data[4] = {{codes.indptr.data(), codes.indptr.size() * sizeof(int64_t)},
                                    {codes.indices.data(), nnz * sizeof(int64_t)},
                                    {codes.values.data(), nnz * sizeof(T)},
                                    {shape, sizeof shape}};
  std::vector<detail::ZipOutputEntry> entries;
  for (int i = 0; i < 4; ++i) {
    entries.push_back({entry_names[i], {{headers[i].data(), headers[i].size()}, data[i]}});
  }
  detail::write_zip(path, entries);
}

template <typename T>
SparseCodes<T> read_sparse_codes(const std::string& path) {
  const ZipReader file(path);

  const ZipEntry* found[4] = {};
  for (const ZipEntry& entry : file.entries()) {
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
  NpyEntry indptr = open_npy(file, *found[0], {"<i8", "<i4"}, integer_dtypes);
  NpyEntry indices = open_npy(file, *found[1], {"<i8", "<i4"}, integer_dtypes);
  NpyEntry values = open_npy(file, *found[2], {"<f4", "<f8"}, float_dtypes);
  NpyEntry shape = open_npy(file, *found[3], {"<i8", "<i4"}, integer_dtypes);

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
SparseCodes<float> to_sparse(MatrixView<float> dense) { return sparse_rows(dense); }
SparseCodes<double> to_sparse(MatrixView<double> dense) { return sparse_rows(dense); }
template Matrix<float> to_dense<float>(const SparseCodes<float>&);
template Matrix<double> to_dense<double>(const SparseCodes<double>&);
template void check_sparse_codes<float>(const SparseCodes<float>&, const std::string&);
template void check_sparse_codes<double>(const SparseCodes<double>&, const std::string&);
template void write_sparse_codes<float>(const std::string&, const SparseCodes<float>&);
template void write_sparse_codes<double>(const std::string&, const SparseCodes<double>&);
template SparseCodes<float> read_sparse_codes<float>(const std::string&);
template SparseCodes<double> read_sparse_codes<double>(const std::string&);

}  // namespace dictlearn
