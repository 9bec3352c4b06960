"""Flow logs end to end: a connection a policy denies becomes a JSON line in
the flow log file naming the pod, namespace, direction, 5-tuple, policy and
rule; `wacctl flows -f` receives the same record live; allowed connections
are logged only with flowLogs.logAllowed; a flood is cut to the rate limit
and the suppressed records are counted in the metrics; a file wacd cannot
write is counted while enforcement and the stream go on."""
import json
import select
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

import wacnet
from wacnet import wait_for
from dnslab import DnsLab, ResolvFiles, allow_domains, policy

DENY_BAD = """
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: deny-bad
spec:
  order: 10
  selector: app == 'db'
  types: [Ingress]
  ingress:
  - action: Deny
    source:
      selector: role == 'bad'
"""

ALLOW_FRONTEND = """
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: allow-frontend
  namespace: shop
spec:
  order: 20
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


def flow_config(workdir, **settings) -> list:
    """wacd arguments for a config file with flowLogs enabled plus `settings`."""
    lines = ["flowLogs:", "  enabled: true"] + [f"  {k}: {json.dumps(v)}" for k, v in settings.items()]
    path = workdir / f"wacd-flows-{len(list(workdir.glob('wacd-flows-*.yaml')))}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return ["-c", str(path)]


def read_records(path) -> list:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line]




def matching(records, **fields) -> list:
    return [r for r in records if all(r.get(k) == v for k, v in fields.items())]


def scrape(node) -> dict:
    with wacnet.in_netns(node):
        with urllib.request.urlopen("http://127.0.0.1:9475/metrics", timeout=10) as resp:
            text = resp.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def settled(node, metric: str, quiet: float = 1.0, timeout: float = 15.0) -> dict:
    """The metrics once `metric` has not moved for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    last = scrape(node)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = scrape(node)
        if now[metric] == last[metric]:
            return now
        last = now
    raise AssertionError(f"{metric} still moving after {timeout:.0f}s")


class Follower:
    """`wacctl flows -f -o json` as a subprocess, its lines collected."""

    def __init__(self, wacd: wacnet.Wacd):
        self.proc = subprocess.Popen([wacd.wacctl_bin, "--socket", str(wacd.socket), "flows", "-f",
                                      "--recent", "0", "-o", "json"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.records = []
        # following from now on: what is logged next reaches it
        wait_for(lambda: scrape(wacd.node)["wac_flow_logs_watchers"] == 1, "wacctl flows -f to be watching")

    def read_until(self, predicate, what: str, timeout: float = 10.0) -> list:
        deadline = time.monotonic() + timeout
        while not any(predicate(r) for r in self.records):
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise AssertionError(f"wacctl flows -f: no {what} (exit {self.proc.poll()}, "
                                     f"stderr {self.proc.stderr.read() if self.proc.poll() is not None else ''}); "
                                     f"got {self.records}")
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                line = self.proc.stdout.readline()
                if line:
                    self.records.append(json.loads(line))
        return [r for r in self.records if predicate(r)]

    def stop(self):
        self.proc.kill()
        self.proc.wait(5)


def shop(topo):
    node = topo.add_node()
    db = topo.add_pod("shop", "db", labels={"app": "db"})
    frontend = topo.add_pod("shop", "frontend", labels={"role": "frontend"})
    bad = topo.add_pod("shop", "bad", labels={"role": "bad"})
    topo.start_server(db, tcp=[5432, 8080], udp=[9999])
    topo.start_server(frontend, tcp=[8080])  # selected by no policy: always reachable
    return node, db, frontend, bad


def test_denied_connection_is_logged_and_streamed(topo):
    node, db, frontend, bad = shop(topo)
    wacd = topo.start_wacd(node, extra_args=flow_config(topo.workdir))
    flows = wacd.state_dir / "flows.log"  # the default: under the state directory
    wacd.apply(wacnet.cluster_yaml(topo.pods) + "---" + DENY_BAD + "---" + ALLOW_FRONTEND)
    follower = Follower(wacd)
    try:
        wacnet.assert_matrix([wacnet.Case(bad, db, 5432, False), wacnet.Case(frontend, db, 5432, True)])

        denied = dict(action="deny", src=bad.ip(), dst=db.ip(), dstPort=5432, protocol="tcp")
        record = wait_for(lambda: matching(read_records(flows), **denied), "the denied connection's line")[0]
        assert record["direction"] == "ingress"
        assert (record["namespace"], record["pod"]) == ("shop", "db")
        assert record["endpoint"] == db.wep_name
        assert record["interface"] == db.iface
        assert isinstance(record["srcPort"], int) and record["srcPort"] > 0
        assert record["reason"] == "policy"
        assert record["policy"] == {"kind": "GlobalNetworkPolicy", "name": "deny-bad"}
        assert record["rule"] == {"index": 0, "action": "Deny"}
        assert record["node"] == node.name
        assert record["time"].endswith("Z")

        # the same record, live, on the stream
        streamed = follower.read_until(lambda r: r == record, "record equal to the file's line")
        assert streamed

        # an allowed connection is not logged (logAllowed is off)
        assert not matching(read_records(flows), src=frontend.ip(), dstPort=5432)
        assert not matching(follower.records, action="allow")

        # selected by a policy, but no rule allows it: the pod's default deny
        assert not wacnet.probe(frontend, db.ip(), 8080).ok
        default = wait_for(lambda: matching(read_records(flows), src=frontend.ip(), dstPort=8080),
                           "the default deny's line")[0]
        assert (default["reason"], default["action"], default["pod"]) == ("default-deny", "deny", "db")
        assert "policy" not in default and "rule" not in default

        # IPv6 too
        assert not wacnet.probe(bad, db.ip(6), 5432).ok
        wait_for(lambda: matching(read_records(flows), src=bad.ip(6), dst=db.ip(6), dstPort=5432,
                                  pod="db"), "the IPv6 denial's line")
    finally:
        follower.stop()

    # without -f: the recent records, as text
    text = wacd.ctl("flows").stdout
    assert f"DENY  ingress shop/db  tcp {bad.ip()}:" in text
    assert "GlobalNetworkPolicy deny-bad rule 0" in text
    # the rules stay readable: a deny hands over to the logging chain
    chain = wacnet.nft(node, "list", "chain", "inet", "wac", "flow-log-deny")
    assert f'log prefix "wac-flow" group 5354' in chain
    assert "goto flow-log-deny" in wacnet.nft(node, "list", "chain", "inet", "wac", "gnp-deny-bad-ingress")


def test_allowed_connections_are_logged_only_when_asked(topo):
    node, db, frontend, bad = shop(topo)
    wacd = topo.start_wacd(node, extra_args=flow_config(topo.workdir, logAllowed=True))
    flows = wacd.state_dir / "flows.log"
    wacd.apply(wacnet.cluster_yaml(topo.pods) + "---" + DENY_BAD + "---" + ALLOW_FRONTEND)
    wacnet.assert_matrix([wacnet.Case(frontend, db, 5432, True), wacnet.Case(bad, db, 5432, False)])

    allowed = wait_for(lambda: matching(read_records(flows), action="allow", src=frontend.ip(), dstPort=5432),
                       "the allowed connection's line")
    assert len(allowed) == 1, "only the first packet of the connection is logged"
    record = allowed[0]
    assert (record["direction"], record["namespace"], record["pod"]) == ("ingress", "shop", "db")
    assert record["policy"] == {"kind": "NetworkPolicy", "namespace": "shop", "name": "allow-frontend"}
    assert record["rule"] == {"index": 0, "action": "Allow"}
    wait_for(lambda: matching(read_records(flows), action="deny", src=bad.ip()), "the denial's line")

    # a second connection is a second flow; its established packets are not logged again
    assert wacnet.probe(frontend, db.ip(), 5432).ok
    wait_for(lambda: len(matching(read_records(flows), action="allow", src=frontend.ip(), dstPort=5432)) == 2,
             "the second connection's line")
    time.sleep(0.5)
    assert len(matching(read_records(flows), action="allow", src=frontend.ip(), dstPort=5432)) == 2


def test_a_flood_is_rate_limited_and_counted(topo):
    node, db, frontend, bad = shop(topo)
    rate, burst = 50, 50
    wacd = topo.start_wacd(node, extra_args=flow_config(topo.workdir, rateLimit=rate, burst=burst,
                                                        kernelRateLimit=1000))
    flows = wacd.state_dir / "flows.log"
    wacd.apply(wacnet.cluster_yaml(topo.pods) + "---" + DENY_BAD)
    wacnet.assert_matrix([wacnet.Case(bad, db, 9999, False, "udp")])
    wait_for(lambda: read_records(flows), "the probe's line")
    before = scrape(node)
    lines_before = len(read_records(flows))

    sent, start = 0, time.monotonic()
    sock = wacnet.netns_socket(bad, socket.AF_INET, socket.SOCK_DGRAM)
    try:
        while sent < 5000:
            sock.sendto(b"flood", (db.ip(), 9999))
            sent += 1
    finally:
        sock.close()
    elapsed = time.monotonic() - start
    assert elapsed < wacnet.bound(1.0), f"the flood took {elapsed:.2f}s"

    after = settled(node, "wac_flow_logs_packets_total")
    written = len(read_records(flows)) - lines_before
    window = time.monotonic() - start
    print(f"flood: {sent} packets in {elapsed:.3f}s; wacd read {after['wac_flow_logs_packets_total'] - before['wac_flow_logs_packets_total']:.0f}, "
          f"wrote {written} lines, suppressed {after['wac_flow_logs_rate_limited_total'] - before['wac_flow_logs_rate_limited_total']:.0f}")
    assert 0 < written <= burst + rate * window + 1, f"{written} lines in {window:.1f}s"
    assert after["wac_flow_logs_written_total"] - before["wac_flow_logs_written_total"] == written
    suppressed = after["wac_flow_logs_rate_limited_total"] - before["wac_flow_logs_rate_limited_total"]
    assert suppressed >= 500, f"only {suppressed} suppressed"
    # what the kernel passed on is at most its limit (1000/s, burst 1000)
    passed = after["wac_flow_logs_packets_total"] - before["wac_flow_logs_packets_total"]
    assert passed == written + suppressed
    assert passed <= 1000 + 1000 * window + 10
    assert after["wac_flow_logs_up"] == 1
    # enforcement was never in question
    assert wacnet.probe(db, frontend.ip(), 8080).ok
    assert not wacnet.probe(bad, db.ip(), 8080).ok


def test_an_unwritable_file_is_counted_and_the_stream_goes_on(topo):
    node, db, frontend, bad = shop(topo)
    blocker = topo.workdir / "not-a-directory"
    blocker.write_text("")
    wacd = topo.start_wacd(node, extra_args=flow_config(topo.workdir, file=str(blocker / "flows.log")))
    wacd.apply(wacnet.cluster_yaml(topo.pods) + "---" + DENY_BAD)
    follower = Follower(wacd)
    try:
        assert not wacnet.probe(bad, db.ip(), 5432).ok
        follower.read_until(lambda r: r["src"] == bad.ip() and r["action"] == "deny", "denial on the stream")
    finally:
        follower.stop()
    assert scrape(node)["wac_flow_logs_write_errors_total"] >= 1
    assert "flow log" in wacd.log_tail(200)
    assert wacnet.probe(db, frontend.ip(), 8080).ok  # enforcement unaffected
    assert not wacnet.probe(bad, db.ip(), 8080).ok


def test_sighup_reopens_the_file_for_logrotate(topo):
    node, db, frontend, bad = shop(topo)
    wacd = topo.start_wacd(node, extra_args=flow_config(topo.workdir))
    flows = wacd.state_dir / "flows.log"
    wacd.apply(wacnet.cluster_yaml(topo.pods) + "---" + DENY_BAD)
    assert not wacnet.probe(bad, db.ip(), 5432).ok
    wait_for(lambda: matching(read_records(flows), dstPort=5432), "the first line")
    rotated = flows.with_name("flows.log.rotated")
    flows.rename(rotated)  # what logrotate does, then it signals
    wacd.kill(signal.SIGHUP)
    wait_for(lambda: "flow logs: reopening" in wacd.log_tail(50), "wacd to reopen the file")
    assert not wacnet.probe(bad, db.ip(), 5433).ok
    wait_for(lambda: matching(read_records(flows), dstPort=5433), "the next line in a new file")
    assert not matching(read_records(flows), dstPort=5432)
    assert matching(read_records(rotated), dstPort=5432) and not matching(read_records(rotated), dstPort=5433)


def test_flow_logs_off_by_default(topo):
    node, db, frontend, bad = shop(topo)
    wacd = topo.start_wacd(node)
    wacd.apply(wacnet.cluster_yaml(topo.pods) + "---" + DENY_BAD)
    assert not wacnet.probe(bad, db.ip(), 5432).ok
    proc = wacd.ctl("flows", check=False)
    assert proc.returncode == 1
    assert "flow logs are off" in proc.stderr
    assert "flow-log-deny" not in wacd.ruleset()
    assert not (wacd.state_dir / "flows.log").exists()


@pytest.fixture
def resolv_files():
    files = ResolvFiles()
    yield files
    files.cleanup()


def test_a_denied_connection_names_the_domain_the_pod_resolved(topo, resolv_files):
    lab = DnsLab(topo, resolv_files, extra_config="flowLogs: {enabled: true}\n")
    lab.wacd.apply(policy(allow_domains("api.example.test", port=80)))
    api = lab.records["api.example.test"]
    result = lab.lookup_and_connect("api.example.test", port=81)  # the name is allowed, this port is not
    assert result["addresses"] == [api] and not result["ok"], result
    flows = lab.wacd.state_dir / "flows.log"
    record = wait_for(lambda: matching(read_records(flows), dst=api, dstPort=81), "the denial's line")[0]
    assert record["domain"] == "api.example.test"
    assert (record["direction"], record["namespace"], record["pod"]) == ("egress", "default", "client")
    assert record["reason"] == "default-deny"
