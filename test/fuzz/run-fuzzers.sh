#!/usr/bin/env bash
# Runs every fuzzer of a WAC_FUZZ build for a bounded time on a copy of its
# committed seed corpus (so the committed seeds stay as they are).
#   test/fuzz/run-fuzzers.sh BUILD_DIR SECONDS
set -euo pipefail
build=$1; seconds=$2
list="$build/test/fuzz/fuzzers.list"
[ -s "$list" ] || { echo "run-fuzzers: no fuzzers listed in $list" >&2; exit 1; }
while read -r exe corpus; do
  work=$(mktemp -d)
  cp -r "$corpus"/. "$work"/ 2>/dev/null || true
  echo "fuzzing $(basename "$exe") for ${seconds}s"
  "$exe" -max_total_time="$seconds" -artifact_prefix="$build/" -print_final_stats=1 "$work" 2>&1 | tail -3
  rm -rf "$work"
done < "$list"
