// Tests of the figures for many atoms through the command-line tool: the
// patch geometry (fit --patch-shape recorded in the model, plot --patch-shape),
// its errors, and the images plot draws from it.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "cli_util.hpp"
#include "dictlearn/io.hpp"
#include "dictlearn/model.hpp"
#include "io/images.hpp"

namespace dictlearn {
namespace {

namespace fs = std::filesystem;
using testing::CliResult;
using testing::expect_cli_error;
using testing::file_bytes;
using testing::run_cli;
using testing::TempDir;

/// Synthetic 8 x 8 "digits": each sample one of four strokes (a vertical
/// bar, a horizontal bar, a diagonal, a ring) at a random shift, plus a
/// little noise, values in [0, 1] as scikit-learn's digits / 16.
Matrix<float> stroke_patches(int samples) {
  std::mt19937 random(8);
  std::uniform_int_distribution<int> pattern(0, 3), shift(0, 3);
  std::uniform_real_distribution<float> noise(0.0f, 0.1f);
  Matrix<float> X(samples, 64);
  for (int i = 0; i < samples; ++i) {
    const int kind = pattern(random), at = 2 + shift(random);
    for (int r = 0; r < 8; ++r) {
      for (int c = 0; c < 8; ++c) {
        const bool on = kind == 0   ? c == at
                        : kind == 1 ? r == at
                        : kind == 2 ? r == c
                                    : std::abs(std::hypot(r - 3.5, c - 3.5) - 2.5) < 0.6;
        X(i, r * 8 + c) = (on ? 0.9f : 0.0f) + noise(random);
      }
    }
  }
  return X;
}

class CliFiguresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = dir_ / "strokes.npy";
    write_matrix(data_, stroke_patches(300));
  }
  /// fit on the strokes: 16 top-k atoms, a few epochs.
  CliResult fit(const std::string& model, const std::string& extra) {
    return run_cli(dir_, "fit " + data_ + " -o " + model +
                             " -q --encoder topk --k 2 --atoms 16 -b 100 -e 5 " + extra);
  }
  TempDir dir_;
  std::string data_;
};

TEST_F(CliFiguresTest, FitRecordsThePatchShapeAndPlotDrawsTheGridFromIt) {
  const std::string model = dir_ / "m.safetensors";
  const CliResult trained = fit(model, "--patch-shape 8x8");
  ASSERT_EQ(trained.code, 0) << trained.err;
  EXPECT_EQ(load_model<float>(model).metadata.at("train.patch-shape"), "8x8");

  // A run from --init keeps training the same atoms: their geometry stays recorded.
  const std::string continued = dir_ / "continued.safetensors";
  ASSERT_EQ(run_cli(dir_, "fit " + data_ + " -o " + continued + " -q -e 1 --init " + model).code,
            0);
  EXPECT_EQ(load_model<float>(continued).metadata.at("train.patch-shape"), "8x8");

  // plot is not told the shape again: it reads it from the model.
  const std::string folder = dir_ / "figures";
  const CliResult plot = run_cli(dir_, "plot " + data_ + " --model " + model + " -o " + folder);
  ASSERT_EQ(plot.code, 0) << plot.err;
  EXPECT_TRUE(fs::exists(fs::path(folder) / "atoms_grid.dat"));
  EXPECT_NE(file_bytes(folder + "/figures.gp").find("atoms as 8 x 8 images"), std::string::npos);
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    DICTLEARN_SKIP("gnuplot is not installed");
  }
  EXPECT_NE(plot.out.find("wrote " + folder + "/atoms_grid.png"), std::string::npos) << plot.out;
  for (const char* name : {"atoms_grid.png", "usage.png", "atoms.png"}) {
    EXPECT_EQ(detail::image_problem(folder + "/" + name, name), "") << name;
  }

  // A model without the shape: no grid, unless plot is given it.
  const std::string plain = dir_ / "plain.safetensors";
  ASSERT_EQ(fit(plain, "").code, 0);
  EXPECT_EQ(load_model<float>(plain).metadata.count("train.patch-shape"), 0u);
  const std::string no_grid = dir_ / "no_grid", with_flag = dir_ / "with_flag";
  ASSERT_EQ(run_cli(dir_, "plot " + data_ + " --model " + plain + " -o " + no_grid).code, 0);
  EXPECT_FALSE(fs::exists(fs::path(no_grid) / "atoms_grid.png"));
  EXPECT_TRUE(fs::exists(fs::path(no_grid) / "usage.png"));
  const CliResult flagged =
      run_cli(dir_, "plot " + data_ + " --model " + plain + " --patch-shape 8x8 -o " + with_flag);
  ASSERT_EQ(flagged.code, 0) << flagged.err;
  EXPECT_EQ(detail::image_problem(with_flag + "/atoms_grid.png", "atoms_grid.png"), "");
}

TEST_F(CliFiguresTest, ABadPatchShapeIsOneLineNamingTheFlagAndNothingIsWritten) {
  const std::string model = dir_ / "m.safetensors";
  expect_cli_error(fit(model, "--patch-shape 8x7"), {"--patch-shape", "8x7", "56", "64"}, model);
  expect_cli_error(fit(model, "--patch-shape 8by8"), {"--patch-shape", "'8by8'", "HEIGHTxWIDTH"},
                   model);
  expect_cli_error(fit(model, "--patch-shape 0x64"), {"--patch-shape", "'0x64'"}, model);

  ASSERT_EQ(fit(model, "").code, 0);
  const std::string folder = dir_ / "figures";
  for (const char* bad : {"4x4", "abc", "8x8x1"}) {
    expect_cli_error(run_cli(dir_, "plot " + data_ + " --model " + model + " --patch-shape " + bad +
                                       " -o " + folder),
                     {"--patch-shape", bad}, folder);
  }
  // A shape recorded in the model that does not fit (a file edited by hand)
  // names the file and the key.
  Model<float> edited = load_model<float>(model);
  edited.metadata["train.patch-shape"] = "4x16x";
  const std::string edited_path = dir_ / "edited.safetensors";
  save_model(edited_path, edited);
  expect_cli_error(run_cli(dir_, "plot " + data_ + " --model " + edited_path + " -o " + folder),
                   {edited_path + ": train.patch-shape", "'4x16x'"}, folder);
}

}  // namespace
}  // namespace dictlearn
