// Internal: the check that data fits a model, for callers that have the
// data's shape but not a view of it (a DataSource).
#pragma once

#include <cstdint>
#include <string>

namespace dictlearn::detail {

/// Throws Error "<what>: no data (0 rows)" or "<what>: data has C columns but
/// the model's atoms have dimension D"; check_data_matches() says the same.
void check_data_shape(int dim, int64_t rows, int64_t cols, const std::string& what);

}  // namespace dictlearn::detail
