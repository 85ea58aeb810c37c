// dictlearn: the one point per batch where a learner's sums meet. Training on
// several processes (a later issue) gives each process a share of every
// batch; after a batch's sums are computed and before the update, each
// process calls Reducer::sum on the same arrays in the same order, and all
// then hold the sums over the whole batch and take the same update.
//
//   class Reducer {
//     int rank() const;   this process, 0 .. size() − 1
//     int size() const;   processes taking part
//     void sum(std::span<const std::span<float>> floats,
//              std::span<const std::span<double>> doubles);   in place, once per batch
//   };
//
// The gradient Trainer calls sum() exactly once per batch (in step(), and once
// in evaluate()) with its gradient sums (∂L/∂D, ∂L/∂W, ∂L/∂b, ∂L/∂b_dec, in
// the model's scalar type) and, as doubles, the atoms' fired counts and the
// batch's objective (without the ortho term, which depends on the model only
// and is added after the reduction), squared error and nonzero count.
// LocalReducer (one process) does nothing: no copy, no cost.
//
// Where an MPI reducer plugs in: a class over a communicator whose sum()
// calls MPI_Allreduce(MPI_IN_PLACE, ..., MPI_SUM) per span (or packs them
// into one buffer), passed to Trainer::set_reducer(). What it needs besides:
// each process's sums scaled by the global batch size instead of its own
// share's (compute_batch takes the scale from its rows), a DataSource per
// process, and BatchTopK's threshold estimate (a minimum, not a sum) reduced
// with MPI_MIN; that is the later issue's work.
#pragma once

#include <span>

namespace dictlearn {

/// Sums arrays in place across the processes of a training run.
class Reducer {
 public:
  virtual ~Reducer() = default;
  /// This process's index, 0 .. size() − 1.
  virtual int rank() const = 0;
  /// Number of processes.
  virtual int size() const = 0;
  /// Replaces every array by its element-wise sum over all processes. Every
  /// process calls it with arrays of the same sizes in the same order.
  virtual void sum(std::span<const std::span<float>> floats,
                   std::span<const std::span<double>> doubles) = 0;
};

/// One process: the sums are already complete; sum() does nothing.
class LocalReducer final : public Reducer {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void sum(std::span<const std::span<float>>, std::span<const std::span<double>>) override {}
};

/// A process-wide LocalReducer (what a Trainer uses unless told otherwise).
inline LocalReducer& local_reducer() {
  static LocalReducer reducer;
  return reducer;
}

}  // namespace dictlearn
