// dictlearn: the seed's figures, rendered by gnuplot (driven through a pipe).
//
// Figures: the data scatter, the reconstruction MSE (and the objective where
// it differs) per epoch (log scale), the atoms' paths over training drawn on
// the data (the kTracedAtoms most used atoms; the others as faint final
// positions), an animated GIF of the atoms moving, the atoms' usage sorted
// (log scale), and where the data are image patches the atoms as a grid of
// small images. Data of more than two dimensions is projected onto its first
// two principal components; two-dimensional data is drawn as it is.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dictlearn/types.hpp"

namespace dictlearn {

/// A 2-D projection of the data space: p = (x − center) · axesᵀ.
struct Projection {
  Vector<double> center;  ///< dim entries (zeros when dim == 2)
  Matrix<double> axes;    ///< 2 x dim, orthonormal rows (identity when dim == 2)
  std::string x_label = "x1";
  std::string y_label = "x2";
};

/// Identity for dim == 2, else the first two principal components of X
/// (deterministic: each component's sign is fixed so its largest-magnitude
/// entry is positive); dim == 1 projects onto (x, 0). Throws Error if X has
/// no columns, a non-finite entry, or (dim > 2) no rows.
Projection make_projection(const Matrix<double>& X);

/// Applies the projection to rows of `points` (M x dim) -> M x 2.
Matrix<double> project(const Projection& projection, const Matrix<double>& points);

/// The geometry of samples that are image patches: each row of the data is a
/// height x width image in row-major order (pixel (r, c) at column r * width + c).
struct PatchShape {
  int height = 0;
  int width = 0;
};

/// Parses "HxW" (two positive whole numbers joined by 'x', e.g. "8x8") and,
/// when `dim` > 0, checks H * W == dim. Throws Error "<where>: ..." naming
/// the value when it is malformed or does not fit. `where` is the flag
/// (--patch-shape) or the file and metadata key the text came from.
PatchShape parse_patch_shape(std::string_view text, int64_t dim = 0,
                             std::string_view where = "--patch-shape");

/// How many atoms atoms.png draws with a path and a legend entry: more
/// tangle into an unreadable figure and need more colours than can be told apart.
inline constexpr int kTracedAtoms = 12;

/// The atoms atoms.png traces, in legend order: with `usage` (one entry per
/// atom), the `limit` most used, most used first (ties: the lower index
/// first); without it (empty), the first `limit` atoms. Throws Error if
/// `usage` has neither 0 nor `n_atoms` entries.
std::vector<int> traced_atoms(const std::vector<double>& usage, int n_atoms,
                              int limit = kTracedAtoms);

/// Atom positions (projected, n_atoms x 2) at one epoch.
struct AtomSnapshot {
  int epoch = 0;
  Matrix<double> atoms;  ///< n_atoms x 2
};

/// What the figures are drawn from.
struct PlotInput {
  Matrix<double> data;  ///< N x 2, already projected
  /// Training objective of epochs 1..E (the log's `loss` column; may be
  /// empty). Drawn in loss.png beside `mse` when it differs from it, alone
  /// (labelled as the objective) when `mse` is empty.
  std::vector<double> loss;
  /// Reconstruction MSE of epochs 1..E (the log's `mse` column; may be empty):
  /// loss.png's main line. With both `loss` and `mse` empty: no loss figure.
  std::vector<double> mse;
  std::vector<AtomSnapshot> snapshots;  ///< in epoch order (may be empty: no path figure or GIF)
  Matrix<double> final_atoms;           ///< n_atoms x 2, projected (may be empty)
  std::vector<double> usage;  ///< per atom, fraction of samples with a nonzero code (may be empty)
  /// The atoms unprojected (n_atoms x dim; may be empty): with a patch shape
  /// of H * W == dim, drawn as atoms_grid.png.
  Matrix<double> atoms;
  PatchShape patch_shape;  ///< of the data; 0 x 0: none (no atoms_grid.png)
  std::string x_label = "x1";
  std::string y_label = "x2";
  std::string title;  ///< e.g. "softmax, 2 atoms"
};

/// Where the figures went.
struct PlotResult {
  std::vector<std::string> written;     ///< image files written
  std::vector<std::string> data_files;  ///< the .dat/.gp files the figures are drawn from
  bool gnuplot_found = false;
  std::string message;  ///< e.g. how to install gnuplot when it is missing
};

/// Writes into `directory` (created if missing): scatter.png, loss.png,
/// atoms.png (the paths of traced_atoms(), the other atoms' final positions
/// faint), atoms.gif, usage.png (each atom's usage, sorted, on a log scale;
/// dead atoms counted in its title), atoms_grid.png (with a patch shape: each
/// atom a small gray image scaled to its own range, most used first where
/// usage is known), and beside them the data files and gnuplot scripts
/// that draw them (always written, so the figures can be redrawn by hand).
/// When gnuplot is not on PATH, writes only the data and scripts and says in
/// `message` how to install it ("apt-get install gnuplot-nox"). Each image is
/// written atomically. Throws Error naming the file on a write failure, or
/// if gnuplot fails.
PlotResult render_figures(const PlotInput& input, const std::string& directory);

/// Every name render_figures may write in its folder (images, data files,
/// figures.gp), for checking the outputs before any work.
const std::vector<std::string>& figure_files();

}  // namespace dictlearn
