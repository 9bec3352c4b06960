"""The local demo (run by test/demo.sh): one node, three pods and an external
host in network namespaces, wacd enforcing a policy that lets only frontend
reach db:5432.  Prints the ruleset and one allowed and one denied connection;
exits non-zero unless both come out as expected.  Cleans up on any exit."""

import argparse
import os
import sys
import textwrap

import wacnet
from wacnet import Case

POLICY = """\
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: db-from-frontend
  namespace: demo
spec:
  selector: app == 'db'
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    source:
      selector: role == 'frontend'
    destination:
      ports: [5432]
"""


def banner(text: str) -> None:
    print(f"\n== {text}", flush=True)


def show_result(case: Case, result: wacnet.ProbeResult, as_expected: bool) -> None:
    src, dst = case.src.name, case.dst.name
    if result.ok:
        line = f"✔ {src} → {dst}:{case.port}  connected ({dst} saw {result.peer})"
    else:
        line = f"✘ {src} → {dst}:{case.port}  blocked ({result.reason})"
    verdict = "as expected" if as_expected else \
        f"UNEXPECTED: should be {'allowed' if case.expect else 'denied'}"
    print(f"  {line:<55} {verdict}", flush=True)


def run_demo(build_dir: str) -> int:
    os.environ["WAC_BUILD_DIR"] = os.path.abspath(build_dir)
    with wacnet.Topology() as topo:
        node = topo.add_node()
        frontend = topo.add_pod("demo", "frontend", labels={"role": "frontend"})
        db = topo.add_pod("demo", "db", labels={"app": "db"})
        other = topo.add_pod("demo", "other", labels={"role": "other"})
        ext = topo.add_external("ext")
        topo.start_server(db, tcp=[5432])
        banner("topology")
        print(f"  node {node.name}: netns {node.netns}")
        for pod in (frontend, db, other):
            print(f"  pod {pod.label:<14} {pod.ip4:<12} {pod.ip6:<18} host side {pod.iface}")
        print(f"  external host {ext.name}: {ext.ip4} {ext.ip6}")

        banner("starting wacd in the node namespace")
        wacd = topo.start_wacd(node, log_level="info")
        print(f"  {wacd.wacd_bin} (socket {wacd.socket}, log {wacd.log_path})")

        banner("wacctl apply: namespace, workload endpoints, policy")
        wacd.apply(wacnet.cluster_yaml(topo.pods))
        wacd.apply(POLICY)
        print(textwrap.indent(POLICY, "  "))

        cases = [Case(frontend, db, 5432, True), Case(other, db, 5432, False)]
        results, bad = wacnet.settle_matrix(cases, within=5.0)

        banner(f"nft list table inet wac (in {node.netns})")
        print(wacd.ruleset().rstrip("\n"))

        banner("connections")
        for i, (case, result) in enumerate(zip(cases, results)):
            show_result(case, result, i not in bad)
        if bad:
            print("\ndemo: FAILED — policy not enforced as expected", file=sys.stderr)
            print("--- wacd log (tail) ---\n" + wacd.log_tail(40), file=sys.stderr)
            return 1
        print("\ndemo: OK — frontend reaches db:5432, other is blocked")
        return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build-dir", default="build", help="where wacd and wacctl were built")
    args = ap.parse_args()
    wacnet.install_signal_cleanup()
    wacnet.sweep_leftovers()
    try:
        return run_demo(args.build_dir)
    except KeyboardInterrupt:
        print("\ndemo: interrupted; cleaned up", file=sys.stderr)
        return 130
    except (wacnet.BinaryNotFound, wacnet.WacdError, wacnet.CommandError) as exc:
        print(f"\ndemo: FAILED — {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
