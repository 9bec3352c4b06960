#!/usr/bin/env python3
"""The resolve-then-connect race, measured end to end (as root).

A client in a pod resolves a name it has never resolved (libc resolver,
dnsmasq on an external host) and connects to the answer at once, COUNT
times. A connection whose first SYN reached the pod's egress policy before
wacd had put the address into the domain set is dropped and only succeeds
on the retransmission a second later: the client counts any connect slower
than --timeout as lost. Run once with the DNS hold (NFQUEUE) and once with
the passive tap alone.

  sudo test/bench/dns_race.py [--count 10000] [--mode hold|passive|both] [--build DIR]

Prints one JSON line per mode and a Markdown table row for
test/bench/results/dns.md.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "test" / "integration"))

import wacnet  # noqa: E402
from dnslab import CLIENT, DnsLab, ResolvFiles, allow_domains, policy  # noqa: E402


def measure(count: int, hold: bool, timeout: float) -> dict:
    files = ResolvFiles()
    with wacnet.Topology() as topo:
        try:
            lab = DnsLab(topo, files, hold=hold, race_names=count)
            lab.wacd.apply(policy(allow_domains("*.race.test")))
            start = time.monotonic()
            proc = wacnet.run(["ip", "netns", "exec", lab.client.netns, sys.executable, CLIENT, "race",
                               "n{}.race.test", str(count), "80", "--family", "6", "--timeout", str(timeout)],
                              timeout=count * (timeout + 1) + 60)
            result = json.loads(proc.stdout)
            result["seconds"] = round(time.monotonic() - start, 1)
            result["mode"] = "hold" if hold else "passive"
            stats = json.loads(lab.wacd.ctl("status", "-o", "json").stdout).get("dns", {})
            result["hold_active"] = bool(stats.get("holdActive"))
            result["max_commit"] = stats.get("maxCommit")
            result["write_errors"] = int(stats.get("writeErrors", 0))
            result["hold_enobufs"] = int(stats.get("holdEnobufs", 0))
            result["nflog_enobufs"] = int(stats.get("nflogEnobufs", 0))
            return result
        finally:
            files.cleanup()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--mode", choices=["hold", "passive", "both"], default="both")
    ap.add_argument("--timeout", type=float, default=0.5, help="a connect slower than this lost the race")
    ap.add_argument("--build", default=os.environ.get("WAC_BUILD_DIR", str(ROOT / "build")))
    args = ap.parse_args()
    os.environ["WAC_BUILD_DIR"] = args.build
    if args.count > 65000:
        ap.error("--count: at most 65000 names")
    modes = {"hold": [True], "passive": [False], "both": [True, False]}[args.mode]
    rows = []
    for hold in modes:
        r = measure(args.count, hold, args.timeout)
        print(json.dumps(r), flush=True)
        rows.append(f"| {r['mode']} | {r['count']} | {r['lost']} ({100.0 * r['lost'] / r['count']:.2f} %) | "
                    f"{r['connect_ms']['p50']:.2f} | {r['connect_ms']['p99']:.2f} | {r['failed_lookups']} |")
    print("| mode | connections | first SYN dropped | connect p50 ms | connect p99 ms | failed lookups |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
