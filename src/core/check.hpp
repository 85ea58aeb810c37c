// Internal: the check macro that turns a failed condition into dictlearn::Error.
#pragma once

#include <fmt/format.h>

#include "dictlearn/error.hpp"

/// Throws dictlearn::Error with a fmt-formatted message when `cond` is false.
#define DICTLEARN_CHECK(cond, ...)                              \
  do {                                                          \
    if (!(cond)) throw ::dictlearn::Error(fmt::format(__VA_ARGS__)); \
  } while (0)

/// Throws dictlearn::Error with a fmt-formatted message.
#define DICTLEARN_FAIL(...) throw ::dictlearn::Error(fmt::format(__VA_ARGS__))
