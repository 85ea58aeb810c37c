// `dictlearn patches`: image -> patches file + its geometry sidecar, and the
// sidecar's reader that fit uses (see dictlearn/workflows.hpp).
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "core/check.hpp"
#include "dictlearn/atomic_file.hpp"
#include "dictlearn/plot.hpp"
#include "dictlearn/workflows.hpp"
#include "workflows/paths.hpp"

namespace dictlearn {

std::string patches_sidecar(const std::string& patches_path) { return patches_path + ".json"; }

std::string read_patches_sidecar(const std::string& data, int64_t dim) {
  const std::string path = patches_sidecar(data);
  std::error_code error;
  if (!std::filesystem::exists(path, error)) return {};
  std::ifstream in(path, std::ios::binary);
  DICTLEARN_CHECK(in.good(), "{}: cannot open the patches' geometry file", path);
  std::string text;
  // A geometry file is a few lines: anything long is not one.
  text.resize(65536);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  DICTLEARN_CHECK(text.size() < 65536, "{}: too long for a patches' geometry file", path);
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
  DICTLEARN_CHECK(
      json.is_object() && json.contains("patch_shape") && json["patch_shape"].is_string(),
      "{}: not a patches' geometry file (a JSON object with \"patch_shape\"); remove "
      "it or give --patch-shape",
      path);
  const std::string shape = json["patch_shape"].get<std::string>();
  parse_patch_shape(shape, dim, fmt::format("{}: patch_shape", path));
  return shape;
}

namespace {

template <typename T>
PatchesSummary write_patches(const PatchesJob& job, const Image& image) {
  Patches<T> patches;
  try {
    patches = extract_patches<T>(image, job.options);
  } catch (const Error& error) {  // the flag's message, with the image it is about
    throw Error(fmt::format("{}: {}", job.image, error.what()));
  }
  PatchesSummary summary{.image_height = image.height,
                         .image_width = image.width,
                         .was_color = image.was_color,
                         .rows = patches.values.rows(),
                         .cols = patches.values.cols(),
                         .available = patches.available,
                         .zero_norm = patches.zero_norm,
                         .sidecar = patches_sidecar(job.output)};
  const nlohmann::ordered_json json = {
      {"patch_shape", fmt::format("{}x{}", job.options.height, job.options.width)},
      {"image", std::filesystem::path(job.image).filename().string()},
      {"image_shape", {image.height, image.width}},
      {"stride", job.options.stride},
      {"patches", summary.rows},
      {"available", summary.available},
      {"max_patches", job.options.max_patches},
      {"seed", job.options.seed},
      {"remove_mean", job.options.remove_mean},
      {"normalize", job.options.normalize}};
  // The sidecar is staged first and committed after the patches: a failure
  // before leaves neither; one at its own rename removes the patches too.
  AtomicFile sidecar(summary.sidecar);
  sidecar.write(json.dump(2) + "\n");
  write_matrix(job.output, patches.values);
  try {
    sidecar.commit();
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(job.output, ignored);
    throw;
  }
  return summary;
}

}  // namespace

PatchesSummary run_patches(const PatchesJob& job) {
  DICTLEARN_CHECK(job.dtype == "float32" || job.dtype == "float64",
                  "--dtype: must be float32 or float64, got '{}'", job.dtype);
  detail::check_output_paths({{"-o", job.output, {".npy", ".csv"}},
                              {"-o (its geometry file)", patches_sidecar(job.output), {}}},
                             {{"image", job.image}});
  const Image image = read_image(job.image);
  return job.dtype == "float64" ? write_patches<double>(job, image)
                                : write_patches<float>(job, image);
}

}  // namespace dictlearn
