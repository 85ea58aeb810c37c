// Internal: the encoders on row ranges of raw buffers, so the trainer can run
// them on parts of a batch in parallel.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dictlearn/encoders.hpp"

namespace dictlearn::detail {

/// validate(EncoderOptions) with each message starting with `name(key)`,
/// key "temperature", "k" or "threshold": the flag for options from the
/// command line, the file and metadata key for a model's own settings.
void check_encoder_options(const EncoderOptions& options, int n_atoms,
                           const std::function<std::string(const char*)>& name);

/// Per-thread scratch buffers of the row functions (no allocation once grown).
template <typename T>
struct RowScratch {
  std::vector<T> values;
  std::vector<int> order;
};

/// Inference activation of rows [0, rows) of z (rows x cols, row-major), in place.
template <typename T>
void activate_rows(const EncoderOptions& options, T* z, int64_t rows, int cols,
                   RowScratch<T>& scratch);

/// ∂L/∂Z from codes r and ∂L/∂R (in grad, overwritten), rows [0, rows).
template <typename T>
void backward_rows(const EncoderOptions& options, const T* r, T* grad, int64_t rows, int cols);

/// BatchTopK over the whole batch: ReLU, keep the k·rows largest entries.
/// Returns the smallest kept positive value (0 if none).
template <typename T>
double batch_topk(T* z, int64_t rows, int cols, int k, std::vector<int64_t>& order);

/// The k largest entries of a row (ties: lower index first), as indices in
/// increasing order, in `order`; `maxima` is scratch.
template <typename T>
void topk_select(const T* row, int cols, int k, std::vector<int>& order, std::vector<T>& maxima);

/// Projection of one row onto the simplex.
template <typename T>
void sparsemax_row(T* row, int cols, std::vector<T>& sorted);

}  // namespace dictlearn::detail
