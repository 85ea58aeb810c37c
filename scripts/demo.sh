#!/usr/bin/env bash
# Installs what is missing, builds dictlearn (Release) and its Python package,
# installs the package for /usr/bin/python3, and runs the main job:
# `dictlearn demo`, which writes the seed's data, model, log and figures into
# dictlearn-demo/. Extra arguments go to `dictlearn demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DDICTLEARN_BUILD_TESTS=OFF \
  -DDICTLEARN_BUILD_PYTHON=ON >/dev/null
cmake --build build -j"$(nproc)" --target dictlearn_cli dictlearn_python
# The Python package into /usr/bin/python3's site directory under /usr/local
# (Debian's interpreter is externally managed: pip refuses, CMake installs).
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo cmake --install build --component python >/dev/null
echo "installed the Python package: $(/usr/bin/python3 -c 'import dictlearn; print(dictlearn.__file__)')"
./build/dictlearn demo "$@"
