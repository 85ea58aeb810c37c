// The patch geometry (parse_patch_shape), the atoms in order of usage
// (traced_atoms: atoms.png's legend, the grid's tiles, usage.png's ranks) and
// atoms_grid.png (see atom_grid.hpp).
#include "plot/atom_grid.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "core/check.hpp"

namespace dictlearn {

PatchShape parse_patch_shape(std::string_view text, int64_t dim, std::string_view where) {
  // Digits only: from_chars would take neither a sign nor spaces, and the
  // two sides must be whole, positive and small enough that H * W fits.
  const auto side = [](std::string_view digits, int& value) {
    if (digits.empty() || digits.size() > 9) return false;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    return error == std::errc() && end == digits.data() + digits.size() && value > 0;
  };
  const size_t cross = text.find_first_of("xX");
  PatchShape shape;
  const bool ok = cross != std::string_view::npos && side(text.substr(0, cross), shape.height) &&
                  side(text.substr(cross + 1), shape.width);
  DICTLEARN_CHECK(ok,
                  "{}: must be HEIGHTxWIDTH, two positive whole numbers (e.g. 8x8 for 8 x 8 "
                  "pixel patches), got '{}'",
                  where, text);
  const int64_t pixels = static_cast<int64_t>(shape.height) * shape.width;
  DICTLEARN_CHECK(dim <= 0 || pixels == dim,
                  "{}: {} patches have {} pixels, but the data has {} values per sample", where,
                  text, pixels, dim);
  return shape;
}

std::vector<int> traced_atoms(const std::vector<double>& usage, int n_atoms, int limit) {
  DICTLEARN_CHECK(n_atoms >= 0 && limit >= 0, "traced_atoms: {} atoms, limit {}", n_atoms, limit);
  DICTLEARN_CHECK(usage.empty() || usage.size() == static_cast<size_t>(n_atoms),
                  "traced_atoms: usage has {} entries for {} atoms", usage.size(), n_atoms);
  std::vector<int> atoms(static_cast<size_t>(n_atoms));
  for (int k = 0; k < n_atoms; ++k) atoms[static_cast<size_t>(k)] = k;
  for (const double value : usage) {
    DICTLEARN_CHECK(value >= 0 && value <= 1, "traced_atoms: usage {} is not a fraction", value);
  }
  if (!usage.empty()) {
    // Stable: equal usage (a dense softmax model's 1s) keeps the atoms' order.
    std::stable_sort(atoms.begin(), atoms.end(), [&](int a, int b) {
      return usage[static_cast<size_t>(a)] > usage[static_cast<size_t>(b)];
    });
  }
  atoms.resize(std::min(atoms.size(), static_cast<size_t>(limit)));
  return atoms;
}

namespace detail {
namespace {

/// Numbers drawn above the tiles up to this many atoms; beyond, the tiles
/// are too small for them and the grid is read as a texture.
constexpr int kMaxNumberedAtoms = 400;
constexpr int kLabelPixels = 13;        // a number in the 8-point font, with a little room
constexpr int kTargetGridPixels = 960;  // about the grid's width on screen
constexpr int kMinWidthPixels = 720;    // room for the title under a grid of a few atoms
constexpr int kTitlePixels = 56;        // two lines of title above the grid
constexpr int kPadPixels = 12;          // around the grid

std::string number(double value) {
  if (!std::isfinite(value)) return "NaN";
  return fmt::format("{:.4g}", value);
}

}  // namespace

AtomGridLayout atom_grid_layout(int n_atoms, PatchShape shape) {
  DICTLEARN_ASSERT(n_atoms >= 1 && shape.height >= 1 && shape.width >= 1);
  AtomGridLayout layout;
  layout.height = shape.height;
  layout.width = shape.width;
  layout.columns = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(n_atoms))));
  layout.rows = (n_atoms + layout.columns - 1) / layout.columns;
  // A tile of 40 to 120 screen pixels a side, at a whole number of screen
  // pixels per patch pixel (at least one: large patches make a large image).
  const int tile = std::clamp(kTargetGridPixels / layout.columns, 40, 120);
  layout.scale = std::max(1, tile / std::max(shape.height, shape.width));
  layout.gap = std::max(1, (6 + layout.scale - 1) / layout.scale);
  if (n_atoms <= kMaxNumberedAtoms)
    layout.label_rows = (kLabelPixels + layout.scale - 1) / layout.scale;
  layout.width_units = layout.columns * (layout.width + layout.gap) + layout.gap;
  layout.height_units = layout.rows * (layout.height + layout.gap + layout.label_rows) + layout.gap;
  const int grid_width = layout.width_units * layout.scale;
  layout.width_px = std::max(kMinWidthPixels, grid_width + 2 * kPadPixels);
  layout.left_px = (layout.width_px - grid_width) / 2;
  layout.top_px = kTitlePixels;
  layout.height_px = layout.top_px + layout.height_units * layout.scale + kPadPixels;
  return layout;
}

std::string atom_grid_text(const Matrix<double>& atoms, const std::vector<int>& order,
                           const AtomGridLayout& layout) {
  DICTLEARN_ASSERT(atoms.cols() == static_cast<Eigen::Index>(layout.height) * layout.width);
  std::vector<double> grid(static_cast<size_t>(layout.width_units) * layout.height_units, NAN);
  for (size_t i = 0; i < order.size(); ++i) {
    const auto atom = atoms.row(order[i]);
    const double low = atom.minCoeff(), high = atom.maxCoeff();
    const int column = static_cast<int>(i) % layout.columns,
              row = static_cast<int>(i) / layout.columns;
    const int x0 = layout.gap + column * (layout.width + layout.gap);
    const int y0 =
        layout.gap + row * (layout.height + layout.gap + layout.label_rows) + layout.label_rows;
    for (int r = 0; r < layout.height; ++r) {
      for (int c = 0; c < layout.width; ++c) {
        const double value = atom(r * layout.width + c);
        const double shade = high > low ? (value - low) / (high - low) : 0.5;
        grid[static_cast<size_t>(y0 + r) * layout.width_units + x0 + c] = shade;
      }
    }
  }
  std::string out = fmt::format(
      "# {} x {} atoms as {} x {} tiles, each scaled to [0, 1] (its min to its max); NaN: "
      "background\n",
      layout.height, layout.width, layout.rows, layout.columns);
  for (int y = 0; y < layout.height_units; ++y) {
    for (int x = 0; x < layout.width_units; ++x) {
      if (x > 0) out += ' ';
      out += number(grid[static_cast<size_t>(y) * layout.width_units + x]);
    }
    out += '\n';
  }
  return out;
}

GnuplotFigure atom_grid_figure(const std::vector<int>& order, const std::vector<double>& usage,
                               const AtomGridLayout& layout, const std::string& title_suffix) {
  const int dead = static_cast<int>(std::count(usage.begin(), usage.end(), 0.0));
  GnuplotFigure figure;
  figure.name = "atoms_grid.png";
  figure.terminal = fmt::format(
      "set terminal pngcairo size {},{} enhanced font \"DejaVu Sans,11\" background rgb "
      "\"white\"",
      layout.width_px, layout.height_px);
  std::string& c = figure.commands;
  const auto screen_x = [&](double px) { return number(px / layout.width_px); };
  const auto screen_y = [&](double px) { return number(1 - px / layout.height_px); };
  const int grid_width = layout.width_units * layout.scale;
  const int grid_height = layout.height_units * layout.scale;
  c += fmt::format("set lmargin at screen {}\nset rmargin at screen {}\n", screen_x(layout.left_px),
                   screen_x(layout.left_px + grid_width));
  c += fmt::format("set tmargin at screen {}\nset bmargin at screen {}\n", screen_y(layout.top_px),
                   screen_y(layout.top_px + grid_height));
  // The matrix's cell (x, y) is drawn centred on (x, y); row 0 on top.
  c += fmt::format("set xrange [-0.5:{}]\nset yrange [{}:-0.5]\n", number(layout.width_units - 0.5),
                   number(layout.height_units - 0.5));
  c += "unset border\nunset tics\nunset key\nunset colorbox\n";
  c += "set palette gray\nset cbrange [0:1]\n";
  // A blue-grey background: a tile's white pixels stay visible against it.
  c += "set object 1 rectangle from graph 0,0 to graph 1,1 behind fillcolor rgb \"#c9d3df\" "
       "fillstyle solid noborder\n";
  const std::string title =
      fmt::format("atoms as {} x {} images", layout.height, layout.width) + title_suffix;
  std::string subtitle = "each scaled to its own range (black: min, white: max); ";
  subtitle += usage.empty() ? "in atom order" : "most used first";
  if (layout.label_rows > 0) subtitle += ", numbered";
  if (!usage.empty()) {
    subtitle += fmt::format("; {} dead{}", dead,
                            dead > 0 && layout.label_rows > 0 ? " (numbers in red)" : "");
  }
  c += fmt::format("set label 1 {} at screen 0.5, screen {} center font \",12\" noenhanced\n",
                   gp_string(title), screen_y(18));
  c += fmt::format("set label 2 {} at screen 0.5, screen {} center font \",10\" noenhanced\n",
                   gp_string(subtitle), screen_y(38));
  if (layout.label_rows > 0) {
    const int font = layout.scale * layout.label_rows >= 14 ? 9 : 8;
    for (size_t i = 0; i < order.size(); ++i) {
      const int column = static_cast<int>(i) % layout.columns;
      const int row = static_cast<int>(i) / layout.columns;
      const double x = layout.gap + column * (layout.width + layout.gap) + (layout.width - 1) / 2.0;
      const double y = layout.gap + row * (layout.height + layout.gap + layout.label_rows) +
                       (layout.label_rows - 1) / 2.0;
      const bool is_dead = !usage.empty() && usage[static_cast<size_t>(order[i])] == 0;
      c +=
          fmt::format("set label {} \"{}\" at {},{} center font \",{}\" tc rgb \"{}\" front\n",
                      i + 3, order[i], number(x), number(y), font, is_dead ? "#d62728" : "#202020");
    }
  }
  // The background cells are NaN: gnuplot draws nothing there (and warns
  // that the matrix has undefined values, which is what is meant).
  c += "plot \"atoms_grid.dat\" matrix with image notitle\n";
  return figure;
}

}  // namespace detail
}  // namespace dictlearn
