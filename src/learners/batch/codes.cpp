// The batch learners' passes over the signals and their codes (codes.hpp).
#include "learners/batch/codes.hpp"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/parallel.hpp"
#include "core/threads.hpp"

namespace dictlearn::detail {

CodeObjective code_objective(const CodingOptions& coding) {
  switch (coding.method) {
    case CoderKind::lasso_lars:
    case CoderKind::lasso_cd:
    case CoderKind::fista:
      return {.alpha = coding.alpha, .l2 = coding.l2};
    case CoderKind::threshold:
    case CoderKind::omp:
    case CoderKind::lars:
      break;
  }
  return {};
}

void single_threaded_eigen() {
  static const bool once = (Eigen::setNbThreads(1), true);
  (void)once;
}

template <typename T>
void residual(MatrixView<T> X, const Matrix<T>& R, const Matrix<T>& D, Matrix<T>& E, int threads) {
  const int64_t n = X.rows(), d = X.cols(), K = R.cols();
  E.resize(n, d);
  const int used = threads_for(resolve_threads(threads), 2.0 * static_cast<double>(n * (K + d)));
  ParallelErrors errors;
#pragma omp parallel for num_threads(used) if (used > 1) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    errors.run([&] {
      E.row(i) = X.row(i);
      const T* r = R.data() + i * K;
      for (int64_t k = 0; k < K; ++k) {
        if (r[k] != T(0)) E.row(i) -= r[k] * D.row(k);
      }
    });
  }
  errors.rethrow();
}

template <typename T>
void signal_objectives(const Matrix<T>& E, const Matrix<T>& R, const CodeObjective& objective,
                       std::vector<double>& objectives, int threads) {
  const int64_t n = E.rows(), d = E.cols(), K = R.cols();
  objectives.resize(n);
  const int used = threads_for(resolve_threads(threads), 2.0 * static_cast<double>(n * (K + d)));
  ParallelErrors errors;
#pragma omp parallel for num_threads(used) if (used > 1) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    errors.run([&] {
      double squared = 0, l1 = 0, l2 = 0;
      const T* e = E.data() + i * d;
      for (int64_t j = 0; j < d; ++j) squared += static_cast<double>(e[j]) * e[j];
      if (objective.alpha != 0 || objective.l2 != 0) {
        const T* r = R.data() + i * K;
        for (int64_t k = 0; k < K; ++k) {
          l1 += std::abs(static_cast<double>(r[k]));
          l2 += static_cast<double>(r[k]) * r[k];
        }
      }
      objectives[i] = 0.5 * squared + objective.alpha * l1 + 0.5 * objective.l2 * l2;
    });
  }
  errors.rethrow();
}

template <typename T>
Supports atom_supports(const Matrix<T>& R) {
  const int64_t n = R.rows(), K = R.cols();
  Supports supports;
  supports.offsets.assign(K + 1, 0);
  for (int64_t i = 0; i < n; ++i) {
    const T* r = R.data() + i * K;
    for (int64_t k = 0; k < K; ++k) supports.offsets[k + 1] += r[k] != T(0);
  }
  std::partial_sum(supports.offsets.begin(), supports.offsets.end(), supports.offsets.begin());
  supports.rows.resize(supports.offsets[K]);
  std::vector<int64_t> next(supports.offsets.begin(), supports.offsets.end() - 1);
  for (int64_t i = 0; i < n; ++i) {
    const T* r = R.data() + i * K;
    for (int64_t k = 0; k < K; ++k) {
      if (r[k] != T(0)) supports.rows[next[k]++] = i;
    }
  }
  return supports;
}

template <typename T>
void code_statistics(MatrixView<T> X, const Matrix<T>& R, Matrix<double>& A, Matrix<double>& B,
                     int threads) {
  const int64_t n = X.rows(), d = X.cols(), K = R.cols();
  // Each atom's row of A and B is one thread's, summed over its signals in
  // row order from the nonzeros alone: the same sums for any thread count,
  // and A exactly symmetric (A_kj and A_jk add the same products in the same order).
  const Supports supports = atom_supports(R);
  std::vector<int64_t> row_offsets(n + 1, 0), row_atoms;
  row_atoms.reserve(supports.rows.size());
  for (int64_t i = 0; i < n; ++i) {
    const T* r = R.data() + i * K;
    for (int64_t k = 0; k < K; ++k) {
      if (r[k] != T(0)) row_atoms.push_back(k);
    }
    row_offsets[i + 1] = static_cast<int64_t>(row_atoms.size());
  }
  A.setZero(K, K);
  B.setZero(K, d);
  const double nonzeros = static_cast<double>(supports.rows.size());
  const int used = threads_for(resolve_threads(threads),
                               2.0 * nonzeros * (d + nonzeros / std::max<double>(1.0, n)));
  ParallelErrors errors;
#pragma omp parallel for num_threads(used) if (used > 1) schedule(dynamic, 4)
  for (int64_t k = 0; k < K; ++k) {
    errors.run([&] {
      double* a = A.data() + k * K;
      double* b = B.data() + k * d;
      for (int64_t s = supports.offsets[k]; s < supports.offsets[k + 1]; ++s) {
        const int64_t i = supports.rows[s];
        const double rk = static_cast<double>(R(i, k));
        for (int64_t t = row_offsets[i]; t < row_offsets[i + 1]; ++t) {
          const int64_t j = row_atoms[t];
          a[j] += rk * static_cast<double>(R(i, j));
        }
        const T* x = X.data() + i * X.outerStride();
        for (int64_t c = 0; c < d; ++c) b[c] += rk * static_cast<double>(x[c]);
      }
    });
  }
  errors.rethrow();
}

template <typename T>
std::vector<int64_t> worst_signals(MatrixView<T> X, const Matrix<T>& E, int64_t count) {
  std::vector<std::pair<double, int64_t>> candidates;
  for (int64_t i = 0; i < E.rows(); ++i) {
    const double error = E.row(i).template cast<double>().squaredNorm();
    if (error > 0 && X.row(i).template cast<double>().squaredNorm() > 0)
      candidates.emplace_back(-error, i);
  }
  count = std::min<int64_t>(count, static_cast<int64_t>(candidates.size()));
  std::partial_sort(candidates.begin(), candidates.begin() + count, candidates.end());
  std::vector<int64_t> rows(count);
  for (int64_t c = 0; c < count; ++c) rows[c] = candidates[c].second;
  return rows;
}

template <typename T>
void unit_row(MatrixView<T> X, int64_t i, T* atom) {
  const double norm = X.row(i).template cast<double>().norm();
  for (int64_t j = 0; j < X.cols(); ++j)
    atom[j] = static_cast<T>(static_cast<double>(X(i, j)) / norm);
}

#define DICTLEARN_INSTANTIATE(T)                                                                 \
  template void residual<T>(MatrixView<T>, const Matrix<T>&, const Matrix<T>&, Matrix<T>&, int); \
  template void signal_objectives<T>(const Matrix<T>&, const Matrix<T>&, const CodeObjective&,   \
                                     std::vector<double>&, int);                                 \
  template Supports atom_supports<T>(const Matrix<T>&);                                          \
  template void code_statistics<T>(MatrixView<T>, const Matrix<T>&, Matrix<double>&,             \
                                   Matrix<double>&, int);                                        \
  template std::vector<int64_t> worst_signals<T>(MatrixView<T>, const Matrix<T>&, int64_t);      \
  template void unit_row<T>(MatrixView<T>, int64_t, T*);
DICTLEARN_INSTANTIATE(float)
DICTLEARN_INSTANTIATE(double)
#undef DICTLEARN_INSTANTIATE

}  // namespace dictlearn::detail
