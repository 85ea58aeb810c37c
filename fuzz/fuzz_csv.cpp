// libFuzzer target: the CSV reader (read_csv, read_matrix's checks).
//
// Beyond "no crash, only dictlearn::Error": every value of a CSV file that
// reads takes at least one byte of text plus a separator, so a matrix read
// from `size` bytes holds at most `size` values.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "dictlearn/io.hpp"
#include "fuzz_input.hpp"

using dictlearn::fuzz::expect_ok_or_error;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static dictlearn::fuzz::MemoryFile file(".csv");
  file.set(data, size);
  expect_ok_or_error([&] {
    const auto matrix = dictlearn::read_matrix<float>(file.path());
    if (matrix.rows() < 1 || matrix.cols() < 1 || !matrix.allFinite()) std::abort();
    if (static_cast<size_t>(matrix.size()) > size) std::abort();
  });
  expect_ok_or_error([&] {
    const auto matrix = dictlearn::read_csv<double>(file.path());
    if (static_cast<size_t>(matrix.size()) > size) std::abort();
  });
  return 0;
}
