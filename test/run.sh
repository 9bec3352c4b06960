#!/usr/bin/env bash
# Builds wac and runs every test; .ci/run calls this.  As root, from anywhere.
#
#   test/run.sh           what CI runs (about 30 min on 2 cores, most of it the
#                         two builds):
#     1. release build (gcc, RelWithDebInfo, what the packages ship): unit
#        tests; the integration tests whose bounds are times or rates (kill
#        -9 rounds converging within 1 s, restart, egress failover, the soak
#        at 20,000 DNS responses/s), where only an optimised build shows the
#        real figure; packaging tests (deb/rpm, a clean Debian root, systemd)
#     2. sanitizer build (clang, ASan + UBSan, -O0; the libraries also carry
#        libFuzzer's coverage hooks, so one build serves the suite and the
#        fuzzers): unit tests, every integration test (root, network
#        namespaces the tests create; time and memory bounds scaled, see
#        wacnet.SLOWDOWN), every seed corpus replayed, then each fuzzer for
#        FUZZ_SECONDS (default 10) from its committed seeds
#   test/run.sh --quick   the developer loop: release build, unit and
#                         integration tests, no sanitizers
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MODE=ci; [ "${1:-}" = "--quick" ] && MODE=quick
JOBS=${JOBS:-$(nproc)}
FUZZ_SECONDS=${FUZZ_SECONDS:-10}
TIMED_TESTS='integration\.(test_kill_rounds|test_restart|test_egress_gateway|test_soak)$'

bash packaging/install-deps.sh

step() { printf '\n==== %s  [%s]\n' "$*" "$(date -u +%H:%M:%S)"; }
in_build() { local dir=$1; shift; (cd "$dir" && "$@"); }

release_build() {
  step "release build (gcc, RelWithDebInfo)"
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  ninja -C build -j"$JOBS"
}

sanitizer_build() {
  step "sanitizer build (clang, ASan+UBSan, libFuzzer coverage)"
  CC=clang CXX=clang++ cmake -S . -B build-san -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    "-DCMAKE_CXX_FLAGS_DEBUG=-O0 -gline-tables-only" "-DCMAKE_C_FLAGS_DEBUG=-O0 -gline-tables-only" \
    -DWAC_SANITIZE=ON -DWAC_FUZZ=ON -DWAC_TESTS=ON >/dev/null
  ninja -C build-san -j"$JOBS"
}

# Any sanitizer report fails the test that triggered it.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:quarantine_size_mb=32  # a small quarantine keeps RSS bounds meaningful
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

release_build
step "unit tests (release)"
in_build build ctest --output-on-failure -j"$JOBS" -L unit
if [ "$MODE" = quick ]; then
  step "integration tests (release)"
  in_build build ctest --output-on-failure -L integration
  step "all tests passed"
  exit 0
fi
step "integration tests bounded by time (release)"
in_build build ctest --output-on-failure -L integration -R "$TIMED_TESTS"
step "packaging tests (release)"
in_build build ctest --output-on-failure -L packaging

sanitizer_build
step "unit tests (ASan+UBSan)"
in_build build-san ctest --output-on-failure -j"$JOBS" -L unit
step "integration tests (ASan+UBSan)"
in_build build-san ctest --output-on-failure -L integration
step "fuzzing: seed corpora replayed, then ${FUZZ_SECONDS}s per fuzzer"
in_build build-san ctest --output-on-failure -j"$JOBS" -L fuzz
"$ROOT/test/fuzz/run-fuzzers.sh" build-san "$FUZZ_SECONDS"
step "all tests passed"
