// `dictlearn encode --coder` and `eval --coder` end to end: the codes the CLI
// writes are the library's sparse_encode() bit for bit (every output format,
// a model file's dictionary and a plain atoms file), eval's report is the
// numbers computed from those codes, and every bad input is one line, exit 1
// and nothing written.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "cli_util.hpp"
#include "dictlearn/coders.hpp"
#include "dictlearn/io.hpp"
#include "dictlearn/model.hpp"
#include "dictlearn/parameters.hpp"
#include "dictlearn/sparse_codes.hpp"
#include "dictlearn/workflows.hpp"
#include "test_util.hpp"
#include "workflows/apply.hpp"

namespace dictlearn {
namespace {

using testing::expect_cli_error;
using testing::file_bytes;
using testing::normal_matrix;
using testing::run_cli;
using testing::TempDir;

constexpr int kAtoms = 20, kDim = 12, kRows = 700;  // three coding blocks, the last partial

class CliCodersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Atoms of unit norm in float64 (the dtype of their .npy), a float32 model
    // with a decoder bias, and data of 700 x 12 in float64.
    Matrix<double> atoms = normal_matrix<double>(kAtoms, kDim, 1);
    atoms.rowwise().normalize();
    write_npy(atoms_, atoms);
    Model<float> model = init_model<float>(kAtoms, kDim, 2);
    model.dictionary = atoms.cast<float>();
    model.decoder_bias = normal_matrix<float>(1, kDim, 3).row(0).transpose() * 0.1f;
    save_model(model_, model);
    write_npy(data_, normal_matrix<double>(kRows, kDim, 4));
  }

  /// The dictionary the CLI reads from `path`, in T.
  template <typename T>
  Dictionary<T> dictionary_of(const std::string& path) const {
    if (path == atoms_) return Dictionary<T>{.dictionary = read_matrix<T>(path)};
    const Model<T> model = load_model<T>(path);
    return Dictionary<T>{.dictionary = model.dictionary, .decoder_bias = model.decoder_bias};
  }

  /// Writes the library's codes of the data under the dictionary in `source`
  /// to `path` by the whole-matrix writers.
  template <typename T>
  void write_expected(const std::string& source, const CodingOptions& options,
                      const std::string& path) const {
    const Matrix<T> codes = sparse_encode(dictionary_of<T>(source), read_matrix<T>(data_), options);
    if (path.ends_with(".npz")) {
      write_sparse_codes(path, to_sparse(codes));
    } else {
      write_matrix(path, codes);
    }
  }

  TempDir dir_;
  std::string atoms_ = dir_ / "atoms.npy", model_ = dir_ / "model.safetensors",
              data_ = dir_ / "data.npy";
};

struct Case {
  const char* flags;
  CodingOptions options;
};

const Case kCases[] = {
    {"--coder threshold --alpha 0.5", {.method = CoderKind::threshold, .alpha = 0.5}},
    {"--coder threshold --alpha 0.25 --positive",
     {.method = CoderKind::threshold, .alpha = 0.25, .positive = true}},
    {"--coder omp --n-nonzero 3", {.method = CoderKind::omp, .n_nonzero = 3}},
    {"--coder omp --max-error 4", {.method = CoderKind::omp, .max_error = 4}},
    {"--coder omp", {.method = CoderKind::omp}},
    {"--coder lars --n-nonzero 4", {.method = CoderKind::lars, .n_nonzero = 4}},
    {"--coder lasso-lars --alpha 0.3", {.method = CoderKind::lasso_lars, .alpha = 0.3}},
    {"--coder lasso_lars --alpha 0.3 --positive --l2 0.1",
     {.method = CoderKind::lasso_lars, .alpha = 0.3, .positive = true, .l2 = 0.1}},
    {"--coder lasso-cd --alpha 0.3 --coder-tol 1e-8 --max-iter 50",
     {.method = CoderKind::lasso_cd, .alpha = 0.3, .max_iter = 50, .tol = 1e-8}},
    {"--coder fista --alpha 0.3 --l2 0.2 --positive",
     {.method = CoderKind::fista, .alpha = 0.3, .positive = true, .l2 = 0.2}},
};

TEST(CliCodersCases, EveryCoderOfTheTableIsCovered) {
  for (const CoderTraits& traits : coder_table()) {
    SCOPED_TRACE(traits.name);
    EXPECT_TRUE(std::any_of(std::begin(kCases), std::end(kCases),
                            [&](const Case& c) { return c.options.method == traits.kind; }));
  }
}

TEST_F(CliCodersTest, CodesAreTheLibrarysBitForBitInEveryFormat) {
  for (const std::string& source : {atoms_, model_}) {
    for (const Case& c : kCases) {
      for (const char* extension : {".npy", ".csv", ".npz"}) {
        SCOPED_TRACE(source + " " + c.flags + " " + extension);
        const std::string out = dir_ / (std::string("codes") + extension),
                          expected = dir_ / (std::string("expected") + extension);
        const auto result =
            run_cli(dir_, fmt::format("encode {} {} -o {} {}", source, data_, out, c.flags));
        ASSERT_EQ(result.code, 0) << result.err;
        EXPECT_EQ(result.err, "");
        // The atoms' .npy is float64, the model float32: the codes are in that dtype.
        if (source == atoms_) {
          write_expected<double>(source, c.options, expected);
        } else {
          write_expected<float>(source, c.options, expected);
        }
        EXPECT_EQ(file_bytes(out), file_bytes(expected));
        EXPECT_FALSE(file_bytes(out).empty());
      }
    }
  }
}

TEST_F(CliCodersTest, CsvAtomsAreReadAsFloat64AndBlocksChangeNothing) {
  const std::string csv = dir_ / "atoms.csv";
  write_csv(csv, read_matrix<double>(atoms_));
  const std::string out = dir_ / "codes.npy", expected = dir_ / "expected.npy";
  ASSERT_EQ(run_cli(dir_, "encode " + csv + " " + data_ + " -o " + out + " --coder omp").code, 0);
  write_expected<double>(atoms_, {.method = CoderKind::omp}, expected);
  EXPECT_EQ(file_bytes(out), file_bytes(expected));
  // Blocks of whole coding blocks (256 rows) give the same file as one block.
  const std::string blocks = dir_ / "blocks.npz", whole = dir_ / "whole.npz";
  const CodingOptions omp{.method = CoderKind::omp, .n_nonzero = 2};
  detail::run_encode(atoms_, data_, blocks, omp, 256);
  write_expected<double>(atoms_, omp, whole);
  EXPECT_EQ(file_bytes(blocks), file_bytes(whole));
}

TEST_F(CliCodersTest, AFloat32AtomsFileCodesInFloat32WhateverTheExtensionsCase) {
  const std::string atoms32 = dir_ / "ATOMS32.NPY", out = dir_ / "codes.npy",
                    expected = dir_ / "expected.npy";
  write_npy(atoms32, read_matrix<float>(atoms_));
  const CodingOptions omp{.method = CoderKind::omp, .n_nonzero = 2};
  ASSERT_EQ(
      run_cli(dir_, "encode " + atoms32 + " " + data_ + " -o " + out + " --coder omp --n-nonzero 2")
          .code,
      0);
  write_matrix(expected, sparse_encode(Dictionary<float>{.dictionary = read_matrix<float>(atoms32)},
                                       read_matrix<float>(data_), omp));
  EXPECT_EQ(file_bytes(out), file_bytes(expected));
  EXPECT_EQ(npy_dtype(out), DType::float32);
}

/// The number after `label` in eval's output (NaN when absent).
double reported(const std::string& out, const std::string& label) {
  const size_t at = out.find(label);
  if (at == std::string::npos) return std::nan("");
  std::istringstream in(out.substr(at + label.size()));
  double value = std::nan("");
  in >> value;
  return value;
}

/// What eval reports, from the library's codes, in double.
struct Expected {
  double mse = 0, residual = 0, relative = 0, l0 = 0, objective = 0;
  int64_t max_l0 = 0;
};

template <typename T>
Expected expected_report(const Dictionary<T>& dictionary, const Matrix<T>& X,
                         const CodingOptions& options) {
  const Matrix<T> codes = sparse_encode(dictionary, X, options);
  Matrix<double> signal = X.template cast<double>();
  if (dictionary.has_decoder_bias())
    signal.rowwise() -= dictionary.decoder_bias.template cast<double>().transpose();
  const Matrix<double> residual =
      signal - codes.template cast<double>() * dictionary.dictionary.template cast<double>();
  Expected e;
  double squared = 0, energy = 0, l1 = 0, nonzero = 0;
  for (Eigen::Index i = 0; i < X.rows(); ++i) {
    squared += residual.row(i).squaredNorm();
    energy += signal.row(i).squaredNorm();
    l1 += codes.row(i).template cast<double>().cwiseAbs().sum();
    const int64_t row_nonzero = (codes.row(i).array() != T(0)).count();
    nonzero += static_cast<double>(row_nonzero);
    e.max_l0 = std::max(e.max_l0, row_nonzero);
  }
  const double n = static_cast<double>(X.rows());
  e.residual = squared / n;
  e.mse = squared / (n * static_cast<double>(X.cols()));
  e.relative = squared / energy;
  e.l0 = nonzero / n;
  double l2 = 0;
  for (Eigen::Index i = 0; i < codes.size(); ++i) {
    l2 += static_cast<double>(codes.data()[i]) * static_cast<double>(codes.data()[i]);
  }
  e.objective = 0.5 * e.residual + options.alpha * l1 / n + 0.5 * options.l2 * l2 / n;
  return e;
}

void expect_relative_near(double actual, double expected, double tolerance,
                          const std::string& what) {
  EXPECT_LE(std::abs(actual - expected), tolerance * std::abs(expected))
      << what << ": " << actual << " vs " << expected;
}

TEST_F(CliCodersTest, EvalReportsTheNumbersOfTheLibrarysCodes) {
  struct EvalCase {
    std::string source, flags;
    CodingOptions options;
  };
  const EvalCase cases[] = {
      {atoms_, "--coder omp --n-nonzero 3", {.method = CoderKind::omp, .n_nonzero = 3}},
      {model_, "--coder omp --n-nonzero 3", {.method = CoderKind::omp, .n_nonzero = 3}},
      {atoms_, "--coder threshold --alpha 0.5", {.method = CoderKind::threshold, .alpha = 0.5}},
      {model_, "--coder threshold --alpha 0.5", {.method = CoderKind::threshold, .alpha = 0.5}},
      {atoms_, "--coder lars --n-nonzero 2", {.method = CoderKind::lars, .n_nonzero = 2}},
      {atoms_,
       "--coder lasso-lars --alpha 0.3 --l2 0.1",
       {.method = CoderKind::lasso_lars, .alpha = 0.3, .l2 = 0.1}},
      {model_, "--coder lasso-cd --alpha 0.3", {.method = CoderKind::lasso_cd, .alpha = 0.3}},
      {atoms_, "--coder fista --alpha 0.3", {.method = CoderKind::fista, .alpha = 0.3}},
  };
  for (const EvalCase& c : cases) {
    SCOPED_TRACE(c.source + " " + c.flags);
    const auto result = run_cli(dir_, "eval " + c.source + " " + data_ + " " + c.flags);
    ASSERT_EQ(result.code, 0) << result.err;
    const Expected e = c.source == atoms_ ? expected_report(dictionary_of<double>(c.source),
                                                            read_matrix<double>(data_), c.options)
                                          : expected_report(dictionary_of<float>(c.source),
                                                            read_matrix<float>(data_), c.options);
    const EvalSummary summary = run_eval(c.source, data_, c.options);
    // The library's numbers: the same sums in another order, and for the
    // float32 model reconstructions rounded to float32 before the difference.
    const double tolerance = c.source == atoms_ ? 1e-12 : 1e-5;
    const double printed = std::max(tolerance, 1e-7);  // 8 significant digits
    expect_relative_near(summary.metrics.residual, e.residual, tolerance, "residual");
    expect_relative_near(summary.metrics.relative_residual, e.relative, tolerance, "relative");
    expect_relative_near(summary.metrics.mse, e.mse, tolerance, "MSE");
    EXPECT_EQ(summary.metrics.l0, e.l0);
    EXPECT_EQ(summary.metrics.max_l0, e.max_l0);
    // The printed ones, to their 8 (6) significant digits.
    EXPECT_NE(result.out.find("coder            " + coder_flag_name(c.options.method) + "\n"),
              std::string::npos)
        << result.out;
    expect_relative_near(reported(result.out, "MSE"), e.mse, printed, "MSE");
    expect_relative_near(reported(result.out, "residual"), e.residual, printed, "residual");
    expect_relative_near(reported(result.out, "relative"), e.relative, 1e-5, "relative");
    expect_relative_near(reported(result.out, "L0"), e.l0, 1e-3, "L0");
    EXPECT_EQ(reported(result.out, "per sample, max"), static_cast<double>(e.max_l0));
    const auto& reads = coder_traits(c.options.method).parameters;
    if (std::any_of(reads.begin(), reads.end(),
                    [](const char* name) { return std::string(name) == "alpha"; })) {
      ASSERT_TRUE(summary.objective.has_value());
      expect_relative_near(*summary.objective, e.objective, tolerance, "objective");
      expect_relative_near(reported(result.out, "objective"), e.objective, printed, "objective");
    } else {
      EXPECT_FALSE(summary.objective.has_value());  // no alpha read: no lasso objective
      EXPECT_EQ(result.out.find("objective"), std::string::npos);
    }
  }
  // Without --coder, eval's report is the model's encoder's, as before.
  const auto own = run_cli(dir_, "eval " + model_ + " " + data_);
  ASSERT_EQ(own.code, 0) << own.err;
  EXPECT_NE(own.out.find("encoder          softmax\n"), std::string::npos) << own.out;
  EXPECT_EQ(own.out.find("residual"), std::string::npos);
}

TEST_F(CliCodersTest, HelpListsTheCodersFromTheTable) {
  for (const char* command : {"encode", "eval"}) {
    const auto help = run_cli(dir_, std::string(command) + " --help");
    ASSERT_EQ(help.code, 0);
    for (const CoderTraits& traits : coder_table()) {
      // One line per coder: its name, then its help.
      const std::string name = coder_flag_name(traits.kind);
      const size_t at = help.out.find("\n  " + name + " ");
      ASSERT_NE(at, std::string::npos) << name << "\n" << help.out;
      const std::string line = help.out.substr(at + 1, help.out.find('\n', at + 1) - at - 1);
      EXPECT_NE(line.find(traits.help), std::string::npos) << line;
    }
    for (const auto& p : coding_parameters())
      EXPECT_NE(help.out.find("--" + p.flag), std::string::npos) << p.flag;
  }
}

/// Writes a float64 .npy of `rows` x `cols` from a function of (row, column).
template <typename F>
void write_generated(const std::string& path, Eigen::Index rows, Eigen::Index cols, F value) {
  Matrix<double> matrix(rows, cols);
  for (Eigen::Index i = 0; i < rows; ++i) {
    for (Eigen::Index j = 0; j < cols; ++j) matrix(i, j) = value(i, j);
  }
  write_npy(path, matrix);
}

TEST_F(CliCodersTest, BadInputIsOneLineExitOneAndNothingWritten) {
  const Matrix<double> atoms = read_matrix<double>(atoms_);
  const std::string wide = dir_ / "wide.npy", nan_data = dir_ / "nan.npy",
                    inf_atoms = dir_ / "inf_atoms.npy", zero_atom = dir_ / "zero_atom.npy",
                    empty = dir_ / "empty.npy", huge = dir_ / "huge.npy",
                    positive32 = dir_ / "positive32.npy", data32 = dir_ / "data32.npy";
  write_generated(wide, 5, kDim + 1, [](auto i, auto j) { return double(i + j); });
  Matrix<double> X = read_matrix<double>(data_);
  X(5, 3) = std::nan("");
  write_npy(nan_data, X);
  Matrix<double> bad = atoms;
  bad(2, 7) = INFINITY;
  write_npy(inf_atoms, bad);
  bad = atoms;
  bad.row(3).setZero();
  write_npy(zero_atom, bad);
  write_npy(empty, Matrix<double>(0, kDim));
  // float32 atoms and data whose products overflow float32: codes inf.
  write_npy(positive32, Matrix<float>::Constant(kAtoms, kDim, 1.0f));
  write_npy(data32, Matrix<float>::Constant(3, kDim, 3e38f));

  const std::string out = dir_ / "codes.npy";
  const std::string base = atoms_ + " " + data_;
  struct BadCase {
    std::string args;
    std::vector<std::string> needles;
  };
  const BadCase cases[] = {
      {atoms_ + " " + wide + " --coder omp",
       {"wide.npy: data has 13 columns but the atoms of ", "atoms.npy have dimension 12"}},
      {model_ + " " + wide + " --coder threshold", {"wide.npy", "model.safetensors"}},
      {atoms_ + " " + nan_data + " --coder omp", {"nan.npy: row 5, column 3", "nan"}},
      {inf_atoms + " " + data_ + " --coder threshold", {"inf_atoms.npy: row 2, column 7", "inf"}},
      {zero_atom + " " + data_ + " --coder omp", {"zero_atom.npy: atom 3 is zero (norm 0)"}},
      {zero_atom + " " + data_ + " --coder threshold", {"zero_atom.npy: atom 3 is zero"}},
      {empty + " " + data_ + " --coder omp", {"empty.npy: no data (0 rows)"}},
      {base + " --coder threshold --alpha -1", {"--alpha: must be >= 0 and finite, got -1"}},
      {base + " --coder omp --coder-tol -1", {"--coder-tol: must be >= 0 and finite, got -1"}},
      {base + " --coder omp --l2 -0.5", {"--l2: must be >= 0 and finite, got -0.5"}},
      {base + " --coder omp --max-error -1", {"--max-error: must be >= 0 and finite"}},
      {base + " --coder threshold --alpha nan", {"--alpha: must be >= 0 and finite, got nan"}},
      {base + " --coder omp --n-nonzero 0", {"--n-nonzero: must be >= 1, got 0"}},
      {base + " --coder omp --n-nonzero -2", {"--n-nonzero: must be >= 1", "got -2"}},
      {base + " --coder omp --n-nonzero 21",
       {"--n-nonzero: 21 is more than the 20 atoms of ", "atoms.npy"}},
      {base + " --coder nope", {"--coder: unknown coder 'nope' (expected threshold", "omp"}},
      {base + " --coder omp --positive", {"--positive: the omp coder"}},
      {base + " --coder omp --alpha 0.5", {"--alpha: the omp coder does not read it"}},
      {base + " --coder threshold --n-nonzero 2",
       {"--n-nonzero: the threshold coder does not read it"}},
      {model_ + " " + data_ + " --alpha 0.5", {"--alpha: only with --coder"}},
      {base, {"atoms.npy: a plain dictionary (atoms) has no encoder of its own", "--coder ("}},
      {base + " --coder omp --threads -1", {"--threads: must be >= 0"}},
      {positive32 + " " + data32 + " --coder threshold --alpha 0",
       {"positive32.npy: the codes of ",
        "data32.npy by the threshold coder are not finite "
        "(row 1, atom 1: inf)"}},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.args);
    for (const std::string command : {"encode", "eval"}) {
      const bool writes = command == "encode";
      const auto result = run_cli(dir_, command + " " + c.args + (writes ? " -o " + out : ""));
      expect_cli_error(result, {}, out);
      for (const std::string& needle : c.needles) {
        EXPECT_NE(result.err.find(needle), std::string::npos)
            << command << ": missing '" << needle << "' in " << result.err;
      }
      EXPECT_EQ(result.out, "");
    }
  }
  // An existing output is left as it was, for an error found before the work
  // and for one found while coding; no temporary stays behind.
  std::ofstream(out) << "before";
  for (const std::string& args :
       {zero_atom + " " + data_ + " --coder omp", positive32 + " " + data32 + " --coder threshold",
        base + " --coder omp --n-nonzero 0"}) {
    EXPECT_EQ(run_cli(dir_, "encode " + args + " -o " + out).code, 1) << args;
    EXPECT_EQ(file_bytes(out), "before") << args;
  }
  for (const auto& name : dir_.listing()) EXPECT_EQ(name.find(".tmp"), std::string::npos) << name;
  // The dictionary and the data are inputs: never the output.
  const std::string atoms_bytes = file_bytes(atoms_);
  expect_cli_error(run_cli(dir_, "encode " + base + " --coder omp -o " + atoms_),
                   {"-o: ", "is also the input dictionary"});
  expect_cli_error(run_cli(dir_, "encode " + base + " --coder omp -o " + data_),
                   {"-o: ", "is also the input data"});
  EXPECT_EQ(file_bytes(atoms_), atoms_bytes);
}

}  // namespace
}  // namespace dictlearn
