// dictlearn: where the learners read their samples from. A DataSource is N
// samples of dimension dim, row-major; a learner asks it for rows by index
// (the shuffled mini-batches) and, where the rows already lie in memory one
// after another, reads them in place (the fast path: no copy at all).
//
//   class DataSource<T> {
//     int64_t rows() const;                                   N
//     int64_t dim() const;                                    values per sample
//     void gather(const int64_t* index, int64_t count, T* out) const;   rows index[i] -> out (count
//     x dim) void read(int64_t begin, int64_t count, T* out) const;  rows [begin, begin + count) ->
//     out const T* contiguous() const;                            N x dim in place, or nullptr
//   };
//
// MatrixSource wraps a MatrixView (a Matrix, a NumPy array, a memory map)
// without copying it. A source over data that is not in memory (shards on
// disk, a stream) implements gather() and returns nullptr from contiguous():
// the epoch loop then gathers each batch into a buffer (a full batch once a
// fit) and the learner computes exactly what it computes in place (tests/data_source_test.cpp
// checks bit for bit).
#pragma once

#include <algorithm>
#include <cstdint>

#include "dictlearn/types.hpp"

namespace dictlearn {

/// N samples of dimension dim that a learner pulls batches from.
template <typename T>
class DataSource {
 public:
  virtual ~DataSource() = default;

  /// Number of samples, N.
  virtual int64_t rows() const = 0;
  /// Values per sample.
  virtual int64_t dim() const = 0;
  /// Copies rows index[0], ..., index[count − 1] (each in [0, N)) into `out`,
  /// count x dim, row-major and contiguous.
  virtual void gather(const int64_t* index, int64_t count, T* out) const = 0;
  /// Copies rows [begin, begin + count) into `out` (count x dim). The default
  /// goes through gather(); sources that read ranges faster override it.
  virtual void read(int64_t begin, int64_t count, T* out) const {
    int64_t index[256];
    for (int64_t done = 0; done < count; done += 256) {
      const int64_t n = std::min<int64_t>(256, count - done);
      for (int64_t i = 0; i < n; ++i) index[i] = begin + done + i;
      gather(index, n, out + done * dim());
    }
  }
  /// All N x dim values, row-major and contiguous, where they lie in memory
  /// that way (the fast path: batches are read in place); nullptr otherwise.
  virtual const T* contiguous() const { return nullptr; }
};

/// A DataSource over data in memory, without a copy. The view must outlive
/// the source (a MatrixView of a temporary does not).
template <typename T>
class MatrixSource final : public DataSource<T> {
 public:
  /// `data`: N x dim, rows contiguous in themselves (any row stride).
  explicit MatrixSource(MatrixView<T> data) : data_(data) {}

  int64_t rows() const override { return data_.rows(); }
  int64_t dim() const override { return data_.cols(); }
  void gather(const int64_t* index, int64_t count, T* out) const override {
    const int64_t d = data_.cols();
    for (int64_t i = 0; i < count; ++i) {
      const T* row = data_.data() + index[i] * data_.outerStride();
      std::copy(row, row + d, out + i * d);
    }
  }
  void read(int64_t begin, int64_t count, T* out) const override {
    const int64_t d = data_.cols();
    for (int64_t i = 0; i < count; ++i) {
      const T* row = data_.data() + (begin + i) * data_.outerStride();
      std::copy(row, row + d, out + i * d);
    }
  }
  const T* contiguous() const override {
    return data_.outerStride() == data_.cols() || data_.rows() <= 1 ? data_.data() : nullptr;
  }
  /// The view itself.
  const MatrixView<T>& view() const { return data_; }

 private:
  MatrixView<T> data_;
};

}  // namespace dictlearn
