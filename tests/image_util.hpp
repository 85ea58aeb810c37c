// Tiny PNG and PGM files written byte by byte for the image tests: a PNG is
// the signature, IHDR, one zlib IDAT (filter 0 on every row) and IEND, each
// chunk with its CRC, so every bit depth and colour type can be made.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <string>
#include <vector>

namespace dictlearn::testing {

inline void png_chunk(std::string& out, const std::string& type, const std::string& data) {
  const auto u32 = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>(v >> s & 0xFF));
  };
  u32(static_cast<uint32_t>(data.size()));
  const std::string body = type + data;
  out += body;
  u32(static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()))));
}

/// A PNG of `rows` (each the row's raw sample bytes, no filter byte).
inline std::string make_png(uint32_t width, uint32_t height, int depth, int color_type,
                            const std::vector<std::string>& rows) {
  std::string out("\x89PNG\r\n\x1a\n", 8);
  std::string header;
  for (const uint32_t v : {width, height}) {
    for (int s = 24; s >= 0; s -= 8) header.push_back(static_cast<char>(v >> s & 0xFF));
  }
  header += {static_cast<char>(depth), static_cast<char>(color_type), 0, 0, 0};
  png_chunk(out, "IHDR", header);
  std::string raw;
  for (const auto& row : rows) raw += '\0' + row;
  uLongf size = compressBound(static_cast<uLong>(raw.size()));
  std::string packed(size, '\0');
  compress(reinterpret_cast<Bytef*>(packed.data()), &size,
           reinterpret_cast<const Bytef*>(raw.data()), static_cast<uLong>(raw.size()));
  packed.resize(size);
  png_chunk(out, "IDAT", packed);
  png_chunk(out, "IEND", "");
  return out;
}

/// The 4 x 5 test image: pixel (r, c) = 10 r + c (8-bit).
inline std::vector<std::string> ramp_rows() {
  std::vector<std::string> rows;
  for (int r = 0; r < 4; ++r) {
    std::string row;
    for (int c = 0; c < 5; ++c) row.push_back(static_cast<char>(10 * r + c));
    rows.push_back(row);
  }
  return rows;
}

}  // namespace dictlearn::testing
