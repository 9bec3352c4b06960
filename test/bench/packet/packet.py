#!/usr/bin/python3
"""Packet path: new TCP connections per second and small-packet forwarding
rate from a pod through the node, with wac's full-scale ruleset and with the
baselines', each as a fraction of a conntrack-only ruleset and of no ruleset
at all, measured in the same rounds.

    test/bench/packet/run.sh                    # writes test/bench/results/packet.{md,json}
    test/bench/packet/run.sh --quick            # self-check: small cluster, one K, no results file
    test/bench/packet/run.sh --focus 10,100,500,2000 --reps 5 --duration 3

The cluster comes from the control-plane comparison's generator
(test/bench/compare/cluster.py) with `focus_policies` = K: a client pod on the
node that K policies select, whose traffic to the server is allowed only by the
last rules of the last one (the worst case for a linear rule list).  Per K,
every implementation gets its own three namespaces (client pod -> node -> server,
veth links, the node forwarding) and its ruleset; each is checked with a small
connection matrix against the generator's reference model, then the
measurements run round-robin over the implementations (a different one first
each round), so background load on the shared machine falls on all of them
alike.  Measures, all by test/bench/packet/loadgen.c (built with gcc -O2):

  crr      new TCP connections/s: workers connect, exchange one byte, close
           with RST; each connection's SYN is evaluated against the policy
  udp      64-byte UDP datagrams/s counted at the receiver, established flows
           (conntrack accepts them before any policy rule)
  udp-new  the same flood with no reply ever seen, so every datagram is ct
           state new and evaluated against the policy: per-packet policy cost
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO / "test" / "bench" / "compare"))
sys.path.insert(0, str(REPO / "test" / "integration"))

import cluster as C  # noqa: E402
import compare  # noqa: E402
import wacnet  # noqa: E402
from wacnet import Case  # noqa: E402

log = compare.log

IMPLS = ("none", "ct-only", "wac", "iptables-legacy", "iptables-nft", "nft-file")
LABELS = {"none": "no ruleset", "ct-only": "conntrack only", "wac": "wac",
          "iptables-legacy": "iptables-legacy + ipset", "iptables-nft": "iptables-nft + ipset",
          "nft-file": "naive nftables (`nft -f`)"}
MEASURES = ("crr", "udp", "udp-new")
MEASURE_TITLES = {"crr": "new TCP connections per second (connect, 1 byte each way, close)",
                  "udp": "64-byte UDP packets per second received, established flow",
                  "udp-new": "64-byte UDP packets per second received, every packet ct state new "
                             "(no reply: each one evaluated against the policy)"}
SERVER_ADDRESSES = 4          # CRR workers spread over them: more 4-tuples for the ephemeral ports

# The conntrack-only baseline: the first rules of wac's (and the naive
# table's) forward chain, nothing after them.
CT_ONLY = """table inet ctonly {
  chain forward { type filter hook forward priority filter; policy accept;
    ct state established,related accept
    ct state invalid drop
  }
}
"""

# Applied to every node namespace alike, whatever its ruleset.
NODE_SYSCTLS = {
    "net.ipv4.conf.all.rp_filter": 0, "net.ipv4.conf.default.rp_filter": 0,
    # RST-closed connections stay 10 s in conntrack's CLOSE state by default:
    # at 10k connections/s that is 100,000 entries, growing with the rate
    "net.netfilter.nf_conntrack_tcp_timeout_close": 1,
    "net.netfilter.nf_conntrack_tcp_timeout_time_wait": 1,
}
CLIENT_SYSCTLS = {"net.ipv4.ip_local_port_range": "1024 65535"}
SERVER_SYSCTLS = {"net.core.somaxconn": 4096, "net.ipv4.tcp_max_syn_backlog": 4096}


# --------------------------------------------------------------------------
# one implementation's namespaces and ruleset


class Setup:
    """Client pod -> node -> server for one implementation, with its ruleset."""

    def __init__(self, name: str, cl: C.Cluster, model: C.Model, bins: dict):
        self.name, self.cl, self.model, self.bins = name, cl, model, bins
        self.topo = wacnet.Topology()
        self.node = self.topo.add_node(C.Cluster.NODE)
        f = cl.focus
        self.pod = self.topo.add_pod(f.ns, f.pod, node=self.node, ip=f.ip, ipv6=False, labels=f.labels)
        assert self.pod.iface == f.iface, (self.pod.iface, f.iface)
        self.server = self.topo.add_linked_external("srv", self.node, addresses=SERVER_ADDRESSES)
        self._tune()
        self.impl = self._make_impl()
        self.program_seconds = None

    def _tune(self) -> None:
        per_iface = {f"net.ipv4.conf.{i}.rp_filter": 0 for i in (self.pod.iface, "srv0")}
        wacnet.sysctl(self.node, {**NODE_SYSCTLS, **per_iface})
        wacnet.sysctl(self.pod, CLIENT_SYSCTLS)
        wacnet.sysctl(self.server, SERVER_SYSCTLS)

    def _make_impl(self):
        workdir = Path(self.topo.workdir) / self.name
        if self.name == "wac":
            return compare.WacGrpc(self.topo, self.node, workdir, self.bins["wacd"], self.bins["wacctl"])
        if self.name.startswith("iptables-"):
            return compare.Iptables(self.topo, self.node, workdir, self.name.split("-", 1)[1])
        if self.name == "nft-file":
            return compare.NftNaive(self.topo, self.node, workdir)
        return None

    def program(self) -> None:
        t = time.perf_counter()
        if self.impl is not None:
            self.impl.load(self.cl, self.model)
        elif self.name == "ct-only":
            run_in(self.node, ["nft", "-f", "-"], stdin=CT_ONLY)
        self.program_seconds = time.perf_counter() - t

    def pod_policy_jumps(self) -> int | None:
        """Policy chains the pod's egress chain jumps to, read back from the kernel."""
        iface = self.pod.iface
        if self.name == "wac":
            text = run_in(self.node, ["nft", "list", "chain", "inet", "wac",
                                      f"pod-{self.cl.focus.ns}/{self.cl.focus.pod}-egress"])
            return sum(1 for line in text.splitlines() if line.strip().startswith("jump "))
        if self.name.startswith("iptables-"):
            text = run_in(self.node, [f"{self.name}-save", "-t", "filter"])
            return sum(1 for line in text.splitlines() if line.startswith(f"-A cali-fw-{iface} -j cali-po-"))
        if self.name == "nft-file":
            text = run_in(self.node, ["nft", "list", "chain", "inet", "naive", f"fw-{iface}"])
            return sum(1 for line in text.splitlines() if line.strip().startswith("jump "))
        return None

    def close(self) -> None:
        if self.impl is not None:
            self.impl.close()
        self.topo.destroy()


def run_in(where, argv: list, stdin: str | None = None) -> str:
    proc = subprocess.run(["ip", "netns", "exec", where.netns, *argv], input=stdin,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} in {where.netns}: {proc.stderr.strip()[-2000:]}")
    return proc.stdout


# --------------------------------------------------------------------------
# checks before anything is timed


def matrix_cases(s: Setup) -> list:
    """The client's traffic to the server (allowed and denied, TCP and UDP)
    and the server's to the client, with the reference model's verdicts; no
    ruleset or conntrack only: everything passes."""
    f, m, srv = s.cl.focus, s.model, s.server
    out = []
    for proto, port in (("tcp", C.FOCUS_TCP_PORT), ("tcp", C.FOCUS_TCP_PORT + 1),
                        ("udp", C.FOCUS_UDP_PORT), ("udp", C.FOCUS_UDP_PORT + 1)):
        out.append(Case(s.pod, srv, port, m.allowed(f, srv.ip4, proto, port), proto=proto))
    for port in (C.FOCUS_INGRESS_PORT, C.FOCUS_INGRESS_PORT + 1):
        out.append(Case(srv, s.pod, port, m.allowed(srv.ip4, f.ip, "tcp", port, f)))
    if s.impl is None:
        out = wacnet.expect_all(out)
    return out


def check_designed_verdicts(cases: list) -> None:
    """The generator must give what the benchmark is built on: the measured
    traffic allowed, its neighbours on the next port denied."""
    want = [True, False, True, False, True, False]
    got = [c.expect for c in cases]
    if got != want:
        raise RuntimeError(f"the reference model's verdicts {got} are not the designed {want}")


def check_setup(s: Setup, k: int) -> list:
    """Problems found (empty: ready to time)."""
    problems = []
    cases = matrix_cases(s)
    if s.impl is not None:
        check_designed_verdicts(cases)
    servers = [s.topo.start_server(s.server, tcp=[C.FOCUS_TCP_PORT, C.FOCUS_TCP_PORT + 1],
                                   udp=[C.FOCUS_UDP_PORT, C.FOCUS_UDP_PORT + 1]),
               s.topo.start_server(s.pod, tcp=[C.FOCUS_INGRESS_PORT, C.FOCUS_INGRESS_PORT + 1])]
    try:
        results, bad = wacnet.settle_matrix(cases, within=3, timeout=0.5)
    finally:
        for server in servers:
            server.stop()       # loadgen listens on the same ports
    if bad:
        problems.append("connection matrix:\n" + wacnet.format_matrix([cases[i] for i in bad],
                                                                        [results[i] for i in bad]))
    jumps = s.pod_policy_jumps()
    if jumps is not None and jumps != k:
        problems.append(f"the pod's egress chain jumps to {jumps} policy chains, not {k}")
    if s.name == "wac":
        problems += wac_settled(s)
    return problems


def wac_settled(s: Setup) -> list:
    """wacd has programmed everything and is idle: its last sync succeeded
    and it spends no CPU (it keeps running while traffic is timed, as it
    would on a node)."""
    status = s.impl.wacd.ctl("status").stdout
    problems = [] if "Last sync:        ok" in status and "(0 failed)" in status else \
        [f"wacctl status:\n{status}"]
    cpu = wacd_cpu_seconds(s.impl.wacd.proc.pid)
    time.sleep(1.0)
    busy = wacd_cpu_seconds(s.impl.wacd.proc.pid) - cpu
    if busy > 0.05:
        problems.append(f"wacd used {busy:.2f} s of CPU in 1 s while it should be idle")
    return problems


def wacd_cpu_seconds(pid: int) -> float:
    return thread_cpu(pid)


# --------------------------------------------------------------------------
# measuring


def loadgen_argv(args, s: Setup, measure: str, warmup: float, duration: float) -> list:
    common = ["--client-netns", f"/run/netns/{s.pod.netns}", "--server-netns", f"/run/netns/{s.server.netns}",
              "--warmup", str(warmup), "--duration", str(duration)]
    if measure == "crr":
        return [args.loadgen, "crr", *common, "--server", ",".join(s.server.ip4s),
                "--port", str(C.FOCUS_TCP_PORT), "--workers", str(args.workers),
                "--server-threads", str(args.server_threads)]
    extra = ["--unreplied"] if measure == "udp-new" else []
    return [args.loadgen, "udp", *common, "--server", s.server.ip4, "--port", str(C.FOCUS_UDP_PORT),
            "--payload", "64", "--senders", "1", "--receivers", "1", *extra]


def measure_once(args, s: Setup, measure: str, warmup: float | None = None,
                 duration: float | None = None) -> dict:
    argv = loadgen_argv(args, s, measure, args.warmup if warmup is None else warmup,
                        args.duration if duration is None else duration)
    before = escaped_cpu()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    after = escaped_cpu()
    if proc.returncode != 0:
        raise RuntimeError(f"loadgen {measure} ({s.name}) exited {proc.returncode}: {proc.stderr.strip()}")
    result = json.loads(proc.stdout)
    result["process_cpu"] = after[0] - before[0]
    result["ksoftirqd_cpu"] = after[1] - before[1]
    return result


def escaped_cpu() -> tuple:
    """(CPU seconds of finished children, CPU seconds of the ksoftirqd
    threads).  Softirq work the kernel defers to ksoftirqd is not charged to
    loadgen; comparing the two says how much of the forwarding per-CPU
    figures might miss (ksoftirqd also serves the rest of the machine)."""
    import resource
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime, sum(thread_cpu(pid) for pid in KSOFTIRQD)


def thread_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


KSOFTIRQD = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
             and (p / "comm").exists() and (p / "comm").read_text().startswith("ksoftirqd/")]


METRICS = {"rate": "per second", "per_cpu": "per CPU-second"}
TOTALS = ("failed", "sent", "received", "process_cpu", "ksoftirqd_cpu")   # summed over the rounds


def rounds(args, setups: list, k: int) -> dict:
    """figures[metric][impl][measure] = [one per round]; metric "rate" (per
    second of the window) or "per_cpu" (per CPU-second loadgen's threads
    used in it, the forwarding they cause included: less sensitive to what
    else the shared cores run).  Within a round each measure runs on every
    implementation back to back (a different one first each round), so the
    ratios of one round compare figures taken seconds apart."""
    out = {metric: {s.name: {m: [] for m in args.measures} for s in setups} for metric in METRICS}
    out["totals"] = {s.name: {m: dict.fromkeys(TOTALS, 0) for m in args.measures} for s in setups}
    for r in range(args.reps):
        for m in args.measures:
            for s in setups[r % len(setups):] + setups[:r % len(setups)]:
                record(out, s.name, m, measure_once(args, s, m))
        log(f"K={k} round {r + 1}/{args.reps} ({'/'.join(args.measures)} per s | per CPU-s): " + "; ".join(
            f"{s.name} " + "/".join(f"{out['rate'][s.name][m][-1]:.0f}" for m in args.measures) + " | "
            + "/".join(f"{out['per_cpu'][s.name][m][-1]:.0f}" for m in args.measures) for s in setups))
    return out


def record(out: dict, impl: str, measure: str, result: dict) -> None:
    count = result.get("completed", result.get("received", 0))
    out["rate"][impl][measure].append(result["rate"])
    out["per_cpu"][impl][measure].append(count / result["cpu_seconds"] if result["cpu_seconds"] > 0 else 0.0)
    for key in out["totals"][impl][measure]:
        out["totals"][impl][measure][key] += result.get(key, 0)


def warm_up(args, setups: list) -> None:
    """One short untimed pass of every measure on every setup: neighbour
    entries, conntrack and caches settle before the first round."""
    for s in setups:
        for m in args.measures:
            measure_once(args, s, m, warmup=0.2, duration=0.5)


def run_k(args, k: int, bins: dict) -> dict:
    cl = C.Cluster(params_for(args, k))
    model = C.Model(cl)
    log(f"K={k}: {len(model.active)} active policies on the node, "
        f"{len(model.applies[cl.focus.iface]['egress'])} select the client pod")
    setups = []
    try:
        for name in args.impls:
            s = Setup(name, cl, model, bins)
            setups.append(s)
            s.program()
            problems = check_setup(s, k)
            log(f"K={k}: {name} programmed in {s.program_seconds:.1f} s; "
                + ("matrix as expected" if not problems else "PROBLEMS"))
            if problems:
                raise RuntimeError(f"{name} at K={k} is not ready to time:\n" + "\n".join(problems))
        if not args.quick:
            warm_up(args, setups)
        out = rounds(args, setups, k)
        out["program_seconds"] = {s.name: round(s.program_seconds, 2) for s in setups}
        out["active_policies"] = len(model.active)
        return out
    finally:
        for s in setups:
            s.close()


def params_for(args, k: int) -> C.Params:
    return C.Params(endpoints=args.endpoints, local=args.local, policies=args.policies, netsets=args.netsets,
                    cidrs_per_set=args.cidrs, namespaces=args.namespaces, apps=args.apps, seed=args.seed,
                    focus_policies=k)


# --------------------------------------------------------------------------
# results


def per_round_ratios(values: dict, impl: str, ref: str, measure: str) -> list:
    a, b = values[impl][measure], values[ref][measure]
    return [x / y for x, y in zip(a, b) if y > 0]


def summarize(figures: dict, impls: list, measures: list) -> dict:
    """summary[metric][k][impl][measure] = {median, vs_ct, vs_none, and the
    lowest and highest round of each ratio}: ratios are medians of the
    per-round ratios (both figures of a ratio taken seconds apart)."""
    out = {}
    for metric in METRICS:
        out[metric] = {}
        for k, data in figures.items():
            values = data[metric]
            out[metric][k] = {impl: {m: summary_cell(values, impl, m, impls) for m in measures} for impl in impls}
    return out


def summary_cell(values: dict, impl: str, measure: str, impls: list) -> dict:
    cell = {"median": statistics.median(values[impl][measure])}
    for key, ref in (("vs_ct", "ct-only"), ("vs_none", "none")):
        if ref in impls and impl != ref:
            ratios = per_round_ratios(values, impl, ref, measure)
            cell[key] = statistics.median(ratios)
            cell[key + "_min"], cell[key + "_max"] = min(ratios), max(ratios)
    return cell


def rate(x: float) -> str:
    return f"{x / 1e6:.2f} M" if x >= 1e6 else f"{x / 1e3:.0f} k" if x >= 1e5 else \
        f"{x / 1e3:.1f} k" if x >= 1e3 else f"{x:.0f}"


def pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.0f}%" if x >= 0.1 else f"{100 * x:.1f}%"


def table(summary: dict, impls: list, measure: str) -> str:
    head = ["policies on the pod"] + [LABELS[i] for i in impls]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for k, by_impl in summary.items():
        cells = []
        for impl in impls:
            c = by_impl[impl][measure]
            ratios = [pct(c[key]) for key in ("vs_ct", "vs_none") if key in c]
            cells.append(rate(c["median"]) + (f" ({' / '.join(ratios)})" if ratios else ""))
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def target_table(summary: dict, measures: list, impl: str = "wac") -> str:
    """impl / conntrack only per measure, metric and K, with the extreme rounds."""
    ks = list(summary["rate"])
    lines = ["| measure | " + " | ".join(f"K = {k}" for k in ks) + " |", "|---" * (len(ks) + 1) + "|"]
    for m in measures:
        for metric, unit in METRICS.items():
            cells = []
            for k in ks:
                c = summary[metric][k][impl][m]
                cells.append(f"**{pct(c['vs_ct'])}** ({pct(c['vs_ct_min'])}–{pct(c['vs_ct_max'])})")
            lines.append(f"| {m}, {unit} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_policy_costs(summary: dict, impls: list, measures: list) -> str:
    """CPU time per policy the packet passes: the slope of CPU per packet
    (1 / median per-CPU rate) between the smallest and the largest K."""
    ks = sorted(summary["per_cpu"])
    policy_measures = [m for m in ("crr", "udp-new") if m in measures]
    if len(ks) < 2 or not policy_measures:
        return ""
    lo, hi = ks[0], ks[-1]
    lines = ["| measure | " + " | ".join(LABELS[i] for i in impls if i not in ("none", "ct-only")) + " |",
             "|---" * (1 + len([i for i in impls if i not in ("none", "ct-only")])) + "|"]
    for m in policy_measures:
        cells = []
        for impl in impls:
            if impl in ("none", "ct-only"):
                continue
            a, b = (summary["per_cpu"][k][impl][m]["median"] for k in (lo, hi))
            cells.append(f"{(1 / b - 1 / a) / (hi - lo) * 1e9:.0f} ns" if a > 0 and b > 0 else "n/a")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return (f"\n**CPU time per policy on the path** (per packet for udp-new, per connection for crr): the growth "
            f"of CPU time per packet from K = {lo} to K = {hi}, divided by {hi - lo} policies (medians of the "
            "per-CPU figures)\n\n" + "\n".join(lines))


def tables(summary: dict, impls: list, measures: list) -> str:
    out = []
    if "wac" in impls and "ct-only" in impls:
        out.append("\n**wac / conntrack only** (the target is ≥ 95%): median of the per-round ratios, in brackets "
                   "the lowest and the highest round\n")
        out.append(target_table(summary, measures))
    out.append(per_policy_costs(summary, impls, measures))
    for m in measures:
        out.append(f"\n### {m}: {MEASURE_TITLES[m]}")
        for metric, unit in METRICS.items():
            out.append(f"\n{unit[0].upper() + unit[1:]}: medians; in brackets the median of the per-round "
                       "ratios to conntrack only / to no ruleset\n")
            out.append(table(summary[metric], impls, m))
    return "\n".join(out) + "\n"


def losses(figures: dict) -> str:
    """What could bias a figure: UDP datagrams lost between sender and
    receiver (over 1%: the receiver, not the forwarding, limited it), TCP
    exchanges that failed, and ksoftirqd's CPU against loadgen's (work the
    per-CPU figures would not see)."""
    lost, failed, escaped = [], [], []
    for k, data in figures.items():
        for impl, by_m in data["totals"].items():
            for m, t in by_m.items():
                if m != "crr" and t["sent"] and t["received"] < 0.99 * t["sent"]:
                    lost.append(f"K={k} {impl} {m}: {100 * (1 - t['received'] / t['sent']):.1f}%")
                if m == "crr" and t["failed"]:
                    failed.append(f"K={k} {impl}: {t['failed']}")
                if t["process_cpu"]:
                    escaped.append((t["ksoftirqd_cpu"] / t["process_cpu"], f"K={k} {impl} {m}"))
    worst = max(escaped) if escaped else (0.0, "")
    return ("- UDP datagrams lost between sender and receiver (over 1%): " + ("; ".join(lost) or "none") + ".\n"
            "- TCP exchanges that failed (1 s timeouts) in the counted windows: " + ("; ".join(failed) or "none")
            + ".\n- ksoftirqd's CPU time while loadgen ran, against loadgen's own: at most "
            f"{100 * worst[0]:.1f}% ({worst[1]}).")


def plural(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def first_line(argv: list) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True).stdout.strip().splitlines()[0]
    except Exception as exc:  # noqa: BLE001
        return f"({exc})"


def machine(bins: dict) -> dict:
    m = compare.machine()
    m["load_start"] = bins["load_start"]
    m["iptables_nft"] = first_line(["iptables-nft", "--version"])
    m["gcc"] = first_line(["gcc", "--version"])
    m["wacd"] = bins["wacd_src"]
    m["wacd_sha256"] = bins["wacd_sha256"]
    m["wacd_mtime"] = bins["wacd_mtime"]
    return m


def write_results(args, cmd: str, figures: dict, elapsed: float, m: dict) -> None:
    summary = summarize(figures, args.impls, args.measures)
    shape = "; ".join(f"K={k}: {d['active_policies']} active policies" for k, d in figures.items())
    programmed = "; ".join(f"K={k}: " + ", ".join(f"{i} {d['program_seconds'][i]:.1f} s" for i in args.impls
                                                    if i not in ("none", "ct-only"))
                           for k, d in figures.items())
    body = f"""# Packet path: wac against conntrack only, no ruleset, iptables + ipset and naive nftables

Generated by `test/bench/packet/packet.py`; do not edit by hand (raw figures, every round: `packet.json`;
`packet.py --render test/bench/results/packet.json` writes this file again from them).

Command (root): `{cmd}` ({elapsed:.0f} s)

- Date: {m['date']}; machine: {m['nproc']} cores ({m['cpu']}), shared with other work (load average
  {m['load_start']} at the start, {m['load']} at the end); kernel {m['kernel']}
- Versions: {m['iptables']}; {m['iptables_nft']}; {m['ipset']}; {m['nft']}; {m['gcc']};
  wacd from `{m['wacd']}` (modified {m['wacd_mtime']}, sha256 {m['wacd_sha256'][:12]}{m.get('wacd_note', '')};
  copied at the start of the run)
- Cluster (seed {args.seed}, the control-plane comparison's generator): {args.endpoints:,} endpoints, {args.local}
  on the node plus the client pod, {args.policies} policies, {args.netsets} network sets x {args.cidrs} CIDRs,
  and K more global policies that select the client pod ({shape}). Setting each ruleset up took (process
  starts and the loaded machine included; not a benchmark figure, `compare.md` has those): {programmed}.
- Loadgen: {args.workers} CRR workers against {SERVER_ADDRESSES} server addresses ({plural(args.server_threads, 'server thread')}); one UDP sender
  (sendmmsg, batches of 32) and one receiver; {args.warmup:g} s warm-up then {args.duration:g} s counted, per
  measurement; {args.reps} rounds per K, the implementations in a different order each round.

{tables(summary, args.impls, args.measures)}
{losses(figures)}

{READING}"""
    Path(args.out).write_text(body)
    raw = {"machine": m, "command": cmd, "elapsed_seconds": round(elapsed, 1),
           "args": {k: getattr(args, k) for k in RECORDED_ARGS}, "figures": figures, "summary": summary}
    Path(args.out).with_suffix(".json").write_text(json.dumps(raw, indent=1, sort_keys=True) + "\n")
    log(f"wrote {args.out}")


RECORDED_ARGS = ("focus", "reps", "warmup", "duration", "workers", "server_threads", "endpoints", "local", "policies", "netsets",
                 "cidrs", "namespaces", "apps", "seed", "impls", "measures")

READING = """## The setup

- Per implementation and K, three network namespaces: the client pod (its veth into the node is the
  `cali…` interface its endpoint names, its address the endpoint's), the node (forwarding; the ruleset
  lives here, wacd runs here) and the server (203.0.113.10-13 on a veth of its own into the node, no
  bridge). Nothing else is on the path; every packet is forwarded by the node.
- The client pod's egress chain jumps to K policy chains (checked in the kernel before timing); the
  traffic to the server is allowed by the last rules of the last one. Every other pod of the node and
  every other policy of the cluster is programmed too (wac, iptables and the naive table alike).
- Before timing, a connection matrix per implementation: client -> server TCP 8080 and UDP 9000
  allowed, 8081 and 9001 denied; server -> client TCP 7000 allowed, 7001 denied (the generator's
  reference model gives the verdicts; no ruleset and conntrack only pass everything). wacd must report
  its last sync OK and use no CPU for a second before anything is timed; it keeps running.
- Same kernel settings in every node namespace: rp_filter 0, conntrack's CLOSE and TIME_WAIT timeouts
  1 s (so the table stays small: an RST-closed connection stays 10 s by default); ephemeral ports
  1024-65535 in the client.
- Two figures per measurement: the rate over the counted window, and the count per CPU-second that
  loadgen's threads used in it (getrusage; the kernel charges the forwarding of a packet to the thread
  that sent it, as it runs in that thread's softirq context: ksoftirqd's share is given above). With
  the cores to itself the two would move together; on shared cores the rate also follows how much CPU
  the run got, so the per-CPU figure is the steadier comparison.
- wacd keeps running while traffic is timed, idle (as on a node); the other implementations have no
  process running.
- **no ruleset**: no table at all, so no conntrack either: the limit. **conntrack only**: one nft
  forward chain with `ct state established,related accept; ct state invalid drop`, the first two rules
  of wac's and the naive table's forward chain.

## What differs between the implementations (fairness)

- wac does more per packet than the baselines: its policy rules are rendered for both families (an
  `ip6` twin after each IPv4 rule that names addresses; an IPv4 packet fails it at its first match),
  every rule has a counter (paid where a rule matches), each pod chain starts with an anti-spoofing rule,
  and its DNS policy support hooks two more postrouting chains (`oifname "cali*"` matches; the client's
  packets leave through the server's link, so they fail the first match there).
- The naive nft table has wac's structure (verdict maps for dispatch, a chain per pod and per policy,
  interval sets) without those extras: the difference between wac and it is what they cost.
- iptables + ipset follows Calico's classic layout: dispatch chains as a shallow tree by interface
  name, per-pod and per-policy chains, a `hash:net` ipset per selector, mark-and-return between policy
  chains. Rules test protocol and ports (multiport) before the ipset; wac tests the set first, then
  protocol and port; the naive table tests the protocol, then the set, then the port.
- Only the measured pod's egress chain is on the path (the server has no endpoint); ingress to a pod
  is not measured.
"""


# --------------------------------------------------------------------------
# main


def build_loadgen(into: Path) -> str:
    out = into / "loadgen"
    subprocess.run(["gcc", "-O2", "-Wall", "-pthread", "-o", str(out), str(HERE / "loadgen.c")], check=True)
    return str(out)


def snapshot(args, into: Path) -> dict:
    wacd, wacctl, wacd_src, wacctl_src = compare.snapshot_binaries(args.build_dir, into)
    st = os.stat(wacd_src)
    return {"wacd": wacd, "wacctl": wacctl, "wacd_src": wacd_src,
            "wacd_sha256": hashlib.sha256(Path(wacd).read_bytes()).hexdigest(),
            "wacd_mtime": datetime.datetime.fromtimestamp(st.st_mtime, datetime.timezone.utc)
            .strftime("%Y-%m-%d %H:%M UTC"),
            "load_start": " ".join(open("/proc/loadavg").read().split()[:3])}


def generic_matrix(args, bins: dict) -> None:
    """The control-plane comparison's matrix (every pod pair of a small
    cluster, the client pod and 3 focus policies included) over wac and the
    policy baselines: the renderers agree with the model beyond the six
    connections the timed setups check."""
    ns = argparse.Namespace(seed=args.seed, impls=["wac-grpc" if i == "wac" else i for i in args.impls
                                                    if i not in ("none", "ct-only")])
    outcome = compare.check_matrix(ns, bins["wacd"], bins["wacctl"], focus_policies=3)
    if any(bad for _, bad, _ in outcome):
        raise RuntimeError("the implementations do not enforce the same decisions (matrix above); nothing timed")


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="self-check in under a minute; writes nothing")
    ap.add_argument("--focus", default="10,100,500,2000", help="policies selecting the client pod (K), comma-separated")
    ap.add_argument("--reps", type=int, default=9, help="rounds per K")
    ap.add_argument("--warmup", type=float, default=0.5, help="seconds of traffic before counting, per measurement")
    ap.add_argument("--duration", type=float, default=2.0, help="seconds counted per measurement")
    # more threads than the 2 cores only add scheduling cost per connection
    # (the same for every ruleset: it dilutes the differences and, with the
    # cores shared, makes the per-CPU figure noisier)
    ap.add_argument("--workers", type=int, default=2, help="CRR client threads")
    ap.add_argument("--server-threads", type=int, default=1, help="CRR server threads")
    ap.add_argument("--endpoints", type=int, default=10000)
    ap.add_argument("--local", type=int, default=250, help="endpoints on the node (besides the client pod)")
    ap.add_argument("--policies", type=int, default=2000)
    ap.add_argument("--netsets", type=int, default=500)
    ap.add_argument("--cidrs", type=int, default=200, help="CIDRs per network set")
    ap.add_argument("--namespaces", type=int, default=100)
    ap.add_argument("--apps", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--impls", default=",".join(IMPLS))
    ap.add_argument("--measures", default=",".join(MEASURES))
    ap.add_argument("--build-dir", default=os.environ.get("WAC_BUILD_DIR"),
                    help="where wacd and wacctl are (agent/, api/); default $WAC_BUILD_DIR, else PATH")
    ap.add_argument("--wacd-note", default="", help="what the binaries are, for the results")
    ap.add_argument("--out", default=str(REPO / "test/bench/results/packet.md"))
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--skip-matrix", action="store_true", help="skip the small cluster's full matrix")
    ap.add_argument("--render", metavar="JSON", help="write --out again from a run's packet.json; measure nothing")
    args = ap.parse_args(argv)
    if args.quick:
        args.focus, args.reps, args.warmup, args.duration, args.no_write = "50", 1, 0.2, 0.4, True
        args.endpoints, args.local, args.policies, args.netsets, args.cidrs = 300, 50, 200, 20, 20
        args.skip_matrix = True
    args.focus = [int(k) for k in args.focus.split(",")]
    args.impls = args.impls.split(",")
    args.measures = args.measures.split(",")
    unknown = set(args.impls) - set(IMPLS) | set(args.measures) - set(MEASURES)
    if unknown:
        ap.error(f"unknown: {', '.join(sorted(unknown))}")
    return args


def render(args) -> int:
    raw = json.loads(Path(args.render).read_text())
    for k, v in raw["args"].items():
        setattr(args, k, v)
    figures = {int(k): data for k, data in raw["figures"].items()}
    write_results(args, raw["command"], figures, raw["elapsed_seconds"], raw["machine"])
    return 0


def main(argv) -> int:
    args = parse_args(argv)
    if args.render:
        return render(args)
    if os.geteuid() != 0:
        print("packet: run as root (network namespaces)", file=sys.stderr)
        return 1
    wacnet.install_signal_cleanup()   # no sweep of earlier runs: the machine is shared, they may not be ours
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix=f"wac-packet-{os.getpid()}-"))   # run.sh removes it if this dies
    try:
        bins = snapshot(args, tmp)
        args.loadgen = build_loadgen(tmp)
        log(f"binaries: {bins['wacd_src']} (copied), loadgen built with gcc -O2")
        if not args.skip_matrix:
            generic_matrix(args, bins)
        figures = {k: run_k(args, k, bins) for k in args.focus}
        summary = summarize(figures, args.impls, args.measures)
        print(tables(summary, args.impls, args.measures))
        elapsed = time.monotonic() - started
        if not args.no_write:
            m = machine(bins)
            if args.wacd_note:
                m["wacd_note"] = f"; {args.wacd_note}"
            write_results(args, shlex.join(["test/bench/packet/run.sh", *argv]), figures, elapsed, m)
        log(f"done in {elapsed:.0f} s")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        wacnet.destroy_all()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
