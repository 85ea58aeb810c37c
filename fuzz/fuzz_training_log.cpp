// libFuzzer target: the training-log reader (read_training_log), and what
// `plot --log` and a checkpoint make of a log that reads.
//
// Beyond "no crash, only dictlearn::Error": a log that reads has the columns
// 'epoch' and 'loss', rows exactly as wide as its header, and epochs that are
// whole numbers in [0, INT_MAX] (plots and resumed runs count epochs in int);
// make_plot_input takes it (or refuses it with an Error); a log carried
// through a checkpoint's tensors (log_to_tensors, log_from_tensors) comes back
// the same, or is refused.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "dictlearn/figures.hpp"
#include "dictlearn/training_log.hpp"
#include "fuzz_input.hpp"

using dictlearn::fuzz::expect_ok_or_error;

namespace {

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

void check_log(const dictlearn::TrainingLog& log) {
  const int epoch = log.column("epoch");
  if (epoch < 0 || log.column("loss") < 0) std::abort();
  for (const auto& row : log.rows) {
    if (row.size() != log.columns.size()) std::abort();
    const double e = row[static_cast<size_t>(epoch)];
    if (!(e >= 0 && e <= std::numeric_limits<int>::max() && e == std::floor(e))) std::abort();
  }
  expect_ok_or_error([&] {
    dictlearn::TensorFile file;
    dictlearn::log_to_tensors(log, file);
    const auto back = dictlearn::log_from_tensors(file, "checkpoint");
    if (!back || back->columns != log.columns || back->rows.size() != log.rows.size()) std::abort();
    for (size_t r = 0; r < log.rows.size(); ++r) {
      for (size_t c = 0; c < log.rows[r].size(); ++c) {
        if (!same_bits(back->rows[r][c], log.rows[r][c])) std::abort();
      }
    }
  });
  expect_ok_or_error([&] {
    dictlearn::Matrix<double> data(4, 2);
    data << 0, 1, 2, 0.5, -1, 3, 0.25, -2;
    const dictlearn::PlotInput input = dictlearn::make_plot_input(data, &log, nullptr, "");
    if (input.loss.size() != log.rows.size()) std::abort();
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static dictlearn::fuzz::MemoryFile file(".csv");
  file.set(data, size);
  expect_ok_or_error([&] { check_log(dictlearn::read_training_log(file.path())); });
  return 0;
}
