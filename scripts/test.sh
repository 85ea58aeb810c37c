#!/usr/bin/env bash
# Installs what is missing, builds dictlearn with its tests and runs the whole
# suite through CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Release -DDICTLEARN_BUILD_TESTS=ON >/dev/null
cmake --build build-test -j"$(nproc)"
ctest --test-dir build-test --output-on-failure -j"$(nproc)"
