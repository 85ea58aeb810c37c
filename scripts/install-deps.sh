#!/usr/bin/env bash
# Installs, from Debian's packages, whatever the build needs and is missing.
# Usage: scripts/install-deps.sh [build|test|fuzz|format]
#   build includes what the Python package needs (pybind11, Python's headers,
#   numpy, scipy, scikit-learn). test adds GoogleTest, Google Benchmark (bench/
#   is compiled with the tests so it cannot rot), pytest, pandas, matplotlib and
#   what the interop tests run: PyTorch (it loads OpenBLAS's pthread build). With CI=true those tests
#   fail instead of skipping when something is missing.
#   fuzz adds clang 14 with libFuzzer and the sanitizer runtimes, and its OpenMP
#   (scripts/ci-fuzz.sh and scripts/ci-sanitize.sh).
set -euo pipefail
packages=(g++ cmake make pkg-config libeigen3-dev libcli11-dev nlohmann-json3-dev libfmt-dev libpng-dev gnuplot-nox)
# The Python package (python/): built for Debian's /usr/bin/python3 with
# pybind11; its estimators use numpy, scipy and scikit-learn from apt.
python_packages=(python3 python3-dev pybind11-dev python3-numpy python3-scipy python3-sklearn)
if [ "${1:-build}" = build ]; then
  packages+=("${python_packages[@]}")
fi
if [ "${1:-build}" = test ]; then
  packages+=(libgtest-dev libgmock-dev libbenchmark-dev python3-torch libopenblas0-pthread
             "${python_packages[@]}" python3-pytest python3-pandas python3-matplotlib
             python3-pip python3-setuptools python3-wheel python3-venv)
fi
if [ "${1:-build}" = format ]; then
  packages=(clang-format-14)
fi
if [ "${1:-build}" = fuzz ]; then
  packages+=(clang-14 libclang-rt-14-dev libomp-14-dev)
fi
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
