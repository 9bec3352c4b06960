"""Self-test of the end-to-end harness (wacnet + fixtures), without wacd:
topologies route as Calico would, probes see the true source address,
denials are detected, and nothing is left behind, even after a crash."""

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import wacnet
from wacnet import Case

HERE = Path(__file__).resolve().parent


def root_links() -> set:
    return set(wacnet.run(["ip", "-o", "link", "show"]).stdout.split("\n"))


def full_mesh(endpoints, port, protos=("tcp", "udp"), families=(4, 6)):
    return [Case(s, d, port, True, proto, fam)
            for s in endpoints for d in endpoints if s is not d
            for proto in protos for fam in families]


def test_single_node_connectivity_and_source_addresses(topo):
    topo.add_node()
    a = topo.add_pod("default", "a")
    b = topo.add_pod("default", "b")
    c = topo.add_pod("other", "c")
    ext = topo.add_external("ext", addresses=2)
    for host in (a, b, c, ext):
        topo.start_server(host, tcp=[80], udp=[53])

    cases = full_mesh([a, b, c, ext], 80, protos=("tcp",)) + full_mesh([a, b, c, ext], 53, ("udp",))
    # the external host's second address, both families and protocols
    cases += [Case(a, ext, port, True, proto, fam, ip=ext.ip4s[1] if fam == 4 else ext.ip6s[1])
              for proto, port in (("tcp", 80), ("udp", 53)) for fam in (4, 6)]
    results = wacnet.assert_matrix(cases, within=0)
    for case, res in zip(cases, results):
        if isinstance(case.src, wacnet.Pod):  # pods are never NATed: exactly their own address
            assert res.peer == case.src.ip(case.family), case.title
    assert all(r.seconds < 0.5 for r in results)


def test_calico_style_plumbing(topo):
    node = topo.add_node()
    pod = topo.add_pod("kube-system", "coredns-5d78c9869d-x7k2p")
    assert pod.iface.startswith("cali") and len(pod.iface) == wacnet.IFNAMSIZ
    assert pod.iface == wacnet.calico_iface_name("kube-system", "coredns-5d78c9869d-x7k2p")
    assert pod.wep_name == "node1-k8s-coredns--5d78c9869d--x7k2p-eth0"
    assert pod.ip4 == "10.244.1.2" and pod.ip6 == "fd00:244:0:1::2"

    inside4 = wacnet.run(["ip", "-n", pod.netns, "-4", "route"]).stdout
    inside6 = wacnet.run(["ip", "-n", pod.netns, "-6", "route"]).stdout
    assert "default via 169.254.1.1 dev eth0 onlink" in inside4
    assert "default via fe80::1 dev eth0" in inside6
    host4 = wacnet.run(["ip", "-n", node.netns, "-4", "route"]).stdout
    host6 = wacnet.run(["ip", "-n", node.netns, "-6", "route"]).stdout
    assert f"{pod.ip4} dev {pod.iface} scope link" in host4
    assert f"{pod.ip6} dev {pod.iface}" in host6
    assert wacnet.read_sysctl(node, f"net.ipv4.conf.{pod.iface}.proxy_arp") == "1"
    assert wacnet.read_sysctl(node, "net.ipv4.ip_forward") == "1"
    assert wacnet.read_sysctl(node, "net.ipv6.conf.all.forwarding") == "1"
    link = wacnet.run(["ip", "-n", node.netns, "link", "show", pod.iface]).stdout
    assert wacnet.CALICO_HOST_MAC in link


def test_two_nodes_and_external_host(topo):
    n1, n2 = topo.add_node(), topo.add_node()
    a = topo.add_pod("default", "a", node=n1)
    b = topo.add_pod("default", "b", node=n2)
    ext = topo.add_external("ext", node=n1)
    assert b.ip4 == "10.244.2.2" and b.ip6 == "fd00:244:0:2::2"
    for host in (a, b, ext):
        topo.start_server(host, tcp=[80], udp=[53])
    wacnet.assert_matrix(full_mesh([a, b, ext], 80, ("tcp",)) + full_mesh([a, b, ext], 53, ("udp",)),
                         within=0)
    # pod -> pod across nodes really crosses the node network (ttl 64 - 2 hops)
    out = wacnet.run(["ip", "netns", "exec", a.netns, "ping", "-c1", "-W1", b.ip4]).stdout
    assert "ttl=62" in out


def test_denials_are_detected_and_reported(topo):
    node = topo.add_node()
    a = topo.add_pod("default", "a")
    b = topo.add_pod("default", "b")
    topo.start_server(b, tcp=[80], udp=[53])

    ok, peer = wacnet.connect(a, b.ip4, 81, timeout=1.0)  # nothing listens: refused, fast
    assert (ok, peer) == (False, None)
    assert wacnet.probe(a, b.ip4, 81).reason == "refused"

    # a drop in the server's own namespace (not wac's table) looks like a policy deny
    wacnet.nft(b, "add table inet harness")
    wacnet.nft(b, "add chain inet harness in { type filter hook input priority 0 ; }")
    wacnet.nft(b, "add rule inet harness in tcp dport 80 drop")
    wacnet.nft(b, "add rule inet harness in udp dport 53 drop")
    start = time.monotonic()
    res = wacnet.probe(a, b.ip4, 80, timeout=0.5)
    assert not res.ok and res.reason == "timeout" and time.monotonic() - start < 1.0
    assert not wacnet.probe(a, b.ip6, 53, "udp", timeout=0.5).ok

    cases = [Case(a, b, 80, True), Case(a, b, 53, False, "udp"), Case(a, b, 81, False)]
    with pytest.raises(AssertionError) as err:
        wacnet.assert_matrix(cases, within=0.3, timeout=0.3)
    table = str(err.value)
    assert "1 of 3 connections not as expected" in table
    assert re.search(r"default/a -> default/b \[10\.244\.1\.3\]:80/tcp +allow +deny +timeout +<-- MISMATCH",
                     table), table
    assert table.count("MISMATCH") == 1

    # a wrong source address is a mismatch too (e.g. an unexpected SNAT)
    spoofed = Case(wacnet.Pod("x", "y", node, "10.244.1.99", None, "caliX", a.netns), b, 81, False)
    assert wacnet.format_matrix([spoofed], [wacnet.ProbeResult(True, "10.244.1.2", "ok", 0)]) \
        .endswith("<-- WRONG SOURCE")

    wacnet.nft(b, "delete table inet harness")
    wacnet.assert_matrix([Case(a, b, 80, True), Case(a, b, 53, True, "udp")], within=0)


def test_established_connection_detects_loss_and_recovery(topo):
    node = topo.add_node()
    client = topo.add_pod("default", "client")
    server = topo.add_pod("default", "server")
    topo.start_server(server, tcp=[80])
    conn = topo.open_connection(client, server.ip4, 80)
    assert conn.peer == client.ip4
    assert conn.ping()
    conn.start_heartbeat(interval=0.02)
    time.sleep(0.3)
    stats = conn.stop_heartbeat()
    assert stats["failed"] == 0 and stats["ok"] >= 5

    # drop the established flow in the middle: pings fail, then recover
    wacnet.nft(node, "add table inet harness")
    wacnet.nft(node, "add chain inet harness block_flow { type filter hook forward priority 0 ; }")
    wacnet.nft(node, f"add rule inet harness block_flow ip daddr {server.ip4} drop")
    assert not conn.ping(timeout=0.3)
    wacnet.nft(node, "delete table inet harness")
    assert conn.ping(timeout=3.0)  # TCP retransmits the lost token; its late echo is skipped


def test_destroy_leaves_nothing_behind():
    links_before = root_links()
    topo = wacnet.Topology()
    topo.add_node()
    topo.add_node()
    pod = topo.add_pod("default", "a")
    topo.add_external("ext")
    topo.start_server(pod, tcp=[80])
    sleeper = topo.spawn(pod, ["sleep", "300"])
    names = topo.netns_names()
    assert len(names) == 5 and all(n.startswith(topo.prefix + "-") for n in names)
    assert set(names) <= set(wacnet.list_run_netns(wacnet.RUN_TAG))
    workdir = topo.workdir
    assert workdir.is_dir()

    assert topo.destroy() == []
    netns_list = wacnet.run(["ip", "netns", "list"]).stdout
    assert not any(n in netns_list for n in names)
    assert sleeper.poll() is not None
    assert not workdir.exists()
    assert root_links() == links_before  # nothing was ever created in the root namespace
    assert topo.destroy() == []  # idempotent


def _run_child(code: str) -> subprocess.Popen:
    script = f"import sys\nsys.path.insert(0, {str(HERE)!r})\n" + textwrap.dedent(code)
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" not in f.read()
    except FileNotFoundError:
        return False


def test_sweep_removes_what_a_killed_run_left():
    child = _run_child("""
        import os, signal, subprocess, wacnet
        t = wacnet.Topology()
        t.add_node(); p = t.add_pod("default", "a")
        # started without a parent-death signal, as a stray process would be
        s = subprocess.Popen(["ip", "netns", "exec", p.netns, "sleep", "300"],
                             stdout=subprocess.DEVNULL)
        print(s.pid, *t.netns_names(), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    out, _ = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    pid, *names = out.split()
    assert names and all(wacnet._netns_exists(n) for n in names)
    assert _alive(int(pid))

    swept = wacnet.sweep_leftovers()
    assert set(names) <= set(swept)
    assert not any(wacnet._netns_exists(n) for n in names)
    deadline = time.monotonic() + 5
    while _alive(int(pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(int(pid))


def test_sigterm_tears_down():
    child = _run_child("""
        import time, wacnet
        wacnet.install_signal_cleanup()
        t = wacnet.Topology()
        t.add_node(); t.add_pod("default", "a")
        print(*t.netns_names(), flush=True)
        time.sleep(60)
    """)
    names = child.stdout.readline().split()
    assert names and all(wacnet._netns_exists(n) for n in names)
    child.send_signal(signal.SIGTERM)
    child.wait(timeout=30)
    assert not any(wacnet._netns_exists(n) for n in names)


def test_yaml_for_endpoints_and_namespaces(topo):
    topo.add_node()
    pod = topo.add_pod("shop", "db-0", labels={"app": "db", "tier": "backend"},
                       ports=[("pg", 5432, "TCP")])
    assert pod.wep_yaml() == textwrap.dedent(f"""\
        ---
        apiVersion: "projectcalico.org/v3"
        kind: "WorkloadEndpoint"
        metadata:
          name: "node1-k8s-db--0-eth0"
          namespace: "shop"
          labels:
            app: "db"
            tier: "backend"
            projectcalico.org/namespace: "shop"
            projectcalico.org/orchestrator: "k8s"
            projectcalico.org/serviceaccount: "default"
        spec:
          node: "node1"
          orchestrator: "k8s"
          pod: "db-0"
          endpoint: "eth0"
          interfaceName: "{pod.iface}"
          ipNetworks:
            - "10.244.1.2/32"
            - "fd00:244:0:1::2/128"
          ports:
            - name: "pg"
              port: 5432
              protocol: "TCP"
        """)
    assert wacnet.namespace_yaml("ops", {"team": "ops"}) == (
        '---\napiVersion: "v1"\nkind: "Namespace"\nmetadata:\n  name: "ops"\n'
        '  labels:\n    team: "ops"\n')
    assert wacnet.to_yaml({"a": [], "b": {}, "c": True, "weird key": 'say "hi"'}) == (
        '---\na: []\nb: {}\nc: true\n"weird key": "say \\"hi\\""\n')


def test_ruleset_normalization():
    listing = ('set s {\n\t\ttype ipv4_addr\n\t\telements = { 10.0.0.9 comment "x, y", 10.0.0.1,\n'
               '\t\t\t     10.0.0.5 expires 2s }\n\t}')
    reordered = listing.replace('10.0.0.9 comment "x, y", 10.0.0.1', '10.0.0.1, 10.0.0.9 comment "x, y"')
    assert wacnet.normalize_ruleset(listing) == wacnet.normalize_ruleset(reordered)
    assert '    10.0.0.9 comment "x, y",\n' in wacnet.normalize_ruleset(listing)
    wacnet.assert_same_ruleset(listing, reordered)
    with pytest.raises(AssertionError):
        wacnet.assert_same_ruleset(listing, listing.replace("10.0.0.5", "10.0.0.6"))


def test_strip_counters():
    listing = ("chain x {\n\t\tip saddr 10.0.0.1 counter packets 12 bytes 3400 accept\n"
               "\t\telements = { 10.0.0.2 expires 3s120ms }\n}")
    assert wacnet.strip_counters(listing) == (
        "chain x {\n\t\tip saddr 10.0.0.1 counter accept\n\t\telements = { 10.0.0.2 }\n}")
    wacnet.assert_same_ruleset(listing, listing.replace("12 bytes 3400", "99 bytes 1"))
    with pytest.raises(AssertionError, match=r"\+\t\tip saddr 10.0.0.9"):
        wacnet.assert_same_ruleset(listing, listing.replace("10.0.0.1", "10.0.0.9"))


# --- wacd plumbing, exercised with stand-in binaries -----------------------

FAKE_WACD = r'''#!/usr/bin/env python3
# Stand-in for wacd: serves a unix socket until SIGTERM; logs to stderr.
import argparse, os, signal, socket, sys, time
ap = argparse.ArgumentParser()
for flag in ("--node-name", "--socket", "--state-dir", "--iface-prefix", "--log-level"):
    ap.add_argument(flag)
ap.add_argument("--exit-early", action="store_true")
ap.add_argument("--never-ready", action="store_true")
a = ap.parse_args()
print(f"fake wacd node={a.node_name} netns={os.readlink('/proc/self/ns/net')} "
      f"state={a.state_dir} prefix={a.iface_prefix}", file=sys.stderr, flush=True)
if a.exit_early:
    print("fake wacd: giving up", file=sys.stderr)
    sys.exit(3)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
if not a.never_ready:
    if os.path.exists(a.socket):
        os.unlink(a.socket)
    s = socket.socket(socket.AF_UNIX)
    s.bind(a.socket)
    s.listen(8)
while True:
    time.sleep(1)
'''

FAKE_WACCTL = r'''#!/usr/bin/env python3
# Stand-in for wacctl: status = can connect; apply/delete log stdin; get echoes.
import json, os, socket, sys
args = sys.argv[1:]
assert args[0] == "--socket"
sock, cmd, rest = args[1], args[2], args[3:]
log = os.path.join(os.path.dirname(sock), "ctl.log")
if cmd == "status":
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(sock)
    except OSError as e:
        print(f"cannot reach wacd: {e}", file=sys.stderr)
        sys.exit(1)
    print("ok")
elif cmd in ("apply", "delete"):
    text = sys.stdin.read()
    if "INVALID" in text:
        print("error: document 1: spec.selector: bad", file=sys.stderr)
        sys.exit(1)
    with open(log, "a") as f:
        f.write(f"{cmd}:{text}")
elif cmd == "get":
    print(json.dumps({"args": rest}))
else:
    sys.exit(2)
'''


@pytest.fixture
def fake_build(tmp_path, monkeypatch):
    build = tmp_path / "build"
    for sub, name, text in (("agent", "wacd", FAKE_WACD), ("api", "wacctl", FAKE_WACCTL)):
        (build / sub).mkdir(parents=True, exist_ok=True)
        path = build / sub / name
        path.write_text(text.replace("/usr/bin/env python3", sys.executable))
        path.chmod(0o755)
    monkeypatch.setenv("WAC_BUILD_DIR", str(build))
    return build


def test_find_binary(fake_build, tmp_path, monkeypatch):
    assert wacnet.find_binary("wacd") == str(fake_build / "agent" / "wacd")
    assert wacnet.find_binary("wacctl") == str(fake_build / "api" / "wacctl")
    top = fake_build / "wacd"
    top.write_text("#!/bin/sh\n")
    top.chmod(0o755)
    assert wacnet.find_binary("wacd") == str(top)  # the build dir's top level wins
    monkeypatch.setenv("WAC_BUILD_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("PATH", str(fake_build / "api"))
    assert wacnet.find_binary("wacctl") == str(fake_build / "api" / "wacctl")
    with pytest.raises(wacnet.BinaryNotFound, match=r"wacd not found: looked in .*empty/agent/wacd"):
        wacnet.find_binary("wacd")


def test_wacd_lifecycle(fake_build, topo):
    node = topo.add_node()
    wacd = topo.start_wacd(node)
    assert wacd.running and wacd.socket.exists()
    netns_inode = os.stat(f"/run/netns/{node.netns}").st_ino
    assert f"node=node1 netns=net:[{netns_inode}]" in wacd.log_tail()  # runs inside the node
    assert f"state={wacd.state_dir} prefix=cali" in wacd.log_tail()

    wacd.apply("kind: GlobalNetworkPolicy\n")
    wacd.delete("kind: NetworkSet\n")
    assert (wacd.socket.parent / "ctl.log").read_text() == (
        "apply:kind: GlobalNetworkPolicy\ndelete:kind: NetworkSet\n")
    with pytest.raises(wacnet.WacctlError, match="spec.selector: bad"):
        wacd.apply("INVALID")
    assert wacd.get("NetworkPolicy", "x", ns="shop") == {
        "args": ["NetworkPolicy", "x", "-n", "shop", "-o", "json"]}
    assert wacd.status().strip() == "ok"

    assert wacd.kill(signal.SIGKILL) == -signal.SIGKILL
    assert not wacd.running and wacd.socket.exists()  # stale socket, as after a crash
    assert wacd.ctl("status", check=False).returncode != 0
    wacd.start()
    assert wacd.running and wacd.status().strip() == "ok"
    wacd.restart()
    assert wacd.starts == 3 and wacd.log_tail().count("=== harness: start #") == 3
    assert wacd.stop() == 0  # SIGTERM honoured


def test_wacd_startup_failures_are_explained(fake_build, topo):
    node = topo.add_node()
    with pytest.raises(wacnet.WacdError, match=r"(?s)exited with 3 before it was ready.*giving up"):
        topo.start_wacd(node, extra_args=["--exit-early"])
    start = time.monotonic()
    with pytest.raises(wacnet.WacdError, match=r"(?s)not ready after 1s \(socket .* missing.*fake wacd"):
        topo.start_wacd(node, ready_timeout=1.0, extra_args=["--never-ready"])
    assert time.monotonic() - start < 3


def test_failure_report_shows_wacd_log_and_ruleset(fake_build, tmp_path):
    """A failing test's report carries the wacd log tail and the wac table."""
    test_file = tmp_path / "test_fails.py"
    test_file.write_text(textwrap.dedent("""
        import wacnet
        def test_fails(topo):
            node = topo.add_node()
            topo.start_wacd(node)
            wacnet.nft(node, "add table inet wac")
            wacnet.nft(node, "add chain inet wac marker-chain")
            assert False, "deliberate"
    """))
    env = dict(os.environ, PYTHONPATH=str(HERE))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "wacfixtures", str(test_file)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "deliberate" in out
    assert "wacd on node1 [running] log tail" in out and "fake wacd node=node1" in out
    assert "nft list table inet wac on node1" in out and "chain marker-chain" in out
    assert "1 failed" in out
