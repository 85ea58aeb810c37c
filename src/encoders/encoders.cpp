#include "dictlearn/encoders.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <string_view>

#include "core/check.hpp"
#include "core/choices.hpp"
#include "encoders/encoder_rows.hpp"
#include "kernels/row_kernels.hpp"

namespace dictlearn {

const std::vector<EncoderTraits>& encoder_table() {
  // clang-format off
  static const std::vector<EncoderTraits> table = {
    // kind                   name         help                                                       k      top-k  local  sparse temp.
    {EncoderKind::softmax,   "softmax",   "the seed's: softmax(Z / temperature); dense",             false, false, true,  false, true},
    {EncoderKind::sparsemax, "sparsemax", "projection of Z onto the simplex; exact zeros",           false, false, true,  true,  false},
    {EncoderKind::relu,      "relu",      "max(Z, 0); pair with an L1 penalty (--l1)",               false, false, true,  true,  false},
    {EncoderKind::topk,      "topk",      "the k largest entries of each sample, then ReLU",         true,  true,  true,  true,  false},
    {EncoderKind::batchtopk, "batchtopk", "the k·B largest of a batch while training; a threshold at inference",
                                                                                                     true,  true,  false, true,  false},
  };
  // clang-format on
  return table;
}

const EncoderTraits& encoder_traits(EncoderKind kind) {
  const auto& table = encoder_table();
  const auto index = static_cast<size_t>(kind);
  DICTLEARN_ASSERT(index < table.size() && table[index].kind == kind);
  return table[index];
}

const char* encoder_name(EncoderKind kind) { return encoder_traits(kind).name; }

std::string encoder_choices() { return detail::join_choices(encoder_table()); }

EncoderKind parse_encoder(const std::string& name, const std::string& parameter) {
  return detail::row_named(encoder_table(), name, parameter, "encoder").kind;
}

void detail::check_encoder_options(const EncoderOptions& options, int n_atoms,
                                   const std::function<std::string(const char*)>& name) {
  DICTLEARN_CHECK(options.temperature > 0 && std::isfinite(options.temperature),
                  "{}: must be > 0 and finite, got {}", name("temperature"), options.temperature);
  if (encoder_traits(options.kind).needs_k) {
    DICTLEARN_CHECK(options.k >= 1, "{}: {} needs k >= 1 active atoms per sample, got {}",
                    name("k"), encoder_name(options.kind), options.k);
    DICTLEARN_CHECK(options.k <= n_atoms, "{}: {} exceeds the number of atoms ({})", name("k"),
                    options.k, n_atoms);
  } else {
    // Unused, but recorded in the model, whose reader refuses a negative count.
    DICTLEARN_CHECK(options.k >= 0, "{}: must be >= 0 (0: not used by {}), got {}", name("k"),
                    encoder_name(options.kind), options.k);
  }
  DICTLEARN_CHECK(std::isfinite(options.threshold) && options.threshold >= 0,
                  "{}: must be >= 0 and finite, got {}", name("threshold"), options.threshold);
}

void validate(const EncoderOptions& options, int n_atoms) {
  // The threshold is learned, not a flag.
  detail::check_encoder_options(options, n_atoms, [](const char* key) {
    return std::string_view(key) == "threshold" ? std::string(key) : "--" + std::string(key);
  });
}

namespace detail {

template <typename T>
void sparsemax_row(T* row, int cols, std::vector<T>& sorted) {
  // τ is found from the sorted values: the support is the largest k with
  // 1 + k·z_(k) > Σ_{j<=k} z_(j), and τ = (Σ_{j<=k} z_(j) − 1) / k.
  sorted.assign(row, row + cols);
  std::sort(sorted.begin(), sorted.end(), std::greater<T>());
  double cumulative = 0, tau_sum = 0;
  int support = 0;
  for (int k = 0; k < cols; ++k) {
    cumulative += static_cast<double>(sorted[k]);
    if (1.0 + (k + 1) * static_cast<double>(sorted[k]) > cumulative) {
      support = k + 1;
      tau_sum = cumulative;
    }
  }
  const T tau = static_cast<T>((tau_sum - 1.0) / support);
  for (int k = 0; k < cols; ++k) row[k] = row[k] > tau ? row[k] - tau : T(0);
}

namespace {

/// Index order of top-k: by value descending, ties to the lower index.
template <typename T>
auto ranks_above(const T* row) {
  return [row](int a, int b) { return row[a] > row[b] || (row[a] == row[b] && a < b); };
}

/// The heap selection: one pass keeping the k best so far, the worst on top.
/// Blocks of 16 entries none of which beats the worst kept one are skipped
/// after one branch-free test. Ties go to the lower index (scanning in index
/// order, an equal value never displaces).
template <typename T>
void heap_select(const T* row, int cols, int k, std::vector<int>& order) {
  const auto larger = ranks_above(row);
  for (int i = 0; i < k; ++i) {
    order.push_back(i);
    std::push_heap(order.begin(), order.end(), larger);
  }
  T worst = row[order.front()];
  auto consider = [&](int i) {
    if (!(row[i] > worst)) return;
    std::pop_heap(order.begin(), order.end(), larger);
    order.back() = i;
    std::push_heap(order.begin(), order.end(), larger);
    worst = row[order.front()];
  };
  constexpr int kBlock = 16;
  int i = k;
  for (; i + kBlock <= cols; i += kBlock) {
    bool any = false;
    for (int j = 0; j < kBlock; ++j) any |= row[i + j] > worst;
    if (!any) continue;
    for (int j = 0; j < kBlock; ++j) consider(i + j);
  }
  for (; i < cols; ++i) consider(i);
}

}  // namespace

template <typename T>
void topk_select(const T* row, int cols, int k, std::vector<int>& order, std::vector<T>& maxima) {
  // The k largest entries (value descending, then index ascending) all lie
  // at or above t, the k-th largest of the maxima of blocks of 16 entries (k
  // distinct entries reach t). So: block maxima, t by partial selection, the
  // entries >= t as candidates (usually a few times k), the k best of those.
  // NaNs (no order) and rows with few blocks take the heap instead.
  order.clear();
  k = std::min(k, cols);
  if (k <= 0) return;
  constexpr int kBlock = 16;
  const int blocks = cols / kBlock;
  const auto larger = ranks_above(row);
  bool has_nan = false;
  if (blocks >= 2 * k) {
    maxima.resize(blocks);
    for (int b = 0; b < blocks; ++b) {
      const T* block = row + b * kBlock;
      T m = block[0];
      bool nan = false;
      for (int j = 0; j < kBlock; ++j) {
        m = block[j] > m ? block[j] : m;
        nan |= block[j] != block[j];
      }
      maxima[b] = m;
      has_nan |= nan;
    }
    for (int j = blocks * kBlock; j < cols; ++j) has_nan |= row[j] != row[j];
    if (!has_nan) {
      std::nth_element(maxima.begin(), maxima.begin() + (k - 1), maxima.end(), std::greater<T>());
      const T bound = maxima[k - 1];
      for (int j = 0; j < cols; ++j) {
        if (row[j] >= bound) order.push_back(j);
      }
      if (static_cast<int>(order.size()) > k) {
        std::nth_element(order.begin(), order.begin() + (k - 1), order.end(), larger);
        order.resize(k);
      }
      std::sort(order.begin(), order.end());
      return;
    }
  }
  heap_select(row, cols, k, order);
  std::sort(order.begin(), order.end());
}

template <typename T>
void topk_row(T* row, int cols, int k, RowScratch<T>& scratch) {
  topk_select(row, cols, k, scratch.order, scratch.values);
  // Keep the selected entries (after ReLU), zero the rest.
  std::vector<T>& kept = scratch.values;
  kept.resize(scratch.order.size());
  for (size_t j = 0; j < scratch.order.size(); ++j) kept[j] = std::max(row[scratch.order[j]], T(0));
  std::fill(row, row + cols, T(0));
  for (size_t j = 0; j < scratch.order.size(); ++j) row[scratch.order[j]] = kept[j];
}

template <typename T>
void activate_rows(const EncoderOptions& options, T* z, int64_t rows, int cols,
                   RowScratch<T>& scratch) {
  switch (options.kind) {
    case EncoderKind::softmax: {
      softmax_rows_simd(z, rows, cols, static_cast<T>(1.0 / options.temperature));
      break;
    }
    case EncoderKind::sparsemax:
      for (int64_t i = 0; i < rows; ++i) sparsemax_row(z + i * cols, cols, scratch.values);
      break;
    case EncoderKind::relu:
      for (int64_t i = 0; i < rows * cols; ++i) z[i] = z[i] > T(0) ? z[i] : T(0);
      break;
    case EncoderKind::topk:
      for (int64_t i = 0; i < rows; ++i) topk_row(z + i * cols, cols, options.k, scratch);
      break;
    case EncoderKind::batchtopk: {
      const T threshold = static_cast<T>(options.threshold);
      for (int64_t i = 0; i < rows * cols; ++i)
        z[i] = z[i] > threshold && z[i] > T(0) ? z[i] : T(0);
      break;
    }
  }
}

template <typename T>
void backward_rows(const EncoderOptions& options, const T* r, T* grad, int64_t rows, int cols) {
  switch (options.kind) {
    case EncoderKind::softmax:
      softmax_backward_simd(r, grad, rows, cols, static_cast<T>(1.0 / options.temperature));
      break;
    case EncoderKind::sparsemax:
      for (int64_t i = 0; i < rows; ++i) {
        const T* ri = r + i * cols;
        T* gi = grad + i * cols;
        T sum = 0;
        int support = 0;
        for (int k = 0; k < cols; ++k) {
          if (ri[k] > T(0)) sum += gi[k], ++support;
        }
        const T mean = support > 0 ? sum / static_cast<T>(support) : T(0);
        for (int k = 0; k < cols; ++k) gi[k] = ri[k] > T(0) ? gi[k] - mean : T(0);
      }
      break;
    case EncoderKind::relu:
    case EncoderKind::topk:
    case EncoderKind::batchtopk:
      // The kept entries are exactly the positive codes; ReLU's derivative at 0 is taken as 0.
      for (int64_t i = 0; i < rows * cols; ++i) grad[i] = r[i] > T(0) ? grad[i] : T(0);
      break;
  }
}

template <typename T>
double batch_topk(T* z, int64_t rows, int cols, int k, std::vector<int64_t>& order) {
  const int64_t total = rows * cols;
  const int64_t keep = std::min<int64_t>(total, static_cast<int64_t>(k) * rows);
  for (int64_t i = 0; i < total; ++i) z[i] = z[i] > T(0) ? z[i] : T(0);
  order.resize(total);
  std::iota(order.begin(), order.end(), int64_t{0});
  auto larger = [z](int64_t a, int64_t b) { return z[a] > z[b] || (z[a] == z[b] && a < b); };
  if (keep < total)
    std::nth_element(order.begin(), order.begin() + (keep - 1), order.end(), larger);
  for (int64_t i = keep; i < total; ++i) z[order[i]] = T(0);
  T smallest = std::numeric_limits<T>::infinity();
  for (int64_t i = 0; i < keep; ++i) {
    const T value = z[order[i]];
    if (value > T(0)) smallest = std::min(smallest, value);
  }
  return std::isfinite(static_cast<double>(smallest)) ? static_cast<double>(smallest) : 0.0;
}

#define DICTLEARN_INSTANTIATE(T)                                                           \
  template void activate_rows<T>(const EncoderOptions&, T*, int64_t, int, RowScratch<T>&); \
  template void backward_rows<T>(const EncoderOptions&, const T*, T*, int64_t, int);       \
  template double batch_topk<T>(T*, int64_t, int, int, std::vector<int64_t>&);             \
  template void sparsemax_row<T>(T*, int, std::vector<T>&);                                \
  template void topk_select<T>(const T*, int, int, std::vector<int>&, std::vector<T>&);
DICTLEARN_INSTANTIATE(float)
DICTLEARN_INSTANTIATE(double)
#undef DICTLEARN_INSTANTIATE

}  // namespace detail

template <typename T>
void softmax_rows(Matrix<T>& logits, double temperature) {
  detail::softmax_rows_simd(logits.data(), logits.rows(), static_cast<int>(logits.cols()),
                            static_cast<T>(1.0 / temperature));
}

template <typename T>
void sparsemax_rows(Matrix<T>& logits) {
  std::vector<T> sorted;
  for (Eigen::Index i = 0; i < logits.rows(); ++i) {
    detail::sparsemax_row(logits.data() + i * logits.cols(), static_cast<int>(logits.cols()),
                          sorted);
  }
}

template <typename T>
void activate(const EncoderOptions& options, Matrix<T>& z) {
  detail::RowScratch<T> scratch;
  detail::activate_rows(options, z.data(), z.rows(), static_cast<int>(z.cols()), scratch);
}

template <typename T>
double activate_training(const EncoderOptions& options, Matrix<T>& z) {
  if (options.kind == EncoderKind::batchtopk) {
    std::vector<int64_t> order;
    return detail::batch_topk(z.data(), z.rows(), static_cast<int>(z.cols()), options.k, order);
  }
  activate(options, z);
  return 0.0;
}

template <typename T>
void activation_backward(const EncoderOptions& options, const Matrix<T>& z, const Matrix<T>& r,
                         Matrix<T>& grad) {
  (void)z;  // every encoder's derivative is a function of its output
  detail::backward_rows(options, r.data(), grad.data(), r.rows(), static_cast<int>(r.cols()));
}

#define DICTLEARN_INSTANTIATE(T)                                                                  \
  template void softmax_rows<T>(Matrix<T>&, double);                                              \
  template void sparsemax_rows<T>(Matrix<T>&);                                                    \
  template void activate<T>(const EncoderOptions&, Matrix<T>&);                                   \
  template double activate_training<T>(const EncoderOptions&, Matrix<T>&);                        \
  template void activation_backward<T>(const EncoderOptions&, const Matrix<T>&, const Matrix<T>&, \
                                       Matrix<T>&);
DICTLEARN_INSTANTIATE(float)
DICTLEARN_INSTANTIATE(double)

}  // namespace dictlearn
