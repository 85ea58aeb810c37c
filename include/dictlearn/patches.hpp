// Images in, patches out: the grayscale image readers (PNG through libpng,
// PGM by our own parser) and the extraction of square or rectangular patches
// for dictionary learning (`dictlearn patches`).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dictlearn/types.hpp"

namespace dictlearn {

/// A grayscale image: height x width values in [0, 1], row-major.
struct Image {
  int64_t height = 0;
  int64_t width = 0;
  std::vector<double> pixels;  ///< height * width, row by row
  int bit_depth = 0;           ///< of the file's samples (1, 2, 4, 8 or 16; PGM: 8 or 16)
  bool was_color = false;      ///< the file held RGB (or a palette): converted by luma
};

/// Reads a PNG (any bit depth, gray, gray+alpha, RGB, RGBA or palette; by
/// its signature) or a PGM (binary P5 or ASCII P2, maxval up to 65535).
/// Values are the stored samples divided by their maximum (255, 65535, a
/// PGM's maxval; 1-, 2- and 4-bit gray by 1, 3 and 15): no gamma is applied.
/// Colour becomes gray by ITU-R BT.601 luma, Y = 0.299 R + 0.587 G + 0.114 B
/// on the scaled values; alpha (and a tRNS chunk) is ignored. Throws Error
/// naming `path` and the problem: missing, not a PNG/PGM, truncated, corrupt,
/// or more pixels than the file's bytes can encode.
Image read_image(const std::string& path);

/// Decodes an image held in memory (`name` is what errors call it).
Image decode_image(const unsigned char* bytes, size_t size, const std::string& name);

/// How `extract_patches` cuts an image.
struct PatchOptions {
  int height = 8;            ///< patch rows (--size H or HxW)
  int width = 8;             ///< patch columns
  int stride = 1;            ///< step between patch origins, in both directions
  int64_t max_patches = 0;   ///< 0: every patch; else this many, a seeded random subset
  uint64_t seed = 0;         ///< the subset's seed
  bool remove_mean = false;  ///< subtract each patch's mean
  bool normalize = false;    ///< scale each patch to unit Euclidean norm (after remove_mean)
};

/// The patches and what extract_patches did to them.
template <typename T>
struct Patches {
  Matrix<T> values;       ///< n_patches x (height * width), each patch row-major
  int64_t available = 0;  ///< patches in the image at this stride
  int64_t zero_norm = 0;  ///< with normalize: patches of norm < 1e-12, left as they are (≈ 0)
};

/// The number of patch origins: ((H - h) / stride + 1) * ((W - w) / stride + 1),
/// or 0 when the patch does not fit.
int64_t count_patches(const Image& image, const PatchOptions& options);

/// Cuts `image` into patches (n x h*w, raster order of their top-left corners).
/// With max_patches, a subset drawn without replacement (Floyd's algorithm
/// on the seed's stream; the same for every thread count) and kept in
/// raster order. Throws Error naming the flag when the patch does not fit,
/// a size or stride is < 1, or max_patches exceeds the patches available.
template <typename T>
Patches<T> extract_patches(const Image& image, const PatchOptions& options);

}  // namespace dictlearn
