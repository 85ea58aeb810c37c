#!/usr/bin/env bash
# Checks that every tracked C++ file (.cpp, .hpp, .inc) in src include cli
# tests bench fuzz python is formatted as .clang-format says, with clang-format 14
# (other versions format some constructs differently). Changes nothing: the
# files that differ are listed and the exit status is 1. To see how one
# differs: clang-format-14 --dry-run FILE; to format it: clang-format-14 -i FILE.
# Usage: scripts/check-format.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh format
format=clang-format-14
if ! command -v "$format" >/dev/null; then
  if command -v clang-format >/dev/null && clang-format --version | grep -q 'version 14\.'; then
    format=clang-format
  else
    echo "check-format: clang-format 14 is missing (Debian: apt-get install clang-format-14)" >&2
    exit 2
  fi
fi
mapfile -t files < <(git ls-files -- src include cli tests bench fuzz python |
  grep -E '\.(cpp|hpp|inc)$')
failed=()
for file in "${files[@]}"; do
  if ! "$format" --dry-run -Werror "$file" 2>/dev/null; then failed+=("$file"); fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "check-format: ${#failed[@]} of ${#files[@]} files are not formatted (clang-format-14 -i FILE):"
  printf '  %s\n' "${failed[@]}"
  exit 1
fi
echo "check-format: all ${#files[@]} files formatted"
