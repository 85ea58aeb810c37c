#!/usr/bin/env bash
# Installs what is missing, builds dictlearn with its tests, the Python package
# and the benchmark programs (compiled so they cannot rot, not run) and runs
# the whole suite through CTest: the C++ tests and the Python package's pytest
# suite (python.pytest, on the build tree's package). With CI=true a test that would skip for a missing tool
# (numpy, PyTorch, gnuplot) fails instead.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Release -DDICTLEARN_BUILD_TESTS=ON \
  -DDICTLEARN_BUILD_BENCH=ON -DDICTLEARN_BUILD_PYTHON=ON >/dev/null
cmake --build build-test -j"$(nproc)"
ctest --test-dir build-test --output-on-failure -j"$(nproc)"
