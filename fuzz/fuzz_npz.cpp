// libFuzzer target: the sparse codes' .npz reader (read_sparse_codes: the zip
// container of io/zip.cpp, the .npy entries, the CSR checks).
//
// Beyond "no crash, only dictlearn::Error": codes that read are valid CSR (the
// reader checked them), hold no more entries than the file has bytes for (no
// entry may make the reader allocate beyond the file), and keep their indptr
// and indices when read as float32 instead of float64.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "dictlearn/sparse_codes.hpp"
#include "fuzz_input.hpp"

using dictlearn::fuzz::expect_ok_or_error;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static dictlearn::fuzz::MemoryFile file;
  file.set(data, size);
  expect_ok_or_error([&] {
    const auto codes = dictlearn::read_sparse_codes<double>(file.path());
    dictlearn::check_sparse_codes(codes, "fuzz");
    const size_t stored =
        (codes.indptr.size() + codes.indices.size()) * 4 + codes.values.size() * 4;
    if (stored > size) std::abort();
    expect_ok_or_error([&] {
      const auto narrow = dictlearn::read_sparse_codes<float>(file.path());
      if (narrow.indptr != codes.indptr || narrow.indices != codes.indices) std::abort();
    });
  });
  return 0;
}
