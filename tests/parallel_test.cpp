// Tests of ParallelErrors (src/core/parallel.hpp): an exception thrown inside
// an OpenMP region must not terminate the program; it arrives on the calling
// thread after the region, as the very exception that was thrown, and the
// region's other iterations stop early.
#include "core/parallel.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include "dictlearn/error.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

/// An exception type the library never throws, carrying a value, so the test
/// sees that the original object arrives (not a copy sliced to a base class).
struct Thrown {
  int iteration = 0;
};

constexpr int kThreads = 4;
constexpr int kIterations = 4000;

/// Runs kIterations on kThreads; iteration `fail_at` (the first of a thread's
/// share) throws `thrown`. The others wait (up to a few seconds) until the
/// failure is recorded, so that every thread is inside the region when it
/// happens. Returns how many bodies ran; `team` gets how many threads started.
template <typename Exception>
int run_region(ParallelErrors& errors, int fail_at, const Exception& thrown, int* team = nullptr) {
  std::atomic<int> ran{0};
  std::atomic<int> threads{0};
#pragma omp parallel for num_threads(kThreads) schedule(static)
  for (int i = 0; i < kIterations; ++i) {
    errors.run([&] {
      if (i % (kIterations / kThreads) == 0) threads.fetch_add(1);
      ran.fetch_add(1);
      if (i == fail_at) throw thrown;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (!errors.failed() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::yield();
      }
    });
  }
  if (team != nullptr) *team = threads.load();
  return ran.load();
}

TEST(ParallelErrors, TheOriginalExceptionArrivesAfterTheRegionAndTheOthersStop) {
  ParallelErrors errors;
  int team = 0;
  const int ran = run_region(errors, 0, Thrown{17}, &team);
  ASSERT_TRUE(errors.failed());
  try {
    errors.rethrow();
    ADD_FAILURE() << "rethrow() did not throw";
  } catch (const Thrown& thrown) {
    EXPECT_EQ(thrown.iteration, 17);
  }
  // Each thread finishes at most the body it was in when the failure came,
  // then skips the rest of its share.
  EXPECT_GE(team, 1);
  EXPECT_LE(ran, team) << "iterations kept running after the failure";
  EXPECT_LT(ran, kIterations);
}

TEST(ParallelErrors, ALibraryErrorKeepsItsTypeAndMessage) {
  ParallelErrors errors;
  run_region(errors, kIterations / 2, Error("data.npy: row 7 is bad"));
  EXPECT_ERROR_CONTAINS(errors.rethrow(), "data.npy: row 7 is bad");
}

TEST(ParallelErrors, OnlyTheFirstOfSeveralFailuresIsKept) {
  ParallelErrors errors;
  std::atomic<int> thrown{0};
#pragma omp parallel for num_threads(kThreads) schedule(static)
  for (int i = 0; i < kIterations; ++i) {
    errors.run([&] {
      thrown.fetch_add(1);
      throw std::runtime_error("failure " + std::to_string(i));
    });
  }
  EXPECT_GE(thrown.load(), 1);
  EXPECT_LE(thrown.load(), kThreads);  // after the first, bodies are skipped
  EXPECT_THROW(errors.rethrow(), std::runtime_error);
}

TEST(ParallelErrors, NoFailureMeansNoThrowAndEveryIterationRuns) {
  ParallelErrors errors;
  std::atomic<int> ran{0};
#pragma omp parallel for num_threads(kThreads) schedule(static)
  for (int i = 0; i < kIterations; ++i) {
    errors.run([&] { ran.fetch_add(1); });
  }
  EXPECT_FALSE(errors.failed());
  EXPECT_NO_THROW(errors.rethrow());
  EXPECT_EQ(ran.load(), kIterations);
}

}  // namespace
}  // namespace dictlearn
