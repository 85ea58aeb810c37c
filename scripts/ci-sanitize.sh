#!/usr/bin/env bash
# Installs what is missing, builds the library, the CLI and the tests with
# AddressSanitizer and UndefinedBehaviorSanitizer (DICTLEARN_SANITIZE=ON; -O1
# with line tables and assertions on; no benchmarks) in build-asan/, and runs
# the whole suite through CTest. Any sanitizer report fails the test it happens
# in: ASan stops the process, and undefined behaviour aborts
# (-fno-sanitize-recover), in the tests and in the CLI runs they start.
#
# clang, because with the sanitizers on it builds this code in about 60% of
# GCC's time (3.4 instead of 9 minutes on 2 cores), which keeps CI short.
# The matrix products (Eigen's, built per instruction-set level as object
# libraries) are not instrumented; everything else, the vector kernels of
# every level included, is.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
scripts/install-deps.sh fuzz  # clang 14, its sanitizer runtimes and OpenMP
CXX=clang++-14 cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
  -DDICTLEARN_SANITIZE=ON -DDICTLEARN_BUILD_TESTS=ON -DDICTLEARN_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j"$(nproc)"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
ctest --test-dir build-asan --output-on-failure -j"$(nproc)"
