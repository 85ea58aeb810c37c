// libFuzzer target: resuming from a checkpoint, as `fit --resume` does it:
// load_model, then Trainer::load_checkpoint (load_checkpoint of learner.hpp:
// the format, data shape and hash, settings, the trainer's and the epoch
// loop's state), log_from_tensors, and one more epoch of training.
//
// A checkpoint only gets past its data-hash and settings checks on the data
// and options it was made with, which random bytes never match. So at start
// the target trains three small runs (softmax; topk with AuxK, a decoder bias
// and unit atoms; batchtopk with early stopping and a training log) on fixed
// data and keeps their checkpoints. Two modes, picked by the first byte:
//  - '~': structured. The second byte picks a checkpoint; the rest drives
//    changes to it -- metadata values replaced (odd numbers, other settings,
//    random text) or removed, tensors reshaped, resized, retyped, removed or
//    given NaN, Inf and huge values -- and the result is written as a
//    well-formed safetensors file, so the checks of the checkpoint itself are
//    what gets explored.
//  - anything else: the input is the file itself, resumed with the options
//    of checkpoint (size mod 3).
//
//  - '^': the online dictionary learner's checkpoint (OnlineDictionaryLearner:
//    its statistics, SPAMS's window, the convergence state, the resampling
//    generator and the support cache), made at start from a fixed run of
//    two passes, changed as in '~' and resumed with the same options.
//
// Beyond "no crash, only dictlearn::Error": a resumed trainer's model passes
// validate_model, its losses are as many as the checkpoint's epochs_done,
// and the next epoch either trains or fails with an Error; a resumed online
// learner's atoms are finite, and its next pass trains or fails with an Error.
#include <fuzzer/FuzzedDataProvider.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "dictlearn/model.hpp"
#include "dictlearn/online.hpp"
#include "dictlearn/safetensors.hpp"
#include "dictlearn/trainer.hpp"
#include "dictlearn/training_log.hpp"
#include "fuzz_input.hpp"

using dictlearn::fuzz::expect_ok_or_error;
using dictlearn::fuzz::json_string;

namespace {

using dictlearn::FitOptions;
using dictlearn::Matrix;
using dictlearn::TensorFile;

Matrix<float> fixed_data() {
  Matrix<float> X(32, 3);
  for (Eigen::Index i = 0; i < X.size(); ++i) {
    X.data()[i] = static_cast<float>(std::sin(0.7 * static_cast<double>(i)) * (1 + i % 5));
  }
  return X;
}

std::vector<FitOptions> run_options() {
  using dictlearn::DecoderBiasInit;
  using dictlearn::EncoderKind;
  FitOptions softmax{.n_atoms = 3, .epochs = 3, .adam = {.lr = 0.01}};
  FitOptions topk{.n_atoms = 4,
                  .epochs = 3,
                  .adam = {.lr = 0.01},
                  .seed = 5,
                  .encoder = {.kind = EncoderKind::topk, .k = 2},
                  .batch_size = 8,
                  .unit_atoms = true,
                  .decoder_bias = DecoderBiasInit::mean,
                  .dead_after = 8,
                  .auxk = 0.1};
  FitOptions batchtopk{.n_atoms = 4,
                       .epochs = 4,
                       .adam = {.lr = 0.01},
                       .encoder = {.kind = EncoderKind::batchtopk, .k = 2},
                       .batch_size = 16,
                       .patience = 2};
  std::vector<FitOptions> runs = {softmax, topk, batchtopk};
  for (FitOptions& options : runs) options.threads = 1;
  return runs;
}

/// The checkpoints of the three runs, as read back.
std::vector<TensorFile> make_checkpoints(const Matrix<float>& X,
                                         const std::vector<FitOptions>& runs) {
  std::vector<TensorFile> files;
  const std::string path = "/tmp/dictlearn-fuzz-ck-" + std::to_string(::getpid()) + ".safetensors";
  for (size_t i = 0; i < runs.size(); ++i) {
    dictlearn::Trainer<float> trainer(dictlearn::initialize(X, runs[i]), runs[i]);
    trainer.set_epochs(2);
    trainer.fit(X);
    TensorFile extra;
    if (i == 2) {
      dictlearn::TrainingLog log;
      log.columns = {"epoch", "loss", "mse", "atom0_x", "atom0_y"};
      log.rows = {{1, 0.5, 0.4, 0.1, 0.2},
                  {2, 0.25, 0.2, std::numeric_limits<double>::quiet_NaN(),
                   std::numeric_limits<double>::quiet_NaN()}};
      dictlearn::log_to_tensors(log, extra);
    }
    trainer.save_checkpoint(path, X, extra);
    files.push_back(dictlearn::read_safetensors(path));
  }
  std::remove(path.c_str());
  return files;
}

/// `file` as safetensors bytes (F32 or F64 tensors, string metadata).
std::string serialize(const TensorFile& file) {
  std::string header = "{";
  std::string data;
  if (!file.metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [key, value] : file.metadata) {
      if (!first) header += ',';
      first = false;
      header += json_string(key) + ":" + json_string(value);
    }
    header += '}';
  }
  for (const auto& [name, tensor] : file.tensors) {
    if (header.size() > 1) header += ',';
    const bool f32 = tensor.dtype == dictlearn::DType::float32;
    const size_t begin = data.size();
    for (const double value : tensor.values) {
      if (f32) {
        const auto single = static_cast<float>(value);
        data.append(reinterpret_cast<const char*>(&single), sizeof single);
      } else {
        data.append(reinterpret_cast<const char*>(&value), sizeof value);
      }
    }
    std::string shape = "[";
    for (size_t d = 0; d < tensor.shape.size(); ++d) {
      shape += (d > 0 ? "," : "") + std::to_string(tensor.shape[d]);
    }
    header += json_string(name) + ":{\"dtype\":\"" + (f32 ? "F32" : "F64") +
              "\",\"shape\":" + shape + "],\"data_offsets\":[" + std::to_string(begin) + "," +
              std::to_string(data.size()) + "]}";
  }
  header += '}';
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(uint64_t{header.size()} >> (8 * i));
  return bytes + header + data;
}

template <typename Map>
auto pick(FuzzedDataProvider& input, Map& map) {
  auto it = map.begin();
  std::advance(it, input.ConsumeIntegralInRange<size_t>(0, map.size() - 1));
  return it;
}

/// Changes `file` as the fuzzer's bytes say (see the file comment).
void mutate(FuzzedDataProvider& input, TensorFile& file) {
  static const char* const values[] = {"",
                                       "-1",
                                       "0",
                                       "1",
                                       "2",
                                       "7",
                                       "nan",
                                       "inf",
                                       "-inf",
                                       "1e308",
                                       "1e-320",
                                       "2147483648",
                                       "9223372036854775808",
                                       "18446744073709551616",
                                       "1.5",
                                       " 3",
                                       "0x10",
                                       "softmax",
                                       "topk",
                                       "batchtopk",
                                       "true",
                                       "false",
                                       "3x32",
                                       "32x3",
                                       "0000000000000000",
                                       "epoch,loss",
                                       "1 2 3"};
  static const double numbers[] = {std::numeric_limits<double>::quiet_NaN(),
                                   std::numeric_limits<double>::infinity(),
                                   -std::numeric_limits<double>::infinity(),
                                   1e300,
                                   -1e300,
                                   1e-310,
                                   -1,
                                   0,
                                   2147483648.0,
                                   9.3e18,
                                   -9.3e18};
  const int changes = input.ConsumeIntegralInRange<int>(1, 6);
  for (int c = 0; c < changes && input.remaining_bytes() > 0; ++c) {
    const int what = input.ConsumeIntegralInRange<int>(0, 7);
    if (what <= 1 && !file.metadata.empty()) {
      auto entry = pick(input, file.metadata);
      entry->second = input.ConsumeBool()
                          ? values[input.ConsumeIntegralInRange<size_t>(0, std::size(values) - 1)]
                          : input.ConsumeRandomLengthString(24);
    } else if (what == 2 && !file.metadata.empty()) {
      file.metadata.erase(pick(input, file.metadata));
    } else if (file.tensors.empty()) {
      continue;
    } else if (what == 3) {
      auto& tensor = pick(input, file.tensors)->second;
      if (tensor.values.empty()) continue;
      const size_t count = input.ConsumeIntegralInRange<size_t>(1, 4);
      for (size_t i = 0; i < count; ++i) {
        const size_t at = input.ConsumeIntegralInRange<size_t>(0, tensor.values.size() - 1);
        tensor.values[at] =
            input.ConsumeBool()
                ? numbers[input.ConsumeIntegralInRange<size_t>(0, std::size(numbers) - 1)]
                : input.ConsumeFloatingPoint<double>();
      }
    } else if (what == 4) {
      // Another shape for the same values: [n], [1, n], [n, 1], [a, b].
      auto& tensor = pick(input, file.tensors)->second;
      const auto n = static_cast<int64_t>(tensor.values.size());
      switch (input.ConsumeIntegralInRange<int>(0, 3)) {
        case 0:
          tensor.shape = {n};
          break;
        case 1:
          tensor.shape = {1, n};
          break;
        case 2:
          tensor.shape = {n, 1};
          break;
        default:
          if (n % 2 == 0) tensor.shape = {2, n / 2};
      }
    } else if (what == 5) {
      // Fewer or more values, the shape following (one dimension changed).
      auto& tensor = pick(input, file.tensors)->second;
      if (tensor.shape.empty()) continue;
      const int64_t other = tensor.shape.size() == 2 ? tensor.shape[1] : 1;
      const auto rows = input.ConsumeIntegralInRange<int64_t>(0, 9);
      tensor.shape[0] = rows;
      tensor.values.resize(static_cast<size_t>(rows * other), 0.5);
    } else if (what == 6) {
      auto& tensor = pick(input, file.tensors)->second;
      tensor.dtype = tensor.dtype == dictlearn::DType::float32 ? dictlearn::DType::float64
                                                               : dictlearn::DType::float32;
    } else {
      file.tensors.erase(pick(input, file.tensors));
    }
  }
}

/// The online learner's run: data of 20 values a sample in double (so the
/// support cache exists), its options, its first atoms and its checkpoint
/// after two passes.
struct OnlineRun {
  Matrix<double> X, D0;
  dictlearn::LearningOptions options;
  TensorFile checkpoint;
};

const OnlineRun& online_run() {
  static const OnlineRun run = [] {
    OnlineRun r;
    r.X.resize(96, 20);
    for (Eigen::Index i = 0; i < r.X.size(); ++i) {
      r.X.data()[i] = std::sin(0.37 * static_cast<double>(i)) * (1 + i % 7);
    }
    r.D0 = r.X.topRows(6);
    for (Eigen::Index k = 0; k < r.D0.rows(); ++k) r.D0.row(k).normalize();
    r.options.coding.alpha = 0.3;
    r.options.batch_size = 16;
    r.options.epochs = 2;
    r.options.threads = 1;
    r.options.max_no_improvement = 50;
    dictlearn::OnlineDictionaryLearner<double> learner(r.D0, r.options);
    learner.fit(r.X);
    const std::string path =
        "/tmp/dictlearn-fuzz-online-" + std::to_string(::getpid()) + ".safetensors";
    learner.save_checkpoint(path, r.X);
    r.checkpoint = dictlearn::read_safetensors(path);
    std::remove(path.c_str());
    if (r.checkpoint.tensors.count("online.support_cache") == 0) std::abort();
    return r;
  }();
  return run;
}

int64_t epochs_done(const TensorFile& file) {
  const auto it = file.metadata.find("checkpoint.epochs_done");
  return it == file.metadata.end() ? -1 : std::strtoll(it->second.c_str(), nullptr, 10);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Matrix<float> X = fixed_data();
  static const std::vector<FitOptions> runs = run_options();
  static const std::vector<TensorFile> checkpoints = make_checkpoints(X, runs);
  static dictlearn::fuzz::MemoryFile file;
  std::string bytes;
  if (size >= 1 && data[0] == '^') {
    const OnlineRun& online = online_run();
    FuzzedDataProvider input(data + 1, size - 1);
    TensorFile changed = online.checkpoint;
    mutate(input, changed);
    bytes = serialize(changed);
    file.set(bytes.data(), bytes.size());
    expect_ok_or_error([&] {
      dictlearn::OnlineDictionaryLearner<double> learner(online.D0, online.options);
      learner.load_checkpoint(file.path(), online.X);
      if (!learner.model().dictionary.allFinite()) std::abort();
      learner.set_epochs(1);
      learner.fit(online.X);
    });
    return 0;
  }
  size_t run = size % runs.size();
  if (size >= 2 && data[0] == '~') {
    run = data[1] % runs.size();
    FuzzedDataProvider input(data + 2, size - 2);
    TensorFile changed = checkpoints[run];
    mutate(input, changed);
    bytes = serialize(changed);
  } else {
    bytes.assign(reinterpret_cast<const char*>(data), size);
  }
  file.set(bytes.data(), bytes.size());
  expect_ok_or_error([&] {
    dictlearn::Trainer<float> trainer(dictlearn::load_model<float>(file.path()), runs[run]);
    const TensorFile state = trainer.load_checkpoint(file.path(), X);
    try {
      dictlearn::validate_model(trainer.model(), "resumed");
    } catch (const dictlearn::Error&) {
      std::abort();  // a checkpoint that loads must hold a valid model
    }
    if (static_cast<int64_t>(trainer.losses().size()) != epochs_done(state)) std::abort();
    expect_ok_or_error([&] { dictlearn::log_from_tensors(state, file.path()); });
    trainer.set_epochs(1);
    trainer.fit(X);
  });
  return 0;
}
