// Patch extraction (see dictlearn/patches.hpp): every patch origin in raster
// order, or a seeded subset of them drawn without replacement.
#include "dictlearn/patches.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "core/check.hpp"
#include "core/random.hpp"

namespace dictlearn {
namespace {

void check_options(const Image& image, const PatchOptions& options) {
  DICTLEARN_CHECK(options.height >= 1 && options.width >= 1,
                  "--size: patches must be at least 1 x 1, got {} x {}", options.height,
                  options.width);
  DICTLEARN_CHECK(options.stride >= 1, "--stride: must be at least 1, got {}", options.stride);
  DICTLEARN_CHECK(options.max_patches >= 0, "--max-patches: must be at least 1, got {}",
                  options.max_patches);
  DICTLEARN_CHECK(options.height <= image.height && options.width <= image.width,
                  "--size: {} x {} patches do not fit in the {} x {} image", options.height,
                  options.width, image.height, image.width);
}

// Uniform in [0, bound) without modulo bias (rejection on the top range).
uint64_t uniform_below(Random& random, uint64_t bound) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  uint64_t value;
  do {
    value = random.next();
  } while (value >= limit);
  return value % bound;
}

}  // namespace

int64_t count_patches(const Image& image, const PatchOptions& options) {
  if (options.height > image.height || options.width > image.width || options.stride < 1) return 0;
  return ((image.height - options.height) / options.stride + 1) *
         ((image.width - options.width) / options.stride + 1);
}

template <typename T>
Patches<T> extract_patches(const Image& image, const PatchOptions& options) {
  check_options(image, options);
  Patches<T> result;
  result.available = count_patches(image, options);
  const int64_t across = (image.width - options.width) / options.stride + 1;
  std::vector<int64_t> chosen;
  if (options.max_patches > 0) {
    DICTLEARN_CHECK(options.max_patches <= result.available,
                    "--max-patches: {} is more than the {} patches of the image ({} x {} at "
                    "stride {})",
                    options.max_patches, result.available, options.height, options.width,
                    options.stride);
    // Floyd's algorithm: a uniform subset of max_patches origins in max_patches
    // draws, one generator, so the same for a seed whatever the thread count.
    Random random(options.seed);
    std::unordered_set<int64_t> taken;
    taken.reserve(static_cast<size_t>(options.max_patches));
    for (int64_t j = result.available - options.max_patches; j < result.available; ++j) {
      const auto t = static_cast<int64_t>(uniform_below(random, static_cast<uint64_t>(j) + 1));
      chosen.push_back(taken.insert(t).second ? t : (taken.insert(j), j));
    }
    std::sort(chosen.begin(), chosen.end());
  }
  const int64_t count = options.max_patches > 0 ? options.max_patches : result.available;
  const int64_t dim = int64_t{options.height} * options.width;
  result.values.resize(count, dim);
  for (int64_t n = 0; n < count; ++n) {
    const int64_t origin = chosen.empty() ? n : chosen[static_cast<size_t>(n)];
    const int64_t top = origin / across * options.stride;
    const int64_t left = origin % across * options.stride;
    // In double, then rounded once to T.
    std::vector<double> patch(static_cast<size_t>(dim));
    for (int r = 0; r < options.height; ++r) {
      for (int c = 0; c < options.width; ++c) {
        patch[static_cast<size_t>(r * options.width + c)] =
            image.pixels[static_cast<size_t>((top + r) * image.width + left + c)];
      }
    }
    if (options.remove_mean) {
      double mean = 0;
      for (const double v : patch) mean += v;
      mean /= static_cast<double>(dim);
      for (double& v : patch) v -= mean;
    }
    if (options.normalize) {
      double norm = 0;
      for (const double v : patch) norm += v * v;
      norm = std::sqrt(norm);
      if (norm < 1e-12) {
        ++result.zero_norm;  // kept as it is: a flat patch has no direction
      } else {
        for (double& v : patch) v /= norm;
      }
    }
    for (int64_t i = 0; i < dim; ++i)
      result.values(n, i) = static_cast<T>(patch[static_cast<size_t>(i)]);
  }
  return result;
}

template Patches<float> extract_patches(const Image&, const PatchOptions&);
template Patches<double> extract_patches(const Image&, const PatchOptions&);

}  // namespace dictlearn
