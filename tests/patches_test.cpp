// The image readers (PNG bit depths and colour types, PGM P5/P2, bad files)
// and extract_patches (values, counts, the seeded subset, mean removal,
// normalization).
#include "dictlearn/patches.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "dictlearn/error.hpp"
#include "image_util.hpp"

namespace dictlearn {
namespace {

using testing::make_png;
using testing::ramp_rows;

Image decode(const std::string& bytes) {
  return decode_image(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), "img");
}

void expect_decode_error(const std::string& bytes, const std::string& needle) {
  try {
    decode(bytes);
    ADD_FAILURE() << "no error, expected " << needle;
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find(needle), std::string::npos) << error.what();
    EXPECT_EQ(std::string(error.what()).rfind("img: ", 0), 0u) << error.what();
  }
}

std::string ramp_pgm() {
  std::string pgm = "P5\n# a comment\n5 4\n255\n";
  for (const auto& row : ramp_rows()) pgm += row;
  return pgm;
}

TEST(ReadImage, GrayPngAndPgmGiveTheSameScaledValues) {
  for (const Image& image :
       {decode(make_png(5, 4, 8, 0, ramp_rows())), decode(ramp_pgm()),
        decode("P2 5 4 255\n0 1 2 3 4\n10 11 12 13 14\n20 21 22 23 24\n30 31 32 33 34\n")}) {
    ASSERT_EQ(image.height, 4);
    ASSERT_EQ(image.width, 5);
    for (int r = 0; r < 4; ++r) {
      for (int c = 0; c < 5; ++c) EXPECT_EQ(image.pixels[r * 5 + c], (10 * r + c) / 255.0);
    }
  }
}

TEST(ReadImage, BitDepthsAndColour) {
  // 16-bit gray: / 65535, big-endian in the file.
  Image image = decode(make_png(2, 1, 16, 0, {std::string("\xFF\xFF\x01\x00", 4)}));
  EXPECT_EQ(image.pixels[0], 1.0);
  EXPECT_EQ(image.pixels[1], 256 / 65535.0);
  EXPECT_EQ(image.bit_depth, 16);
  // 1-bit gray: 0 and 1.
  image = decode(make_png(3, 1, 1, 0, {std::string("\xA0", 1)}));  // 1 0 1
  EXPECT_EQ(image.pixels, (std::vector<double>{1, 0, 1}));
  // 4-bit gray: / 15.
  image = decode(make_png(2, 1, 4, 0, {std::string("\xF3", 1)}));
  EXPECT_EQ(image.pixels[0], 1.0);
  EXPECT_EQ(image.pixels[1], 3 / 15.0);
  // RGB: BT.601 luma; RGBA: alpha ignored.
  image = decode(make_png(2, 1, 8, 2, {std::string("\xFF\x00\x00\x00\xFF\x00", 6)}));
  EXPECT_TRUE(image.was_color);
  EXPECT_DOUBLE_EQ(image.pixels[0], 0.299);
  EXPECT_DOUBLE_EQ(image.pixels[1], 0.587);
  image = decode(make_png(1, 1, 8, 6, {std::string("\x00\x00\xFF\x10", 4)}));
  EXPECT_DOUBLE_EQ(image.pixels[0], 0.114);
  // 16-bit PGM: two bytes per sample, / maxval.
  image = decode(std::string("P5 2 1 1000\n\x03\xE8\x01\xF4", 16));
  EXPECT_EQ(image.pixels, (std::vector<double>{1.0, 0.5}));
}

TEST(ReadImage, BadFilesAreErrorsNamingTheFile) {
  const std::string png = make_png(5, 4, 8, 0, ramp_rows());
  expect_decode_error("hello", "not a PNG or PGM");
  for (const size_t cut : {size_t{8}, size_t{20}, size_t{40}, png.size() - 13, png.size() - 1}) {
    expect_decode_error(png.substr(0, cut), "PNG");
  }
  std::string bad_crc = png;
  bad_crc[40] ^= 1;
  expect_decode_error(bad_crc, "PNG");
  expect_decode_error(make_png(5, 4, 8, 0, {"ab"}), "PNG");  // too little image data
  // A tiny file claiming a huge image is refused before allocating it.
  expect_decode_error(make_png(1 << 19, 1 << 19, 16, 0, {}), "more than its");
  const std::string pgm = ramp_pgm();
  expect_decode_error(pgm.substr(0, pgm.size() - 1), "truncated");
  expect_decode_error(pgm.substr(0, 8), "truncated");
  expect_decode_error("P5 0 4 255\n", "width is 0");
  expect_decode_error("P5 2 1 70000\n\0\0\0\0", "above 65535");
  expect_decode_error("P2 2 1 9 3 10", "above maxval");
  expect_decode_error("P2 2 1 9 3 x", "not a number");
  expect_decode_error(pgm + "extra", "follow");
  EXPECT_THROW(read_image("/nonexistent/image.png"), Error);
}

Image ramp() { return decode(make_png(5, 4, 8, 0, ramp_rows())); }

TEST(ExtractPatches, ValuesCountsAndStrides) {
  const Image image = ramp();
  const auto all = extract_patches<double>(image, {.height = 2, .width = 3});
  ASSERT_EQ(all.values.rows(), 3 * 3);
  ASSERT_EQ(all.values.cols(), 6);
  // Patch 4: origin (1, 1), rows 11 12 13 / 21 22 23.
  const std::vector<double> expected{11, 12, 13, 21, 22, 23};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(all.values(4, i), expected[i] / 255.0);
  for (const int stride : {1, 2, 3, 5}) {
    for (const int size : {1, 2, 4}) {
      const PatchOptions options{.height = size, .width = size, .stride = stride};
      const auto patches = extract_patches<float>(image, options);
      const int64_t count = ((4 - size) / stride + 1) * ((5 - size) / stride + 1);
      EXPECT_EQ(patches.values.rows(), count) << size << " " << stride;
      EXPECT_EQ(patches.available, count);
      EXPECT_EQ(count_patches(image, options), count);
      // The last patch's top-left pixel sits at the last origin.
      const int64_t top = (4 - size) / stride * stride, left = (5 - size) / stride * stride;
      EXPECT_EQ(patches.values(count - 1, 0), static_cast<float>((10 * top + left) / 255.0));
    }
  }
}

TEST(ExtractPatches, BadOptionsNameTheFlag) {
  const Image image = ramp();
  const auto expect_error = [&](const PatchOptions& options, const std::string& needle) {
    try {
      extract_patches<float>(image, options);
      ADD_FAILURE() << needle;
    } catch (const Error& error) {
      EXPECT_NE(std::string(error.what()).find(needle), std::string::npos) << error.what();
    }
  };
  expect_error({.height = 5, .width = 2}, "--size");
  expect_error({.height = 0, .width = 2}, "--size");
  expect_error({.height = 2, .width = 2, .stride = 0}, "--stride");
  expect_error({.height = 2, .width = 2, .max_patches = 13}, "--max-patches");
  expect_error({.height = 2, .width = 2, .max_patches = -1}, "--max-patches");
}

TEST(ExtractPatches, SeededSubsetIsDeterministicDistinctAndInRasterOrder) {
  const Image image = ramp();
  const PatchOptions options{.height = 1, .width = 1, .max_patches = 7, .seed = 3};
  const auto a = extract_patches<double>(image, options);
  const auto b = extract_patches<double>(image, options);
  ASSERT_EQ(a.values.rows(), 7);
  EXPECT_EQ(a.values, b.values);
  // 1 x 1 patches of distinct pixels: the values are the origins.
  std::vector<double> values(a.values.data(), a.values.data() + 7);
  EXPECT_TRUE(std::is_sorted(values.begin(), values.end()));
  EXPECT_EQ(std::set<double>(values.begin(), values.end()).size(), 7u);
  // Another seed, another subset (for this seed pair); all of them: every patch.
  PatchOptions other = options;
  other.seed = 4;
  EXPECT_NE(extract_patches<double>(image, other).values, a.values);
  other.max_patches = 20;
  EXPECT_EQ(extract_patches<double>(image, other).values,
            extract_patches<double>(image, {.height = 1, .width = 1}).values);
  // Each origin is drawn about equally often over many seeds.
  std::vector<int> hits(20);
  for (uint64_t seed = 0; seed < 2000; ++seed) {
    const auto subset =
        extract_patches<double>(image, {.height = 1, .width = 1, .max_patches = 5, .seed = seed});
    for (int i = 0; i < 5; ++i) {
      const int pixel = static_cast<int>(std::lround(subset.values(i, 0) * 255));
      ++hits[pixel / 10 * 5 + pixel % 10];
    }
  }
  for (const int count : hits) EXPECT_NEAR(count, 500, 100);  // 2000 * 5 / 20, ±4.6 sigma
}

TEST(ExtractPatches, RemoveMeanAndNormalize) {
  // A flat image region: its centred patch has norm 0 and stays 0.
  std::vector<std::string> rows = ramp_rows();
  rows[0] = std::string(5, '\x07');
  rows[1] = std::string(5, '\x07');
  const Image image = decode(make_png(5, 4, 8, 0, rows));
  const PatchOptions options{
      .height = 2, .width = 2, .stride = 2, .remove_mean = true, .normalize = true};
  const auto patches = extract_patches<double>(image, options);
  ASSERT_EQ(patches.values.rows(), 4);
  EXPECT_EQ(patches.zero_norm, 2);
  EXPECT_EQ(patches.values.row(0).norm(), 0.0);
  for (int n = 2; n < 4; ++n) {
    EXPECT_NEAR(patches.values.row(n).sum(), 0, 1e-15);
    EXPECT_NEAR(patches.values.row(n).norm(), 1, 1e-15);
  }
  // Patch 2 = 20 21 / 30 31: mean 25.5, centred -5.5 -4.5 4.5 5.5, norm sqrt(101).
  EXPECT_NEAR(patches.values(2, 0), -5.5 / std::sqrt(101.0), 1e-15);
  const auto centred =
      extract_patches<double>(image, {.height = 2, .width = 2, .stride = 2, .remove_mean = true});
  EXPECT_NEAR(centred.values(2, 3), 5.5 / 255, 1e-15);
  EXPECT_EQ(centred.zero_norm, 0);
}

}  // namespace
}  // namespace dictlearn
