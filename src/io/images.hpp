// Internal: checks that an image file is complete, for images another program
// (gnuplot) writes: it does not report write errors, so a full disk or a
// file-size limit leaves a cut file that only its content shows.
#pragma once

#include <string>
#include <string_view>

namespace dictlearn::detail {

/// What is wrong with `bytes` as a PNG file, or "" when it is whole: the
/// signature, IHDR first, every chunk inside the file with a correct CRC-32,
/// and IEND the last chunk, ending the file.
std::string png_problem(std::string_view bytes);

/// What is wrong with `bytes` as a GIF file, or "" when it is whole: the
/// header (GIF87a or GIF89a), the screen descriptor and colour table, every
/// block (extensions, images with their data sub-blocks) inside the file, at
/// least one image, and the trailer byte 0x3B as the last byte.
std::string gif_problem(std::string_view bytes);

/// The check for the file at `path` by the extension of `name` (.png, .gif);
/// another extension is a problem too (no other format is written).
std::string image_problem(const std::string& path, const std::string& name);

}  // namespace dictlearn::detail
