"""wacd killed (SIGKILL) at random points while a controller streams changes,
round after round: after each restart the controller re-sends its snapshot
and the kernel matches that snapshot exactly within a second (no stale chain,
set or element); an established connection never drops; a flow every
snapshot allows is never refused, not even while wacd is dead.

WAC_KILL_ROUNDS sets the number of rounds (default 100; 25 in a sanitized build)."""

import os
import random
import re
import signal
import subprocess
import time

import wacnet
from wacnet import Case

# 100 rounds in a release build (CI runs it there); a sanitized build, where a
# restart takes seconds, looks for memory errors on the same paths in fewer.
ROUNDS = int(os.environ.get("WAC_KILL_ROUNDS", "100" if wacnet.SLOWDOWN == 1 else "25"))

POLICY = """
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: srv-from-clients
spec:
  order: 10
  selector: app == 'srv'
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    source:
      selector: role == 'client'
    destination:
      ports: [80]
"""

# Structural extras: a network set and a policy whose chains and sets exist
# only in this snapshot.
NETSET_AND_EGRESS = """
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata:
  name: partners
  labels: {kind: partners}
spec:
  nets: [203.0.113.0/25, 198.51.100.128/25]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: client-egress
spec:
  order: 20
  selector: role == 'client'
  types: [Egress]
  egress:
  - action: Allow
    destination:
      selector: kind == 'partners'
  - action: Allow
    destination:
      selector: app == 'srv'
"""


def remote_endpoints(count):
    """Element-only extras: clients on another node, in the policy's source set."""
    docs = []
    for i in range(count):
        docs.append({
            "apiVersion": "projectcalico.org/v3", "kind": "WorkloadEndpoint",
            "metadata": {"name": f"node2-k8s-remote{i}-eth0", "namespace": "default",
                         "labels": {"role": "client", "projectcalico.org/namespace": "default"}},
            "spec": {"node": "node2", "orchestrator": "k8s", "pod": f"remote{i}", "endpoint": "eth0",
                     "interfaceName": f"caliremote{i:05d}", "ipNetworks": [f"10.244.9.{i + 1}/32"]},
        })
    return wacnet.to_yaml(*docs)


def by_object(ruleset):
    """Sets, maps and chains in name order (creation order carries no meaning)."""
    objects, current = [], []
    for line in wacnet.normalize_ruleset(ruleset).splitlines():
        if re.match(r"\s+(set|map|chain) ", line) and current:
            objects.append("\n".join(current).strip())
            current = []
        current.append(line)
    objects.append("\n".join(current).strip())
    return "\n\n".join(sorted(objects))


def test_sigkill_at_random_points(topo):
    node = topo.add_node()
    client = topo.add_pod("default", "client", labels={"role": "client"})
    bad = topo.add_pod("default", "bad", labels={"role": "bad"})
    srv = topo.add_pod("default", "srv", labels={"app": "srv"})
    topo.start_server(srv, tcp=[80, 81])
    base = wacnet.cluster_yaml(topo.pods) + "---\n" + POLICY
    snapshots = [
        base,
        base.replace("ports: [80]", "ports: [80, 81]") + "---\n" + NETSET_AND_EGRESS,
        base + "---\n" + remote_endpoints(20),
    ]
    always_allowed = Case(client, srv, 80, True)
    always_denied = Case(bad, srv, 80, False)

    wacd = topo.start_wacd(node)
    revision = 0

    def replace(snapshot, check=True):
        nonlocal revision
        revision += 1
        return wacd.ctl("replace", "-f", "-", "--revision", str(revision), input=snapshot, check=check)

    # What each snapshot looks like in the kernel, programmed without faults.
    expected = []
    for snap in snapshots:
        replace(snap)
        expected.append(by_object(wacd.ruleset()))
    assert len(set(expected)) == len(expected)
    replace(snapshots[0])
    wacnet.assert_matrix([always_allowed, always_denied])

    conn = topo.open_connection(client, srv.ip4, 80)
    conn.start_heartbeat(interval=0.05)
    rng = random.Random(int(os.environ.get("WAC_KILL_SEED", "7")))
    worst = 0.0
    for r in range(ROUNDS):
        i = (r + 1) % len(snapshots)
        revision += 1
        inflight = subprocess.Popen(
            [wacd.wacctl_bin, "--socket", str(wacd.socket), "replace", "-f", "-", "--revision", str(revision)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        inflight.stdin.write(snapshots[i])
        inflight.stdin.close()
        time.sleep(rng.uniform(0, 0.03))
        assert wacd.kill(signal.SIGKILL) == -signal.SIGKILL
        inflight.wait(10)
        wacnet.assert_matrix([always_allowed], within=0)  # fail static while nobody is home

        wacd.start()
        wacnet.assert_matrix([always_allowed], within=0)
        start = time.monotonic()
        replace(snapshots[i])  # the controller cannot know what the kill lost
        while by_object(wacd.ruleset()) != expected[i]:
            assert time.monotonic() - start < wacnet.bound(1.0), (
                f"round {r}: kernel does not match snapshot {i} 1 s after it was sent")
            time.sleep(0.02)
        worst = max(worst, time.monotonic() - start)
        assert conn.ping(), f"round {r}: the established connection broke"
    stats = conn.stop_heartbeat()
    assert stats["failed"] == 0, stats
    wacnet.assert_matrix([always_allowed, always_denied], within=0)
    print(f"{ROUNDS} SIGKILL rounds; slowest convergence after re-send {worst * 1000:.0f} ms")
