// libFuzzer target: the .npy reader (read_npy, npy_dtype, read_matrix's checks).
//
// Beyond "no crash, only dictlearn::Error": a file that reads must not hold
// more values than its bytes can store, so no header can make the reader
// allocate more than the file holds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "dictlearn/io.hpp"
#include "fuzz_input.hpp"

using dictlearn::fuzz::expect_ok_or_error;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static dictlearn::fuzz::MemoryFile file(".npy");
  file.set(data, size);
  expect_ok_or_error([&] { dictlearn::npy_dtype(file.path()); });
  expect_ok_or_error([&] {
    const auto matrix = dictlearn::read_matrix<float>(file.path());
    if (matrix.rows() < 1 || matrix.cols() < 1 || !matrix.allFinite()) std::abort();
    if (static_cast<size_t>(matrix.size()) * sizeof(float) > size) std::abort();
  });
  expect_ok_or_error([&] {
    const auto matrix = dictlearn::read_npy<double>(file.path());
    if (static_cast<size_t>(matrix.size()) * sizeof(float) > size) std::abort();
  });
  return 0;
}
