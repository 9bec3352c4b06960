#!/usr/bin/env bash
# wac local demo: installs the build dependencies, builds wacd and wacctl, then
# (in network namespaces) runs one node with three pods and an external host,
# lets wacd enforce "only frontend may reach db:5432", prints the nftables
# ruleset and shows one allowed and one denied connection.
#
#   sudo test/demo.sh        # from the repository root, on Debian 12
#
# Exits non-zero if the connections do not come out as expected.  Everything
# it creates is removed on exit, also on Ctrl-C or SIGTERM.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
[ "$(id -u)" = 0 ] || { echo "demo: run as root (it creates network namespaces)" >&2; exit 1; }

python=/usr/bin/python3
harness=test/integration
demo_pid=

cleanup() {
  if [ -n "$demo_pid" ] && kill -0 "$demo_pid" 2>/dev/null; then
    kill -TERM "$demo_pid" 2>/dev/null || true
    wait "$demo_pid" 2>/dev/null || true
  fi
  # whatever a killed demo left behind (namespaces named after dead pids)
  "$python" "$harness/wacnet.py" sweep >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== installing dependencies"
bash packaging/install-deps.sh

echo "== building wacd and wacctl"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build wacd wacctl

# In the background so a signal reaches the trap at once, not after the demo.
"$python" "$harness/demo.py" --build-dir build &
demo_pid=$!
rc=0
wait "$demo_pid" || rc=$?
demo_pid=
exit "$rc"
