#!/usr/bin/env bash
# Installs clang 14 and libFuzzer if missing, builds the fuzz targets (fuzz/,
# DICTLEARN_FUZZ=ON, with ASan and UBSan) in build-fuzz/ and runs each one for
# a short smoke time on its committed seed corpus, as many at once as there are
# cores. Any crash, sanitizer report, uncaught exception, allocation above
# 256 MB, memory above 512 MB or input taking over 10 s fails the script; the
# input that did it is left in build-fuzz/artifacts/.
# Usage: scripts/ci-fuzz.sh [seconds per target (default 30)]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
targets=(fuzz_npy fuzz_npz fuzz_csv fuzz_safetensors fuzz_model fuzz_training_log
  fuzz_checkpoint fuzz_image)
scripts/install-deps.sh fuzz
# -O0 with line tables only: the build is most of this script's time (-O0
# halves it; the readers then run at about half speed, plenty for a smoke
# run), and sanitizer reports still name files and lines. For long runs use
# -O1 or -O2 (docs/RELIABILITY.md).
CXX=clang++-14 cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O0 -gline-tables-only" -DDICTLEARN_FUZZ=ON \
  -DDICTLEARN_BUILD_TESTS=OFF -DDICTLEARN_BUILD_CLI=OFF -DDICTLEARN_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz
mkdir -p build-fuzz/artifacts build-fuzz/logs

run_target() {
  local target="$1" seconds="$2"
  # New inputs go to a scratch corpus; the committed seeds are only read.
  mkdir -p "build-fuzz/corpus/$target"
  if build-fuzz/fuzz/"$target" -rss_limit_mb=512 -malloc_limit_mb=256 -timeout=10 \
      -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="build-fuzz/artifacts/$target-" \
      "build-fuzz/corpus/$target" "fuzz/corpus/$target" >"build-fuzz/logs/$target.log" 2>&1; then
    echo "$target: $(grep -m1 -o 'stat::number_of_executed_units: [0-9]*' "build-fuzz/logs/$target.log" |
      grep -o '[0-9]*$') executions in ${seconds} s, no findings"
  else
    echo "$target: FINDING (build-fuzz/logs/$target.log):"
    tail -n 40 "build-fuzz/logs/$target.log"
    return 1
  fi
}
export -f run_target
printf '%s\n' "${targets[@]}" | xargs -P "$(nproc)" -I{} bash -c 'run_target "$@"' _ {} "$seconds"
