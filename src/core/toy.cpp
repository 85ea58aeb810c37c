#include "dictlearn/toy.hpp"

#include <cmath>

#include "core/check.hpp"
#include "core/random.hpp"

namespace dictlearn {

template <typename T>
Matrix<T> make_toy_data(const ToyOptions& options) {
  DICTLEARN_CHECK(options.points_per_cluster >= 1, "--points: must be >= 1, got {}",
                  options.points_per_cluster);
  DICTLEARN_CHECK(options.variance >= 0 && std::isfinite(options.variance),
                  "--variance: must be >= 0 and finite, got {}", options.variance);
  const int n = options.points_per_cluster;
  const double sigma = std::sqrt(options.variance);
  Random random(options.seed);
  Matrix<T> data(2 * n, 2);
  for (int i = 0; i < 2 * n; ++i) {
    const double mean_x = i < n ? 1.0 : 0.0;
    const double mean_y = i < n ? 0.0 : 1.0;
    data(i, 0) = static_cast<T>(mean_x + sigma * random.normal());
    data(i, 1) = static_cast<T>(mean_y + sigma * random.normal());
  }
  return data;
}

template Matrix<float> make_toy_data<float>(const ToyOptions&);
template Matrix<double> make_toy_data<double>(const ToyOptions&);

}  // namespace dictlearn
