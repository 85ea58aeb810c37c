// dictlearn: the seed's toy data set.
#pragma once

#include <cstdint>

#include "dictlearn/types.hpp"

namespace dictlearn {

/// Options of the seed's two-cluster data set.
struct ToyOptions {
  int points_per_cluster = 1000;  ///< samples drawn from each of the two clusters
  double variance = 0.01;         ///< per-coordinate variance (covariance variance·I)
  uint64_t seed = 0;              ///< seeds the draw
};

/// The seed's data: points_per_cluster samples from N((1,0), variance·I), then
/// as many from N((0,1), variance·I). Shape 2·points_per_cluster x 2.
template <typename T>
Matrix<T> make_toy_data(const ToyOptions& options = {});

}  // namespace dictlearn
