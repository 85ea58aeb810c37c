// One timed call of dictlearn's sparse_encode, in process, for bench/coding.py
// (issue 14's C-omp and C-lasso workloads): loads D (n_atoms x dim) and X
// (N x dim) from .npy, codes a few warm-up rows (threads started, code paged
// in), then times `--repeat` calls on all rows and prints one line of JSON:
//
//   {"coder", "dtype", "rows", "atoms", "dim", "threads", "seconds": [...],
//    "cpu_seconds": [...] (user + system time of each call: on a shared
//    machine, a measure less disturbed by other processes than wall time),
//    "objective_mean", "nonzeros_mean", "rss_before_bytes", "peak_rss_bytes",
//    "call_peak_extra_bytes", "bound_bytes", "simd_level", "gemm_backend"}
//
// objective_mean is, per signal and then averaged, ‖x − rD‖² for the L0
// coders (those whose row reads n_nonzero: omp, lars) and ½‖x − rD‖² +
// α‖r‖₁ (+ ½λ₂‖r‖²) for the others, summed in double. Peak memory: the
// process's high-water mark (VmHWM) is reset before the call through
// /proc/self/clear_refs and read after it; call_peak_extra_bytes is that
// peak less the resident size before the call (X and D are resident then).
// bound_bytes is the stated bound of the call: the codes (N·n_atoms values),
// G (n_atoms²) and per thread one block's workspace (kCodingBlock·n_atoms for
// D Xᵀ, the same again for a coder's per-block state, and O(n_atoms·L)
// pursuit scratch), plus 8 MiB of thread stacks and allocator slack.
//
//   dictlearn_coding_bench --list     # the coders of this build, as JSON
//   dictlearn_coding_bench --dictionary D.npy --data X.npy --coder omp --n-nonzero 10
//       [--alpha A] [--l2 B] [--max-error E] [--max-iter M] [--coder-tol T] [--positive]
//       [--threads 2] [--repeat 1] [--rows N] [--float32] [--save-codes OUT.npy]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "coders/coding.hpp"
#include "dictlearn/coders.hpp"
#include "dictlearn/error.hpp"
#include "dictlearn/io.hpp"
#include "kernels/gemm.hpp"
#include "kernels/simd_dispatch.hpp"

namespace {

using namespace dictlearn;

struct Args {
  std::string dictionary, data, coder = "omp", save_codes;
  CodingOptions options;
  int repeat = 1;
  int64_t rows = -1;
  int64_t warmup_rows = 1000;
  bool float32 = false;
  bool list = false;
};

[[noreturn]] void usage(const std::string& message) {
  std::fprintf(stderr, "dictlearn_coding_bench: %s\n", message.c_str());
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args args;
  args.options.threads = 2;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(std::string(flag) + " needs a value");
      return argv[++i];
    };
    if (flag == "--list") {
      args.list = true;
    } else if (flag == "--dictionary") {
      args.dictionary = value();
    } else if (flag == "--data") {
      args.data = value();
    } else if (flag == "--coder") {
      args.coder = value();
    } else if (flag == "--n-nonzero") {
      args.options.n_nonzero = std::stoi(value());
    } else if (flag == "--alpha") {
      args.options.alpha = std::stod(value());
    } else if (flag == "--l2") {
      args.options.l2 = std::stod(value());
    } else if (flag == "--max-error") {
      args.options.max_error = std::stod(value());
    } else if (flag == "--max-iter") {
      args.options.max_iter = std::stoi(value());
    } else if (flag == "--coder-tol") {
      args.options.tol = std::stod(value());
    } else if (flag == "--positive") {
      args.options.positive = true;
    } else if (flag == "--threads") {
      args.options.threads = std::stoi(value());
    } else if (flag == "--repeat") {
      args.repeat = std::stoi(value());
    } else if (flag == "--rows") {
      args.rows = std::stoll(value());
    } else if (flag == "--warmup-rows") {
      args.warmup_rows = std::stoll(value());
    } else if (flag == "--float32") {
      args.float32 = true;
    } else if (flag == "--save-codes") {
      args.save_codes = value();
    } else {
      usage("unknown flag " + std::string(flag));
    }
  }
  if (!args.list && (args.dictionary.empty() || args.data.empty())) {
    usage("--dictionary and --data are required (or --list)");
  }
  if (args.repeat < 1) usage("--repeat must be >= 1");
  return args;
}

/// A field of /proc/self/status in bytes ("VmRSS", "VmHWM"), or -1.
int64_t status_bytes(const char* field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  const size_t length = std::strlen(field);
  while (std::getline(status, line)) {
    if (line.compare(0, length, field) == 0 && line.size() > length && line[length] == ':') {
      return std::stoll(line.substr(length + 1)) * 1024;  // "  1234 kB"
    }
  }
  return -1;
}

/// Resets VmHWM to the current RSS (Linux 4.0+); false where refused.
bool reset_peak_rss() {
  std::FILE* file = std::fopen("/proc/self/clear_refs", "w");
  if (file == nullptr) return false;
  const bool ok = std::fputs("5", file) >= 0;
  return std::fclose(file) == 0 && ok;
}

/// User + system CPU seconds of a getrusage() reading.
double cpu_time(const rusage& usage) {
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + 1e-6 * t.tv_usec; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

bool reads(const CoderTraits& traits, std::string_view field) {
  for (const char* name : traits.parameters) {
    if (field == name) return true;
  }
  return false;
}

void list_coders() {
  std::printf("[");
  bool first = true;
  for (const CoderTraits& traits : coder_table()) {
    std::printf("%s{\"name\": \"%s\", \"parameters\": [", first ? "" : ", ", traits.name);
    for (size_t i = 0; i < traits.parameters.size(); ++i) {
      std::printf("%s\"%s\"", i ? ", " : "", traits.parameters[i]);
    }
    std::printf("]}");
    first = false;
  }
  std::printf("]\n");
}

template <typename T>
int run(const Args& args) {
  Dictionary<T> dictionary{.dictionary = read_npy<T>(args.dictionary)};
  Matrix<T> X = read_npy<T>(args.data);
  if (args.rows >= 0 && args.rows < X.rows()) X.conservativeResize(args.rows, Eigen::NoChange);
  CodingOptions options = args.options;
  options.method = parse_coder(args.coder);
  const CoderTraits& traits = coder_traits(options.method);
  const int64_t N = X.rows(), K = dictionary.n_atoms(), d = dictionary.dim();

  const int64_t warm = std::min<int64_t>(args.warmup_rows, N);
  if (warm > 0) (void)sparse_encode(dictionary, X.topRows(warm), options);

  std::vector<double> seconds, cpu_seconds;
  Matrix<T> codes;
  int64_t rss_before = 0, peak = 0;
  rusage usage_before{}, usage_after{};
  for (int r = 0; r < args.repeat; ++r) {
    codes = Matrix<T>();  // the previous call's codes are not part of this call's peak
    rss_before = status_bytes("VmRSS");
    const bool reset = reset_peak_rss();
    getrusage(RUSAGE_SELF, &usage_before);
    const auto start = std::chrono::steady_clock::now();
    codes = sparse_encode(dictionary, X, options);
    const auto stop = std::chrono::steady_clock::now();
    getrusage(RUSAGE_SELF, &usage_after);
    seconds.push_back(std::chrono::duration<double>(stop - start).count());
    cpu_seconds.push_back(cpu_time(usage_after) - cpu_time(usage_before));
    // Without clear_refs, getrusage's lifetime maximum (an upper bound).
    peak = reset ? status_bytes("VmHWM") : usage_after.ru_maxrss * 1024;
  }

  const bool l0 = reads(traits, "n_nonzero");
  const double alpha = options.alpha, l2 = options.l2;
  double objective = 0, nonzeros = 0;
  std::vector<double> residual(d);
  for (int64_t i = 0; i < N; ++i) {
    for (int64_t j = 0; j < d; ++j) residual[j] = X(i, j);
    double l1 = 0, squares = 0;
    for (int64_t a = 0; a < K; ++a) {
      const double c = codes(i, a);
      if (c == 0) continue;
      nonzeros += 1;
      l1 += std::abs(c);
      squares += c * c;
      for (int64_t j = 0; j < d; ++j)
        residual[j] -= c * static_cast<double>(dictionary.dictionary(a, j));
    }
    double r2 = 0;
    for (int64_t j = 0; j < d; ++j) r2 += residual[j] * residual[j];
    objective += l0 ? r2 : 0.5 * r2 + alpha * l1 + 0.5 * l2 * squares;
  }
  if (!args.save_codes.empty()) write_npy(args.save_codes, codes);

  const int threads = options.threads > 0 ? options.threads : 1;
  const double value = static_cast<double>(sizeof(T));
  const double bound = value * (static_cast<double>(N) * K + static_cast<double>(K) * K) +
                       threads * value * (2.0 * detail::kCodingBlock * K + 4.0 * K * (K + 2)) +
                       8.0 * 1024 * 1024;
  std::vector<double> sorted = seconds;
  std::sort(sorted.begin(), sorted.end());
  std::printf(
      "{\"coder\": \"%s\", \"dtype\": \"%s\", \"rows\": %lld, \"atoms\": %lld, \"dim\": %lld, "
      "\"threads\": %d, \"seconds\": [",
      traits.name, sizeof(T) == 4 ? "float32" : "float64", static_cast<long long>(N),
      static_cast<long long>(K), static_cast<long long>(d), options.threads);
  for (size_t r = 0; r < seconds.size(); ++r) std::printf("%s%.6f", r ? ", " : "", seconds[r]);
  std::printf("], \"cpu_seconds\": [");
  for (size_t r = 0; r < cpu_seconds.size(); ++r) {
    std::printf("%s%.6f", r ? ", " : "", cpu_seconds[r]);
  }
  std::printf(
      "], \"median_seconds\": %.6f, \"objective_mean\": %.12g, \"nonzeros_mean\": %.6f, "
      "\"rss_before_bytes\": %lld, \"peak_rss_bytes\": %lld, \"call_peak_extra_bytes\": %lld, "
      "\"bound_bytes\": %.0f, \"simd_level\": \"%s\", \"gemm_backend\": \"%s\"}\n",
      sorted[sorted.size() / 2], objective / std::max<int64_t>(N, 1),
      nonzeros / std::max<int64_t>(N, 1), static_cast<long long>(rss_before),
      static_cast<long long>(peak), static_cast<long long>(peak - rss_before), bound,
      detail::simd_level_name(detail::simd_level()), detail::gemm_backend());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  try {
    if (args.list) {
      list_coders();
      return 0;
    }
    return args.float32 ? run<float>(args) : run<double>(args);
  } catch (const dictlearn::Error& error) {
    std::fprintf(stderr, "dictlearn_coding_bench: %s\n", error.what());
    return 1;
  }
}
