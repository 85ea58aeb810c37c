// Checkpoints of any learner (learner.hpp): the learner's state, the epoch
// loop's, and what ties a checkpoint to its run -- the data's shape and hash
// and the learner's settings -- in one safetensors file.
#include <sstream>

#include "core/check.hpp"
#include "dictlearn/learner.hpp"
#include "dictlearn/parameters.hpp"
#include "kernels/simd_dispatch.hpp"
#include "learners/checkpoint_fields.hpp"

namespace dictlearn {
namespace {

constexpr const char* kFormat = "dictlearn.checkpoint";
// The kernels' instruction-set levels (src/kernels/simd_dispatch.hpp): the
// vector kernels' (DICTLEARN_SIMD steers it) and the matrix products' (the
// CPU's best). Levels round differently, so a run continues bit for bit only
// at the levels it was checkpointed at. Files before dictlearn 0.2 lack them.
constexpr const char* kSimdLevel = "checkpoint.simd_level";
constexpr const char* kCpuSimdLevel = "checkpoint.cpu_simd_level";

std::string shape_of(int64_t rows, int64_t dim) { return fmt::format("{}x{}", rows, dim); }

/// Refuses a run whose settings differ from those the checkpoint recorded,
/// naming every flag that differs with both values, on one line. A setting
/// the file does not record (older versions recorded fewer) is not compared.
void check_settings(const TensorFile& file, const Settings& settings, const std::string& path) {
  std::string made, has;
  for (const auto& [key, value] : settings) {
    const auto saved = file.metadata.find(resume_setting_key(file.metadata, key));
    if (saved == file.metadata.end() || saved->second == value) continue;
    made += fmt::format(" --{} {}", key, saved->second);
    has += fmt::format(" --{} {}", key, value);
  }
  DICTLEARN_CHECK(made.empty(), "{}: checkpoint was made with{}, this run has{}", path, made, has);
}

/// Refuses to continue at other SIMD levels than the checkpoint's, saying how to continue.
void check_simd_levels(const TensorFile& file, const std::string& path) {
  using detail::simd_level_name;
  const std::string cpu = simd_level_name(detail::cpu_simd_level());
  const auto saved_cpu = file.metadata.find(kCpuSimdLevel);
  DICTLEARN_CHECK(
      saved_cpu == file.metadata.end() || saved_cpu->second == cpu,
      "{}: checkpoint was made on a CPU whose best SIMD level is {}, this CPU's is {}: "
      "its matrix products round differently, so the run cannot continue bit for bit "
      "here; resume on a CPU of level {}, or start a new run from its model with --init",
      path, saved_cpu->second, cpu, saved_cpu->second);
  const std::string level = simd_level_name(detail::simd_level());
  const auto saved = file.metadata.find(kSimdLevel);
  DICTLEARN_CHECK(saved == file.metadata.end() || saved->second == level,
                  "{}: checkpoint was made at SIMD level {}, this run is at {} (the levels round "
                  "differently); set DICTLEARN_SIMD={} to continue it",
                  path, saved->second, level, saved->second);
}

}  // namespace

void EpochLoop::save_state(TensorFile& file) const {
  Vector<double> losses = Eigen::Map<const Vector<double>>(losses_.data(), losses_.size());
  file.tensors["train.losses"] = detail::tensor_of(losses, {static_cast<int64_t>(losses_.size())});
  file.metadata["checkpoint.epochs_done"] = std::to_string(losses_.size());
  file.metadata["checkpoint.best_loss"] = fmt::format("{}", best_loss_);
  file.metadata["checkpoint.epochs_without_improvement"] =
      std::to_string(epochs_without_improvement_);
  std::ostringstream engine;
  engine << shuffle_;
  file.metadata["checkpoint.shuffle_state"] = engine.str();
}

void EpochLoop::load_state(const TensorFile& file, const std::string& path) {
  using detail::parse_number;
  const int64_t epochs_done = parse_number<int64_t>(file, "checkpoint.epochs_done", path);
  DICTLEARN_CHECK(epochs_done >= 0, "{}: checkpoint metadata 'checkpoint.epochs_done' is negative",
                  path);
  const Tensor& losses =
      detail::require(file, "train.losses", static_cast<size_t>(epochs_done), path);
  losses_.assign(losses.values.begin(), losses.values.end());
  best_loss_ = parse_number<double>(file, "checkpoint.best_loss", path);
  epochs_without_improvement_ =
      parse_number<int>(file, "checkpoint.epochs_without_improvement", path);
  // At most the epochs run (and so never near INT_MAX, where counting on would overflow).
  DICTLEARN_CHECK(epochs_without_improvement_ >= 0 && epochs_without_improvement_ <= epochs_done,
                  "{}: checkpoint metadata 'checkpoint.epochs_without_improvement' is {}, not in "
                  "[0, {}] (the epochs done)",
                  path, epochs_without_improvement_, epochs_done);
  std::istringstream engine(detail::meta(file, "checkpoint.shuffle_state", path));
  engine >> shuffle_;
  DICTLEARN_CHECK(!engine.fail(), "{}: checkpoint's shuffle state is unreadable", path);
}

template <typename T>
void save_checkpoint(const std::string& path, const Learner<T>& learner, const EpochLoop& loop,
                     const DataSource<T>& data, const TensorFile& extra) {
  TensorFile file = extra;
  learner.save_state(file);
  loop.save_state(file);
  file.metadata["format"] = kFormat;
  file.metadata["checkpoint.data_shape"] = shape_of(data.rows(), data.dim());
  file.metadata["checkpoint.data_hash"] = fmt::format("{:016x}", data_hash(data));
  file.metadata[kSimdLevel] = detail::simd_level_name(detail::simd_level());
  file.metadata[kCpuSimdLevel] = detail::simd_level_name(detail::cpu_simd_level());
  for (const auto& [key, value] : learner.settings()) file.metadata["train." + key] = value;
  write_safetensors(path, file);
}

template <typename T>
TensorFile load_checkpoint(const std::string& path, Learner<T>& learner, EpochLoop& loop,
                           const DataSource<T>& data) {
  using detail::meta;
  TensorFile file = read_safetensors(path);
  auto format = file.metadata.find("format");
  DICTLEARN_CHECK(format != file.metadata.end() && format->second == kFormat,
                  "{}: not a dictlearn checkpoint (write one with --checkpoint)", path);
  // The dtype before the data's hash, which differs when the same file is read in another
  // precision.
  const auto dtype = file.metadata.find("dtype");
  const std::string this_dtype = sizeof(T) == 4 ? "float32" : "float64";
  DICTLEARN_CHECK(dtype == file.metadata.end() || dtype->second == this_dtype,
                  "{}: checkpoint was made with --dtype {}, this run has --dtype {}", path,
                  dtype->second, this_dtype);
  const std::string shape = shape_of(data.rows(), data.dim());
  DICTLEARN_CHECK(meta(file, "checkpoint.data_shape", path) == shape,
                  "{}: checkpoint was made on data of shape {}, this data is {}", path,
                  meta(file, "checkpoint.data_shape", path), shape);
  DICTLEARN_CHECK(
      meta(file, "checkpoint.data_hash", path) == fmt::format("{:016x}", data_hash(data)),
      "{}: checkpoint was made on other data of the same shape", path);
  check_settings(file, learner.settings(), path);
  check_simd_levels(file, path);
  learner.load_state(file, path);
  loop.load_state(file, path);
  return file;
}

template void save_checkpoint<float>(const std::string&, const Learner<float>&, const EpochLoop&,
                                     const DataSource<float>&, const TensorFile&);
template void save_checkpoint<double>(const std::string&, const Learner<double>&, const EpochLoop&,
                                      const DataSource<double>&, const TensorFile&);
template TensorFile load_checkpoint<float>(const std::string&, Learner<float>&, EpochLoop&,
                                           const DataSource<float>&);
template TensorFile load_checkpoint<double>(const std::string&, Learner<double>&, EpochLoop&,
                                            const DataSource<double>&);

}  // namespace dictlearn
