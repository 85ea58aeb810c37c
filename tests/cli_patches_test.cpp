// `dictlearn patches` through the command-line tool: the files it writes
// (values, the geometry sidecar), the hand-off of the geometry to fit and
// plot, and each bad input (one line, exit 1, nothing written).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "cli_util.hpp"
#include "dictlearn/io.hpp"
#include "dictlearn/model.hpp"
#include "image_util.hpp"

namespace dictlearn {
namespace {

namespace fs = std::filesystem;
using testing::CliResult;
using testing::expect_cli_error;
using testing::file_bytes;
using testing::make_png;
using testing::ramp_rows;
using testing::run_cli;
using testing::TempDir;

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

class CliPatchesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    png_ = dir_ / "ramp.png";
    write_bytes(png_, make_png(5, 4, 8, 0, ramp_rows()));
  }
  TempDir dir_;
  std::string png_;
};

TEST_F(CliPatchesTest, WritesPatchesAndTheirGeometry) {
  const std::string out = dir_ / "p.npy";
  const CliResult result = run_cli(dir_, "patches " + png_ + " -o " + out + " --size 2x3");
  ASSERT_EQ(result.code, 0) << result.err;
  EXPECT_NE(result.out.find("9 patches x 6 values"), std::string::npos) << result.out;
  const auto patches = read_npy<float>(out);
  ASSERT_EQ(patches.rows(), 9);
  EXPECT_EQ(patches(4, 5), 23 / 255.0f);  // origin (1, 1): its last pixel is (2, 3)
  EXPECT_NE(file_bytes(out + ".json").find("\"patch_shape\": \"2x3\""), std::string::npos);
  // --dtype float64, a seeded subset, CSV.
  const std::string wide = dir_ / "w.npy", csv = dir_ / "p.csv";
  ASSERT_EQ(run_cli(dir_, "patches " + png_ + " -o " + wide +
                              " --size 1 --max-patches 5 --seed 9 --dtype float64")
                .code,
            0);
  EXPECT_EQ(npy_dtype(wide), DType::float64);
  EXPECT_EQ(read_npy<double>(wide).rows(), 5);
  ASSERT_EQ(run_cli(dir_, "patches " + png_ + " -o " + csv + " --size 2 --stride 2").code, 0);
  EXPECT_EQ(read_matrix<double>(csv).rows(), 4);
  // A flat image: --normalize keeps its zero patches and says how many.
  const std::string flat = dir_ / "flat.pgm", flat_out = dir_ / "flat.npy";
  write_bytes(flat, "P2 3 3 255 7 7 7 7 7 7 7 7 7\n");
  const CliResult normalized =
      run_cli(dir_, "patches " + flat + " -o " + flat_out + " --size 2 --remove-mean --normalize");
  ASSERT_EQ(normalized.code, 0) << normalized.err;
  EXPECT_NE(normalized.err.find("4 of 4 patches have norm < 1e-12"), std::string::npos)
      << normalized.err;
}

TEST_F(CliPatchesTest, FitAndPlotDrawTheAtomGridWithoutBeingToldTheShape) {
  // A 24 x 24 image of stripes: 8 x 6 patches.
  std::vector<std::string> rows;
  for (int r = 0; r < 24; ++r) {
    std::string row;
    for (int c = 0; c < 24; ++c) row.push_back(static_cast<char>(((r / 3 + c / 2) % 4) * 60));
    rows.push_back(row);
  }
  const std::string image = dir_ / "stripes.png", data = dir_ / "p.npy";
  write_bytes(image, make_png(24, 24, 8, 0, rows));
  ASSERT_EQ(run_cli(dir_, "patches " + image + " -o " + data + " --size 8x6").code, 0);
  const std::string model = dir_ / "m.safetensors";
  const CliResult fit = run_cli(
      dir_, "fit " + data + " -o " + model + " -q --encoder topk --k 2 --atoms 8 -b 100 -e 2");
  ASSERT_EQ(fit.code, 0) << fit.err;
  EXPECT_EQ(load_model<float>(model).metadata.at("train.patch-shape"), "8x6");
  const std::string folder = dir_ / "figures";
  const CliResult plot = run_cli(dir_, "plot " + data + " --model " + model + " -o " + folder);
  ASSERT_EQ(plot.code, 0) << plot.err;
  EXPECT_TRUE(fs::exists(fs::path(folder) / "atoms_grid.dat"));
  EXPECT_NE(file_bytes(folder + "/figures.gp").find("atoms as 8 x 6 images"), std::string::npos);
  // --patch-shape given wins over the sidecar.
  const std::string flagged = dir_ / "f.safetensors";
  ASSERT_EQ(run_cli(dir_, "fit " + data + " -o " + flagged +
                              " -q --encoder topk --k 2 --atoms 8 -e 1 --patch-shape 6x8")
                .code,
            0);
  EXPECT_EQ(load_model<float>(flagged).metadata.at("train.patch-shape"), "6x8");
  // A sidecar that does not fit the data is an error naming it.
  write_bytes(data + ".json", "{\"patch_shape\": \"8x8\"}");
  const std::string refused = dir_ / "r.safetensors";
  expect_cli_error(run_cli(dir_, "fit " + data + " -o " + refused + " -q --atoms 8 -e 1"),
                   {data + ".json", "8x8"}, refused);
  write_bytes(data + ".json", "not json");
  expect_cli_error(run_cli(dir_, "fit " + data + " -o " + refused + " -q --atoms 8 -e 1"),
                   {data + ".json", "patch_shape"}, refused);
}

TEST_F(CliPatchesTest, BadInputIsOneLineAndWritesNothing) {
  const std::string out = dir_ / "out.npy";
  const auto expect_refused = [&](const std::string& args,
                                  std::initializer_list<std::string> needles) {
    expect_cli_error(run_cli(dir_, "patches " + args + " -o " + out), needles, out);
    EXPECT_FALSE(fs::exists(out + ".json")) << args;
  };
  expect_refused(dir_ / "missing.png", {"missing.png", "cannot open"});
  const std::string text = dir_ / "text.png";
  write_bytes(text, "hello, world");
  expect_refused(text, {"text.png", "not a PNG or PGM"});
  const std::string png = make_png(5, 4, 8, 0, ramp_rows());
  const std::string cut = dir_ / "cut.png";
  write_bytes(cut, png.substr(0, png.size() - 20));
  expect_refused(cut, {"cut.png", "PNG"});
  const std::string cut_pgm = dir_ / "cut.pgm";
  write_bytes(cut_pgm, "P5 5 4 255\nabc");
  expect_refused(cut_pgm, {"cut.pgm", "truncated"});
  const std::string deep = dir_ / "deep.pgm";
  write_bytes(deep, "P5 1 1 99999\nab");
  expect_refused(deep, {"deep.pgm", "above 65535"});
  expect_refused(png_ + " --size 5", {"ramp.png", "--size", "4 x 5 image"});
  expect_refused(png_ + " --size 0", {"--size", "got '0'"});
  expect_refused(png_ + " --size 2x", {"--size"});
  expect_refused(png_ + " --stride 0", {"ramp.png", "--stride"});
  expect_refused(png_ + " --size 2 --max-patches 0", {"--max-patches"});
  expect_refused(png_ + " --size 2 --max-patches 13", {"--max-patches", "12 patches"});
  expect_refused(png_ + " --dtype float16", {"--dtype"});
  // A wrong output extension is refused before the image is read.
  expect_cli_error(run_cli(dir_, "patches " + png_ + " -o " + (dir_ / "p.txt")), {"-o"},
                   dir_ / "p.txt");
}

}  // namespace
}  // namespace dictlearn
