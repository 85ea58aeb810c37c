// The method registry, assembled from the encoder and coder tables.
#include "dictlearn/methods.hpp"

#include "dictlearn/coders.hpp"
#include "dictlearn/encoders.hpp"

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
