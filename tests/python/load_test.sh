#!/usr/bin/env bash
# Trains a small model with the CLI, then loads it into the seed's PyTorch
# module (load_state_dict, strict). Skips (77) where torch is not installed.
set -euo pipefail
cli=$1
here=$(cd "$(dirname "$0")" && pwd)
[ -x /usr/bin/python3 ] || exit 77
/usr/bin/python3 -c "import torch, numpy" 2>/dev/null || exit 77
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$cli" fit "$here/../fixtures/wide_data.npy" -o "$dir/model.safetensors" --atoms 5 --epochs 20 -q
/usr/bin/python3 "$here/load_model_in_torch.py" "$dir/model.safetensors"
"$cli" fit "$here/../fixtures/wide_data.npy" -o "$dir/model64.safetensors" --atoms 3 --epochs 5 --dtype float64 -q
/usr/bin/python3 "$here/load_model_in_torch.py" "$dir/model64.safetensors"
