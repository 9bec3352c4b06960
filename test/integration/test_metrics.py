"""Prometheus metrics: wacd serves them on loopback by default; they agree
with `wacctl status` and move when resources are applied, when a remote
endpoint changes only set elements, and when an interface appears; the
address is configurable (IPv4: Debian's civetweb has no IPv6) and "" turns
the endpoint off."""
import json
import re
import socket
import time
import urllib.error
import urllib.request

import pytest

import wacnet
from wacnet import wait_for

POLICY = wacnet.SRV_FROM_CLIENTS

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$")


def scrape(node, address: str = "127.0.0.1:9475") -> dict:
    """`name{labels}` -> value for every sample wacd serves at /metrics."""
    with wacnet.in_netns(node):
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as resp:
            assert resp.status == 200
            text = resp.read().decode()
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, f"not a Prometheus text sample: {line!r}"
        samples[m.group(1)] = float(m.group(2))
    return samples




def remote_endpoint(template: wacnet.Pod, node: str, name: str, ip4: str, labels: dict) -> str:
    """A WorkloadEndpoint of a pod on another node: only a selector set changes."""
    doc = template.wep_doc(labels)
    doc["metadata"]["name"] = wacnet.wep_name(node, name)
    doc["spec"].update({"node": node, "pod": name, "interfaceName": "caliremote0", "ipNetworks": [f"{ip4}/32"]})
    return wacnet.to_yaml(doc)


SYNCS = 'wac_syncs_total{path="%s",result="ok"}'


def test_metrics_follow_the_agent(topo):
    node = topo.add_node()
    client = topo.add_pod("default", "client", labels={"role": "client"})
    srv = topo.add_pod("default", "srv", labels={"app": "srv"})
    wacd = topo.start_wacd(node)

    m = scrape(node)
    assert m["wac_agent_up"] == 1
    assert m['wac_build_info{version="0.1.0"}'] == 1
    assert m[SYNCS % "full"] >= 1, "the start-up reconcile is a full sync"
    assert m['wac_nft_operations_total{operation="read",result="ok"}'] >= 1
    assert m["wac_local_endpoints"] == 0
    assert m["wac_last_sync_success"] == 1
    assert m["wac_last_sync_timestamp_seconds"] > time.time() - 120

    wacd.apply(wacnet.cluster_yaml([client, srv]) + "---" + POLICY)
    after = scrape(node)
    status = json.loads(wacd.ctl("status", "-o", "json").stdout)
    assert after["wac_local_endpoints"] == 2
    assert after["wac_active_policies"] == 1
    assert after['wac_resources{kind="GlobalNetworkPolicy"}'] == 1
    assert after['wac_resources{kind="WorkloadEndpoint"}'] == 2
    assert after["wac_dataplane_chains"] == int(status["chains"]) > m["wac_dataplane_chains"]
    assert after["wac_dataplane_sets"] == int(status["sets"])
    assert after["wac_dataplane_set_elements"] == int(status["elements"])
    # structural changes went through libnftables transactions, each timed
    assert after[SYNCS % "transaction"] > m[SYNCS % "transaction"]
    tx = 'wac_nft_operation_duration_seconds_count{operation="transaction"}'
    assert after[tx] > m[tx]
    assert after['wac_sync_duration_seconds_count{path="transaction"}'] > \
        m['wac_sync_duration_seconds_count{path="transaction"}']
    assert after['wac_sync_duration_seconds_sum{path="transaction"}'] > 0
    assert after['wac_nft_operations_total{operation="transaction",result="error"}'] == 0
    assert after["wac_dataplane_errors_total"] == 0

    # a client elsewhere in the cluster only adds a set element: the fast path
    wacd.apply(remote_endpoint(client, "node9", "client9", "10.244.9.2", {"role": "client"}))
    fast = scrape(node)
    assert fast[SYNCS % "elements"] == after[SYNCS % "elements"] + 1
    assert fast['wac_nft_operation_duration_seconds_count{operation="elements"}'] > \
        after['wac_nft_operation_duration_seconds_count{operation="elements"}']
    assert fast["wac_dataplane_set_elements"] == after["wac_dataplane_set_elements"] + 1
    assert fast["wac_local_endpoints"] == 2

    # an endpoint waiting for its interface, then the interface appearing
    late = topo.add_pod("default", "late", labels={"app": "srv"}, plumbed=False)
    wacd.apply(late.wep_yaml())
    assert scrape(node)["wac_endpoints_without_interface"] == 1
    events = scrape(node)["wac_link_events_total"]
    topo.plumb_pod_interface(late)
    wait_for(lambda: scrape(node)["wac_link_events_total"] > events, "a link event to be counted")
    wait_for(lambda: scrape(node)["wac_endpoints_without_interface"] == 0, "the late interface to be seen")


def test_metrics_address_is_configurable_and_can_be_off(topo):
    node = topo.add_node()
    wacd = topo.start_wacd(node, extra_args=["--metrics-address", "127.0.0.1:9100"])
    assert scrape(node, "127.0.0.1:9100")["wac_agent_up"] == 1
    with pytest.raises(urllib.error.URLError):
        scrape(node)  # not on the default any more

    wacd.extra_args = ["--metrics-address", ""]
    wacd.restart()
    for address in ("127.0.0.1:9475", "127.0.0.1:9100"):
        with pytest.raises(urllib.error.URLError):
            scrape(node, address)
    wacd.ctl("status")  # the agent itself is unaffected


def test_bad_metrics_address_is_rejected_at_start(topo):
    node = topo.add_node()
    wacd = wacnet.Wacd(node, topo.workdir / "wacd-bad", extra_args=["--metrics-address", "localhost:9475"])
    proc = wacnet.run(wacd.command(), check=False)
    assert proc.returncode == 2
    assert 'metricsAddress: expected IP:PORT or [IPv6]:PORT, got "localhost:9475"' in proc.stderr
    wacd.extra_args = ["--metrics-address", "[::1]:9475"]
    proc = wacnet.run(wacd.command(), check=False)
    assert proc.returncode == 2
    assert 'metricsAddress: must be an IPv4 address' in proc.stderr


def test_metrics_port_in_use_does_not_stop_enforcement(topo):
    node = topo.add_node()
    with wacnet.in_netns(node):
        squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        squatter.bind(("127.0.0.1", 9475))
        squatter.listen(1)
        wacd = topo.start_wacd(node)
        wacd.ctl("status")
        assert "cannot serve metrics on 127.0.0.1:9475" in wacd.log_path.read_text()
    finally:
        squatter.close()
