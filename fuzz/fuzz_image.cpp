// libFuzzer target: the image readers (decode_image: PNG through libpng, PGM
// P5/P2 by our parser) and extract_patches on what they return.
//
// Beyond "no crash, only dictlearn::Error": every pixel lies in [0, 1], and
// no image holds more pixels than its bytes can encode (deflate's bound for
// PNG, one byte or two characters a sample for PGM), so no header can make
// the reader allocate more than the file justifies.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "dictlearn/patches.hpp"
#include "fuzz_input.hpp"

using dictlearn::fuzz::expect_ok_or_error;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  expect_ok_or_error([&] {
    const dictlearn::Image image = dictlearn::decode_image(data, size, "fuzz");
    if (image.height < 1 || image.width < 1) std::abort();
    if (image.pixels.size() != static_cast<size_t>(image.height * image.width)) std::abort();
    if (image.pixels.size() > 1100 * (size + 1)) std::abort();
    for (const double value : image.pixels) {
      if (!(value >= 0 && value <= 1)) std::abort();
    }
    if (image.pixels.size() <= 4096) {
      const auto patches =
          dictlearn::extract_patches<float>(image, {.height = 1 + static_cast<int>(size % 3),
                                                    .width = 1 + static_cast<int>(size % 2),
                                                    .stride = 1 + static_cast<int>(size % 4),
                                                    .remove_mean = (size & 1) != 0,
                                                    .normalize = (size & 2) != 0});
      if (patches.values.rows() != patches.available) std::abort();
      if (!patches.values.allFinite()) std::abort();
    }
  });
  return 0;
}
