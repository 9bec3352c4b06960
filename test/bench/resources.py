#!/usr/bin/python3
"""Agent resources at scale: wacd's resident memory and CPU on a node with
250 local pods in a large cluster, from the generator the comparison uses
(compare/cluster.py: policies, network sets, domain patterns).

    test/bench/resources.py                   # 1k, 10k and 100k endpoints; writes results/resources.md + .json
    test/bench/resources.py --quick           # self-check: a small cluster, short phases, no results file
    test/bench/resources.py --sizes 100000 --build-dir /work/build-wip

As root. Per size, in a fresh node namespace with a fresh wacd (empty state
directory, default configuration: DNS tap and hold on, metrics on, log level
info), driven the way a controller drives it, over one gRPC connection:

  1. the whole cluster in one Apply; wacd's CPU for it;
  2. after convergence (5 s after the Apply is answered): VmRSS and VmHWM;
  3. idle for --idle seconds: CPU seconds;
  4. --churn seconds of --rate endpoint changes a second (endpoints on another
     node, in a selector of an active policy, added and removed): CPU
     seconds, VmRSS every second, and the rate wacd's sync counter saw.

Nothing else talks to wacd meanwhile (no scrapes, no wacctl). A benchmark,
not a test: not part of ctest or CI.

--heap-profile DIR attaches heaptrack to each wacd before the cold Apply and
SIGKILLs wacd after the churn, so heaptrack's "leaked" report is the heap
wacd held at that moment, by call site (DIR/heap-N.txt). heaptrack slows
every allocation: the figures of such a run are not the benchmark's.
--perf DIR records wacd's CPU profile (perf, call graphs) during the churn
and writes perf report's top entries to DIR/churn-N.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE / "compare"))
sys.path.insert(0, str(REPO / "test" / "integration"))

import cluster as C  # noqa: E402
import compare  # noqa: E402  (machine(), snapshot_binaries())
import wacgrpc  # noqa: E402
import wacnet  # noqa: E402

TARGET_RSS_MIB = 64
SETTLE_SECONDS = 5.0
CHURN_POOL = 250
# Hand-written analysis (profiles, causes) below this line in resources.md
# survives a new run; everything above it is generated.
KEEP_MARKER = "<!-- resources.py keeps everything below this line -->"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def mib(kib: float) -> float:
    return kib / 1024


# --------------------------------------------------------------------------
# measuring one size


class RssSampler(threading.Thread):
    """VmRSS of a process every second until stopped."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.values = pid, []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            self.values.append(wacnet.process_memory(self.pid)["rss_kib"])

    def __enter__(self) -> "RssSampler":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.join()


def params_for(args, endpoints: int) -> C.Params:
    return C.Params(endpoints=endpoints, local=min(args.local, endpoints), policies=args.policies,
                    netsets=args.netsets, cidrs_per_set=args.cidrs, namespaces=args.namespaces, apps=args.apps,
                    domains=args.domains, seed=args.seed)


def cold_apply(ctl: wacgrpc.Controller, cl: C.Cluster, pid: int) -> dict:
    """The whole cluster in one Apply: wall time and wacd's CPU for it (the
    request is built first and not counted)."""
    t = time.perf_counter()
    request = wacgrpc.apply_request(cl.documents())
    built = time.perf_counter() - t
    cpu, t = wacnet.cpu_seconds(pid), time.perf_counter()
    ctl.call("Apply", request)
    return {"seconds": time.perf_counter() - t, "cpu_seconds": wacnet.cpu_seconds(pid) - cpu,
            "request_mib": len(request) / 2**20, "request_build_seconds": built}


def idle_phase(pid: int, seconds: float) -> dict:
    cpu = wacnet.cpu_seconds(pid)
    with RssSampler(pid) as rss:
        time.sleep(seconds)
    used = wacnet.cpu_seconds(pid) - cpu
    return {"seconds": seconds, "cpu_seconds": used, "cpu_share": used / seconds, "rss_max_kib": max(rss.values)}


class PerfProfile:
    """perf record of one process while a block runs; a text report after."""

    def __init__(self, directory, name: str, pid: int):
        self.base = Path(directory) / name if directory else None
        self.pid = pid

    def __enter__(self) -> "PerfProfile":
        if self.base:
            self.base.parent.mkdir(parents=True, exist_ok=True)
            self.proc = subprocess.Popen(["perf", "record", "-F", "499", "-g", "-p", str(self.pid), "-o",
                                          str(self.base.with_suffix(".data"))],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def __exit__(self, *exc) -> None:
        if not self.base:
            return
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=120)
        report = subprocess.run(["perf", "report", "--stdio", "--no-children", "--percent-limit", "1.5",
                                 "-g", "none", "-i", str(self.base.with_suffix(".data"))],
                                capture_output=True, text=True).stdout
        self.base.with_suffix(".txt").write_text(report)
        log(f"  CPU profile: {self.base.with_suffix('.txt')}")


def churn_phase(ctl: wacgrpc.Controller, cl: C.Cluster, pid: int, rate: float, seconds: float,
                perf_dir=None) -> dict:
    """Remote endpoints in the source selector of policy 0 (an active one)
    added and removed at `rate` a second; wacd's own sync count says how
    many changes it took."""
    pool = [C.Cluster.endpoint_doc(cl.remote_endpoint(r)) for r in range(CHURN_POOL)]
    churn = wacgrpc.EndpointChurn(ctl, pool)
    before, cpu = ctl.status(), wacnet.cpu_seconds(pid)
    with RssSampler(pid) as rss, PerfProfile(perf_dir, f"churn-{len(cl.endpoints)}", pid):
        paced = wacgrpc.Paced(rate, seconds, churn.change).run()
    used = wacnet.cpu_seconds(pid) - cpu
    after = ctl.status()
    delta = lambda key: int(after.get(key, 0)) - int(before.get(key, 0))
    return {"seconds": paced.elapsed, "changes": paced.steps, "changes_per_s": paced.steps / paced.elapsed,
            "wacd_syncs_per_s": delta("syncs") / paced.elapsed, "sync_errors": delta("syncErrors"),
            "foreign_changes": delta("foreignChanges"), "slowest_call_s": paced.slowest,
            "cpu_seconds": used, "cpu_share": used / paced.elapsed,
            "rss_max_kib": max(rss.values), "rss_min_kib": min(rss.values), "rss_end_kib": rss.values[-1]}


def dataplane(status: dict) -> dict:
    dns = status.get("dns", {})
    return {"chains": int(status.get("chains", 0)), "sets": int(status.get("sets", 0)),
            "elements": int(status.get("elements", 0)), "domain_patterns_in_use": int(dns.get("patterns", 0)),
            "resources": {k: int(v) for k, v in status.get("counts", {}).items()},
            "last_sync_ok": status.get("lastSyncOk", False)}


class HeapProfile:
    """heaptrack attached to a running wacd; finish() kills wacd so what it
    still holds is reported as leaked, and writes heaptrack_print's report."""

    def __init__(self, directory: str, endpoints: int, pid: int):
        self.base = Path(directory) / f"heap-{endpoints}"
        self.base.parent.mkdir(parents=True, exist_ok=True)
        self.pid = pid
        # Attached, heaptrack 1.4 ignores -o and writes heaptrack.wacd.<its own pid>.zst where it runs.
        self.proc = subprocess.Popen(["heaptrack", "-p", str(pid)], cwd=self.base.parent,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in self.proc.stdout:   # attached once it names its output file
            if "output will be written to" in line:
                break

    def finish(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        self.proc.communicate(timeout=600)
        data = max(self.base.parent.glob("heaptrack.wacd.*.zst"), key=lambda f: f.stat().st_mtime)
        report = subprocess.run(["heaptrack_print", "--print-leaks", "1", "--print-peaks", "1",
                                 "--print-allocators", "0", "--print-temporary", "0", "-n", "25", str(data)],
                                capture_output=True, text=True).stdout
        self.base.with_suffix(".txt").write_text(report)
        log(f"  heap profile: {self.base.with_suffix('.txt')}")


def measure(args, endpoints: int, wacd_bin: str, wacctl_bin: str) -> dict:
    cl = C.Cluster(params_for(args, endpoints))
    model = C.Model(cl)
    out = {"endpoints": endpoints, "active_policies": len(model.active)}
    with wacnet.Topology() as topo:
        node = topo.add_node(C.Cluster.NODE)
        wacd = topo.start_wacd(node, log_level="info", wacd=wacd_bin, wacctl=wacctl_bin)
        pid = wacd.pid
        out["fresh"] = wacnet.process_memory(pid)
        heap = HeapProfile(args.heap_profile, endpoints, pid) if args.heap_profile else None
        with wacgrpc.Controller(wacd.socket) as ctl:
            log(f"{endpoints:,} endpoints: cold Apply")
            out["cold"] = cold_apply(ctl, cl, pid)
            time.sleep(SETTLE_SECONDS)
            out["converged"] = wacnet.process_memory(pid)
            out["dataplane"] = dataplane(ctl.status())
            log(f"  converged: {out['cold']['seconds']:.1f} s, RSS {mib(out['converged']['rss_kib']):.1f} MiB, "
                f"HWM {mib(out['converged']['hwm_kib']):.1f} MiB; idle {args.idle:g} s")
            out["idle"] = idle_phase(pid, args.idle)
            log(f"  idle CPU {out['idle']['cpu_seconds']:.2f} s; churn {args.rate:g}/s for {args.churn:g} s")
            out["churn"] = churn_phase(ctl, cl, pid, args.rate, args.churn, args.perf)
            out["end"] = wacnet.process_memory(pid)
            log(f"  churn: {out['churn']['wacd_syncs_per_s']:.1f} syncs/s, CPU {out['churn']['cpu_seconds']:.1f} s, "
                f"RSS max {mib(out['churn']['rss_max_kib']):.1f} MiB")
        if heap:
            heap.finish()
    return out


# --------------------------------------------------------------------------
# results


def verdict(ok: bool) -> str:
    return "meets" if ok else "**misses**"


def table(results: list, args) -> str:
    rows = ["| | " + " | ".join(f"{r['endpoints']:,} endpoints" for r in results) + " |",
            "|---|" + "---|" * len(results)]

    def row(title, fn):
        rows.append(f"| {title} | " + " | ".join(fn(r) for r in results) + " |")
    row("active policies on the node / domain patterns in use",
        lambda r: f"{r['active_policies']} / {r['dataplane']['domain_patterns_in_use']:,}")
    row("programmed: chains / sets / elements",
        lambda r: f"{r['dataplane']['chains']:,} / {r['dataplane']['sets']:,} / {r['dataplane']['elements']:,}")
    row("cold Apply: wall s (wacd CPU s; request MiB)",
        lambda r: f"{r['cold']['seconds']:.1f} ({r['cold']['cpu_seconds']:.1f}; {r['cold']['request_mib']:.0f})")
    row("RSS of a fresh wacd (MiB)", lambda r: f"{mib(r['fresh']['rss_kib']):.1f}")
    row(f"**RSS after convergence** (MiB; target ≤ {TARGET_RSS_MIB})",
        lambda r: f"**{mib(r['converged']['rss_kib']):.1f}** "
                  f"({verdict(mib(r['converged']['rss_kib']) <= TARGET_RSS_MIB)})")
    row("... of which anonymous (heap) / file pages (binary, libraries) (MiB)",
        lambda r: f"{mib(r['converged']['anon_kib']):.1f} / {mib(r['converged']['file_kib']):.1f}")
    row("VmHWM after convergence (peak, during the cold Apply; MiB)", lambda r: f"{mib(r['converged']['hwm_kib']):.1f}")
    row(f"**idle CPU** over {args.idle:g} s (s; share of one core)",
        lambda r: f"**{r['idle']['cpu_seconds']:.2f}** ({r['idle']['cpu_share'] * 100:.2f} %)")
    row(f"churn: changes/s sent / syncs/s wacd counted (target {args.rate:g})",
        lambda r: f"{r['churn']['changes_per_s']:.1f} / {r['churn']['wacd_syncs_per_s']:.1f}")
    row(f"**CPU during churn** over {args.churn:g} s (s; share of one core)",
        lambda r: f"**{r['churn']['cpu_seconds']:.1f}** ({r['churn']['cpu_share'] * 100:.1f} %)")
    row(f"**RSS during churn**: min-max (MiB; target ≤ {TARGET_RSS_MIB})",
        lambda r: f"**{mib(r['churn']['rss_min_kib']):.1f}-{mib(r['churn']['rss_max_kib']):.1f}** "
                  f"({verdict(mib(r['churn']['rss_max_kib']) <= TARGET_RSS_MIB)})")
    row("VmHWM at the end (MiB)", lambda r: f"{mib(r['end']['hwm_kib']):.1f}")
    row("sync errors / foreign changes during churn",
        lambda r: f"{r['churn']['sync_errors']} / {r['churn']['foreign_changes']}")
    return "\n".join(rows) + "\n"


def write_results(args, cmd: str, results: list, elapsed: float, wacd_src: str, m: dict) -> None:
    out = Path(args.out)
    kept = ""
    if out.exists() and KEEP_MARKER in out.read_text():
        kept = out.read_text().split(KEEP_MARKER, 1)[1]
    p = params_for(args, max(r["endpoints"] for r in results))
    body = f"""# Agent resources at scale

Generated by `test/bench/resources.py` (raw figures: `resources.json`); the analysis after the marker at the
end is written by hand and kept when the script runs again.

Command (root): `{cmd}` ({elapsed:.0f} s)

- Date: {m['date']}; machine: {m['nproc']} cores ({m['cpu']}), shared with other engineers' builds (load
  average {m['load']} at the end of the run); kernel {m['kernel']}; {m['nft']}
- wacd from `{wacd_src}`{m.get('wacd_note', '')}, copied at the start of the run; default configuration
  (DNS tap and hold on, metrics on 127.0.0.1:9475, log level info), empty state directory
- Cluster (`compare/cluster.py`, seed {p.seed}): N endpoints, {p.local} of them on the measured node (their
  interfaces do not exist: wacd programs their chains all the same), {p.policies:,} policies (half namespaced),
  {p.netsets} global network sets x {p.cidrs_per_set} CIDRs ({p.netsets * p.cidrs_per_set:,} CIDRs),
  {p.namespaces} namespaces, {p.domains:,} domain patterns (egress rules allowing `destination.domains`, spread
  over the policies; those of the node's active policies are in use). Applied in one gRPC `Apply` on a
  connection kept open, as a controller does.
- Phases per size, each in a fresh node namespace and wacd: cold Apply; {SETTLE_SECONDS:g} s settle, then
  memory; {args.idle:g} s idle; {args.churn:g} s of {args.rate:g} endpoint changes/s (a pool of {CHURN_POOL} remote
  endpoints in a selector of an active policy, each change one `Apply` or `Delete`). CPU = user + system
  seconds of wacd (`/proc/PID/stat`), RSS = VmRSS, peak = VmHWM (`/proc/PID/status`).

{table(results, args)}
"""
    out.write_text(body + KEEP_MARKER + (kept or "\n"))
    raw = {"machine": m, "command": cmd, "elapsed_seconds": round(elapsed, 1), "wacd": wacd_src,
           "args": {k: getattr(args, k) for k in RECORDED_ARGS}, "results": results}
    out.with_suffix(".json").write_text(json.dumps(raw, indent=1, sort_keys=True) + "\n")
    log(f"wrote {out}")


RECORDED_ARGS = ("policies", "netsets", "cidrs", "local", "namespaces", "apps", "domains", "seed", "idle", "churn",
                 "rate")


# --------------------------------------------------------------------------
# main


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="self-check: a small cluster, short phases, no results file")
    ap.add_argument("--sizes", default="1000,10000,100000", help="endpoint counts (comma-separated)")
    ap.add_argument("--policies", type=int, default=2000)
    ap.add_argument("--netsets", type=int, default=500)
    ap.add_argument("--cidrs", type=int, default=200, help="CIDRs per network set")
    ap.add_argument("--local", type=int, default=250, help="endpoints on the measured node")
    ap.add_argument("--namespaces", type=int, default=100)
    ap.add_argument("--apps", type=int, default=1000)
    ap.add_argument("--domains", type=int, default=5000, help="domain patterns in the cluster")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--idle", type=float, default=30.0, help="idle seconds measured")
    ap.add_argument("--churn", type=float, default=60.0, help="seconds of endpoint churn")
    ap.add_argument("--rate", type=float, default=100.0, help="endpoint changes a second during the churn")
    ap.add_argument("--build-dir", default=os.environ.get("WAC_BUILD_DIR"),
                    help="where wacd and wacctl are (agent/, api/); default $WAC_BUILD_DIR, else PATH")
    ap.add_argument("--out", default=str(REPO / "test/bench/results/resources.md"))
    ap.add_argument("--no-write", action="store_true", help="print the table, do not write --out")
    ap.add_argument("--wacd-note", default="", help="what the binaries are, for the results")
    ap.add_argument("--heap-profile", metavar="DIR", help="heaptrack each wacd; implies --no-write (see above)")
    ap.add_argument("--perf", metavar="DIR", help="perf record wacd during the churn (see above)")
    args = ap.parse_args(argv)
    args.no_write = args.no_write or bool(args.heap_profile)
    if args.quick:
        args.sizes, args.no_write, args.idle, args.churn = "300", True, 3.0, 5.0
        args.policies, args.netsets, args.cidrs, args.local, args.domains = 200, 20, 20, 50, 100
    return args


def main(argv) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("resources: run as root (network namespaces)", file=sys.stderr)
        return 1
    wacnet.install_signal_cleanup()
    wacnet.sweep_leftovers()
    started = time.monotonic()
    bindir = Path(tempfile.mkdtemp(prefix="wac-resources-bin-"))
    try:
        wacd_bin, wacctl_bin, wacd_src, _ = compare.snapshot_binaries(args.build_dir, bindir)
        log(f"binaries: {wacd_src} (copied for the run)")
        results = [measure(args, int(n), wacd_bin, wacctl_bin) for n in args.sizes.split(",")]
        print(table(results, args))
        elapsed = time.monotonic() - started
        if not args.no_write:
            m = compare.machine()
            if args.wacd_note:
                m["wacd_note"] = f" ({args.wacd_note})"
            write_results(args, shlex.join(["test/bench/resources.py", *argv]), results, elapsed, wacd_src, m)
        failed = [r for r in results if not r["dataplane"]["last_sync_ok"] or r["churn"]["sync_errors"]]
        return 1 if failed else 0
    finally:
        shutil.rmtree(bindir, ignore_errors=True)
        wacnet.destroy_all()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
