#include "coders/threshold.hpp"

#include "coders/coding.hpp"
#include "core/blocks.hpp"
#include "core/contiguous.hpp"
#include "kernels/gemm.hpp"

namespace dictlearn {

namespace detail {

template <typename T>
void soft_threshold(T* values, int64_t count, T alpha, bool positive) {
  if (positive) {
    for (int64_t i = 0; i < count; ++i) {
      const T shrunk = values[i] - alpha;
      values[i] = shrunk > T(0) ? shrunk : T(0);
    }
    return;
  }
  for (int64_t i = 0; i < count; ++i) {
    const T v = values[i];
    // Written as two compares (not copysign), so |v| <= alpha gives +0 as
    // scikit-learn's sign(v)·max(|v| − α, 0) does for v > 0.
    values[i] = v > alpha ? v - alpha : (v < -alpha ? v + alpha : T(0));
  }
}

template void soft_threshold<float>(float*, int64_t, float, bool);
template void soft_threshold<double>(double*, int64_t, double, bool);

}  // namespace detail

template <typename T>
Matrix<T> encode_threshold(const Dictionary<T>& dictionary, MatrixView<std::type_identity_t<T>> X,
                           const CodingOptions& options) {
  detail::check_coding_input<T>(dictionary, X, options);
  const detail::ContiguousRows<T> rows(X);
  const int64_t K = dictionary.n_atoms(), d = dictionary.dim();
  Matrix<T> codes(X.rows(), K);
  const T alpha = static_cast<T>(options.alpha);
  const double work = 2.0 * static_cast<double>(X.rows()) * static_cast<double>(d * K);
  detail::for_row_blocks(
      X.rows(), detail::kCodingBlock, options.threads, work, [&](int64_t begin, int64_t count) {
        std::vector<T> centered;
        const T* x = detail::centered_rows(dictionary, rows.data() + begin * d, count, centered);
        T* block = codes.data() + begin * K;
        detail::gemm(false, true, count, K, d, x, d, dictionary.dictionary.data(), d, T(0), block,
                     K);
        detail::soft_threshold(block, count * K, alpha, options.positive);
      });
  return codes;
}

template Matrix<float> encode_threshold<float>(const Dictionary<float>&, MatrixView<float>,
                                               const CodingOptions&);
template Matrix<double> encode_threshold<double>(const Dictionary<double>&, MatrixView<double>,
                                                 const CodingOptions&);

}  // namespace dictlearn
