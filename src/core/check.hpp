// Internal: the check macro that turns a failed condition into dictlearn::Error.
#pragma once

#include <fmt/format.h>

#include "dictlearn/error.hpp"

/// Throws dictlearn::Error with a fmt-formatted message when `cond` is false.
#define DICTLEARN_CHECK(cond, ...)                                   \
  do {                                                               \
    if (!(cond)) throw ::dictlearn::Error(fmt::format(__VA_ARGS__)); \
  } while (0)

/// Throws dictlearn::Error with a fmt-formatted message.
#define DICTLEARN_FAIL(...) throw ::dictlearn::Error(fmt::format(__VA_ARGS__))

/// Internal invariants: checked in debug builds (NDEBUG unset) only, where a
/// failure aborts with the condition, file and line. Never for user input.
#ifdef NDEBUG
#define DICTLEARN_ASSERT(cond) ((void)0)
#else
#include <cstdio>
#include <cstdlib>
#define DICTLEARN_ASSERT(cond)                                                                    \
  do {                                                                                            \
    if (!(cond)) {                                                                                \
      std::fprintf(stderr, "dictlearn: internal assertion failed: %s (%s:%d)\n", #cond, __FILE__, \
                   __LINE__);                                                                     \
      std::abort();                                                                               \
    }                                                                                             \
  } while (0)
#endif
