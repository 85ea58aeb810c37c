// A checkpoint's counters are checked before they are used (found by
// fuzz/fuzz_checkpoint.cpp's design): a count that is NaN, negative, beyond
// its type or beyond the epochs run is refused naming the file and the field,
// where it was cast (undefined behaviour) or counted on until it overflowed.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <string>

#include "dictlearn/safetensors.hpp"
#include "dictlearn/trainer.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

using testing::TempDir;

class CheckpointFields : public ::testing::Test {
 protected:
  void SetUp() override {
    X_ = testing::normal_matrix<float>(40, 3, 7);
    trainer_.emplace(initialize(X_, options_), options_);
    trainer_->set_epochs(3);
    trainer_->fit(X_);
    trainer_->save_checkpoint(path_, X_);
    file_ = read_safetensors(path_);
  }

  /// The error of resuming from the checkpoint after `change`.
  std::string resume_error(const std::function<void(TensorFile&)>& change) {
    TensorFile changed = file_;
    change(changed);
    write_safetensors(path_, changed);
    try {
      Trainer<float> resumed(load_model<float>(path_), options_);
      resumed.load_checkpoint(path_, X_);
    } catch (const Error& error) {
      return error.what();
    }
    ADD_FAILURE() << "the changed checkpoint was accepted";
    return "";
  }

  TempDir dir_;
  const std::string path_ = dir_ / "ck.safetensors";
  FitOptions options_{.n_atoms = 3, .epochs = 3, .adam = {.lr = 0.01}, .patience = 5};
  Matrix<float> X_;
  std::optional<Trainer<float>> trainer_;
  TensorFile file_;
};

TEST_F(CheckpointFields, SamplesSinceFiredMustBeCounts) {
  for (const double bad : {std::numeric_limits<double>::quiet_NaN(), -1.0, 1e300, 2.5}) {
    const std::string error = resume_error(
        [&](TensorFile& file) { file.tensors["train.samples_since_fired"].values[1] = bad; });
    EXPECT_NE(error.find(path_ + ": checkpoint tensor 'train.samples_since_fired' holds"),
              std::string::npos)
        << error;
  }
}

TEST_F(CheckpointFields, CountersMustFitAndNotBeNegative) {
  EXPECT_EQ(resume_error([](TensorFile& file) {
              file.metadata["checkpoint.epochs_without_improvement"] = "2147483647";
            }),
            path_ +
                ": checkpoint metadata 'checkpoint.epochs_without_improvement' is 2147483647, not "
                "in [0, 3] (the epochs done)");
  EXPECT_EQ(resume_error([](TensorFile& file) {
              file.metadata["checkpoint.epochs_without_improvement"] = "4294967296";
            }),
            path_ +
                ": checkpoint metadata 'checkpoint.epochs_without_improvement': '4294967296' is "
                "not a number");
  EXPECT_EQ(resume_error([](TensorFile& file) { file.metadata["checkpoint.step"] = "-1"; }),
            path_ +
                ": checkpoint metadata 'checkpoint.step' or 'checkpoint.threshold_updates' is "
                "negative");
}

}  // namespace
}  // namespace dictlearn
