// Tests of the 2-D projection and of the figures rendered through gnuplot.
#include "dictlearn/plot.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <random>
#include <sstream>
#include <string>

#include "dictlearn/error.hpp"
#include "dictlearn/figures.hpp"
#include "io/images.hpp"
#include "plot/atom_grid.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

namespace fs = std::filesystem;

/// Sets an environment variable for the scope, restoring the previous value.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) previous_ = old;
    if (value)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (previous_)
      ::setenv(name_, previous_->c_str(), 1);
    else
      ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> previous_;
};

using testing::TempDir;

bool gnuplot_on_path() {
  const char* path = std::getenv("PATH");
  if (!path) return false;
  std::string search = path;
  size_t begin = 0;
  while (begin <= search.size()) {
    size_t end = search.find(':', begin);
    if (end == std::string::npos) end = search.size();
    const fs::path candidate = fs::path(search.substr(begin, end - begin)) / "gnuplot";
    if (::access(candidate.c_str(), X_OK) == 0) return true;
    begin = end + 1;
  }
  return false;
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

Matrix<double> gaussian(int rows, int cols, unsigned seed) {
  std::mt19937 random(seed);
  std::normal_distribution<double> normal;
  Matrix<double> X(rows, cols);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) X(i, j) = normal(random);
  return X;
}

/// The seed's toy problem: two clusters, atoms moving from their start onto them.
PlotInput synthetic_input(int n_atoms = 2, int n_snapshots = 30) {
  PlotInput input;
  const int n = 400;
  input.data = 0.1 * gaussian(n, 2, 1);
  for (int i = 0; i < n; ++i) input.data(i, i < n / 2 ? 0 : 1) += 1;
  for (int e = 1; e <= 300; ++e) input.loss.push_back(0.3 * std::exp(-e / 60.0) + 0.01);
  Matrix<double> start = Matrix<double>::Constant(n_atoms, 2, 0.5);
  Matrix<double> end(n_atoms, 2);
  for (int k = 0; k < n_atoms; ++k) {
    start(k, 0) += 0.1 * k;
    end.row(k) = input.data.row((k * 97) % n);
  }
  for (int s = 0; s < n_snapshots; ++s) {
    const double t = static_cast<double>(s) / std::max(1, n_snapshots - 1);
    input.snapshots.push_back({1 + 10 * s, start + t * (end - start)});
  }
  input.final_atoms = end;
  input.title = "softmax, 2 atoms";
  return input;
}

double variance(const Eigen::VectorXd& v) {
  return (v.array() - v.mean()).square().sum() / static_cast<double>(v.size() - 1);
}

// ---------------------------------------------------------------- projection

TEST(Projection, TwoDimensionalDataIsDrawnAsItIs) {
  const Matrix<double> X = gaussian(50, 2, 3) * 4.0 + Matrix<double>::Constant(50, 2, 7.0);
  const Projection projection = make_projection(X);
  EXPECT_EQ(projection.x_label, "x1");
  EXPECT_EQ(projection.y_label, "x2");
  EXPECT_TRUE(projection.center.isZero());
  EXPECT_TRUE(projection.axes.isIdentity());
  EXPECT_EQ(project(projection, X), X);
}

TEST(Projection, OneDimensionalDataGoesOnTheXAxis) {
  const Matrix<double> X = gaussian(20, 1, 4);
  const Matrix<double> p = project(make_projection(X), X);
  ASSERT_EQ(p.rows(), 20);
  ASSERT_EQ(p.cols(), 2);
  EXPECT_EQ(p.col(0), X.col(0));
  EXPECT_TRUE(p.col(1).isZero());
}

TEST(Projection, PrincipalComponentsRecoverAPlantedPlane) {
  // Samples spread 10x along u, 3x along v (orthogonal to u), 0.1x elsewhere, off center.
  const int dim = 6, n = 4000;
  Eigen::VectorXd u(dim), v(dim);
  u << 1, 2, -1, 0.5, 0, 3;
  u.normalize();
  v << 2, -1, 0, 1, 1, 0;
  v -= v.dot(u) * u;
  v.normalize();
  const Matrix<double> g = gaussian(n, dim + 2, 5);
  Matrix<double> X(n, dim);
  for (int i = 0; i < n; ++i) {
    X.row(i) = (10 * g(i, 0) * u + 3 * g(i, 1) * v).transpose() + 0.1 * g.row(i).tail(dim);
    X.row(i).array() += 5.0;
  }
  const Projection projection = make_projection(X);
  EXPECT_EQ(projection.x_label, "PC1");
  EXPECT_EQ(projection.y_label, "PC2");
  ASSERT_EQ(projection.axes.rows(), 2);
  ASSERT_EQ(projection.axes.cols(), dim);
  EXPECT_GT(std::abs(projection.axes.row(0).dot(u.transpose())), 0.999);
  EXPECT_GT(std::abs(projection.axes.row(1).dot(v.transpose())), 0.999);
  EXPECT_TRUE((projection.axes * projection.axes.transpose()).isIdentity(1e-12));
  // Sign convention: the largest-magnitude entry of each axis is positive.
  for (int c = 0; c < 2; ++c) {
    Eigen::Index largest;
    projection.axes.row(c).cwiseAbs().maxCoeff(&largest);
    EXPECT_GT(projection.axes(c, largest), 0);
  }
  const Matrix<double> p = project(projection, X);
  EXPECT_NEAR(p.col(0).mean(), 0, 1e-9);
  EXPECT_NEAR(p.col(1).mean(), 0, 1e-9);
  const double var1 = variance(p.col(0)), var2 = variance(p.col(1));
  EXPECT_GT(var1, var2);
  EXPECT_NEAR(var1, 100, 10);
  EXPECT_NEAR(var2, 9, 1);
}

TEST(Projection, IsDeterministic) {
  const Matrix<double> X = gaussian(300, 5, 6) * Matrix<double>::Random(5, 5);
  const Projection a = make_projection(X);
  const Projection b = make_projection(X);
  EXPECT_EQ(a.axes, b.axes);
  EXPECT_EQ(a.center, b.center);
  // The sign does not follow the data's orientation: -X has the same axes.
  const Projection c = make_projection(-X);
  EXPECT_TRUE(a.axes.isApprox(c.axes, 1e-9));
}

TEST(Projection, RejectsBadShapesAndValues) {
  const Projection projection = make_projection(gaussian(10, 3, 7));
  EXPECT_THROW(project(projection, gaussian(4, 2, 8)), Error);
  EXPECT_THROW(make_projection(Matrix<double>(5, 0)), Error);
  Matrix<double> X = gaussian(10, 3, 9);
  X(4, 1) = NAN;
  EXPECT_THROW(make_projection(X), Error);
}

// ---------------------------------------------------------------- figures

TEST(RenderFigures, WritesTheFourImages) {
  if (!gnuplot_on_path()) DICTLEARN_SKIP("gnuplot is not installed");
  ScopedEnv no_override("DICTLEARN_GNUPLOT", nullptr);
  TempDir dir("images");
  const fs::path out = dir.path() / "figures";  // created by render_figures
  const PlotResult result = render_figures(synthetic_input(), out.string());
  EXPECT_TRUE(result.gnuplot_found);
  EXPECT_EQ(result.written.size(), 4u);

  const std::string png_magic = "\x89PNG\r\n\x1a\n";
  for (const char* name : {"scatter.png", "loss.png", "atoms.png"}) {
    const std::string bytes = read_all(out / name);
    EXPECT_EQ(bytes.substr(0, 8), png_magic) << name;
    EXPECT_GT(bytes.size(), 5000u) << name;
  }
  const std::string gif = read_all(out / "atoms.gif");
  EXPECT_TRUE(gif.rfind("GIF89a", 0) == 0 || gif.rfind("GIF87a", 0) == 0);
  EXPECT_GT(gif.size(), 20000u);

  for (const char* name : {"data.dat", "loss.dat", "atoms.dat", "frames.dat", "figures.gp"}) {
    EXPECT_TRUE(fs::exists(out / name)) << name;
  }
  // No temporary left behind (they are hidden files).
  for (const auto& entry : fs::directory_iterator(out)) {
    EXPECT_NE(entry.path().filename().string()[0], '.') << entry.path();
  }
  // The script redraws the figures by itself, from inside the folder.
  const std::string command = "cd '" + out.string() + "' && gnuplot figures.gp 2>/dev/null";
  EXPECT_EQ(std::system(command.c_str()), 0);
}

TEST(RenderFigures, SubsamplesLongRunsAndManyAtoms) {
  if (!gnuplot_on_path()) DICTLEARN_SKIP("gnuplot is not installed");
  ScopedEnv no_override("DICTLEARN_GNUPLOT", nullptr);
  TempDir dir("many");
  const PlotResult result = render_figures(synthetic_input(40, 250), dir.path().string());
  EXPECT_EQ(result.written.size(), 4u);
  const std::string frames = read_all(dir.path() / "frames.dat");
  size_t count = 0;
  for (size_t at = frames.find("# epoch"); at != std::string::npos;
       at = frames.find("# epoch", at + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 100u);
  // Without usage the first kTracedAtoms atoms get a path and a legend entry.
  const std::string script = read_all(dir.path() / "figures.gp");
  EXPECT_NE(script.find("title \"atom 11\""), std::string::npos);
  EXPECT_EQ(script.find("title \"atom 12\""), std::string::npos);
  EXPECT_NE(script.find("the other 28 atoms (final)"), std::string::npos);
}

TEST(RenderFigures, WithoutGnuplotWritesDataAndScriptsAndSaysHowToInstall) {
  ScopedEnv missing("DICTLEARN_GNUPLOT", "/nonexistent/gnuplot");
  TempDir dir("missing");
  const PlotResult result = render_figures(synthetic_input(), dir.path().string());
  EXPECT_FALSE(result.gnuplot_found);
  EXPECT_TRUE(result.written.empty());
  EXPECT_NE(result.message.find("gnuplot not found"), std::string::npos);
  EXPECT_NE(result.message.find("apt-get install gnuplot-nox"), std::string::npos);
  EXPECT_NE(result.message.find(dir.path().string()), std::string::npos);
  for (const char* name :
       {"data.dat", "loss.dat", "atoms.dat", "atoms_final.dat", "frames.dat", "figures.gp"}) {
    EXPECT_TRUE(fs::exists(dir.path() / name)) << name;
  }
  EXPECT_EQ(result.data_files.size(), 6u);
  for (const char* name : {"scatter.png", "loss.png", "atoms.png", "atoms.gif"}) {
    EXPECT_FALSE(fs::exists(dir.path() / name)) << name;
  }
  // The script names files relative to its folder.
  const std::string script = read_all(dir.path() / "figures.gp");
  EXPECT_NE(script.find("set output \"atoms.gif\""), std::string::npos);
  EXPECT_EQ(script.find(dir.path().string()), std::string::npos);
}

TEST(RenderFigures, SkipsFiguresWithoutInput) {
  ScopedEnv missing("DICTLEARN_GNUPLOT", "/nonexistent/gnuplot");
  TempDir dir("skip");
  PlotInput input = synthetic_input();
  input.loss.clear();
  input.snapshots.clear();
  render_figures(input, dir.path().string());
  const std::string script = read_all(dir.path() / "figures.gp");
  EXPECT_NE(script.find("scatter.png"), std::string::npos);
  EXPECT_NE(script.find("atoms.png"), std::string::npos);  // the final atoms alone
  EXPECT_EQ(script.find("loss.png"), std::string::npos);
  EXPECT_EQ(script.find("atoms.gif"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir.path() / "loss.dat"));

  input.final_atoms.resize(0, 0);
  render_figures(input, dir.path().string());
  EXPECT_EQ(read_all(dir.path() / "figures.gp").find("atoms.png"), std::string::npos);
}

/// The lines of figures.gp that draw loss.png: its title, ylabel and plot command.
std::string loss_script(const fs::path& folder) {
  const std::string script = read_all(folder / "figures.gp");
  const size_t start = script.find("# ---- loss.png");
  if (start == std::string::npos) return "";
  return script.substr(start, script.find("# ----", start + 1) - start);
}

TEST(RenderFigures, LossFigureDrawsTheMseAndTheObjectiveOnlyWhereItDiffers) {
  ScopedEnv missing("DICTLEARN_GNUPLOT", "/nonexistent/gnuplot");
  TempDir dir("loss_lines");
  PlotInput input = synthetic_input();
  // An objective with a penalty (AuxK, L1) above the MSE: two labelled lines.
  input.mse = input.loss;
  for (double& value : input.loss) value += 0.05;
  render_figures(input, (dir.path() / "both").string());
  const std::string both = loss_script(dir.path() / "both");
  EXPECT_NE(both.find("set title \"reconstruction MSE and training objective"), std::string::npos)
      << both;
  EXPECT_NE(both.find("using 1:2 with lines lw 2 lc rgb \"#1f77b4\" title \"reconstruction MSE\""),
            std::string::npos)
      << both;
  EXPECT_NE(both.find("using 1:3 with lines lw 2 lc rgb \"#ff7f0e\" title \"objective\""),
            std::string::npos)
      << both;
  EXPECT_EQ(both.find("MSE loss"), std::string::npos);
  const std::string both_data = read_all(dir.path() / "both" / "loss.dat");
  const std::string first_rows =
      "# epoch mse objective\n1 " + fmt::format("{:.10g} {:.10g}\n", input.mse[0], input.loss[0]);
  EXPECT_EQ(both_data.substr(0, first_rows.size()), first_rows);

  // The objective equal to the MSE up to rounding (no penalties): the MSE alone.
  input.loss = input.mse;
  input.loss[7] *= 1 + 1e-14;
  render_figures(input, (dir.path() / "same").string());
  const std::string same = loss_script(dir.path() / "same");
  EXPECT_NE(same.find("set title \"reconstruction MSE: softmax"), std::string::npos) << same;
  EXPECT_NE(same.find("set ylabel \"MSE\""), std::string::npos) << same;
  EXPECT_EQ(same.find("using 1:3"), std::string::npos) << same;
  EXPECT_EQ(read_all(dir.path() / "same" / "loss.dat").rfind("# epoch mse\n", 0), 0u);

  // A log from before the mse column: the objective, labelled as such.
  input.mse.clear();
  render_figures(input, (dir.path() / "old").string());
  const std::string old = loss_script(dir.path() / "old");
  EXPECT_NE(old.find("set title \"training objective"), std::string::npos) << old;
  EXPECT_NE(old.find("set ylabel \"objective\""), std::string::npos) << old;
  EXPECT_EQ(read_all(dir.path() / "old" / "loss.dat").rfind("# epoch objective\n", 0), 0u);
}

TEST(MakePlotInput, TakesTheMseColumnWhereTheLogHasOne) {
  const Matrix<double> data = gaussian(10, 2, 3);
  TrainingLog log{.columns = {"epoch", "loss", "mse"}, .rows = {{1, 0.5, 0.25}, {2, 0.4, 0.2}}};
  PlotInput input = make_plot_input(data, &log, nullptr, "model");
  EXPECT_EQ(input.loss, (std::vector<double>{0.5, 0.4}));
  EXPECT_EQ(input.mse, (std::vector<double>{0.25, 0.2}));
  log = TrainingLog{.columns = {"epoch", "loss"}, .rows = {{1, 0.5}}};
  input = make_plot_input(data, &log, nullptr, "model");
  EXPECT_EQ(input.loss, (std::vector<double>{0.5}));
  EXPECT_TRUE(input.mse.empty());
}

TEST(RenderFigures, FinalAtomsOnlyRenders) {
  if (!gnuplot_on_path()) DICTLEARN_SKIP("gnuplot is not installed");
  ScopedEnv no_override("DICTLEARN_GNUPLOT", nullptr);
  TempDir dir("final_only");
  PlotInput input = synthetic_input();
  input.loss.clear();
  input.snapshots.clear();
  const PlotResult result = render_figures(input, dir.path().string());
  EXPECT_EQ(result.written.size(), 2u);
  EXPECT_TRUE(fs::exists(dir.path() / "atoms.png"));
  EXPECT_FALSE(fs::exists(dir.path() / "atoms.gif"));
}

TEST(RenderFigures, DegenerateInputsStillRender) {
  if (!gnuplot_on_path()) DICTLEARN_SKIP("gnuplot is not installed");
  ScopedEnv no_override("DICTLEARN_GNUPLOT", nullptr);
  TempDir dir("degenerate");
  PlotInput input;
  input.data = Matrix<double>::Constant(1, 2, 3.0);  // one point: an empty axis range
  input.loss = {0.0};                                // not drawable on a log scale
  input.snapshots.push_back({1, Matrix<double>::Constant(1, 2, 3.0)});
  input.title = "100% \"quoted\" _title_";
  const PlotResult result = render_figures(input, dir.path().string());
  EXPECT_EQ(result.written.size(), 4u);

  input.loss = {NAN, INFINITY};  // nothing to draw: the loss figure is skipped, not an error
  const PlotResult no_loss = render_figures(input, (dir.path() / "no_loss").string());
  EXPECT_EQ(no_loss.written.size(), 3u);
  EXPECT_NE(no_loss.message.find("loss"), std::string::npos);
}

TEST(RenderFigures, UncreatableDirectoryIsAnErrorNamingIt) {
  ScopedEnv missing("DICTLEARN_GNUPLOT", "/nonexistent/gnuplot");
  TempDir dir("uncreatable");
  const fs::path file = dir.path() / "a_file";
  std::ofstream(file) << "not a folder";
  const std::string target = (file / "figures").string();
  try {
    render_figures(synthetic_input(), target);
    FAIL() << "expected an Error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find(target), std::string::npos) << error.what();
  }
}

TEST(RenderFigures, GnuplotFailureNamesTheFigureAndTheMessage) {
  TempDir dir("failing");
  const fs::path fake = dir.path() / "fake-gnuplot";
  std::ofstream(fake) << "#!/bin/sh\ncat >/dev/null\necho 'gnuplot> plot x' >&2\n"
                         "echo '         line 0: something broke' >&2\nexit 1\n";
  fs::permissions(fake, fs::perms::owner_all);
  ScopedEnv failing("DICTLEARN_GNUPLOT", fake.c_str());
  const fs::path out = dir.path() / "out";
  try {
    render_figures(synthetic_input(), out.string());
    FAIL() << "expected an Error";
  } catch (const Error& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("scatter.png"), std::string::npos) << message;
    EXPECT_NE(message.find("line 0: something broke"), std::string::npos) << message;
  }
  EXPECT_FALSE(fs::exists(out / "scatter.png"));
  for (const auto& entry : fs::directory_iterator(out)) {
    EXPECT_NE(entry.path().filename().string()[0], '.') << entry.path();
  }
}

TEST(RenderFigures, GnuplotExitingWithoutReadingIsAnErrorNotACrash) {
  // Writing to a pipe nobody reads raises SIGPIPE; it must not kill the process.
  TempDir dir("early_exit");
  const fs::path fake = dir.path() / "fake-gnuplot";
  std::ofstream(fake) << "#!/bin/sh\nexit 3\n";
  fs::permissions(fake, fs::perms::owner_all);
  ScopedEnv failing("DICTLEARN_GNUPLOT", fake.c_str());
  PlotInput input = synthetic_input();
  input.title = std::string(200000, 't');  // a script longer than the pipe's buffer
  EXPECT_THROW(render_figures(input, (dir.path() / "out").string()), Error);
}

TEST(RenderFigures, RejectsMalformedInput) {
  ScopedEnv missing("DICTLEARN_GNUPLOT", "/nonexistent/gnuplot");
  TempDir dir("malformed");
  PlotInput input = synthetic_input();
  input.snapshots[3].atoms = Matrix<double>::Zero(2, 3);
  EXPECT_THROW(render_figures(input, dir.path().string()), Error);
  input = synthetic_input();
  input.final_atoms = Matrix<double>::Zero(5, 2);
  EXPECT_THROW(render_figures(input, dir.path().string()), Error);
  input = synthetic_input();
  input.data(0, 0) = INFINITY;
  EXPECT_THROW(render_figures(input, dir.path().string()), Error);
}

// ---------------------------------------------------------------- many atoms

/// The message of the Error `body` throws ("" when none).
template <typename Body>
std::string error_of(Body&& body) {
  try {
    body();
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

/// Usage of n atoms, all distinct: atom k gets ((k * 37) % n + 1) / (n + 1).
std::vector<double> scrambled_usage(int n) {
  std::vector<double> usage(static_cast<size_t>(n));
  for (int k = 0; k < n; ++k) usage[static_cast<size_t>(k)] = ((k * 37) % n + 1.0) / (n + 1.0);
  return usage;
}

/// How often `needle` occurs in `text`.
size_t occurrences(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
    ++count;
  return count;
}

TEST(TracedAtoms, SixtyFourAtomsGiveTheTwelveMostUsedMostUsedFirst) {
  const std::vector<double> usage = scrambled_usage(64);
  const std::vector<int> traced = traced_atoms(usage, 64);
  ASSERT_EQ(traced.size(), 12u);
  ASSERT_EQ(kTracedAtoms, 12);
  // The 12 largest usages are 64/65 down to 53/65: atom k has rank (k * 37) % 64.
  for (int i = 0; i < 12; ++i) {
    const int k = traced[static_cast<size_t>(i)];
    EXPECT_EQ((k * 37) % 64, 63 - i) << "place " << i;
  }
  // Ties keep the atoms' order; no usage: the first atoms.
  EXPECT_EQ(traced_atoms({0.5, 0.9, 0.5, 0.9, 0.1}, 5, 3), (std::vector<int>{1, 3, 0}));
  EXPECT_EQ(traced_atoms({}, 64), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
  EXPECT_EQ(traced_atoms({1.0, 1.0}, 2), (std::vector<int>{0, 1}));  // the seed's demo
  EXPECT_EQ(traced_atoms(usage, 64, 64).size(), 64u);
  EXPECT_NE(error_of([] {
              traced_atoms({0.5, 0.2}, 3);
            }).find("2 entries for 3 atoms"),
            std::string::npos);
  EXPECT_THROW(traced_atoms({0.5, NAN}, 2), Error);
}

/// 64 atoms with usage, paths and final positions.
PlotInput many_atoms_input() {
  PlotInput input = synthetic_input(64, 20);
  input.usage = scrambled_usage(64);
  input.usage[5] = 0;  // one dead atom
  input.title = "topk, 64 atoms";
  return input;
}

TEST(RenderFigures, SixtyFourAtomsGetTwelvePathsWithUsageInTheLegend) {
  ScopedEnv missing("DICTLEARN_GNUPLOT", "/nonexistent/gnuplot");
  TempDir dir("legend");
  const PlotInput input = many_atoms_input();
  render_figures(input, dir.path().string());
  const std::string script = read_all(dir.path() / "figures.gp");
  const std::string atoms =
      script.substr(script.find("# ---- atoms.png"),
                    script.find("# ---- atoms.gif") - script.find("# ---- atoms.png"));
  EXPECT_EQ(occurrences(atoms, "with lines lt"), 12u) << atoms;
  EXPECT_EQ(occurrences(atoms, "title \"atom "), 12u) << atoms;
  // The most used atom (rank 63: atom 55, since 55 * 37 % 64 == 63) first, with its usage.
  const std::vector<int> traced = traced_atoms(input.usage, 64);
  EXPECT_NE(atoms.find(fmt::format("index 0 using 2:3 with lines lt 1 lw 2 title \"atom {}: "
                                   "{:.1f}%\"",
                                   traced[0], 100 * input.usage[size_t(traced[0])])),
            std::string::npos)
      << atoms;
  EXPECT_NE(atoms.find("the other 52 atoms (final)"), std::string::npos);
  EXPECT_NE(atoms.find("paths of the 12 most used of 64 atoms"), std::string::npos);
  // atoms.dat holds the traced atoms' paths only, in legend order.
  const std::string paths = read_all(dir.path() / "atoms.dat");
  EXPECT_EQ(occurrences(paths, "# atom "), 12u);
  EXPECT_NE(paths.find(fmt::format("# atom {}\n", traced[0])), std::string::npos);
  // atoms_final.dat: every atom, the traced first with their legend place.
  const std::string finals = read_all(dir.path() / "atoms_final.dat");
  EXPECT_EQ(std::count(finals.begin(), finals.end(), '\n'), 65);
  EXPECT_NE(finals.find(fmt::format(" {} 1\n", traced[0])), std::string::npos);
}

TEST(RenderFigures, UsageIsDrawnSortedWithTheDeadCounted) {
  ScopedEnv missing("DICTLEARN_GNUPLOT", "/nonexistent/gnuplot");
  TempDir dir("usage");
  render_figures(many_atoms_input(), dir.path().string());
  std::ifstream in(dir.path() / "usage.dat");
  std::string header;
  std::getline(in, header);
  double previous = INFINITY;
  int rows = 0, rank, atom;
  double usage;
  while (in >> rank >> usage >> atom) {
    EXPECT_EQ(rank, ++rows);
    EXPECT_LE(usage, previous) << "rank " << rank;
    previous = usage;
  }
  EXPECT_EQ(rows, 64);
  EXPECT_EQ(atom, 5);  // the dead atom last
  EXPECT_EQ(usage, 0);
  const std::string script = read_all(dir.path() / "figures.gp");
  EXPECT_NE(script.find("atom usage, most used first; 1 dead: topk, 64 atoms"), std::string::npos);
  EXPECT_NE(script.find("set logscale y"), std::string::npos);
  EXPECT_NE(script.find("1 dead (usage 0)"), std::string::npos);

  // No atom ever nonzero: nothing for a log scale, a linear one.
  PlotInput input = many_atoms_input();
  std::fill(input.usage.begin(), input.usage.end(), 0.0);
  render_figures(input, (dir.path() / "dead").string());
  const std::string dead = read_all(dir.path() / "dead" / "figures.gp");
  const std::string usage_part = dead.substr(dead.find("# ---- usage.png"));
  EXPECT_EQ(usage_part.find("set logscale y"), std::string::npos);
  EXPECT_NE(usage_part.find("64 dead"), std::string::npos);
}

// ---------------------------------------------------------------- patches

TEST(PatchShape, ParsesHeightByWidth) {
  const PatchShape digits = parse_patch_shape("8x8", 64);
  EXPECT_EQ(digits.height, 8);
  EXPECT_EQ(digits.width, 8);
  const PatchShape wide = parse_patch_shape("2X16");
  EXPECT_EQ(wide.height, 2);
  EXPECT_EQ(wide.width, 16);
  EXPECT_EQ(parse_patch_shape("1x64", 64).width, 64);
}

TEST(PatchShape, MalformedOrMismatchedValuesNameTheFlagAndTheValue) {
  for (const char* bad : {"", "8", "8x", "x8", "0x8", "8x0", "-8x8", "+8x8", "8x8x", " 8x8", "8 x8",
                          "8.0x8", "8x8 ", "8by8", "9999999999x1", "0x0"}) {
    const std::string message = error_of([&] { parse_patch_shape(bad); });
    EXPECT_EQ(message.rfind("--patch-shape: must be HEIGHTxWIDTH", 0), 0u)
        << bad << ": " << message;
    EXPECT_NE(message.find(fmt::format("got '{}'", bad)), std::string::npos) << message;
  }
  const std::string mismatch = error_of([] { parse_patch_shape("8x7", 64); });
  EXPECT_EQ(mismatch,
            "--patch-shape: 8x7 patches have 56 pixels, but the data has 64 values per "
            "sample");
  const std::string recorded =
      error_of([] { parse_patch_shape("4x4", 64, "m.safetensors: train.patch-shape"); });
  EXPECT_EQ(recorded.rfind("m.safetensors: train.patch-shape: 4x4 patches have 16 pixels", 0), 0u)
      << recorded;
}

/// Four 8 x 8 patterns: a vertical bar, a horizontal bar, a diagonal, a ramp.
Matrix<double> patterns() {
  Matrix<double> atoms = Matrix<double>::Zero(4, 64);
  for (int i = 0; i < 8; ++i) {
    atoms(0, i * 8 + 2) = 3;                                   // column 2
    atoms(1, 5 * 8 + i) = -1;                                  // row 5, below a background of 0
    atoms(2, i * 8 + i) = 0.25;                                // the diagonal
    for (int j = 0; j < 8; ++j) atoms(3, i * 8 + j) = 10 + j;  // a ramp to the right
  }
  return atoms;
}

/// atoms_grid.dat as numbers (NaN for the background), one vector per row.
std::vector<std::vector<double>> read_grid(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::vector<double>> grid;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream row(line);
    std::vector<double> values;
    std::string cell;
    while (row >> cell) values.push_back(cell == "NaN" ? NAN : std::stod(cell));
    grid.push_back(values);
  }
  return grid;
}

TEST(AtomGrid, AboutSqrtNColumnsOfTilesEachScaledToItsOwnRange) {
  const detail::AtomGridLayout many = detail::atom_grid_layout(64, {8, 8});
  EXPECT_EQ(many.columns, 8);
  EXPECT_EQ(many.rows, 8);
  EXPECT_EQ(detail::atom_grid_layout(256, {8, 8}).columns, 16);
  const detail::AtomGridLayout few = detail::atom_grid_layout(10, {8, 8});
  EXPECT_EQ(few.columns, 4);
  EXPECT_EQ(few.rows, 3);

  ScopedEnv missing("DICTLEARN_GNUPLOT", "/nonexistent/gnuplot");
  TempDir dir("grid");
  PlotInput input = synthetic_input(4, 3);
  input.atoms = patterns();
  input.patch_shape = {8, 8};
  input.usage = {0.1, 0.2, 0.0, 0.4};  // the ramp first, then the horizontal bar, ...
  const PlotResult result = render_figures(input, dir.path().string());
  EXPECT_NE(std::find(result.data_files.begin(), result.data_files.end(),
                      (dir.path() / "atoms_grid.dat").string()),
            result.data_files.end());
  const detail::AtomGridLayout layout = detail::atom_grid_layout(4, {8, 8});
  const auto grid = read_grid(dir.path() / "atoms_grid.dat");
  ASSERT_EQ(grid.size(), static_cast<size_t>(layout.height_units));
  const std::vector<int> order = {3, 1, 0, 2};
  for (int i = 0; i < 4; ++i) {
    const int x0 = layout.gap + (i % layout.columns) * (8 + layout.gap);
    const int y0 = layout.gap + (i / layout.columns) * (8 + layout.gap + layout.label_rows) +
                   layout.label_rows;
    const auto atom = input.atoms.row(order[static_cast<size_t>(i)]);
    const double low = atom.minCoeff(), high = atom.maxCoeff();
    for (int r = 0; r < 8; ++r) {
      for (int c = 0; c < 8; ++c) {
        ASSERT_EQ(grid[size_t(y0 + r)].size(), static_cast<size_t>(layout.width_units));
        EXPECT_NEAR(grid[size_t(y0 + r)][size_t(x0 + c)], (atom(r * 8 + c) - low) / (high - low),
                    1e-3)
            << "tile " << i << " pixel " << r << "," << c;
      }
    }
    // Background left and above each tile.
    EXPECT_TRUE(std::isnan(grid[size_t(y0)][size_t(x0 - 1)]));
    EXPECT_TRUE(std::isnan(grid[size_t(y0 - 1)][size_t(x0)]));
  }
  // The horizontal bar (-1 on 0) is black on white: each tile has its own range.
  const int bar_x = layout.gap + 8 + layout.gap, bar_y = layout.gap + layout.label_rows;
  EXPECT_EQ(grid[size_t(bar_y + 5)][size_t(bar_x + 3)], 0);
  EXPECT_EQ(grid[size_t(bar_y)][size_t(bar_x + 3)], 1);
  const std::string script = read_all(dir.path() / "figures.gp");
  EXPECT_NE(script.find("atoms as 8 x 8 images"), std::string::npos);
  EXPECT_NE(script.find("most used first, numbered; 1 dead (numbers in red)"), std::string::npos);
  EXPECT_NE(script.find("set label 3 \"3\""), std::string::npos);  // the first tile's number

  // A constant atom is mid-gray, not a division by zero.
  input.atoms.row(3).setConstant(2.5);
  render_figures(input, (dir.path() / "flat").string());
  EXPECT_EQ(read_grid(dir.path() / "flat" /
                      "atoms_grid.dat")[size_t(layout.gap + layout.label_rows)][size_t(layout.gap)],
            0.5);

  // Atoms that are not patches of the shape are refused.
  input.patch_shape = {4, 8};
  EXPECT_NE(error_of([&] {
              render_figures(input, (dir.path() / "bad").string());
            }).find("atoms of dimension 64 are not 4 x 8 patches"),
            std::string::npos);
}

TEST(RenderFigures, ManyAtomsRenderWholeImagesWithTheGridAndUsage) {
  if (!gnuplot_on_path()) DICTLEARN_SKIP("gnuplot is not installed");
  ScopedEnv no_override("DICTLEARN_GNUPLOT", nullptr);
  TempDir dir("many_images");
  PlotInput input = many_atoms_input();
  input.atoms = gaussian(64, 64, 11);
  input.patch_shape = {8, 8};
  const PlotResult result = render_figures(input, dir.path().string());
  EXPECT_EQ(result.written.size(), 6u);
  for (const char* name : {"atoms.png", "usage.png", "atoms_grid.png", "atoms.gif"}) {
    EXPECT_EQ(detail::image_problem((dir.path() / name).string(), name), "") << name;
  }
  const std::string grid = read_all(dir.path() / "atoms_grid.png");
  ASSERT_GT(grid.size(), 24u);
  auto be32 = [&](size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = v << 8 | static_cast<unsigned char>(grid[at + i]);
    return v;
  };
  const detail::AtomGridLayout layout = detail::atom_grid_layout(64, {8, 8});
  EXPECT_EQ(be32(16), static_cast<uint32_t>(layout.width_px));
  EXPECT_EQ(be32(20), static_cast<uint32_t>(layout.height_px));
}

}  // namespace
}  // namespace dictlearn
