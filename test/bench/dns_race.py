#!/usr/bin/env python3
"""The resolve-then-connect race, measured end to end (as root).

A client in a pod resolves a name it has never resolved (libc resolver,
dnsmasq on an external host) and connects to the answer at once, COUNT
times. A connection whose first SYN reached the pod's egress policy before
wacd had put the address into the domain set is dropped by the pod chain's
default deny and would only succeed on the retransmission a second later.
Two counts of that, which should agree:
  - `lost`: connects the client gave up on after --timeout (default 0.1 s:
    a connect in the lab takes well under 1 ms, the SYN retransmission
    comes after 1 s, and giving up early keeps 10,000 passive trials, about
    a third of them lost, within a few minutes);
  - `kernel_drops`: SYNs from the pod that entered the node's forward hook
    but did not come out of wac's chain (counted by a table of the
    benchmark's own; one per lost trial, as the client closes the socket
    before the retransmission).
Run once with the DNS hold (NFQUEUE) and once with the passive tap alone.

  sudo test/bench/dns_race.py [--count 10000] [--mode hold|passive|both] [--runs 1] [--build DIR]

Prints one JSON line per run and a Markdown table for
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


# Counts the pod's TCP SYNs to port 80 before and after wac's forward chain
# (priority filter): what enters `before` and never reaches `after` was
# dropped by wac. A table of its own, so wac's full syncs (which refill its
# chains and so reset their counters) cannot touch these counters.
SYN_COUNTERS = """table inet wac-race-bench {
    chain before {
        type filter hook forward priority filter - 10; policy accept;
        iifname "cali*" tcp dport 80 tcp flags & (syn | ack) == syn counter
    }
    chain after {
        type filter hook forward priority filter + 10; policy accept;
        iifname "cali*" tcp dport 80 tcp flags & (syn | ack) == syn counter
    }
}
"""


def syn_counts(lab) -> tuple:
    listing = json.loads(wacnet.nft(lab.node, "-j", "list", "table", "inet", "wac-race-bench"))
    counts = {}
    for item in listing.get("nftables", []):
        rule = item.get("rule")
        if rule:
            counts[rule["chain"]] = sum(e["counter"]["packets"] for e in rule["expr"] if "counter" in e)
    return counts["before"], counts["after"]


def measure(count: int, hold: bool, timeout: float) -> dict:
    files = ResolvFiles()
    with wacnet.Topology() as topo:
        try:
            lab = DnsLab(topo, files, hold=hold, race_names=count)
            lab.wacd.apply(policy(allow_domains("*.race.test")))
            wacnet.run(["ip", "netns", "exec", lab.node.netns, "nft", "-f", "-"], input=SYN_COUNTERS)
            start = time.monotonic()
            proc = wacnet.run(["ip", "netns", "exec", lab.client.netns, sys.executable, CLIENT, "race",
                               "n{}.race.test", str(count), "80", "--family", "6", "--timeout", str(timeout)],
                              timeout=count * (timeout + 1) + 60)
            result = json.loads(proc.stdout)
            result["seconds"] = round(time.monotonic() - start, 1)
            syns, passed = syn_counts(lab)
            result["syns"], result["kernel_drops"] = syns, syns - passed
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
    ap.add_argument("--timeout", type=float, default=0.1, help="a connect slower than this lost the race")
    ap.add_argument("--runs", type=int, default=1, help="measure each mode this many times")
    ap.add_argument("--build", default=os.environ.get("WAC_BUILD_DIR", str(ROOT / "build")))
    args = ap.parse_args()
    os.environ["WAC_BUILD_DIR"] = args.build
    if args.count > 65000:
        ap.error("--count: at most 65000 names")
    modes = {"hold": [True], "passive": [False], "both": [True, False]}[args.mode]
    rows = []
    for run in range(1, args.runs + 1):
        for hold in modes:
            r = measure(args.count, hold, args.timeout)
            r["run"] = run
            print(json.dumps(r), flush=True)
            ok = r["count"] - r["lost"] - r["failed_lookups"]
            rows.append(f"| {run} | {r['mode']} | {r['count']} | {ok} ({100.0 * ok / r['count']:.2f} %) | "
                        f"{r['lost']} | {r['kernel_drops']} | {r['connect_ms']['p50']:.2f} | "
                        f"{r['connect_ms']['p99']:.2f} | {r['failed_lookups']} | {r['seconds']} |")
    print("| run | mode | trials | first connection succeeded | lost (client) | SYNs dropped (kernel) "
          "| connect p50 ms | connect p99 ms | failed lookups | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
