#!/usr/bin/env bash
# The long fuzzing runs whose figures the repository keeps: every fuzzer of a
# WAC_FUZZ build for a fixed number of executions, on a copy of its committed
# seed corpus, then a Markdown table of what each run did.
#   test/fuzz/record-runs.sh BUILD_DIR [RUNS] > test/fuzz/RESULTS.md
# RUNS defaults to 10,000,000 per target; FUZZERS="a_fuzz b_fuzz" limits the
# run to those (the others are not built, say, or take too long here).  A crash or sanitizer report stops
# that fuzzer with its reproducer under BUILD_DIR/ (libFuzzer's artifact
# prefix) and makes the script exit non-zero after the table.
set -euo pipefail
build=$1; runs=${2:-10000000}
list="$build/test/fuzz/fuzzers.list"
[ -s "$list" ] || { echo "record-runs: no fuzzers listed in $list" >&2; exit 1; }
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# The value of one `stat::NAME:` line of libFuzzer's final statistics.
final_stat() { sed -n "s/^stat::$1: *//p" "$2" | tail -1; }

failed=0
rows=()
for_each_fuzzer() {
  local exe corpus work log start seconds status
  while read -r exe corpus; do
    if [ -n "${FUZZERS:-}" ] && [[ " $FUZZERS " != *" $(basename "$exe") "* ]]; then continue; fi
    work=$(mktemp -d); log=$(mktemp)
    cp -r "$corpus"/. "$work"/ 2>/dev/null || true
    start=$SECONDS
    echo "record-runs: $(basename "$exe"): $runs executions" >&2
    if "$exe" -runs="$runs" -artifact_prefix="$build/" -print_final_stats=1 "$work" >"$log" 2>&1; then
      status="0 crashes, 0 sanitizer reports"
    else
      status="**FAILED** (exit $?; see $(grep -m1 -o 'Test unit written to .*' "$log" || echo 'the log'))"
      failed=1
      tail -n 40 "$log" >&2
    fi
    seconds=$((SECONDS - start))
    rows+=("| $(basename "$exe") | $(final_stat number_of_executed_units "$log") | ${seconds} s | $(final_stat average_exec_per_sec "$log") | $(ls "$corpus" | wc -l) → $(ls "$work" | wc -l) | $(final_stat peak_rss_mb "$log") MB | $status |")
    rm -rf "$work" "$log"
  done < "$list"
}
for_each_fuzzer

build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt")
build_flags=$(sed -n "s/^CMAKE_CXX_FLAGS_${build_type^^}:STRING=//p" "$build/CMakeCache.txt")
cat <<EOF
# Recorded fuzzing runs

Command (repository root): \`test/fuzz/record-runs.sh $build $runs > test/fuzz/RESULTS.md\`

Date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)),
kernel $(uname -r), $(clang --version | head -1); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg).
Build: \`$build_type\` with \`$build_flags\`,
ASan + UBSan (\`-fno-sanitize-recover=undefined\`), libFuzzer; source $(git -C "$(dirname "$0")" rev-parse --short HEAD).
Each run starts from a copy of the committed seed corpus (\`test/fuzz/corpus/\`); the corpus column is seeds
→ corpus at the end (kept out of the repository: the seeds stay small and reviewable).

| fuzzer | executions | time | exec/s | corpus | peak RSS | result |
|---|---|---|---|---|---|---|
$(printf '%s\n' "${rows[@]}")
EOF
exit $failed
