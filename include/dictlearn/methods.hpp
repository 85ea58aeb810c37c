// dictlearn: the method registry, one row per method of every family:
//
//   encoder  maps samples to codes with a trained Model's W and b
//            (encoders.hpp; rows from encoder_table())
//   coder    solves for the codes from a Dictionary alone
//            (coders.hpp; rows from coder_table())
//   learner  trains a model from data (the gradient trainer, trainer.hpp; the
//            classical learners online, alternating, mod, ksvd, learning.hpp)
//
// The encoder and coder rows are made from their families' tables, so a
// method's name and help are spelled once. Names are unique across families.
#pragma once

#include <string_view>
#include <vector>

namespace dictlearn {

/// The kinds of method.
enum class MethodFamily {
  encoder,  ///< needs a trained Model (W, b): encode(model, X, threads)
  coder,    ///< needs a Dictionary: encode(dictionary, X, CodingOptions)
  learner,  ///< trains a Model
};

/// "encoder", "coder", "learner".
const char* family_name(MethodFamily family);

/// One method.
struct MethodInfo {
  std::string_view name;     ///< "softmax", "threshold", "gradient", ...
  MethodFamily family;       ///< which kind of method
  std::string_view help;     ///< one line
  std::string_view options;  ///< the options struct it reads: "EncoderOptions",
                             ///< "CodingOptions", "FitOptions" or "LearningOptions"
  /// The fields of `options` this method reads beyond those every method of
  /// its family reads (encoders: kind; coders: method, threads), by member
  /// name; a learner reads its options struct, whose own table lists them
  /// (learning_parameters() says which rows each classical learner reads).
  std::vector<std::string_view> parameters;
};

/// Every method: the encoders, then the coders, then the learners.
const std::vector<MethodInfo>& methods();

/// The method called `name`, or nullptr.
const MethodInfo* find_method(std::string_view name);

}  // namespace dictlearn
