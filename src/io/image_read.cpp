// Image readers: PNG through libpng's progressive-free "read" API, PGM (P5,
// P2) by a small parser of the Netpbm specification. libpng reports errors
// by longjmp, which must not cross C++ frames with destructors: decode_png
// keeps only plain C state between setjmp and the calls that may jump.
#include <png.h>

#include <algorithm>
#include <cctype>
#include <csetjmp>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

#include "core/check.hpp"
#include "dictlearn/patches.hpp"

namespace dictlearn {
namespace {

// Deflate expands at most about 1032:1; a PNG whose pixels need more bytes
// than that from its file size is a lie (or a decompression bomb), refused
// before any allocation.
constexpr uint64_t kMaxExpansion = 1100;

struct PngSource {
  const unsigned char* bytes;
  size_t size;
  size_t at;
};

struct PngResult {
  png_uint_32 width = 0, height = 0;
  int bit_depth = 0, color_type = 0, channels = 0;
  unsigned char* data = nullptr;  // height * rowbytes, malloc'd
  png_bytep* rows = nullptr;      // malloc'd
  char message[256] = {0};
};

void png_fail(png_structp png, png_const_charp message) {
  auto* result = static_cast<PngResult*>(png_get_error_ptr(png));
  std::snprintf(result->message, sizeof result->message, "%s", message);
  png_longjmp(png, 1);
}

void png_quiet(png_structp, png_const_charp) {}  // warnings (ancillary chunks) are not errors

void png_read_memory(png_structp png, png_bytep out, png_size_t count) {
  auto* source = static_cast<PngSource*>(png_get_io_ptr(png));
  if (count > source->size - source->at) png_error(png, "the file ends early (truncated)");
  std::memcpy(out, source->bytes + source->at, count);
  source->at += count;
}

// Returns true on success; on failure result->message says why. Plain C
// state only: a longjmp may leave it at any libpng call.
bool decode_png(PngSource* source, PngResult* result) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, result, png_fail, png_quiet);
  if (png == nullptr) {
    std::snprintf(result->message, sizeof result->message, "libpng could not start");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (info == nullptr || setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
    std::free(result->rows);
    std::free(result->data);
    result->rows = nullptr;
    result->data = nullptr;
    if (result->message[0] == 0) std::snprintf(result->message, sizeof result->message, "corrupt");
    return false;
  }
  png_set_read_fn(png, source, png_read_memory);
  png_set_user_limits(png, 1u << 20, 1u << 20);
  png_read_info(png, info);
  result->width = png_get_image_width(png, info);
  result->height = png_get_image_height(png, info);
  result->bit_depth = png_get_bit_depth(png, info);
  result->color_type = png_get_color_type(png, info);
  if (result->color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  // Gray of 1, 2 or 4 bits is read as packed samples, one per byte, unscaled.
  if (result->bit_depth < 8 && result->color_type != PNG_COLOR_TYPE_PALETTE) png_set_packing(png);
  if (result->bit_depth == 16) png_set_swap(png);  // host order (little-endian x86)
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  result->channels = png_get_channels(png, info);
  const uint64_t rowbytes = png_get_rowbytes(png, info);
  const uint64_t needed = rowbytes * result->height;
  if (needed > kMaxExpansion * (source->size + 1) || needed > (uint64_t{1} << 34)) {
    std::snprintf(result->message, sizeof result->message,
                  "it claims %u x %u pixels, more than its %zu bytes can encode", result->width,
                  result->height, source->size);
    png_longjmp(png, 1);
  }
  result->data = static_cast<unsigned char*>(std::malloc(needed ? needed : 1));
  result->rows = static_cast<png_bytep*>(std::malloc(sizeof(png_bytep) * result->height + 1));
  if (result->data == nullptr || result->rows == nullptr) png_error(png, "out of memory");
  for (png_uint_32 row = 0; row < result->height; ++row) {
    result->rows[row] = result->data + row * rowbytes;
  }
  png_read_image(png, result->rows);
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

Image png_image(const unsigned char* bytes, size_t size, const std::string& name) {
  PngSource source{bytes, size, 0};
  PngResult result;
  const bool ok = decode_png(&source, &result);
  if (!ok) DICTLEARN_FAIL("{}: not a readable PNG: {}", name, result.message);
  Image image;
  image.height = result.height;
  image.width = result.width;
  image.bit_depth = result.bit_depth;
  image.was_color = (result.color_type & PNG_COLOR_MASK_COLOR) != 0;
  const bool palette = result.color_type == PNG_COLOR_TYPE_PALETTE;
  const int depth = palette ? 8 : std::max(result.bit_depth, 8);
  const double max_value =
      palette ? 255.0 : (result.bit_depth < 8 ? (1 << result.bit_depth) - 1 : (1 << depth) - 1);
  const int channels = result.channels;
  const bool color = channels >= 3;
  image.pixels.resize(static_cast<size_t>(image.height * image.width));
  for (int64_t row = 0; row < image.height; ++row) {
    const unsigned char* line = result.rows[row];
    for (int64_t col = 0; col < image.width; ++col) {
      const auto sample = [&](int channel) {
        const int64_t at = col * channels + channel;
        if (depth == 16) {
          uint16_t value;
          std::memcpy(&value, line + 2 * at, 2);
          return value / max_value;
        }
        return line[at] / max_value;
      };
      image.pixels[static_cast<size_t>(row * image.width + col)] =
          color ? 0.299 * sample(0) + 0.587 * sample(1) + 0.114 * sample(2) : sample(0);
    }
  }
  std::free(result.rows);
  std::free(result.data);
  return image;
}

// PGM (Netpbm): "P5" or "P2", whitespace, width, height, maxval (each after
// whitespace and '#' comments), one whitespace byte, then the raster.
class PgmParser {
 public:
  PgmParser(const unsigned char* bytes, size_t size, const std::string& name)
      : bytes_(bytes), size_(size), name_(name) {}

  Image parse() {
    const bool binary = bytes_[1] == '5';
    at_ = 2;
    Image image;
    image.width = header_number("width");
    image.height = header_number("height");
    const int64_t maxval = header_number("maxval");
    DICTLEARN_CHECK(maxval <= 65535, "{}: PGM maxval {} is above 65535 (unsupported bit depth)",
                    name_, maxval);
    DICTLEARN_CHECK(at_ < size_ && std::isspace(bytes_[at_]),
                    "{}: the PGM header ends early (truncated)", name_);
    ++at_;  // the single whitespace byte before the raster
    const int sample_bytes = maxval < 256 ? 1 : 2;
    image.bit_depth = 8 * sample_bytes;
    const uint64_t pixels =
        static_cast<uint64_t>(image.width) * static_cast<uint64_t>(image.height);
    // Each binary sample takes sample_bytes, each ASCII one at least one
    // digit and a separator: the file must hold that many bytes.
    const uint64_t least = binary ? pixels * sample_bytes : 2 * pixels - 1;
    DICTLEARN_CHECK(least <= size_ - at_,
                    "{}: the PGM's {} x {} pixels need at least {} more bytes, the file has {} "
                    "(truncated)",
                    name_, image.width, image.height, least, size_ - at_);
    image.pixels.resize(pixels);
    for (uint64_t i = 0; i < pixels; ++i) {
      int64_t value;
      if (binary) {
        value = bytes_[at_];
        if (sample_bytes == 2) value = value << 8 | bytes_[at_ + 1];
        at_ += sample_bytes;
      } else {
        value = number(fmt::format("pixel {}", i), true);
      }
      DICTLEARN_CHECK(value <= maxval, "{}: PGM pixel {} is {}, above maxval {}", name_, i, value,
                      maxval);
      image.pixels[i] = static_cast<double>(value) / static_cast<double>(maxval);
    }
    while (at_ < size_ && std::isspace(bytes_[at_])) ++at_;
    DICTLEARN_CHECK(at_ == size_,
                    "{}: {} bytes follow the PGM's raster (one image per file is read)", name_,
                    size_ - at_);
    return image;
  }

 private:
  int64_t header_number(const char* what) {
    const int64_t value = number(what, false);
    DICTLEARN_CHECK(value >= 1, "{}: PGM {} is 0", name_, what);
    return value;
  }

  // Skips whitespace (and, in the header, comments), then reads a decimal
  // number of at most 9 digits.
  int64_t number(const std::string& what, bool raster) {
    while (at_ < size_) {
      if (std::isspace(bytes_[at_])) {
        ++at_;
      } else if (!raster && bytes_[at_] == '#') {
        while (at_ < size_ && bytes_[at_] != '\n' && bytes_[at_] != '\r') ++at_;
      } else {
        break;
      }
    }
    DICTLEARN_CHECK(at_ < size_, "{}: the PGM ends before its {} (truncated)", name_, what);
    int64_t value = 0;
    size_t digits = 0;
    while (at_ < size_ && std::isdigit(bytes_[at_])) {
      DICTLEARN_CHECK(++digits <= 9, "{}: the PGM's {} has too many digits", name_, what);
      value = value * 10 + (bytes_[at_++] - '0');
    }
    DICTLEARN_CHECK(digits > 0, "{}: the PGM's {} is not a number (byte {})", name_, what, at_);
    return value;
  }

  const unsigned char* bytes_;
  size_t size_;
  size_t at_ = 0;
  const std::string& name_;
};

}  // namespace

Image decode_image(const unsigned char* bytes, size_t size, const std::string& name) {
  static constexpr unsigned char kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (size >= 8 && std::memcmp(bytes, kPng, 8) == 0) return png_image(bytes, size, name);
  if (size >= 2 && bytes[0] == 'P' && (bytes[1] == '5' || bytes[1] == '2')) {
    return PgmParser(bytes, size, name).parse();
  }
  DICTLEARN_FAIL("{}: not a PNG or PGM (P5/P2) image", name);
}

Image read_image(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  DICTLEARN_CHECK(in.good(), "{}: cannot open the image: {}", path, std::strerror(errno));
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  DICTLEARN_CHECK(!in.bad(), "{}: cannot read the image", path);
  DICTLEARN_CHECK(!bytes.empty(), "{}: the image file is empty", path);
  return decode_image(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), path);
}

}  // namespace dictlearn
