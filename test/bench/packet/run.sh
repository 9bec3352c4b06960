#!/usr/bin/env bash
# Packet-path benchmark: wac against conntrack only, no ruleset, iptables + ipset
# and naive nftables (new TCP connections/s, 64-byte UDP forwarding rate).
#   sudo test/bench/packet/run.sh [--quick] [--focus 10,100,500,2000] [--reps 5] [--build-dir DIR]
# Installs what it needs (packaging/install-deps.sh), uses wacd/wacctl from
# --build-dir (default $WAC_BUILD_DIR, else build/ of this repository; copied
# at the start), builds its load generator with gcc into a temp dir, runs in
# network namespaces it removes on exit, and writes
# test/bench/results/packet.{md,json} (not with --quick).  A benchmark, not a
# test: not part of ctest or CI.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "packet: run as root (it creates network namespaces)" >&2; exit 1; }
bash "$repo/packaging/install-deps.sh"
if [ -z "${WAC_BUILD_DIR:-}" ] && [ -d "$repo/build" ]; then export WAC_BUILD_DIR="$repo/build"; fi
# packet.py removes its namespaces and temp dirs itself, also on SIGTERM/
# SIGINT; the trap removes what a killed one left: their names carry its pid
# (wacnet's run tag wti<pid>t<n>-, wac-packet-<pid>-), so nobody else's are
# touched
py= py_exited=
remove_leftovers() {
  [ -n "$py" ] || return 0
  if [ -z "$py_exited" ]; then { kill -TERM "$py" && wait "$py"; } 2>/dev/null || true; fi
  local ns
  for ns in $(ip netns list | awk '{print $1}' | grep "^wti${py}t" || true); do
    ip netns pids "$ns" | xargs -r kill -KILL 2>/dev/null || true
    ip netns del "$ns" || true
  done
  rm -rf "${TMPDIR:-/tmp}"/wti"${py}"t*-* "${TMPDIR:-/tmp}"/wac-packet-"${py}"-*
}
trap remove_leftovers EXIT
trap 'exit 130' INT TERM
/usr/bin/python3 "$repo/test/bench/packet/packet.py" "$@" &
py=$!
status=0
wait "$py" || status=$?
py_exited=1
exit "$status"
