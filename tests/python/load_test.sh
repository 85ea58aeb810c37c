#!/usr/bin/env bash
# Trains a small model with the CLI, then loads it into the seed's PyTorch
# module (load_state_dict, strict). Skips (77) where torch or numpy is not
# installed, except with CI=true: there scripts/install-deps.sh test installs
# them (python3-torch, python3-numpy), so a skip is a failure (exit 1).
set -euo pipefail
cli=$1
python=${DICTLEARN_PYTHON:-/usr/bin/python3}  # another interpreter only for the CI switch's test
here=$(cd "$(dirname "$0")" && pwd)
skip() {
  if [ "${CI:-}" = true ]; then
    echo "load_test: FAIL: $1 (CI=true: scripts/install-deps.sh test installs it)" >&2
    exit 1
  fi
  echo "load_test: SKIP: $1" >&2
  exit 77
}
[ -x "$python" ] || skip "$python is not installed"
"$python" -c "import torch, numpy" 2>/dev/null || skip "$python cannot import torch and numpy"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
load() {
  local code=0
  "$python" "$here/load_model_in_torch.py" "$1" || code=$?
  [ "$code" -ne 77 ] || skip "load_model_in_torch.py skipped"
  [ "$code" -eq 0 ] || exit "$code"
}
"$cli" fit "$here/../fixtures/wide_data.npy" -o "$dir/model.safetensors" --atoms 5 --epochs 20 -q
load "$dir/model.safetensors"
"$cli" fit "$here/../fixtures/wide_data.npy" -o "$dir/model64.safetensors" --atoms 3 --epochs 5 --dtype float64 -q
load "$dir/model64.safetensors"
