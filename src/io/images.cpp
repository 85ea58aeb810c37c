// Completeness checks of PNG (ISO/IEC 15948, chunks) and GIF (GIF89a
// specification, blocks) files: each walks the file's structure to its end
// marker, so a file cut anywhere, even on a byte that happens to equal the
// marker, is caught.
#include "io/images.hpp"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/check.hpp"
#include "io/zip.hpp"

namespace dictlearn::detail {
namespace {

uint32_t big_endian32(std::string_view bytes, size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + at);
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

std::string png_problem(std::string_view bytes) {
  constexpr std::string_view kSignature("\x89PNG\r\n\x1a\n", 8);
  if (!bytes.starts_with(kSignature)) return "no PNG signature";
  size_t at = kSignature.size();
  bool first = true;
  while (true) {
    if (bytes.size() - at < 12) return "the PNG ends before its IEND chunk";
    const uint64_t length = big_endian32(bytes, at);
    const std::string_view type = bytes.substr(at + 4, 4);
    if (length > bytes.size() - at - 12) return "the PNG ends inside a chunk";
    if (first && type != "IHDR") return "the PNG does not start with IHDR";
    first = false;
    Crc32 crc;
    crc.update(bytes.data() + at + 4, 4 + length);
    if (crc.value() != big_endian32(bytes, at + 8 + length)) {
      return fmt::format("the PNG's {} chunk fails its CRC", type);
    }
    at += 12 + length;
    if (type == "IEND") {
      return at == bytes.size() ? "" : "bytes follow the PNG's IEND chunk";
    }
  }
}

std::string gif_problem(std::string_view bytes) {
  if (!bytes.starts_with("GIF87a") && !bytes.starts_with("GIF89a")) return "no GIF header";
  const auto byte = [&](size_t at) { return static_cast<unsigned char>(bytes[at]); };
  constexpr const char* kCut = "the GIF ends before its trailer";
  size_t at = 6;
  if (bytes.size() < at + 7) return kCut;
  const unsigned char screen_flags = byte(at + 4);
  at += 7;
  if (screen_flags & 0x80) at += 3u << ((screen_flags & 7) + 1);  // global colour table
  // Data sub-blocks: a size byte, that many bytes, ..., a zero size.
  const auto skip_sub_blocks = [&]() {
    while (at < bytes.size()) {
      const size_t size = byte(at++);
      if (size == 0) return true;
      at += size;
    }
    return false;
  };
  int images = 0;
  while (at < bytes.size()) {
    const unsigned char introducer = byte(at++);
    if (introducer == 0x3B) {
      if (images == 0) return "the GIF holds no image";
      return at == bytes.size() ? "" : "bytes follow the GIF's trailer";
    }
    if (introducer == 0x21) {  // extension: a label, then sub-blocks
      if (++at > bytes.size() || !skip_sub_blocks()) return kCut;
    } else if (introducer == 0x2C) {  // image: descriptor, colour table, LZW size, data
      if (bytes.size() - at < 10) return kCut;
      const unsigned char image_flags = byte(at + 8);
      at += 9;
      if (image_flags & 0x80) at += 3u << ((image_flags & 7) + 1);
      if (++at > bytes.size() || !skip_sub_blocks()) return kCut;
      ++images;
    } else {
      return fmt::format("the GIF has an unknown block 0x{:02X} at byte {}", introducer, at - 1);
    }
  }
  return kCut;
}

std::string image_problem(const std::string& path, const std::string& name) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "it cannot be read back";
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) return "it cannot be read back";
  const std::string extension = std::filesystem::path(name).extension().string();
  if (extension == ".png") return png_problem(bytes);
  if (extension == ".gif") return gif_problem(bytes);
  return fmt::format("no check for {} images", extension);
}

}  // namespace dictlearn::detail
