// Internal: the gnuplot driver of the figures (render_figures in plot.cpp).
//
// A figure is a gnuplot script fragment; gnuplot_script() makes it a standalone
// script (also what figures.gp holds). For rendering, each figure runs in its
// own gnuplot process, fed through a pipe, so a failure names its figure; the
// image goes to AtomicFile's temporary and gets the final name only after
// gnuplot exits cleanly and the image is found whole (gnuplot reports no write
// errors). The process is registered for the signal handler of
// install_temp_file_cleanup() and dies with its parent.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace dictlearn::detail {

/// One figure: its image file's name, gnuplot's terminal line, and the
/// commands that draw it once the terminal and the output are set.
struct GnuplotFigure {
  std::string name;
  std::string terminal;
  std::string commands;
};

/// A gnuplot double-quoted string literal (backslash escapes are processed;
/// line breaks and tabs become spaces).
std::string gp_string(std::string_view text);

/// The figure as a standalone script writing to `output` (relative to the
/// folder the script runs in).
std::string gnuplot_script(const GnuplotFigure& figure, std::string_view output);

/// The gnuplot to run: $DICTLEARN_GNUPLOT (a path, or a name looked up on
/// PATH), else "gnuplot" on PATH, as an absolute path; nothing when it is not
/// there.
std::optional<std::string> find_gnuplot();

/// Renders `figure` with `gnuplot` (run in `folder`, absolute) to
/// `shown` / figure.name (the caller's spelling of the folder) through
/// AtomicFile: a temporary, renamed once gnuplot exits cleanly and the image
/// is whole (PNG to its IEND chunk, GIF to its trailer). Throws Error naming
/// the image when the target must not be replaced, gnuplot cannot start,
/// fails (with its first error line) or writes an incomplete image; nothing
/// is left under the name or as a temporary then.
void render_figure(const std::string& gnuplot, const std::filesystem::path& folder,
                   const std::filesystem::path& shown, const GnuplotFigure& figure);

}  // namespace dictlearn::detail
