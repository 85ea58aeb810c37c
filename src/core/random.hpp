// Internal: a random generator whose streams are the same on every platform
// (std::uniform_real_distribution and std::normal_distribution are not).
#pragma once

#include <cmath>
#include <cstdint>
#include <random>

namespace dictlearn {

class Random {
 public:
  explicit Random(uint64_t seed) : engine_(seed) {}

  uint64_t next() { return engine_(); }

  /// Uniform in [0, 1) with 24 random bits (float) or 53 (double).
  template <typename T>
  T uniform() {
    if constexpr (sizeof(T) == 4) {
      return static_cast<T>(next() >> 40) * T(0x1.0p-24);
    } else {
      return static_cast<T>(next() >> 11) * T(0x1.0p-53);
    }
  }

  /// Uniform in [low, high).
  template <typename T>
  T uniform(T low, T high) {
    return low + (high - low) * uniform<T>();
  }

  /// Standard normal (Box-Muller in double; one draw per call, no cached pair,
  /// so the stream position is simple to reason about).
  double normal() {
    double u1 = 1.0 - uniform<double>();  // (0, 1]
    double u2 = uniform<double>();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  std::mt19937_64 engine_;
};

}  // namespace dictlearn
