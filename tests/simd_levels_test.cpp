// The explicit SIMD kernels at every instruction-set level this CPU runs
// (src/kernels/simd_dispatch.hpp: v4, v3, baseline, each with its own vector width):
// the small kernel, softmax and softmax's backward against scalar references
// in double and against each other; training at each level gives the same
// model for 1 and 2 threads; DICTLEARN_SIMD picks the level, refuses levels
// the CPU lacks and reaches the kernels of a CLI run.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "dictlearn/io.hpp"
#include "dictlearn/model.hpp"
#include "dictlearn/trainer.hpp"
#include "kernels/row_kernels.hpp"
#include "kernels/simd_dispatch.hpp"
#include "learners/autoencoder/small_kernel.hpp"
#include "test_util.hpp"

namespace dictlearn::detail {
namespace {

/// The levels this CPU runs, lowest first.
std::vector<SimdLevel> supported_levels() {
  std::vector<SimdLevel> levels;
  for (SimdLevel level : {SimdLevel::baseline, SimdLevel::v3, SimdLevel::v4}) {
    if (level <= cpu_simd_level()) levels.push_back(level);
  }
  return levels;
}

/// Runs the kernels at `level` for the scope (the level is process-wide).
class ScopedSimdLevel {
 public:
  explicit ScopedSimdLevel(SimdLevel level) : previous_(simd_level()) {
    EXPECT_EQ(set_simd_level(level), level);
  }
  ~ScopedSimdLevel() { set_simd_level(previous_); }
  ScopedSimdLevel(const ScopedSimdLevel&) = delete;
  ScopedSimdLevel& operator=(const ScopedSimdLevel&) = delete;

 private:
  SimdLevel previous_;
};

/// Sets an environment variable for the scope.
class ScopedEnvironment {
 public:
  ScopedEnvironment(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnvironment() {
    if (had_) {
      ::setenv(name_, old_.c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnvironment(const ScopedEnvironment&) = delete;
  ScopedEnvironment& operator=(const ScopedEnvironment&) = delete;

 private:
  const char* name_;
  bool had_ = false;
  std::string old_;
};

/// Kernel results against the double reference. The small kernel's sums:
/// |kernel − reference| <= sums · (Σ |terms|), the sum of the magnitudes of
/// what was added. Softmax and its backward: per entry, in units of the
/// type's epsilon times the entry's magnitude, with the exp's own accuracy
/// (vector_math_test.cpp: 2 ulp for float, 2e-14 ≈ 90 ulp for double), the
/// rounding of the logit (x·t − max loses eps·|x·t| where there is no FMA)
/// and of the row's sums. Each bound is 4x to 10x the largest error seen at
/// any level on an AVX-512 machine; a wrong lane, mask or order of operations
/// misses them by orders of magnitude.
template <typename T>
struct KernelTolerance;
template <>
struct KernelTolerance<float> {
  static constexpr double sums = 1e-5;
  static constexpr double exp_ulps = 2;
};
template <>
struct KernelTolerance<double> {
  static constexpr double sums = 1e-13;
  static constexpr double exp_ulps = 100;
};

template <typename T>
std::vector<T> uniform_values(size_t n, double low, double high, uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::uniform_real_distribution<double> uniform(low, high);
  std::vector<T> values(n);
  for (T& v : values) v = static_cast<T>(uniform(engine));
  return values;
}

/// A small model and its data, transposed as the small kernel reads it.
template <typename T>
struct SmallProblem {
  int atoms, dim;
  int64_t n_samples;
  std::vector<T> data_t, weight, bias, dictionary;
  T grad_scale;

  SmallProblem(int atoms_, int dim_, int64_t n, uint64_t seed)
      : atoms(atoms_), dim(dim_), n_samples(n) {
    data_t = uniform_values<T>(static_cast<size_t>(dim * n), -1.5, 1.5, seed);
    weight = uniform_values<T>(static_cast<size_t>(atoms * dim), -1.5, 1.5, seed + 1);
    bias = uniform_values<T>(static_cast<size_t>(atoms), -0.5, 0.5, seed + 2);
    dictionary = uniform_values<T>(static_cast<size_t>(atoms * dim), -1, 1, seed + 3);
    grad_scale = static_cast<T>(2.0 / static_cast<double>(n * dim));
  }
};

/// The small kernel's outputs, or the reference's sums with the sums of the
/// magnitudes of their terms.
struct Sums {
  std::vector<double> dictionary, weight, bias, fired;
  double loss = 0;
  Sums(int atoms, int dim)
      : dictionary(atoms * dim), weight(atoms * dim), bias(atoms), fired(atoms) {}
};

template <typename T>
Sums run_small_kernel(const SmallProblem<T>& p, int64_t begin, int64_t end, SimdLevel level) {
  Sums out(p.atoms, p.dim);
  std::vector<T> workspace(small_kernel_workspace(p.atoms, p.dim, sizeof(T)));
  SmallKernelArgs<T> args;
  args.data_t = p.data_t.data();
  args.n_samples = p.n_samples;
  args.begin = begin;
  args.end = end;
  args.atoms = p.atoms;
  args.dim = p.dim;
  args.weight = p.weight.data();
  args.bias = p.bias.data();
  args.dictionary = p.dictionary.data();
  args.grad_scale = p.grad_scale;
  args.workspace = workspace.data();
  args.grad_dictionary = out.dictionary.data();
  args.grad_weight = out.weight.data();
  args.grad_bias = out.bias.data();
  args.fired = out.fired.data();
  args.loss_sum = &out.loss;
  small_kernel(args, level);
  return out;
}

/// The forward and backward pass sample by sample, in double from the same
/// T inputs; `magnitude` gets Σ |term| of each sum.
template <typename T>
Sums reference_sums(const SmallProblem<T>& p, int64_t begin, int64_t end, Sums& magnitude) {
  const int K = p.atoms, d = p.dim;
  Sums sums(K, d);
  std::vector<double> x(d), r(K), g(d), code_grad(K);
  for (int64_t i = begin; i < end; ++i) {
    for (int j = 0; j < d; ++j) x[j] = p.data_t[j * p.n_samples + i];
    double max = -INFINITY;
    for (int k = 0; k < K; ++k) {
      double z = p.bias[k];
      for (int j = 0; j < d; ++j) z += static_cast<double>(p.weight[k * d + j]) * x[j];
      r[k] = z;
      max = std::max(max, z);
    }
    double total = 0;
    for (int k = 0; k < K; ++k) total += r[k] = std::exp(r[k] - max);
    for (int k = 0; k < K; ++k) {
      r[k] /= total;
      sums.fired[k] += r[k] > 0 ? 1 : 0;
    }
    for (int j = 0; j < d; ++j) {
      double reconstruction = 0;
      for (int k = 0; k < K; ++k) reconstruction += r[k] * p.dictionary[k * d + j];
      const double e = reconstruction - x[j];
      sums.loss += e * e;
      magnitude.loss += e * e;
      g[j] = e * static_cast<double>(p.grad_scale);
    }
    double dot = 0;
    for (int k = 0; k < K; ++k) {
      code_grad[k] = 0;
      for (int j = 0; j < d; ++j) {
        sums.dictionary[k * d + j] += r[k] * g[j];
        magnitude.dictionary[k * d + j] += std::abs(r[k] * g[j]);
        code_grad[k] += g[j] * p.dictionary[k * d + j];
      }
      dot += code_grad[k] * r[k];
    }
    for (int k = 0; k < K; ++k) {
      const double logit_grad = r[k] * (code_grad[k] - dot);
      // Bound on the magnitude of logit_grad's own terms, so its rounding counts too.
      double term = 0;
      for (int j = 0; j < d; ++j) term += std::abs(g[j] * p.dictionary[k * d + j]);
      const double logit_magnitude = std::abs(r[k]) * (2 * term + std::abs(dot));
      sums.bias[k] += logit_grad;
      magnitude.bias[k] += logit_magnitude;
      for (int j = 0; j < d; ++j) {
        sums.weight[k * d + j] += logit_grad * x[j];
        magnitude.weight[k * d + j] += logit_magnitude * std::abs(x[j]);
      }
    }
  }
  return sums;
}

/// Expects every sum of `actual` within `tolerance` · magnitude of `expected`;
/// fired counts exactly equal.
void expect_sums_near(const Sums& actual, const Sums& expected, const Sums& magnitude,
                      double tolerance, const std::string& what) {
  auto near = [&](const std::vector<double>& a, const std::vector<double>& e,
                  const std::vector<double>& m, const char* name) {
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_LE(std::abs(a[i] - e[i]), tolerance * m[i] + 1e-300)
          << what << " " << name << "[" << i << "]: " << a[i] << " vs " << e[i] << " (magnitude "
          << m[i] << ")";
    }
  };
  near(actual.dictionary, expected.dictionary, magnitude.dictionary, "grad_dictionary");
  near(actual.weight, expected.weight, magnitude.weight, "grad_weight");
  near(actual.bias, expected.bias, magnitude.bias, "grad_bias");
  EXPECT_EQ(actual.fired, expected.fired) << what << " fired";
  EXPECT_LE(std::abs(actual.loss - expected.loss), tolerance * magnitude.loss) << what << " loss";
}

template <typename T>
class SimdLevelsTest : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(SimdLevelsTest, Types);

/// (atoms, dim): the seed's 2 x 2 (its own fixed-size code), one atom, odd
/// sizes, and the largest model the small kernel takes (16 x 32 = 512).
const std::vector<std::pair<int, int>> kSmallShapes = {{2, 2}, {1, 3}, {3, 7}, {5, 8}, {16, 32}};
/// Sample ranges: a whole chunk, and one that starts off the lane grid and
/// ends in a partial vector at every width.
const std::vector<std::pair<int64_t, int64_t>> kRanges = {{0, 1000}, {3, 610}};

TYPED_TEST(SimdLevelsTest, SmallKernelMatchesScalarReferenceAtEveryLevel) {
  using T = TypeParam;
  for (const auto& [atoms, dim] : kSmallShapes) {
    const SmallProblem<T> problem(atoms, dim, 1000, 11 * atoms + dim);
    for (const auto& [begin, end] : kRanges) {
      Sums magnitude(atoms, dim);
      const Sums expected = reference_sums(problem, begin, end, magnitude);
      for (SimdLevel level : supported_levels()) {
        const std::string what = std::string(simd_level_name(level)) + " " + std::to_string(atoms) +
                                 "x" + std::to_string(dim) + " [" + std::to_string(begin) + ", " +
                                 std::to_string(end) + ")";
        const Sums actual = run_small_kernel(problem, begin, end, level);
        expect_sums_near(actual, expected, magnitude, KernelTolerance<T>::sums, what);
      }
    }
  }
}

TYPED_TEST(SimdLevelsTest, SmallKernelLevelsAgree) {
  using T = TypeParam;
  const std::vector<SimdLevel> levels = supported_levels();
  for (const auto& [atoms, dim] : kSmallShapes) {
    const SmallProblem<T> problem(atoms, dim, 1000, 7 * atoms + dim);
    for (const auto& [begin, end] : kRanges) {
      Sums magnitude(atoms, dim);
      reference_sums(problem, begin, end, magnitude);
      const Sums best = run_small_kernel(problem, begin, end, levels.back());
      for (SimdLevel level : levels) {
        const std::string what = std::string(simd_level_name(level)) + " vs " +
                                 simd_level_name(levels.back()) + " " + std::to_string(atoms) +
                                 "x" + std::to_string(dim);
        // Each is within the tolerance of the reference, so within twice of each other.
        expect_sums_near(run_small_kernel(problem, begin, end, level), best, magnitude,
                         2 * KernelTolerance<T>::sums, what);
      }
    }
  }
}

/// Widths around every lane count (1, 2, 4, 8, 16) and their multiples.
const std::vector<int> kRowWidths = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 65, 100};
const std::vector<double> kInverseTemperatures = {1.0, 1.0 / 0.7};

/// check(cols, t) for every row width and inverse temperature.
template <typename T, typename Check>
void for_widths_and_temperatures(Check check) {
  for (int cols : kRowWidths) {
    for (double inverse : kInverseTemperatures) check(cols, static_cast<T>(inverse));
  }
}

template <typename T>
std::vector<double> reference_softmax(const std::vector<T>& z, int64_t rows, int cols, T t) {
  std::vector<double> out(z.size());
  for (int64_t i = 0; i < rows; ++i) {
    double max = -INFINITY, total = 0;
    for (int c = 0; c < cols; ++c) max = std::max(max, static_cast<double>(z[i * cols + c]) * t);
    for (int c = 0; c < cols; ++c) {
      total += out[i * cols + c] = std::exp(static_cast<double>(z[i * cols + c]) * t - max);
    }
    for (int c = 0; c < cols; ++c) out[i * cols + c] /= total;
  }
  return out;
}

TYPED_TEST(SimdLevelsTest, SoftmaxRowsMatchScalarReferenceAndAgreeAtEveryLevel) {
  using T = TypeParam;
  constexpr int64_t rows = 5;
  const std::vector<SimdLevel> levels = supported_levels();
  for_widths_and_temperatures<T>([&](int cols, T t) {
    const std::vector<T> logits = uniform_values<T>(rows * cols, -12, 12, 100 + cols);
    const std::vector<double> expected = reference_softmax(logits, rows, cols, t);
    // Each entry's bound (see KernelTolerance).
    std::vector<double> bound(expected.size());
    for (int64_t i = 0; i < rows; ++i) {
      double max = -INFINITY;
      for (int c = 0; c < cols; ++c)
        max = std::max(max, static_cast<double>(logits[i * cols + c]) * t);
      for (int c = 0; c < cols; ++c) {
        const double scaled = static_cast<double>(logits[i * cols + c]) * t;
        bound[i * cols + c] = 2 * std::numeric_limits<T>::epsilon() * expected[i * cols + c] *
                              (KernelTolerance<T>::exp_ulps + 2 + std::abs(scaled) +
                               std::abs(scaled - max) + std::sqrt(static_cast<double>(cols)));
      }
    }
    std::vector<T> best = logits;
    softmax_rows_simd(best.data(), rows, cols, t, levels.back());
    for (SimdLevel level : levels) {
      std::vector<T> actual = logits;
      softmax_rows_simd(actual.data(), rows, cols, t, level);
      // Rows run four at a time, then one by one: a row gets the same bits
      // either way.
      for (int64_t i = 0; i < rows; ++i) {
        std::vector<T> alone(logits.begin() + i * cols, logits.begin() + (i + 1) * cols);
        softmax_rows_simd(alone.data(), 1, cols, t, level);
        EXPECT_TRUE(std::equal(alone.begin(), alone.end(), actual.begin() + i * cols))
            << simd_level_name(level) << " cols " << cols << " row " << i;
      }
      for (size_t i = 0; i < actual.size(); ++i) {
        EXPECT_LE(std::abs(actual[i] - expected[i]), bound[i])
            << simd_level_name(level) << " cols " << cols << " entry " << i << ": " << actual[i]
            << " vs " << expected[i];
        EXPECT_LE(std::abs(static_cast<double>(actual[i]) - best[i]), 2 * bound[i])
            << simd_level_name(level) << " vs " << simd_level_name(levels.back()) << " cols "
            << cols << " entry " << i;
      }
    }
  });
}

TYPED_TEST(SimdLevelsTest, SoftmaxBackwardMatchesScalarReferenceAndAgreesAtEveryLevel) {
  using T = TypeParam;
  constexpr int64_t rows = 5;
  const std::vector<SimdLevel> levels = supported_levels();
  for_widths_and_temperatures<T>([&](int cols, T t) {
    std::vector<T> r = uniform_values<T>(rows * cols, -6, 6, 200 + cols);
    softmax_rows_simd(r.data(), rows, cols, T(1), cpu_simd_level());
    const std::vector<T> grad = uniform_values<T>(rows * cols, -1, 1, 300 + cols);
    // r ⊙ (g − Σ g ⊙ r) · t, and the magnitude of its terms for the tolerance.
    std::vector<double> expected(grad.size()), magnitude(grad.size());
    for (int64_t i = 0; i < rows; ++i) {
      double dot = 0, dot_magnitude = 0;
      for (int c = 0; c < cols; ++c) {
        dot += static_cast<double>(grad[i * cols + c]) * r[i * cols + c];
        dot_magnitude += std::abs(static_cast<double>(grad[i * cols + c]) * r[i * cols + c]);
      }
      for (int c = 0; c < cols; ++c) {
        const int64_t at = i * cols + c;
        expected[at] = static_cast<double>(r[at]) * (grad[at] - dot) * t;
        magnitude[at] = std::abs(static_cast<double>(r[at])) *
                        (std::abs(static_cast<double>(grad[at])) + dot_magnitude) * t;
      }
    }
    std::vector<T> best = grad;
    softmax_backward_simd(r.data(), best.data(), rows, cols, t, levels.back());
    for (SimdLevel level : levels) {
      std::vector<T> actual = grad;
      softmax_backward_simd(r.data(), actual.data(), rows, cols, t, level);
      for (size_t i = 0; i < actual.size(); ++i) {
        const double tolerance = 2 * std::numeric_limits<T>::epsilon() * magnitude[i] *
                                 (4 + std::sqrt(static_cast<double>(cols)));
        EXPECT_LE(std::abs(actual[i] - expected[i]), tolerance)
            << simd_level_name(level) << " cols " << cols << " entry " << i << ": " << actual[i]
            << " vs " << expected[i];
        EXPECT_LE(std::abs(static_cast<double>(actual[i]) - best[i]), 2 * tolerance)
            << simd_level_name(level) << " vs " << simd_level_name(levels.back()) << " cols "
            << cols << " entry " << i;
      }
    }
  });
}

template <typename T>
Matrix<T> gaussian_data(int64_t rows, int cols, uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::normal_distribution<double> normal;
  Matrix<T> X(rows, cols);
  for (int64_t i = 0; i < rows; ++i) {
    for (int j = 0; j < cols; ++j)
      X(i, j) = static_cast<T>(normal(engine) + (j % 3 == 0 ? 1.0 : 0.0));
  }
  return X;
}

TYPED_TEST(SimdLevelsTest, TrainingResultsAreIdenticalForOneAndTwoThreadsAtEveryLevel) {
  using T = TypeParam;
  // The sizes make each path start two threads: 20000 samples for the 2 x 2
  // kernel (20 chunks of 1024; enough work for a second thread), 3000 x 32
  // with 16 atoms for the small kernel's general code, 256 atoms for the
  // matrix-product path (softmax rows and their backward).
  struct Case {
    Matrix<T> X;
    int atoms;
    int64_t batch;
  };
  const std::vector<Case> cases = {{gaussian_data<T>(20000, 2, 1), 2, 0},
                                   {gaussian_data<T>(3000, 32, 2), 16, 0},
                                   {gaussian_data<T>(3000, 32, 3), 256, 1500}};
  for (SimdLevel level : supported_levels()) {
    const ScopedSimdLevel scoped(level);
    for (const Case& c : cases) {
      auto train = [&](int threads) {
        const FitOptions options{
            .n_atoms = c.atoms, .epochs = 3, .seed = 5, .threads = threads, .batch_size = c.batch};
        return fit(c.X, options);
      };
      const Model<T> one = train(1), two = train(2);
      const std::string what =
          std::string(simd_level_name(level)) + " " + std::to_string(c.atoms) + " atoms";
      EXPECT_EQ(one.dictionary, two.dictionary) << what;
      EXPECT_EQ(one.encoder_weight, two.encoder_weight) << what;
      EXPECT_EQ(one.encoder_bias, two.encoder_bias) << what;
    }
  }
}

TEST(SimdDispatchTest, EnvironmentNamesLevelsAndFallsBackToWhatTheCpuRuns) {
  const SimdLevel best = cpu_simd_level();
  {
    const ScopedEnvironment unset("DICTLEARN_SIMD", nullptr);
    EXPECT_EQ(simd_level_from_environment(), best);
  }
  {
    const ScopedEnvironment empty("DICTLEARN_SIMD", "");
    EXPECT_EQ(simd_level_from_environment(), best);
  }
  for (SimdLevel level : {SimdLevel::baseline, SimdLevel::v3, SimdLevel::v4}) {
    const ScopedEnvironment named("DICTLEARN_SIMD", simd_level_name(level));
    // A level the CPU lacks is refused: the best it has runs instead.
    EXPECT_EQ(simd_level_from_environment(), level <= best ? level : best)
        << simd_level_name(level);
  }
  for (const char* unknown : {"avx2", "V4", "x86-64-v3", "v5"}) {
    const ScopedEnvironment named("DICTLEARN_SIMD", unknown);
    EXPECT_EQ(simd_level_from_environment(), best) << unknown;
  }
}

TEST(SimdDispatchTest, SetLevelRefusesLevelsTheCpuLacksAndRestores) {
  const SimdLevel before = simd_level();
  for (SimdLevel level : {SimdLevel::baseline, SimdLevel::v3, SimdLevel::v4}) {
    const SimdLevel set = set_simd_level(level);
    EXPECT_EQ(set, level <= cpu_simd_level() ? level : cpu_simd_level());
    EXPECT_EQ(simd_level(), set);
  }
  set_simd_level(before);
  EXPECT_EQ(simd_level(), before);
  EXPECT_EQ(simd_bytes(SimdLevel::v4), 64);
  EXPECT_EQ(simd_bytes(SimdLevel::v3), 32);
  EXPECT_EQ(simd_bytes(SimdLevel::baseline), 16);
}

/// The CLI's output at DICTLEARN_SIMD=level equals training in this process at
/// that level: the variable reaches the kernels.
TEST(SimdDispatchTest, CliRunsAtTheLevelDictlearnSimdNames) {
  const testing::TempDir dir;
  const std::string data = std::string(DICTLEARN_FIXTURES) + "/seed_data.npy";
  const Matrix<float> X = read_matrix<float>(data);
  for (SimdLevel level : supported_levels()) {
    const std::string model = dir / (std::string(simd_level_name(level)) + ".safetensors");
    const std::string err = dir / "stderr.txt";
    const std::string command = std::string("DICTLEARN_SIMD=") + simd_level_name(level) + " " +
                                DICTLEARN_CLI + " fit " + data + " -o " + model +
                                " -q --epochs 200 2>" + err;
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    const ScopedSimdLevel scoped(level);
    const Model<float> expected = fit(X, FitOptions{.epochs = 200});
    const Model<float> actual = load_model<float>(model);
    EXPECT_EQ(actual.dictionary, expected.dictionary) << simd_level_name(level);
    EXPECT_EQ(actual.encoder_weight, expected.encoder_weight) << simd_level_name(level);
    EXPECT_EQ(actual.encoder_bias, expected.encoder_bias) << simd_level_name(level);
  }
  // An unknown name: one line on stderr, the best level, and the run goes on.
  const std::string err = dir / "stderr.txt";
  const std::string command = std::string("DICTLEARN_SIMD=avx9 ") + DICTLEARN_CLI + " fit " + data +
                              " -o " + (dir / "m.safetensors") + " -q --epochs 2 2>" + err;
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  std::FILE* file = std::fopen(err.c_str(), "r");
  ASSERT_NE(file, nullptr);
  char line[256] = {};
  ASSERT_NE(std::fgets(line, sizeof(line), file), nullptr);
  std::fclose(file);
  EXPECT_NE(std::string(line).find("DICTLEARN_SIMD=avx9 is not v4, v3 or baseline"),
            std::string::npos)
      << line;
}

}  // namespace
}  // namespace dictlearn::detail
