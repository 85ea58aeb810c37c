// The epoch loop every learner shares (learner.hpp), and the passes over a
// DataSource it and the checkpoints need: the data's spread, hash and
// finiteness.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <sstream>

#include "core/check.hpp"
#include "core/finite.hpp"
#include "core/parallel.hpp"
#include "core/threads.hpp"
#include "dictlearn/learner.hpp"
#include "dictlearn/metrics.hpp"
#include "learners/random.hpp"

namespace dictlearn {
namespace {

/// Rows per block of the spread's passes: fixed, so the sums run in the same
/// order for any thread count.
constexpr int64_t kSpreadBlock = 4096;

/// FVU's denominator: the data's total squared deviation from its column
/// means, in double; fixed blocks of rows added in block order (the same for
/// any thread count). Contiguous data is read in place, other sources a block
/// at a time into a buffer per thread.
template <typename T>
double total_spread(const DataSource<T>& data, int threads) {
  const int64_t n = data.rows(), d = data.dim(), block = kSpreadBlock;
  const int64_t blocks = (n + block - 1) / block;
  const T* in_place = data.contiguous();
  std::vector<double> partial(blocks * d, 0.0);
  // Each column's range: a constant column's mean is its value exactly (a sum
  // of doubles divided by n need not be), so data without variance has spread 0.
  std::vector<double> lowest(blocks * d, std::numeric_limits<double>::infinity());
  std::vector<double> highest(blocks * d, -std::numeric_limits<double>::infinity());
  const int used = static_cast<int>(
      std::min<int64_t>(blocks, threads_for(threads, 2.0 * static_cast<double>(n * d))));
  std::vector<std::vector<T>> buffers(in_place ? 0 : used);
  // Rows [c·block, ...) of the data: in place, or read into this thread's buffer.
  auto rows_of = [&](int64_t c) -> const T* {
    if (in_place) return in_place + c * block * d;
    std::vector<T>& buffer = buffers[omp_thread()];
    const int64_t count = std::min(n, (c + 1) * block) - c * block;
    buffer.resize(count * d);
    data.read(c * block, count, buffer.data());
    return buffer.data();
  };
  ParallelErrors errors;
#pragma omp parallel for num_threads(used) if (used > 1) schedule(static)
  for (int64_t c = 0; c < blocks; ++c) {
    errors.run([&] {
      double* sums = partial.data() + c * d;
      double* low = lowest.data() + c * d;
      double* high = highest.data() + c * d;
      const T* rows = rows_of(c);
      for (int64_t i = 0; i < std::min(n, (c + 1) * block) - c * block; ++i) {
        const T* x = rows + i * d;
        for (int64_t j = 0; j < d; ++j) {
          const double value = static_cast<double>(x[j]);
          sums[j] += value;
          low[j] = std::min(low[j], value);
          high[j] = std::max(high[j], value);
        }
      }
    });
  }
  errors.rethrow();
  std::vector<double> mean(d, 0.0);
  std::vector<double> low(d, std::numeric_limits<double>::infinity());
  std::vector<double> high(d, -std::numeric_limits<double>::infinity());
  for (int64_t c = 0; c < blocks; ++c) {
    for (int64_t j = 0; j < d; ++j) {
      mean[j] += partial[c * d + j];
      low[j] = std::min(low[j], lowest[c * d + j]);
      high[j] = std::max(high[j], highest[c * d + j]);
    }
  }
  for (int64_t j = 0; j < d; ++j)
    mean[j] = low[j] == high[j] ? low[j] : mean[j] / static_cast<double>(n);
  std::vector<double> spreads(blocks);
#pragma omp parallel for num_threads(used) if (used > 1) schedule(static)
  for (int64_t c = 0; c < blocks; ++c) {
    errors.run([&] {
      const T* rows = rows_of(c);
      double sum = 0;
      for (int64_t i = 0; i < std::min(n, (c + 1) * block) - c * block; ++i) {
        const T* x = rows + i * d;
        double row = 0;
#pragma omp simd reduction(+ : row)
        for (int64_t j = 0; j < d; ++j) {
          const double deviation = static_cast<double>(x[j]) - mean[j];
          row += deviation * deviation;
        }
        sum += row;
      }
      spreads[c] = sum;
    });
  }
  errors.rethrow();
  double spread = 0;
  for (int64_t c = 0; c < blocks; ++c) spread += spreads[c];
  return spread;
}

/// Calls body(rows, begin, count) over the data in pieces of up to `block`
/// rows: in place when contiguous, else read into one buffer.
template <typename T, typename Body>
void for_pieces(const DataSource<T>& data, int64_t block, Body&& body) {
  const int64_t n = data.rows(), d = data.dim();
  if (const T* in_place = data.contiguous()) {
    body(in_place, int64_t{0}, n);
    return;
  }
  std::vector<T> buffer;
  for (int64_t begin = 0; begin < n; begin += block) {
    const int64_t count = std::min(block, n - begin);
    buffer.resize(count * d);
    data.read(begin, count, buffer.data());
    body(buffer.data(), begin, count);
  }
}

}  // namespace

EpochStats summarize(const EpochTotals& totals) {
  EpochStats stats;
  const double n = static_cast<double>(totals.samples);
  stats.loss = totals.objective_sum / n;
  stats.mse = totals.squared_error / static_cast<double>(totals.samples * totals.dim);
  stats.fvu = fraction_unexplained(totals.squared_error, totals.spread);
  stats.l0 = totals.nonzero / n;
  return stats;
}

template <typename T>
void check_finite(const DataSource<T>& data) {
  const int64_t d = std::max<int64_t>(1, data.dim());
  for_pieces(data, 4096, [&](const T* rows, int64_t begin, int64_t count) {
    const int64_t bad = detail::first_non_finite(rows, count * data.dim());
    DICTLEARN_CHECK(bad < 0, "data: holds non-finite values (row {}, column {}: {})",
                    begin + bad / d + 1, bad % d + 1,
                    bad < 0 ? 0.0 : static_cast<double>(rows[bad]));
  });
}

template <typename T>
uint64_t data_hash(const DataSource<T>& data) {
  // FNV-1a over the bytes: cheap next to training, and enough to tell data sets apart.
  uint64_t hash = 1469598103934665603ULL;
  for_pieces(data, 4096, [&](const T* rows, int64_t, int64_t count) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(rows);
    const size_t size = static_cast<size_t>(count * data.dim()) * sizeof(T);
    for (size_t i = 0; i < size; ++i) hash = (hash ^ bytes[i]) * 1099511628211ULL;
  });
  return hash;
}

template <typename T>
void EpochLoop::run(Learner<T>& learner, const DataSource<T>& data, int epochs,
                    const std::function<void(const EpochStats&, const Model<T>&)>& observer) {
  const EpochLoopOptions options = learner.loop_options();
  const int64_t n = data.rows(), d = data.dim();
  const int64_t batch = options.batch_size > 0 && options.batch_size < n ? options.batch_size : n;
  const bool full_batch = batch == n;
  const int64_t batches_per_epoch = (n + batch - 1) / batch;
  learner.begin_fit(data, batch);
  struct EndFit {  // frees the workspaces, the learner's and ours, however the run ends
    Learner<T>& learner;
    EpochLoop& loop;
    ~EndFit() {
      learner.end_fit();
      loop.permutation_ = {};
      loop.gathered_ = {};
    }
  } end_fit{learner, *this};
  const double spread = total_spread(data, resolve_threads(options.threads));

  // Sources not in memory: each batch is gathered into a buffer (the full
  // batch once a run) and stepped on in place, with the same arithmetic.
  const T* in_place = data.contiguous();
  T* gathered = nullptr;
  if (!in_place) {
    gathered_.resize(static_cast<size_t>(batch * d) * sizeof(T));
    gathered = reinterpret_cast<T*>(gathered_.data());
    if (full_batch) data.read(0, n, gathered);
  }
  if (!full_batch) permutation_.resize(n);

  stopped_early_ = false;
  const auto start = std::chrono::steady_clock::now();
  losses_.reserve(losses_.size() + epochs);
  for (int epoch = 0; epoch < epochs; ++epoch) {
    if (learner.finished()) {  // a resumed run that had ended: nothing more to do
      stopped_early_ = true;
      break;
    }
    EpochTotals totals{.samples = n, .dim = d, .spread = spread};
    const int epoch_number = static_cast<int>(losses_.size()) + 1;
    if (!full_batch) {
      std::iota(permutation_.begin(), permutation_.end(), int64_t{0});
      for (int64_t i = n - 1; options.shuffle && i > 0; --i) {
        std::swap(permutation_[i], permutation_[detail::below(shuffle_, i + 1)]);
      }
    }
    auto last_report = std::chrono::steady_clock::now();
    bool reported = false;  // a batch of this epoch was: its end is reported too
    bool finished = false;  // the learner ended the run after a step
    for (int64_t b = 0; b < batches_per_epoch && !finished; ++b) {
      const int64_t begin = b * batch, rows = std::min(batch, n - begin);
      Batch<T> step{.data = in_place,
                    .index = full_batch ? nullptr : permutation_.data() + begin,
                    .samples = full_batch ? nullptr : permutation_.data() + begin,
                    .rows = rows,
                    .dim = d,
                    .epoch = epoch_number};
      if (!in_place) {
        if (!full_batch) data.gather(step.index, rows, gathered);
        step.data = gathered;
        step.index = nullptr;
      }
      const BatchStats result = learner.step(step);
      totals.objective_sum += result.objective * static_cast<double>(rows);
      totals.squared_error += result.squared_error;
      totals.nonzero += result.nonzero;
      finished = learner.finished();
      // An epoch cut short is summarized over the samples it stepped on.
      if (finished) {
        totals.samples = begin + rows;
        totals.spread = spread * static_cast<double>(totals.samples) / static_cast<double>(n);
      }
      // The progress display reads the clock once per batch, after the step:
      // nothing it does reaches the learner.
      if (batch_progress_) {
        const auto now = std::chrono::steady_clock::now();
        const bool last = b + 1 == batches_per_epoch || finished;
        if ((last && reported) ||
            std::chrono::duration<double>(now - last_report).count() >= progress_interval_) {
          last_report = now;
          reported = true;
          batch_progress_(
              BatchProgress{.epoch = epoch_number,
                            .samples_done = begin + rows,
                            .samples_total = n,
                            .batches_done = b + 1,
                            .batches_total = batches_per_epoch,
                            .run_samples = static_cast<int64_t>(epoch) * n + begin + rows,
                            .seconds = std::chrono::duration<double>(now - start).count()});
        }
      }
    }
    EpochStats stats = learner.end_epoch(totals);
    stats.epoch = epoch_number;
    losses_.push_back(stats.loss);
    bool stop = finished;
    if (losses_.size() == 1 || stats.loss < best_loss_ * (1 - options.tol)) {
      best_loss_ = stats.loss;
      epochs_without_improvement_ = 0;
    } else if (++epochs_without_improvement_ >= options.patience && options.patience > 0) {
      stop = true;
    }
    if (observer) {
      stats.seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      observer(stats, learner.model());
    }
    if (stop) {
      stopped_early_ = true;
      break;
    }
  }
}

#define DICTLEARN_INSTANTIATE(T)                                                                   \
  template void EpochLoop::run<T>(Learner<T>&, const DataSource<T>&, int,                          \
                                  const std::function<void(const EpochStats&, const Model<T>&)>&); \
  template uint64_t data_hash<T>(const DataSource<T>&);                                            \
  template void check_finite<T>(const DataSource<T>&);
DICTLEARN_INSTANTIATE(float)
DICTLEARN_INSTANTIATE(double)
#undef DICTLEARN_INSTANTIATE

}  // namespace dictlearn
