#!/usr/bin/env bash
# Every benchmark, one after another, each writing its results file under
# test/bench/results/ (with the machine, kernel, load and its own command).
#   sudo test/bench/run.sh [--quick] [--only NAME[,NAME...]] [--build-dir DIR]
#     --quick   each benchmark's self-check (minutes in all; no results written)
#     --only    a subset: agent, compare, packet, resources, dns-tap, dns-race
# Builds wac first (RelWithDebInfo, into build/ unless --build-dir names one
# already built), installs what the benchmarks need, runs everything in
# network namespaces the benchmarks create and remove.  Not part of CI: the
# full set takes about two hours on 2 cores (packet ~40 min, compare ~30 min,
# resources ~20 min, dns-race ~15 min).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "bench: run as root (the benchmarks create network namespaces)" >&2; exit 1; }

quick=() ; only="agent,compare,packet,resources,dns-tap,dns-race"; build=""
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=(--quick) ;;
    --only) only=$2; shift ;;
    --build-dir) build=$2; shift ;;
    *) echo "bench: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
  shift
done

bash "$repo/packaging/install-deps.sh"
if [ -z "$build" ]; then
  build="$repo/build"
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  ninja -C "$build"
fi
export WAC_BUILD_DIR=$build
results="$repo/test/bench/results"

wanted() { [[ ",$only," == *",$1,"* ]]; }
step() { printf '\n==== bench %s  [%s]\n' "$1" "$(date -u +%H:%M:%S)"; }

# agent_bench has no --quick: its smallest cluster is the self-check.
if wanted agent; then
  step agent
  if [ ${#quick[@]} -gt 0 ]; then
    "$build/test/bench/agent_bench" --endpoints 1000
  else
    for n in 1000 10000 100000; do "$build/test/bench/agent_bench" --endpoints "$n"; done \
      | tee "$results/agent_bench.latest.txt"
  fi
fi
if wanted compare; then step compare; "$repo/test/bench/compare/run.sh" "${quick[@]}" --build-dir "$build"; fi
if wanted packet; then step packet; "$repo/test/bench/packet/run.sh" "${quick[@]}" --build-dir "$build"; fi
if wanted resources; then step resources; /usr/bin/python3 "$repo/test/bench/resources.py" "${quick[@]}" --build-dir "$build"; fi
if wanted dns-tap; then
  step dns-tap
  if [ ${#quick[@]} -gt 0 ]; then
    "$build/test/bench/dns_tap_bench" --learned 1000 --latency 200 --rates 5000 --seconds 1
  else
    for mode in "" --no-hold; do
      "$build/test/bench/dns_tap_bench" --rates 10000,20000,40000 $mode
    done | tee "$results/dns_tap.latest.txt"
  fi
fi
if wanted dns-race; then
  step dns-race
  count=10000; [ ${#quick[@]} -gt 0 ] && count=200
  /usr/bin/python3 "$repo/test/bench/dns_race.py" --count "$count" --mode both --build "$build"
fi
step done
