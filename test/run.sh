#!/usr/bin/env bash
# Builds wac and runs every test: unit (no root), integration (root, in
# network namespaces the tests create), then the same suite under
# ASan+UBSan, then each libFuzzer target for a bounded time.
# Usage (as root, from anywhere):  test/run.sh [--full]
#   default   build, unit tests, integration tests
#   --full    also the ASan+UBSan build of the whole suite and bounded fuzzing
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
QUICK=1; [ "${1:-}" = "--full" ] && QUICK=0
JOBS=${JOBS:-$(nproc)}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}

bash packaging/install-deps.sh

step() { printf '\n==== %s ====\n' "$*"; }

step "build (RelWithDebInfo)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build -j"$JOBS"

step "unit and integration tests"
(cd build && ctest --output-on-failure -j"$JOBS" -L unit)
(cd build && ctest --output-on-failure -LE unit)

if [ "$QUICK" = 0 ]; then
  step "ASan+UBSan build and tests"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DWAC_SANITIZE=ON >/dev/null
  ninja -C build-asan -j"$JOBS"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  (cd build-asan && ctest --output-on-failure -j"$JOBS" -L unit)
  (cd build-asan && ctest --output-on-failure -LE unit)

  step "fuzzing (${FUZZ_SECONDS}s per target, committed seed corpora)"
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWAC_FUZZ=ON -DWAC_TESTS=ON >/dev/null
  ninja -C build-fuzz -j"$JOBS" fuzzers
  "$ROOT/test/fuzz/run-fuzzers.sh" build-fuzz "$FUZZ_SECONDS"
fi
step "all tests passed"
