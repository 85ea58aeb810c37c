// The figures (render_figures): the seed's scatter, loss curve, atoms' paths
// and animation of the atoms moving toward the data, and for models of many
// atoms their usage and (image patches) the atoms as images, as data files
// and gnuplot scripts. The projection they are drawn in is pca.cpp's; the
// atoms' grid is atom_grid.cpp's; running gnuplot is gnuplot.cpp's.
//
// Every figure is drawn from data files and a script written beside it
// (figures.gp, relative names only), so `gnuplot figures.gp` in the output
// folder redraws them.
#include "dictlearn/plot.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/check.hpp"
#include "core/finite.hpp"
#include "dictlearn/io.hpp"
#include "plot/atom_grid.hpp"
#include "plot/gnuplot.hpp"

namespace dictlearn {
namespace {

namespace fs = std::filesystem;
using detail::gp_string;

constexpr size_t kMaxFrames = 100;              // frames of the GIF
constexpr size_t kMaxPathPoints = 2000;         // snapshots along one atom's path
constexpr Eigen::Index kMaxDataPoints = 50000;  // data points drawn (a fixed subsample beyond)

// Atom colours: matplotlib's tab10 without its grey (the data is grey), then
// darker companions; all readable on a white background over light grey dots.
constexpr const char* kAtomColours[] = {
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22",
    "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d"};
constexpr int kColourCount = static_cast<int>(std::size(kAtomColours));

constexpr const char* kPngTerminal =
    "set terminal pngcairo size 800,600 enhanced font \"DejaVu Sans,12\" "
    "background rgb \"white\"";
constexpr const char* kGifTerminal =
    "set terminal gif animate delay 8 loop 0 size 640,480 enhanced font \"DejaVu Sans,10\" "
    "background rgb \"white\"";

bool all_finite(const Matrix<double>& m) { return detail::all_finite(m.data(), m.size()); }

// ---------------------------------------------------------------- quoting

/// `text` as a sprintf format that prints it literally.
std::string escape_percent(std::string_view text) {
  std::string out;
  for (char c : text) {
    out += c;
    if (c == '%') out += '%';
  }
  return out;
}

std::string number(double value) {
  if (!std::isfinite(value)) return "NaN";  // gnuplot reads NaN as a missing point
  return fmt::format("{:.10g}", value);
}

// ---------------------------------------------------------------- sampling

/// At most `limit` indices of 0..count-1, spread evenly, always keeping the
/// first and the last.
std::vector<size_t> spread_indices(size_t count, size_t limit) {
  std::vector<size_t> out;
  if (count == 0) return out;
  if (count <= limit || limit < 2) {
    for (size_t i = 0; i < std::min(count, std::max<size_t>(limit, 1)); ++i) out.push_back(i);
    if (count > limit) out.back() = count - 1;
    return out;
  }
  for (size_t i = 0; i < limit; ++i) {
    const size_t index = (i * (count - 1) + (limit - 1) / 2) / (limit - 1);
    if (out.empty() || index != out.back()) out.push_back(index);
  }
  return out;
}

/// A fixed random subset of rows (in their original order), so ordered data
/// (all of one cluster, then the next) is not thinned unevenly.
std::vector<Eigen::Index> data_rows(Eigen::Index rows) {
  std::vector<Eigen::Index> out(static_cast<size_t>(rows));
  for (Eigen::Index i = 0; i < rows; ++i) out[static_cast<size_t>(i)] = i;
  if (rows <= kMaxDataPoints) return out;
  std::mt19937_64 random(20211129);  // the seed post's date; any fixed seed does
  for (Eigen::Index i = 0; i < kMaxDataPoints; ++i) {
    const auto j = i + static_cast<Eigen::Index>(random() % static_cast<uint64_t>(rows - i));
    std::swap(out[static_cast<size_t>(i)], out[static_cast<size_t>(j)]);
  }
  out.resize(static_cast<size_t>(kMaxDataPoints));
  std::sort(out.begin(), out.end());
  return out;
}

// ---------------------------------------------------------------- the figures' inputs

struct Range {
  double low = INFINITY;
  double high = -INFINITY;
  void add(double value) {
    low = std::min(low, value);
    high = std::max(high, value);
  }
  void add_column(const Matrix<double>& m, int column) {
    for (Eigen::Index i = 0; i < m.rows(); ++i) add(m(i, column));
  }
  /// "[low:high]" with a 5% margin, or a unit-ish interval around a single value.
  std::string padded() const {
    double a = low, b = high;
    if (!(a <= b)) a = -1, b = 1;
    const double span = b - a;
    const double pad = span > 0 ? 0.05 * span : (a != 0 ? 0.1 * std::abs(a) : 1.0);
    return fmt::format("[{}:{}]", number(a - pad), number(b + pad));
  }
};

/// Everything the scripts need, decided once from the input.
struct Layout {
  std::string title_suffix;  // ": <title>" or ""
  bool has_data = false;
  bool has_loss = false;         // loss.png: some MSE or objective value is finite
  bool loss_log = false;         // every drawn value is positive
  bool has_mse = false;          // loss.dat's MSE column (the main line)
  bool has_objective = false;    // loss.dat's objective column: no MSE, or it differs
  bool has_atoms = false;        // atoms.png
  bool has_frames = false;       // atoms.gif
  bool has_paths = false;        // atoms.dat (snapshots exist)
  bool has_usage = false;        // usage.png
  bool has_grid = false;         // atoms_grid.png
  bool usage_in_legend = false;  // some atom's usage is below 1: it tells atoms apart
  int dead_atoms = 0;            // usage exactly 0
  int n_atoms = 0;
  std::vector<int> traced;  // atoms drawn with a path and a legend entry (traced_atoms())
  std::vector<int> rank;    // per atom: its place in `traced` + 1, or 0
  detail::AtomGridLayout grid;
  std::vector<int> grid_order;  // the grid's tiles: atoms by usage, or in order
  std::vector<size_t> frames;   // snapshot indices in the GIF
  Range x, y;                   // over the data and every atom position drawn
};

void validate(const PlotInput& input) {
  DICTLEARN_CHECK(input.data.rows() == 0 || input.data.cols() == 2,
                  "render_figures: data must have 2 columns (projected), got {}",
                  input.data.cols());
  DICTLEARN_CHECK(all_finite(input.data), "render_figures: data has a non-finite entry");
  int n_atoms = -1;
  for (size_t s = 0; s < input.snapshots.size(); ++s) {
    const Matrix<double>& atoms = input.snapshots[s].atoms;
    DICTLEARN_CHECK(atoms.rows() > 0 && atoms.cols() == 2,
                    "render_figures: snapshot {} (epoch {}) must be n_atoms x 2, got {} x {}", s,
                    input.snapshots[s].epoch, atoms.rows(), atoms.cols());
    DICTLEARN_CHECK(n_atoms < 0 || atoms.rows() == n_atoms,
                    "render_figures: snapshot {} (epoch {}) has {} atoms, earlier ones {}", s,
                    input.snapshots[s].epoch, atoms.rows(), n_atoms);
    DICTLEARN_CHECK(all_finite(atoms),
                    "render_figures: snapshot {} (epoch {}) has a non-finite atom", s,
                    input.snapshots[s].epoch);
    n_atoms = static_cast<int>(atoms.rows());
  }
  if (input.final_atoms.size() > 0) {
    DICTLEARN_CHECK(input.final_atoms.cols() == 2,
                    "render_figures: final_atoms must be n_atoms x 2, got {} x {}",
                    input.final_atoms.rows(), input.final_atoms.cols());
    DICTLEARN_CHECK(n_atoms < 0 || input.final_atoms.rows() == n_atoms,
                    "render_figures: final_atoms has {} atoms, the snapshots {}",
                    input.final_atoms.rows(), n_atoms);
    DICTLEARN_CHECK(all_finite(input.final_atoms),
                    "render_figures: final_atoms has a non-finite entry");
    n_atoms = static_cast<int>(input.final_atoms.rows());
  }
  DICTLEARN_CHECK(input.usage.empty() || n_atoms < 0 || input.usage.size() == size_t(n_atoms),
                  "render_figures: usage has {} entries for {} atoms", input.usage.size(), n_atoms);
  const PatchShape& shape = input.patch_shape;
  DICTLEARN_CHECK(shape.height >= 0 && shape.width >= 0 && (shape.height > 0) == (shape.width > 0),
                  "render_figures: patch_shape {} x {} is neither a shape nor 0 x 0", shape.height,
                  shape.width);
  if (input.atoms.size() > 0) {
    DICTLEARN_CHECK(all_finite(input.atoms), "render_figures: atoms has a non-finite entry");
    DICTLEARN_CHECK(n_atoms < 0 || input.atoms.rows() == n_atoms,
                    "render_figures: atoms has {} rows, the projected atoms {}", input.atoms.rows(),
                    n_atoms);
    DICTLEARN_CHECK(input.usage.empty() || input.usage.size() == size_t(input.atoms.rows()),
                    "render_figures: usage has {} entries for {} atoms", input.usage.size(),
                    input.atoms.rows());
    DICTLEARN_CHECK(shape.height == 0 || input.atoms.cols() == int64_t(shape.height) * shape.width,
                    "render_figures: atoms of dimension {} are not {} x {} patches",
                    input.atoms.cols(), shape.height, shape.width);
  }
}

/// The final atom positions: final_atoms, else the last snapshot.
const Matrix<double>* final_positions(const PlotInput& input) {
  if (input.final_atoms.size() > 0) return &input.final_atoms;
  if (!input.snapshots.empty()) return &input.snapshots.back().atoms;
  return nullptr;
}

/// Whether the objective is more than the MSE: without penalties or AuxK the
/// two are the same sums divided in another order, equal to about 1e-15.
bool objective_differs(const PlotInput& input) {
  if (input.loss.size() != input.mse.size()) return true;
  for (size_t e = 0; e < input.loss.size(); ++e) {
    const double a = input.loss[e], b = input.mse[e];
    if (std::isfinite(a) != std::isfinite(b)) return true;
    if (std::isfinite(a) && std::abs(a - b) > 1e-9 * std::max(std::abs(a), std::abs(b)))
      return true;
  }
  return false;
}

Layout make_layout(const PlotInput& input) {
  Layout layout;
  if (!input.title.empty()) layout.title_suffix = ": " + input.title;
  layout.has_data = input.data.rows() > 0;

  layout.has_mse = !input.mse.empty();
  layout.has_objective = !input.loss.empty() && (!layout.has_mse || objective_differs(input));
  bool any_finite = false, all_positive = true;
  auto scan = [&](const std::vector<double>& values) {
    for (double value : values) {
      if (!std::isfinite(value)) continue;
      any_finite = true;
      if (value <= 0) all_positive = false;
    }
  };
  if (layout.has_mse) scan(input.mse);
  if (layout.has_objective) scan(input.loss);
  layout.has_loss = any_finite;  // gnuplot refuses a plot with no defined point
  layout.loss_log = all_positive;

  const Matrix<double>* final_atoms = final_positions(input);
  layout.has_atoms = final_atoms != nullptr;
  layout.has_paths = !input.snapshots.empty();
  layout.has_frames = !input.snapshots.empty();
  if (final_atoms) layout.n_atoms = static_cast<int>(final_atoms->rows());
  if (layout.n_atoms > 0) layout.traced = traced_atoms(input.usage, layout.n_atoms);
  layout.rank.assign(static_cast<size_t>(layout.n_atoms), 0);
  for (size_t i = 0; i < layout.traced.size(); ++i)
    layout.rank[static_cast<size_t>(layout.traced[i])] = static_cast<int>(i) + 1;
  layout.frames = spread_indices(input.snapshots.size(), kMaxFrames);
  layout.has_usage = !input.usage.empty();
  layout.usage_in_legend =
      std::any_of(input.usage.begin(), input.usage.end(), [](double u) { return u < 1; });
  layout.dead_atoms = static_cast<int>(std::count(input.usage.begin(), input.usage.end(), 0.0));
  const int grid_atoms = static_cast<int>(input.atoms.rows());
  layout.has_grid = grid_atoms > 0 && input.patch_shape.height > 0;
  if (layout.has_grid) {
    layout.grid = detail::atom_grid_layout(grid_atoms, input.patch_shape);
    layout.grid_order = traced_atoms(input.usage, grid_atoms, grid_atoms);
  }

  if (layout.has_data) {
    layout.x.add_column(input.data, 0);
    layout.y.add_column(input.data, 1);
  }
  for (const AtomSnapshot& snapshot : input.snapshots) {
    layout.x.add_column(snapshot.atoms, 0);
    layout.y.add_column(snapshot.atoms, 1);
  }
  if (final_atoms) {
    layout.x.add_column(*final_atoms, 0);
    layout.y.add_column(*final_atoms, 1);
  }
  return layout;
}

// ---------------------------------------------------------------- data files

std::string data_text(const PlotInput& input) {
  const std::vector<Eigen::Index> rows = data_rows(input.data.rows());
  std::string out = fmt::format("# {} {}\n", input.x_label, input.y_label);
  if (rows.size() < static_cast<size_t>(input.data.rows())) {
    out += fmt::format("# a fixed random subset of {} of the {} points\n", rows.size(),
                       input.data.rows());
  }
  for (Eigen::Index i : rows) {
    out += fmt::format("{} {}\n", number(input.data(i, 0)), number(input.data(i, 1)));
  }
  return out;
}

/// "epoch mse objective", either value column left out when not drawn.
std::string loss_text(const PlotInput& input, const Layout& layout) {
  std::string out = fmt::format("# epoch{}{}\n", layout.has_mse ? " mse" : "",
                                layout.has_objective ? " objective" : "");
  const size_t epochs = std::max(input.mse.size(), input.loss.size());
  const double missing = std::numeric_limits<double>::quiet_NaN();
  for (size_t e = 0; e < epochs; ++e) {
    out += fmt::format("{}", e + 1);
    if (layout.has_mse) out += " " + number(e < input.mse.size() ? input.mse[e] : missing);
    if (layout.has_objective) out += " " + number(e < input.loss.size() ? input.loss[e] : missing);
    out += "\n";
  }
  return out;
}

/// One block per traced atom, in legend order (gnuplot `index i`), rows
/// "epoch x y" along its path, ending at the final position when
/// final_atoms differs from the last snapshot.
std::string paths_text(const PlotInput& input, const Layout& layout) {
  const std::vector<size_t> points = spread_indices(input.snapshots.size(), kMaxPathPoints);
  const bool append_final =
      input.final_atoms.size() > 0 && input.final_atoms != input.snapshots.back().atoms;
  std::string out = "# one block per atom: epoch x y (the last row is the final position)\n";
  for (const int k : layout.traced) {
    out += fmt::format("# atom {}\n", k);
    for (size_t s : points) {
      const AtomSnapshot& snapshot = input.snapshots[s];
      out += fmt::format("{} {} {}\n", snapshot.epoch, number(snapshot.atoms(k, 0)),
                         number(snapshot.atoms(k, 1)));
    }
    if (append_final) {
      const int epoch = input.snapshots.back().epoch;
      out += fmt::format("{} {} {}\n", epoch, number(input.final_atoms(k, 0)),
                         number(input.final_atoms(k, 1)));
    }
    out += "\n\n";
  }
  return out;
}

/// Rows "x y atom rank", the traced atoms first (in legend order, so row i
/// is the legend's atom i), then the others (rank 0).
std::string final_text(const Matrix<double>& atoms, const Layout& layout) {
  std::string out = "# final atom positions: x y atom rank (its legend place; 0: not traced)\n";
  auto row = [&](int k) {
    out += fmt::format("{} {} {} {}\n", number(atoms(k, 0)), number(atoms(k, 1)), k,
                       layout.rank[static_cast<size_t>(k)]);
  };
  for (const int k : layout.traced) row(k);
  for (int k = 0; k < layout.n_atoms; ++k) {
    if (layout.rank[static_cast<size_t>(k)] == 0) row(k);
  }
  return out;
}

/// One block per GIF frame (gnuplot `index f`), rows "x y atom rank".
std::string frames_text(const PlotInput& input, const Layout& layout) {
  std::string out = "# one block per frame: x y atom rank (0: not traced)\n";
  for (size_t s : layout.frames) {
    const AtomSnapshot& snapshot = input.snapshots[s];
    out += fmt::format("# epoch {}\n", snapshot.epoch);
    for (Eigen::Index k = 0; k < snapshot.atoms.rows(); ++k) {
      out += fmt::format("{} {} {} {}\n", number(snapshot.atoms(k, 0)),
                         number(snapshot.atoms(k, 1)), k, layout.rank[static_cast<size_t>(k)]);
    }
    out += "\n\n";
  }
  return out;
}

/// Rows "rank usage atom", most used first (ties: the lower atom first).
std::string usage_text(const PlotInput& input) {
  const std::vector<int> order = traced_atoms(input.usage, static_cast<int>(input.usage.size()),
                                              static_cast<int>(input.usage.size()));
  std::string text = "# rank, fraction of samples where the atom is nonzero, atom\n";
  for (size_t i = 0; i < order.size(); ++i)
    text += fmt::format("{} {} {}\n", i + 1, number(input.usage[size_t(order[i])]), order[i]);
  return text;
}

// ---------------------------------------------------------------- scripts

using Figure = detail::GnuplotFigure;

std::string common_style() {
  std::string out;
  for (int k = 0; k < kColourCount; ++k) {
    out += fmt::format("set linetype {} lc rgb \"{}\" lw 2 pt 7\n", k + 1, kAtomColours[k]);
  }
  out += fmt::format("set linetype cycle {}\n", kColourCount);
  out += "set border lc rgb \"#404040\"\n";
  out += "set grid back lc rgb \"#e5e5e5\" lt 1 dt solid\n";
  out += "set title font \",13\"\n";
  out += "set tics textcolor rgb \"#202020\"\n";
  return out;
}

std::string axis_labels(const PlotInput& input) {
  return fmt::format("set xlabel {} noenhanced\nset ylabel {} noenhanced\n",
                     gp_string(input.x_label), gp_string(input.y_label));
}

Figure scatter_figure(const PlotInput& input, const Layout& layout) {
  std::string c = common_style() + axis_labels(input);
  c += fmt::format(
      "set title {} noenhanced\n",
      gp_string(fmt::format("data ({} points){}", input.data.rows(), layout.title_suffix)));
  c += "set key off\n";
  c += "plot \"data.dat\" using 1:2 with points pt 7 ps 0.5 lc rgb \"#801f77b4\" notitle\n";
  return {"scatter.png", kPngTerminal, c};
}

Figure loss_figure(const PlotInput& input, const Layout& layout) {
  std::string c = common_style();
  const bool both = layout.has_mse && layout.has_objective;
  const char* what = both ? "reconstruction MSE and training objective"
                          : (layout.has_mse ? "reconstruction MSE" : "training objective");
  c += fmt::format("set title {} noenhanced\n", gp_string(what + layout.title_suffix));
  c += fmt::format("set xlabel \"epoch\"\nset ylabel \"{}\"\n",
                   both ? "MSE, objective" : (layout.has_mse ? "MSE" : "objective"));
  if (layout.loss_log) {
    c += "set logscale y\nset format y \"10^{%L}\"\nset mytics 10\n";
    c += "set grid back xtics ytics mytics lc rgb \"#e5e5e5\" lt 1 dt solid, lc rgb \"#f2f2f2\" lt "
         "1\n";
  }
  c += fmt::format("set xrange [*:*] noextend\nset key {}\n", both ? "top right" : "off");
  const size_t epochs = std::max(input.mse.size(), input.loss.size());
  const char* style = epochs < 30 ? "linespoints pt 7 ps 0.8" : "lines";
  c += fmt::format("plot \"loss.dat\" using 1:2 with {} lw 2 lc rgb \"#1f77b4\" {}", style,
                   both ? "title \"reconstruction MSE\"" : "notitle");
  if (both) {
    c += fmt::format(", \"loss.dat\" using 1:3 with {} lw 2 lc rgb \"#ff7f0e\" title \"objective\"",
                     style);
  }
  c += "\n";
  return {"loss.png", kPngTerminal, c};
}

Figure usage_figure(const PlotInput& input, const Layout& layout) {
  const int n = static_cast<int>(input.usage.size());
  double lowest = INFINITY, mean = 0;
  for (double usage : input.usage) {
    if (usage > 0) lowest = std::min(lowest, usage);
    mean += usage / n;
  }
  std::string c = common_style();
  c += fmt::format("set title {} noenhanced\n",
                   gp_string(fmt::format("atom usage, most used first; {} dead{}",
                                         layout.dead_atoms, layout.title_suffix)));
  c += "set xlabel \"atoms, most used first\"\n";
  c += "set ylabel \"fraction of samples where the atom is nonzero\"\n";
  c += fmt::format("set xrange [0.5:{}]\n", number(n + 0.5));
  if (n <= 20) c += "set xtics 1\n";             // ranks are whole numbers
  const bool log_scale = std::isfinite(lowest);  // a log axis needs a positive value
  if (log_scale) {
    // Whole decades below the least used atom that fired, up to a fraction's 1.
    const double bottom = std::pow(10.0, std::floor(std::log10(lowest * 0.8)));
    c += fmt::format("set logscale y\nset yrange [{}:1.3]\nset format y \"10^{{%L}}\"\n",
                     number(bottom));
    c += "set grid back xtics ytics mytics lc rgb \"#e5e5e5\" lt 1 dt solid, lc rgb \"#f2f2f2\" lt "
         "1\n";
  } else {
    c += "set yrange [0:1]\n";
  }
  if (layout.dead_atoms > 0) {
    // A log scale cannot show zeros: the dead atoms' ranks are shaded instead.
    const double from = n - layout.dead_atoms + 0.5;
    c += fmt::format(
        "set object 1 rectangle from {0}, graph 0 to {1}, graph 1 behind fillcolor rgb "
        "\"#fbdada\" fillstyle solid noborder\n"
        "set label 1 {2} at {3}, graph 0.5 center rotate by 90 tc rgb \"#b22222\" noenhanced\n",
        number(from), number(n + 0.5),
        gp_string(fmt::format("{} dead (usage 0)", layout.dead_atoms)),
        number((from + n + 0.5) / 2));
  }
  c += "set key top right box opaque\n";
  const char* style = n <= 100 ? "linespoints pt 7 ps 0.7" : "lines";
  c += fmt::format(
      "plot \"usage.dat\" using 1:{} with {} lw 2 lc rgb \"#1f77b4\" "
      "title \"atoms\", \\\n     {} with lines dt 2 lw 2 lc rgb \"#ff7f0e\" title {}\n",
      log_scale ? "($2 > 0 ? $2 : NaN)" : "2", style, number(mean),
      gp_string(fmt::format("mean {:.3g} (= L0 / atoms)", mean)));
  return {"usage.png", kPngTerminal, c};
}

std::string fixed_ranges(const Layout& layout) {
  return fmt::format("set xrange {}\nset yrange {}\n", layout.x.padded(), layout.y.padded());
}

/// Marker size of the atoms: big for the seed's handful, smaller for many.
double atom_marker_size(int n_atoms) { return n_atoms <= 10 ? 2.5 : n_atoms <= 50 ? 1.6 : 1.0; }

/// The legend's name of atom k: its number, and its usage where that tells atoms apart.
std::string atom_title(const PlotInput& input, const Layout& layout, int k) {
  if (!layout.usage_in_legend) return fmt::format("atom {}", k);
  const double percent = 100 * input.usage[static_cast<size_t>(k)];
  return percent >= 1 ? fmt::format("atom {}: {:.1f}%", k, percent)
                      : fmt::format("atom {}: {:.2g}%", k, percent);
}

Figure atoms_figure(const PlotInput& input, const Layout& layout) {
  std::string c = common_style() + axis_labels(input) + fixed_ranges(layout);
  const int traced = static_cast<int>(layout.traced.size());
  const int others = layout.n_atoms - traced;
  c += fmt::format(
      "set title {} noenhanced\n",
      gp_string((layout.has_paths ? "atoms over training" : "final atoms") + layout.title_suffix));
  if (traced > 8) {
    // One column beside the plot; gnuplot would otherwise wrap it into several.
    c += "set key outside right top vertical Left reverse maxrows 40 samplen 1.5 spacing 0.85 "
         "font \",9\"\n";
    if (others > 0) {
      c += fmt::format(
          "set key title {} noenhanced font \",9\"\n",
          gp_string(fmt::format("{} the {} {} of {} atoms",
                                layout.has_paths ? "paths of" : "in colour:", traced,
                                layout.has_usage ? "most used" : "first", layout.n_atoms)));
    }
  } else {
    c += "set key top right box opaque Left reverse samplen 2 width 1\n";
  }
  const double size = atom_marker_size(layout.n_atoms);
  std::vector<std::string> clauses;
  if (layout.has_data) {
    clauses.push_back(
        "\"data.dat\" using 1:2 with points pt 7 ps 0.4 lc rgb \"#a0a0a0a0\" title \"data\"");
  }
  if (others > 0) {
    // The atoms not traced: small, faint, under the traced ones.
    clauses.push_back(fmt::format(
        "\"atoms_final.dat\" using 1:($4 == 0 ? $2 : NaN) with points pt 6 ps {} lw 1 lc rgb "
        "\"#70303030\" title {}",
        number(std::max(0.6, size * 0.6)),
        gp_string(fmt::format("the other {} atoms (final)", others))));
  }
  if (layout.has_paths) {
    for (int i = 0; i < traced; ++i) {
      clauses.push_back(fmt::format(
          "\"atoms.dat\" index {} using 2:3 with lines lt {} lw 2 title {}", i,
          i % kColourCount + 1, gp_string(atom_title(input, layout, layout.traced[i]))));
      clauses.push_back(fmt::format(
          "\"atoms.dat\" index {0} every ::0::0 using 2:3 with points pt 6 ps {2} lw 2 lt {1} "
          "notitle",
          i, i % kColourCount + 1, number(size * 0.8)));
    }
    // The traced atoms' final positions, in their colours.
    clauses.push_back(fmt::format(
        "\"atoms_final.dat\" using 1:($4 > 0 ? $2 : NaN):4 with points pt 7 ps {} lc variable "
        "notitle",
        number(size)));
  } else {
    // Rows 0..traced-1 of atoms_final.dat are the traced atoms in legend order.
    for (int i = 0; i < traced; ++i) {
      clauses.push_back(fmt::format(
          "\"atoms_final.dat\" every ::{0}::{0} using 1:2 with points pt 7 ps {1} lt {2} title {3}",
          i, number(size), i % kColourCount + 1,
          gp_string(atom_title(input, layout, layout.traced[i]))));
    }
  }
  // Outlined so they stand out on the data.
  clauses.push_back(fmt::format(
      "\"atoms_final.dat\" using 1:($4 > 0 ? $2 : NaN) with points pt 6 ps {} lw 1 lc rgb "
      "\"#202020\" notitle",
      number(size)));
  if (layout.has_paths) {
    clauses.push_back(
        fmt::format("keyentry with points pt 6 ps {} lw 2 lc rgb \"#202020\" title \"start\"",
                    number(size * 0.8)));
    clauses.push_back(fmt::format(
        "keyentry with points pt 7 ps {} lc rgb \"#202020\" title \"final\"", number(size)));
  }
  c += "plot ";
  for (size_t i = 0; i < clauses.size(); ++i) {
    c += clauses[i];
    c += i + 1 < clauses.size() ? ", \\\n     " : "\n";
  }
  return {"atoms.png", kPngTerminal, c};
}

Figure frames_figure(const PlotInput& input, const Layout& layout) {
  std::string c = common_style() + axis_labels(input) + fixed_ranges(layout);
  c += "set key off\n";
  std::string epochs;
  for (size_t s : layout.frames) {
    epochs += fmt::format("{}{}", epochs.empty() ? "" : " ", input.snapshots[s].epoch);
  }
  c += fmt::format("epochs = {}\n", gp_string(epochs));
  const std::string title_format = escape_percent(
      input.title.empty() ? std::string("atoms at epoch ") : input.title + ": epoch ");
  const double size = atom_marker_size(layout.n_atoms);
  const std::string data_clause =
      layout.has_data
          ? "\"data.dat\" using 1:2 with points pt 7 ps 0.3 lc rgb \"#c0c0c0\" notitle, "
          : "";
  c += fmt::format("do for [f=0:{}] {{\n", layout.frames.size() - 1);
  c += fmt::format("  set title sprintf({}, word(epochs, f + 1)) noenhanced\n",
                   gp_string(title_format + "%s"));
  // As in atoms.png: the traced atoms in their colours, the others faint.
  const std::string others_clause =
      layout.traced.size() < static_cast<size_t>(layout.n_atoms)
          ? fmt::format(
                "\"frames.dat\" index f using 1:($4 == 0 ? $2 : NaN) with points pt 6 "
                "ps {} lw 1 lc rgb \"#70303030\" notitle, ",
                number(std::max(0.6, size * 0.6)))
          : "";
  c += fmt::format(
      "  plot {0}{1}\"frames.dat\" index f using 1:($4 > 0 ? $2 : NaN):4 with points pt 7 ps {2} "
      "lc variable notitle, \"frames.dat\" index f using 1:($4 > 0 ? $2 : NaN) with points pt 6 "
      "ps {2} lw 1 lc rgb \"#202020\" notitle\n",
      data_clause, others_clause, number(size));
  c += "}\n";
  return {"atoms.gif", kGifTerminal, c};
}

void write_file(const fs::path& path, const std::string& text, PlotResult& result) {
  AtomicFile file(path.string());
  file.write(text);
  file.commit();
  result.data_files.push_back(path.string());
}

}  // namespace

PlotResult render_figures(const PlotInput& input, const std::string& directory) {
  DICTLEARN_CHECK(!directory.empty(), "render_figures: the output directory name is empty");
  validate(input);

  std::error_code error;
  fs::create_directories(directory, error);
  DICTLEARN_CHECK(!error, "{}: cannot create directory: {}", directory, error.message());
  DICTLEARN_CHECK(fs::is_directory(directory, error), "{}: cannot create directory: {}", directory,
                  "a file of that name exists");
  const fs::path shown = directory;  // how paths are reported: as the caller spelled them
  fs::path folder = fs::absolute(shown, error);
  if (error) folder = shown;

  PlotResult result;
  const Layout layout = make_layout(input);
  std::vector<Figure> figures;
  if (layout.has_data) write_file(shown / "data.dat", data_text(input), result);
  if (layout.has_mse || layout.has_objective) {
    write_file(shown / "loss.dat", loss_text(input, layout), result);
  }
  if (layout.has_paths) write_file(shown / "atoms.dat", paths_text(input, layout), result);
  if (layout.has_atoms) {
    write_file(shown / "atoms_final.dat", final_text(*final_positions(input), layout), result);
  }
  if (layout.has_frames) write_file(shown / "frames.dat", frames_text(input, layout), result);
  if (layout.has_usage) write_file(shown / "usage.dat", usage_text(input), result);
  if (layout.has_grid) {
    write_file(shown / "atoms_grid.dat",
               detail::atom_grid_text(input.atoms, layout.grid_order, layout.grid), result);
  }

  if (layout.has_data) figures.push_back(scatter_figure(input, layout));
  if (layout.has_loss) figures.push_back(loss_figure(input, layout));
  if (layout.has_atoms) figures.push_back(atoms_figure(input, layout));
  if (layout.has_frames) figures.push_back(frames_figure(input, layout));
  if (layout.has_usage) figures.push_back(usage_figure(input, layout));
  if (layout.has_grid) {
    figures.push_back(
        detail::atom_grid_figure(layout.grid_order, input.usage, layout.grid, layout.title_suffix));
  }

  std::string all =
      "# Draws the figures from the data files beside this script:\n"
      "#   gnuplot figures.gp\n";
  if (figures.empty()) all += "# (nothing to draw: no data, loss or atoms were given)\n";
  for (const Figure& figure : figures) {
    all += fmt::format("\n# ---- {}\n{}", figure.name, detail::gnuplot_script(figure, figure.name));
  }
  write_file(shown / "figures.gp", all, result);

  const std::optional<std::string> gnuplot = detail::find_gnuplot();
  if (!gnuplot) {
    result.gnuplot_found = false;
    result.message = fmt::format(
        "gnuplot not found: figures not rendered; install it with 'apt-get install "
        "gnuplot-nox', then run 'gnuplot figures.gp' in {}",
        directory);
    return result;
  }
  result.gnuplot_found = true;
  for (const Figure& figure : figures) {
    detail::render_figure(*gnuplot, folder, shown, figure);
    result.written.push_back((shown / figure.name).string());
  }
  if ((layout.has_mse || layout.has_objective) && !layout.has_loss) {
    result.message = "loss.png not drawn: the MSE and objective have no finite value";
  }
  return result;
}

const std::vector<std::string>& figure_files() {
  static const std::vector<std::string> names = {
      "data.dat",  "loss.dat",       "atoms.dat",  "atoms_final.dat", "frames.dat",
      "usage.dat", "atoms_grid.dat", "figures.gp", "scatter.png",     "loss.png",
      "atoms.png", "atoms.gif",      "usage.png",  "atoms_grid.png"};
  return names;
}

}  // namespace dictlearn
