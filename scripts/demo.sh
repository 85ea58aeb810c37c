#!/usr/bin/env bash
# Installs what is missing, builds dictlearn (Release) and runs the main job:
# `dictlearn demo`, which writes the seed's data, model, log and figures into
# dictlearn-demo/. Extra arguments go to `dictlearn demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DDICTLEARN_BUILD_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" --target dictlearn_cli
./build/dictlearn demo "$@"
