// Checkpoints of any learner (learner.hpp): the learner's state, the epoch
// loop's, and what ties a checkpoint to its run -- the data's shape and hash
// and the learner's settings -- in one safetensors file.
#include <sstream>

#include "core/check.hpp"
#include "dictlearn/learner.hpp"
#include "dictlearn/parameters.hpp"
#include "learners/checkpoint_fields.hpp"

namespace dictlearn {
namespace {

constexpr const char* kFormat = "dictlearn.checkpoint";

std::string shape_of(int64_t rows, int64_t dim) { return fmt::format("{}x{}", rows, dim); }

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
  const std::string shape = shape_of(data.rows(), data.dim());
  DICTLEARN_CHECK(meta(file, "checkpoint.data_shape", path) == shape,
                  "{}: checkpoint was made on data of shape {}, this data is {}", path,
                  meta(file, "checkpoint.data_shape", path), shape);
  DICTLEARN_CHECK(
      meta(file, "checkpoint.data_hash", path) == fmt::format("{:016x}", data_hash(data)),
      "{}: checkpoint was made on other data of the same shape", path);
  for (const auto& [key, value] : learner.settings()) {
    const std::string& saved = meta(file, resume_setting_key(file.metadata, key), path);
    DICTLEARN_CHECK(saved == value, "{}: checkpoint was made with --{} {}, this run has --{} {}",
                    path, key, saved, key, value);
  }
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
