#!/usr/bin/env python3
"""Egress gateway failover, measured end to end (as root).

The lab of test/integration/egresslab.py with three nodes, each running wacd:
node1 runs a pod of namespace prod, node2 and node3 are the two gateways of
its EgressGateway (egress IPs 192.0.2.100 and .101, ECMP per flow), the
external host 203.0.113.10 admits only the egress IPs on its port 8080.

Each round starts with both gateways in node1's route and carrying flows,
then one of them (node2 and node3 in turn) fails at t0:

  link   its node's node-network link (fab0) is set down, after a random
         wait of 0-1 s (so the cut falls at a random phase of the probes);
         t0 is when `ip link set` returns; node1's health probes have to
         notice; run once with the resource's DEFAULT probe settings
         (spec.healthCheck left out: ICMP, interval 1000 ms, timeout 500 ms,
         failureThreshold 3) and once with FAST ones (200 ms, 150 ms, 2);
  api    it is marked `healthy: false` in the EgressGateway (`wacctl apply`,
         node1 first, then the others): t0 is just before node1's apply.

and measures from t0
  (a) route: until node1's route for the group no longer lists the failed
      gateway as a next hop (`ip route show table N`, polled every 10 ms);
  (b) flows: until every new flow goes through the survivor: from t0 the pod
      opens a new TCP connection every 20 ms, each allowed 0.5 s (less than
      TCP's first SYN retransmission, 1 s, so a flow whose SYN went to the dead
      gateway counts as failed) and counted good only when the external host
      saw the survivor's egress IP; (b) is when the first flow of the unbroken
      run of good flows that lasts to the end of the round started.  A round
      ends 1.5 s after (a).

  sudo test/bench/egress_failover.py [--rounds 10] [--mode default,fast,api]
      [--seed 1] [--build DIR] [--write test/bench/results/egress_failover.md]

Prints one JSON line per round and a Markdown summary (p50 and max per
setting); --write also writes the summary with the machine's details.
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import random
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "test" / "integration"))

import wacnet  # noqa: E402
from egresslab import (EGRESS_A, EGRESS_B, FAST_PROBES, FW_PORT, Cluster,  # noqa: E402
                       egress_status, gateway_doc, ip_cmd, member, route_hops, seen, wait_for)

SELECTOR = "projectcalico.org/name == 'prod'"
FLOW_EVERY = 0.020    # a new flow every 20 ms
FLOW_TIMEOUT = 0.5    # below TCP's 1 s SYN retransmission
TAIL = 1.5            # a round goes on this long after the route changed
ROUTE_POLL = 0.010

MODES = {
    "default": {"title": "link cut, default probes", "probes": None, "trigger": "link",
                "settings": "ICMP, interval 1000 ms, timeout 500 ms, failureThreshold 3 (spec.healthCheck left out)",
                "bound": (2.5, 3.5)},
    "fast": {"title": "link cut, fast probes", "probes": FAST_PROBES, "trigger": "link",
             "settings": "ICMP, interval 200 ms, timeout 150 ms, failureThreshold 2", "bound": (0.35, 0.55)},
    "api": {"title": "healthy: false through the API", "probes": None, "trigger": "api",
            "settings": "wacctl apply of the resource with the gateway marked healthy: false", "bound": None},
}


def percentile(values, p):
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


class Lab:
    def __init__(self, topo, seed):
        self.topo = topo
        self.c = Cluster(topo, nodes=3)
        self.node3 = self.c.nodes[2]
        self.pod = self.c.pod("prod", "p1", self.c.node1)
        self.c.cluster()
        # gateway -> (node, egress IP)
        self.gateways = [(self.c.node2, EGRESS_A), (self.node3, EGRESS_B)]
        self.table = None
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=64)
        self.rng = random.Random(seed)

    def doc(self, probes, unhealthy=None):
        members = [member(node, ip, **({"healthy": False} if node is unhealthy else {}))
                   for node, ip in self.gateways]
        return wacnet.to_yaml(gateway_doc("prod-egress", members, namespace_selector=SELECTOR,
                                          health_check=probes))

    def all_hops(self):
        return sorted(node.fabric_ip4 for node, _ in self.gateways)

    def settle(self, probes):
        """Both gateways healthy, in node1's route and carrying flows."""
        wait_for(lambda: route_hops(self.c.node1, self.table) == self.all_hops(), 10,
                 "both gateways in node1's route")
        wait_for(lambda: all(m["state"] == "Healthy" for m in egress_status(self.c.wacd1)["groups"][0]["gateways"]),
                 10, "both gateways probed healthy")
        wait_for(lambda: {seen(self.pod, self.c.ext) for _ in range(16)} == {EGRESS_A, EGRESS_B}, 10,
                 "new flows over both gateways")
        time.sleep(0.3)

    def use(self, probes):
        self.c.apply(self.doc(probes))
        self.table = egress_status(self.c.wacd1)["groups"][0]["table"]
        self.settle(probes)

    def flow(self, start, t0):
        result = wacnet.probe(self.pod, self.c.ext.ip4, FW_PORT, timeout=FLOW_TIMEOUT)
        return {"start": start - t0, "ok": result.ok, "peer": result.peer}

    def round(self, mode, index):
        spec = MODES[mode]
        dead, _ = self.gateways[index % 2]
        survivor_node, survivor_ip = self.gateways[(index + 1) % 2]
        dead_hop = dead.fabric_ip4
        stop = threading.Event()
        flows = []

        def launcher(t0):
            next_at = t0
            while not stop.is_set():
                now = time.monotonic()
                if now < next_at:
                    time.sleep(next_at - now)
                    continue
                flows.append(self.pool.submit(self.flow, time.monotonic(), t0))
                next_at += FLOW_EVERY

        trigger_done = {}

        def trigger():
            self.c.wacd1.apply(self.doc(spec["probes"], unhealthy=dead))
            trigger_done["node1_apply"] = time.monotonic()
            for wacd in self.c.wacds[1:]:
                wacd.apply(self.doc(spec["probes"], unhealthy=dead))

        trig = threading.Thread(target=trigger)
        if spec["trigger"] == "link":
            # At a random phase of node1's probes (settle() ends at a fixed
            # one, right after a successful probe).
            time.sleep(self.rng.uniform(0, 1.0))
            before = time.monotonic()
            ip_cmd(dead, "link", "set", "fab0", "down")
            # The link went down inside the command, just before it exited:
            # t0 at its return undercounts by that exit, never by its start.
            t0 = time.monotonic()
            trigger_done["link_cmd"] = t0 - before
        else:
            t0 = time.monotonic()
            trig.start()
        launch = threading.Thread(target=launcher, args=(t0,))
        launch.start()
        route_at = None
        deadline = t0 + 15
        try:
            while time.monotonic() < deadline:
                if dead_hop not in route_hops(self.c.node1, self.table):
                    route_at = time.monotonic() - t0
                    break
                time.sleep(ROUTE_POLL)
            end = time.monotonic() + TAIL
            while time.monotonic() < end:
                time.sleep(0.05)
        finally:
            stop.set()
            launch.join()
            if spec["trigger"] == "api":
                trig.join()
        results = sorted((f.result() for f in flows), key=lambda r: r["start"])
        good = [r["ok"] and r["peer"] == survivor_ip for r in results]
        last_bad = max((i for i, g in enumerate(good) if not g), default=-1)
        flows_at = results[last_bad + 1]["start"] if last_bad + 1 < len(results) else None
        row = {"mode": mode, "round": index + 1, "failed": dead.name, "survivor": survivor_node.name,
               "route_ms": None if route_at is None else round(route_at * 1000, 1),
               "flows_ms": None if flows_at is None else round(flows_at * 1000, 1),
               "flows": len(results), "bad_flows": good.count(False),
               "good_after": len(results) - last_bad - 1}
        if "node1_apply" in trigger_done:
            row["node1_apply_ms"] = round((trigger_done["node1_apply"] - t0) * 1000, 1)
        if "link_cmd" in trigger_done:
            row["link_cmd_ms"] = round(trigger_done["link_cmd"] * 1000, 1)
        # back to both gateways for the next round
        if spec["trigger"] == "link":
            self.c.restore_link(dead)
        else:
            self.c.apply(self.doc(spec["probes"]))
        self.settle(spec["probes"])
        return row


def machine():
    info = {}
    with open("/proc/cpuinfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    cpu = info.get("model name", "unknown CPU")
    cpu += f" (family {info.get('cpu family', '?')} model {info.get('model', '?')}, {float(info.get('cpu MHz', 0)):.0f} MHz"
    cpu += ", virtual machine)" if "hypervisor" in info.get("flags", "").split() else ")"
    return {"nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release()}


def revision():
    """The last commit that changed the C++ sources (the binaries' code, if
    they were built from this tree)."""
    proc = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h (%cs)", "--",
                           "agent", "api", "dns", "netlink", "nft"], capture_output=True, text=True)
    return f"commit {proc.stdout.strip()}" if proc.returncode == 0 and proc.stdout.strip() else "unknown sources"


def client_start_ms(wacctl, n=10):
    """How long `wacctl --help` takes: the client's own start, no request."""
    times = []
    for _ in range(n):
        start = time.monotonic()
        subprocess.run([wacctl, "--help"], capture_output=True)
        times.append((time.monotonic() - start) * 1000)
    return percentile(times, 50)


def summary(rows_by_mode, client_ms=None):
    lines = ["| failure | probe settings | rounds | (a) route updated p50 / max ms | "
             "(b) all new flows via survivor p50 / max ms | expected (a) |",
             "|---|---|---|---|---|---|"]
    for mode, rows in rows_by_mode.items():
        spec = MODES[mode]
        route = [r["route_ms"] for r in rows if r["route_ms"] is not None]
        flows = [r["flows_ms"] for r in rows if r["flows_ms"] is not None]
        bound = f"{spec['bound'][0] * 1000:.0f}-{spec['bound'][1] * 1000:.0f} + one sync" if spec["bound"] else "one sync"
        missing = len(rows) - len(route)
        lines.append(f"| {spec['title']} | {spec['settings']} | {len(rows)}"
                     f"{f' ({missing} never changed)' if missing else ''} | "
                     f"{percentile(route, 50):.0f} / {max(route):.0f} | "
                     f"{percentile(flows, 50):.0f} / {max(flows):.0f} | {bound} |")
    rows = [r for rs in rows_by_mode.values() for r in rs]
    held = [r for r in rows if r["route_ms"] is not None and r["flows_ms"] is not None
            and r["flows_ms"] <= r["route_ms"] + FLOW_EVERY * 1000]
    lines.append("")
    lines.append(f"In {len(held)} of {len(rows)} rounds (b) ≤ (a) + {FLOW_EVERY * 1000:.0f} ms: no new flow "
                 "started more than that after node1's route change was seen went to the failed gateway.")
    api = rows_by_mode.get("api", [])
    applied = [r["node1_apply_ms"] for r in api if r.get("node1_apply_ms") is not None]
    after = [r["route_ms"] - r["node1_apply_ms"] for r in api
             if r.get("node1_apply_ms") is not None and r["route_ms"] is not None]
    if applied:
        lines.append("")
        lines.append(f"API path: node1's `wacctl apply` returned {percentile(applied, 50):.0f} ms (p50; max "
                     f"{max(applied):.0f}) after it was started"
                     + (f" (`wacctl --help` alone takes {client_ms:.0f} ms, p50)" if client_ms else "")
                     + "; the "
                     f"route change was seen {percentile(after, 50):+.0f} ms (p50; max {max(after):+.0f}) from "
                     f"that return (the route is polled every {ROUTE_POLL * 1000:.0f} ms).")
    return "\n".join(lines)


def raw_table(rows):
    lines = ["| setting | round | failed | route ms | flows ms | flows (bad) |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['mode']} | {r['round']} | {r['failed']} | {r['route_ms']} | {r['flows_ms']} | "
                     f"{r['flows']} ({r['bad_flows']}) |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--mode", default="default,fast,api", help="comma-separated: default, fast, api")
    ap.add_argument("--build", default=os.environ.get("WAC_BUILD_DIR", str(ROOT / "build")))
    ap.add_argument("--seed", type=int, default=1, help="of the random wait before each link cut")
    ap.add_argument("--write", metavar="MD", help="also write the summary and the machine's details here")
    args = ap.parse_args()
    if os.geteuid() != 0:
        ap.error("run as root: the lab is made of network namespaces")
    modes = [m.strip() for m in args.mode.split(",") if m.strip()]
    for m in modes:
        if m not in MODES:
            ap.error(f"--mode: unknown {m!r} (default, fast, api)")
    os.environ["WAC_BUILD_DIR"] = args.build
    wacnet.install_signal_cleanup()
    wacnet.sweep_leftovers()
    command = " ".join(shlex.quote(a) for a in [sys.argv[0], *sys.argv[1:]])
    started = datetime.datetime.now().astimezone()
    load_before = os.getloadavg()
    rows_by_mode = {}
    with wacnet.Topology() as topo:
        lab = Lab(topo, args.seed)
        try:
            for mode in modes:
                lab.use(MODES[mode]["probes"])
                rows = rows_by_mode.setdefault(mode, [])
                for i in range(args.rounds):
                    row = lab.round(mode, i)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
        finally:
            lab.pool.shutdown(wait=True)
    load_after = os.getloadavg()
    table = summary(rows_by_mode, client_start_ms(wacnet.find_binary("wacctl")) if "api" in rows_by_mode else None)
    print(table)
    if args.write:
        m = machine()
        nft = subprocess.run(["nft", "--version"], capture_output=True, text=True).stdout.strip()
        text = f"""# Egress gateway failover

Measured by `test/bench/egress_failover.py` (see its docstring for the method): node1 runs a pod whose
EgressGateway has two gateways, node2 and node3 (ECMP per flow); in each round one of them (in turn) fails and
the script measures, from that moment, (a) until node1's route for the group no longer lists it (polled every
{ROUTE_POLL * 1000:.0f} ms) and (b) until every new flow goes through the survivor (a new TCP connection every
{FLOW_EVERY * 1000:.0f} ms, each allowed {FLOW_TIMEOUT * 1000:.0f} ms; (b) is the start of the first flow of the unbroken run of good
flows that lasts to the end of the round, {TAIL:.1f} s after (a)). A link cut is `ip link set fab0 down` on the
gateway node after a random wait of 0-1 s (a random phase of the probes), timed from the command's return; the
API path is `wacctl apply` of the resource with the gateway marked `healthy: false`, timed from the start of
node1's `wacctl`.

- Date: {started.strftime('%Y-%m-%d %H:%M %Z')}
- Machine: {m['nproc']} cores, {m['cpu']}, kernel {m['kernel']}, {nft}; shared with
  other work (load average {load_before[0]:.1f} before, {load_after[0]:.1f} after)
- wacd, wacctl: `{args.build}`, the C++ sources of {revision()}
- Command: `{command}`

{table}

Expected (a) for a link cut: the probe phase is random, so detection takes `(failureThreshold - 1) × interval +
timeout` to `failureThreshold × interval + timeout`, plus one sync. (b) can come before (a): flows that hash
onto the survivor succeed all along, and (b) only needs the last flow sent to the dead gateway to have started
before it.

Every round:

{raw_table([r for rows in rows_by_mode.values() for r in rows])}
"""
        Path(args.write).write_text(text)
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
