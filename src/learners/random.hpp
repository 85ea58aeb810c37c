// Internal: random draws shared by the learners.
#pragma once

#include <cstdint>
#include <random>

namespace dictlearn::detail {

/// Uniform integer in [0, n) from the engine (multiply-shift; exact for our n).
inline uint64_t below(std::mt19937_64& engine, uint64_t n) {
  __extension__ using Wide = unsigned __int128;
  return static_cast<uint64_t>((static_cast<Wide>(engine()) * n) >> 64);
}

}  // namespace dictlearn::detail
