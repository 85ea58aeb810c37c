// Internal: atoms_grid.png (render_figures in plot.cpp), the atoms of
// image-patch data drawn as a grid of small gray images, as scikit-learn's
// gallery and the dictionary-learning papers show them: each atom scaled to
// its own range (black its smallest entry, white its largest), about
// sqrt(n_atoms) columns, the atom's number above it.
//
// The grid is one matrix of values in [0, 1] (atoms_grid.dat, drawn `with
// image`), NaN between the tiles so the background shows there; the figure's
// size follows from the grid, with a whole number of screen pixels per
// patch pixel so the pixels stay square and sharp.
#pragma once

#include <string>
#include <vector>

#include "dictlearn/plot.hpp"
#include "plot/gnuplot.hpp"

namespace dictlearn::detail {

/// Where each tile goes, in units of one patch pixel, and the figure's size.
struct AtomGridLayout {
  int columns = 0;       ///< tiles per row: ceil(sqrt(n_atoms))
  int rows = 0;          ///< rows of tiles
  int height = 0;        ///< patch height H
  int width = 0;         ///< patch width W
  int gap = 1;           ///< units between tiles and around the grid
  int label_rows = 0;    ///< units above each tile for its number (0: no numbers)
  int scale = 1;         ///< screen pixels per unit
  int width_units = 0;   ///< the whole matrix
  int height_units = 0;  ///< the whole matrix
  int width_px = 0;      ///< the image
  int height_px = 0;     ///< the image
  int left_px = 0;       ///< margin left of the matrix (centres a narrow grid)
  int top_px = 0;        ///< room for the title
};

/// The layout of `n_atoms` tiles of `shape` (n_atoms >= 1, both sides >= 1).
AtomGridLayout atom_grid_layout(int n_atoms, PatchShape shape);

/// atoms_grid.dat: the grid as a matrix (one text row per unit row), tile i
/// holding atom order[i] (a row of `atoms`, H * W entries) scaled to [0, 1];
/// an atom with a single value is drawn mid-gray; NaN elsewhere.
std::string atom_grid_text(const Matrix<double>& atoms, const std::vector<int>& order,
                           const AtomGridLayout& layout);

/// The figure drawing atoms_grid.dat: tiles in `order`, numbered (dead
/// atoms, usage 0, in red) where the layout has room, `title_suffix` after
/// its title.
GnuplotFigure atom_grid_figure(const std::vector<int>& order, const std::vector<double>& usage,
                               const AtomGridLayout& layout, const std::string& title_suffix);

}  // namespace dictlearn::detail
