#!/usr/bin/env bash
# Control-plane comparison of wac with iptables + ipset and naive nftables.
#   sudo test/bench/compare/run.sh [--quick] [--sizes 1000,10000] [--reps 3] [--build-dir DIR]
# Installs what it needs (packaging/install-deps.sh), uses wacd/wacctl from
# --build-dir (default $WAC_BUILD_DIR, else build/ of this repository), runs
# everything in network namespaces it removes on exit, and writes
# test/bench/results/compare.md (not with --quick).  A benchmark, not a test:
# not part of ctest or CI.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "compare: run as root (it creates network namespaces)" >&2; exit 1; }
bash "$repo/packaging/install-deps.sh"
if [ -z "${WAC_BUILD_DIR:-}" ] && [ -d "$repo/build" ]; then export WAC_BUILD_DIR="$repo/build"; fi
exec /usr/bin/python3 "$repo/test/bench/compare/compare.py" "$@"
