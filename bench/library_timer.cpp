// The library calls the CLI makes, timed in process without start-up and file
// I/O, for bench/python_overhead.py (issue 16: the Python package against
// the CLI's own library call on the same data).
//
//   dictlearn_library_timer fit DATA.npy REPEATS [FLAG VALUE]...   fit_matrix, as `fit`
//   dictlearn_library_timer encode MODEL DATA.npy REPEATS THREADS  encode(), as `encode`
//
// Prints one line per repeat: the call's wall time in seconds.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "dictlearn/io.hpp"
#include "dictlearn/model.hpp"
#include "dictlearn/parameters.hpp"
#include "dictlearn/workflows.hpp"

namespace dl = dictlearn;

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

template <typename T>
void time_fit(const std::string& data, int repeats, const dl::FitJob& job) {
  const dl::Matrix<T> X = dl::read_matrix<T>(data);
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    const dl::FitResult<T> result = dl::fit_matrix<T>(job, X);
    std::printf("%.6f\n", seconds_since(start));
    std::fflush(stdout);
  }
}

template <typename T>
void time_encode(const std::string& model_path, const std::string& data, int repeats, int threads) {
  const dl::Model<T> model = dl::load_model<T>(model_path);
  const dl::Matrix<T> X = dl::read_matrix<T>(data);
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    const dl::Matrix<T> codes = dl::encode(model, X, threads);
    std::printf("%.6f\n", seconds_since(start));
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() >= 3 && args[0] == "fit") {
      std::vector<std::pair<std::string, std::string>> flags;
      for (size_t i = 3; i + 1 < args.size(); i += 2) flags.emplace_back(args[i], args[i + 1]);
      dl::FitJob job = dl::fit_job_from_flags(flags);
      job.data = args[1];
      const int repeats = std::atoi(args[2].c_str());
      if (job.dtype == "float64") {
        time_fit<double>(args[1], repeats, job);
      } else {
        time_fit<float>(args[1], repeats, job);
      }
      return 0;
    }
    if (args.size() == 5 && args[0] == "encode") {
      const int repeats = std::atoi(args[3].c_str()), threads = std::atoi(args[4].c_str());
      if (dl::model_dtype(args[1]) == dl::DType::float64) {
        time_encode<double>(args[1], args[2], repeats, threads);
      } else {
        time_encode<float>(args[1], args[2], repeats, threads);
      }
      return 0;
    }
    std::fprintf(stderr,
                 "usage: dictlearn_library_timer fit DATA REPEATS [FLAG VALUE]... | encode MODEL "
                 "DATA REPEATS THREADS\n");
    return 2;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "dictlearn_library_timer: %s\n", error.what());
    return 1;
  }
}
