// The method registry, assembled from the encoder and coder tables.
#include "dictlearn/methods.hpp"

#include "dictlearn/coders.hpp"
#include "dictlearn/encoders.hpp"
#include "dictlearn/learning.hpp"

namespace dictlearn {

const char* family_name(MethodFamily family) {
  // In MethodFamily's order.
  static constexpr const char* kNames[] = {"encoder", "coder", "learner"};
  return kNames[static_cast<int>(family)];
}

const std::vector<MethodInfo>& methods() {
  static const std::vector<MethodInfo> registry = [] {
    std::vector<MethodInfo> rows;
    for (const EncoderTraits& encoder : encoder_table()) {
      MethodInfo row{encoder.name, MethodFamily::encoder, encoder.help, "EncoderOptions", {}};
      if (encoder.has_temperature) row.parameters.push_back("temperature");
      if (encoder.needs_k) row.parameters.push_back("k");
      rows.push_back(row);
    }
    for (const CoderTraits& coder : coder_table()) {
      MethodInfo row{coder.name, MethodFamily::coder, coder.help, "CodingOptions", {}};
      for (const char* parameter : coder.parameters) row.parameters.push_back(parameter);
      rows.push_back(row);
    }
    rows.push_back({"gradient",
                    MethodFamily::learner,
                    "Adam on the reconstruction loss through the encoder, in mini-batches "
                    "(the seed's training; Trainer)",
                    "FitOptions",
                    {}});
    // The classical learners (learning.hpp): each reads all of
    // LearningOptions that learning_parameters() marks for it, and a coder's
    // settings (LearningOptions::coding).
    const std::pair<LearningMethod, const char*> classical[] = {
        {LearningMethod::online,
         "online dictionary learning (Mairal et al. 2010): per mini-batch, codes by a coder, "
         "then the atoms by block coordinate descent on the running statistics"},
        {LearningMethod::alternating,
         "codes of all the data by a coder, then the atoms by block coordinate descent "
         "(scikit-learn's DictionaryLearning)"},
        {LearningMethod::mod,
         "method of optimal directions (Engan et al. 1999): codes, then the least-squares atoms"},
        {LearningMethod::ksvd,
         "K-SVD (Aharon et al. 2006): codes, then each atom and its codes by an SVD of its "
         "residual (or one power step: --approximate)"},
    };
    for (const auto& [method, help] : classical)
      rows.push_back(
          {learning_method_name(method), MethodFamily::learner, help, "LearningOptions", {}});
    return rows;
  }();
  return registry;
}

const MethodInfo* find_method(std::string_view name) {
  for (const MethodInfo& row : methods()) {
    if (row.name == name) return &row;
  }
  return nullptr;
}

}  // namespace dictlearn
