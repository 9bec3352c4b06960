"""Egress gateways end to end, in the lab of egresslab.py: two nodes (each
its own wacd) on a node network 192.0.2.0/24 behind a router, an external
host 203.0.113.10 behind the router whose listener reports the peer address
and whose own firewall admits only the egress IPs on port 8080 (9090 is open
to anyone, to see who comes); each node masquerades pod traffic leaving the
cluster as a CNI would.
"""

import re
import time

import pytest

import wacnet
from egresslab import (EGRESS_A, EGRESS_B, FW_PORT, OPEN_PORT, POD_PORT, PROTO, Cluster, egress_status,
                       gateway_doc, ip_cmd, member, route_hops, seen, wac_addresses, wac_routes, wac_rules,
                       wait_for)
from wacnet import Case


def test_egress_gateway_source_address_both_ways_and_clean_removal(topo):
    c = Cluster(topo)
    p1 = c.pod("prod", "p1", c.node1)
    p2 = c.pod("prod", "p2", c.node2)
    o1 = c.pod("other", "o1", c.node1)
    o2 = c.pod("other", "o2", c.node2)
    t2 = c.pod("team", "t2", c.node2)
    topo.start_server(o2, tcp=[POD_PORT])
    c.cluster()

    # before any gateway: every pod is masqueraded to its node, and refused on FW_PORT
    assert seen(p1, c.ext, OPEN_PORT) == c.node1.fabric_ip4
    assert seen(p1, c.ext) is None

    prod = gateway_doc("prod-egress", [member(c.node2, EGRESS_A)],
                       namespace_selector="projectcalico.org/name == 'prod'")
    c.apply(wacnet.to_yaml(prod))

    # selected pods on either node leave with the egress IP; others with their node's
    wacnet.assert_matrix([Case(p1, c.ext, FW_PORT, True), Case(p2, c.ext, FW_PORT, True),
                          Case(o1, c.ext, FW_PORT, False), Case(o2, c.ext, FW_PORT, False)], check_source=False)
    assert seen(p1, c.ext) == EGRESS_A
    assert seen(p2, c.ext) == EGRESS_A
    assert seen(o1, c.ext, OPEN_PORT) == c.node1.fabric_ip4
    assert seen(o2, c.ext, OPEN_PORT) == c.node2.fabric_ip4
    # cluster-internal traffic is not redirected (nor masqueraded)
    assert wacnet.probe(p1, o2.ip4, POD_PORT).peer == p1.ip4

    # a new pod of the namespace is covered as soon as its endpoint is applied
    p3 = c.pod("prod", "p3", c.node1)
    c.apply(p3.wep_yaml())
    assert seen(p3, c.ext) == EGRESS_A

    # what it did, visible with the usual tools
    status = egress_status(c.wacd1)
    group = status["groups"][0]
    assert group["name"] == "prod-egress"
    assert sorted(group["localPods"]) == ["prod/p1", "prod/p3"]
    table = group["table"]
    rules = wac_rules(c.node1)
    assert len(rules) == 1 and f"lookup {table}" in rules[0] and "fwmark" in rules[0], rules
    routes = ip_cmd(c.node1, "route", "show", "table", str(table))
    assert f"203.0.113.0/24 via {c.node2.fabric_ip4} dev fab0 proto {PROTO}" in routes, routes
    # node2's own pod uses its local gateway: its table forwards to the node's router, SNAT on the way out
    assert f"via {wacnet.FABRIC_ROUTER4} dev fab0 proto {PROTO}" in ip_cmd(c.node2, "route", "show", "table", str(table))
    assert wac_addresses(c.node2) == [f"inet {EGRESS_A}/32 scope global fab0"]
    # an address someone else added stays when wac removes its own (IFA_PROTO tells them apart)
    ip_cmd(c.node2, "addr", "add", "192.0.2.150/32", "dev", "fab0")
    ruleset1, ruleset2 = c.wacd1.ruleset(), c.wacd2.ruleset()
    assert 'comment "egress gateway prod-egress"' in ruleset1
    assert f"snat ip to {EGRESS_A}" in ruleset2 and "egress gateway prod-egress: 192.0.2.100 via fab0" in ruleset2
    text = c.wacd1.ctl("get", "egressgateway").stdout
    assert "prod-egress" in text and "Local pods using it: prod/p1, prod/p3" in text, text
    wait_for(lambda: egress_status(c.wacd1)["groups"][0]["gateways"][0]["state"] == "Healthy", 3,
             "node1's probe of node2's gateway")

    # egress policy still applies at the source pod: the gateway never bypasses it
    deny = {"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy",
            "metadata": {"name": "prod-no-8080"},
            "spec": {"namespaceSelector": "projectcalico.org/name == 'prod'", "types": ["Egress"],
                     "egress": [{"action": "Deny", "protocol": "TCP",
                                 "destination": {"nets": [wacnet.ROUTED_NET4], "ports": [FW_PORT]}},
                                {"action": "Allow"}]}}
    c.apply(wacnet.to_yaml(deny))
    wacnet.assert_matrix([Case(p1, c.ext, FW_PORT, False), Case(p2, c.ext, FW_PORT, False)])
    assert seen(p1, c.ext, OPEN_PORT) == EGRESS_A
    c.delete(wacnet.to_yaml(deny))

    # the Calico Enterprise way: a namespace annotation picks a gateway by its labels
    blue = gateway_doc("blue", [member(c.node1, EGRESS_B)], labels={"egress-code": "blue"}, order=5)
    c.apply(wacnet.to_yaml(blue))
    assert seen(t2, c.ext) is None  # no annotation yet
    annotated = wacnet.namespace_doc("team")
    annotated["metadata"]["annotations"] = {"egress.projectcalico.org/selector": "egress-code == 'blue'"}
    c.apply(wacnet.to_yaml(annotated))
    assert seen(t2, c.ext) == EGRESS_B
    assert seen(p1, c.ext) == EGRESS_A

    # invalid input is refused with the field named, and changes nothing
    clash = gateway_doc("clash", [member(c.node1, "192.0.2.102")],
                        namespace_selector="projectcalico.org/name == 'prod'")
    err = c.wacd1.ctl("apply", "-f", "-", input=wacnet.to_yaml(clash), check=False)
    assert err.returncode == 1
    assert "EgressGateway clash: spec.order: matches the same traffic as EgressGateway prod-egress" in err.stderr
    bad = gateway_doc("bad", [member(c.node1, "224.0.0.9")])
    err = c.wacd1.ctl("apply", "-f", "-", input=wacnet.to_yaml(bad), check=False)
    assert 'spec.gateways[0].egressIP: "224.0.0.9" is not a unicast address' in err.stderr
    unknown = gateway_doc("far", [{"node": "node9", "nodeIP": "192.0.2.9", "egressIP": "192.0.2.109"}],
                          order=50, namespace_selector="projectcalico.org/name == 'nobody'")
    err = c.wacd1.ctl("apply", "-f", "-", input=wacnet.to_yaml(unknown), check=False)
    assert 'spec.gateways[0].node: unknown node "node9"' in err.stderr

    # deleting the gateways leaves no rule, route, address or NAT rule behind
    c.delete(wacnet.to_yaml(prod, blue))
    for node, wacd in ((c.node1, c.wacd1), (c.node2, c.wacd2)):
        wait_for(lambda: not wac_rules(node) and not wac_routes(node) and not wac_addresses(node), 3,
                 f"no egress routing left on {node.name}")
        wait_for(lambda: not re.search(r"egress-|egw-", wacd.ruleset()), 3, f"no egress chains or sets on {node.name}")
    assert "192.0.2.150/32" in ip_cmd(c.node2, "addr", "show", "dev", "fab0")
    assert seen(p1, c.ext, OPEN_PORT) == c.node1.fabric_ip4
    assert seen(t2, c.ext, OPEN_PORT) == c.node2.fabric_ip4


def test_egress_gateway_ecmp_and_failover(topo):
    c = Cluster(topo)
    p1 = c.pod("prod", "p1", c.node1)
    c.cluster()
    both = gateway_doc("prod-egress", [member(c.node1, EGRESS_A), member(c.node2, EGRESS_B)],
                       namespace_selector="projectcalico.org/name == 'prod'")
    c.apply(wacnet.to_yaml(both))
    table = egress_status(c.wacd1)["groups"][0]["table"]

    def spread(n=24):
        return [seen(p1, c.ext, OPEN_PORT) for _ in range(n)]

    # per flow: new connections (new source ports) spread over both gateways
    peers = spread()
    assert set(peers) == {EGRESS_A, EGRESS_B}, peers
    assert wacnet.read_sysctl(c.node1, "net.ipv4.fib_multipath_hash_policy") == "1"

    # one flow keeps its gateway while the other gateway is taken out of service
    conn = topo.open_connection(p1, c.ext.ip4, OPEN_PORT)
    first = conn.peer
    conn.start_heartbeat(interval=0.05)
    other = EGRESS_B if first == EGRESS_A else EGRESS_A
    out = gateway_doc("prod-egress", [member(c.node1, EGRESS_A, healthy=(first == EGRESS_A)),
                                      member(c.node2, EGRESS_B, healthy=(first == EGRESS_B))],
                      namespace_selector="projectcalico.org/name == 'prod'")
    c.apply(wacnet.to_yaml(out))
    assert set(spread(12)) == {first}
    stats = conn.stop_heartbeat()
    assert stats["failed"] == 0, stats
    assert conn.ping()
    conn.close()
    status = egress_status(c.wacd1)["groups"][0]["gateways"]
    assert {m["egressIP"]: m["state"] for m in status}[other] == "Unhealthy"

    # back in service, then the other way of failing: a gateway node's link is cut
    c.apply(wacnet.to_yaml(both))
    wait_for(lambda: set(spread(12)) == {EGRESS_A, EGRESS_B}, 5, "both gateways in use again")
    remote_ip = EGRESS_B  # node1 probes node2 (its own gateway it checks by its uplink)
    cut_at = time.monotonic()
    ip_cmd(c.node2, "link", "set", "fab0", "down")
    try:
        wait_for(lambda: f"via {c.node2.fabric_ip4} " not in ip_cmd(c.node1, "route", "show", "table", str(table)),
                 5, "node2 leaving node1's route")
        detected = time.monotonic() - cut_at
        # every new flow now succeeds, through the survivor
        peers = [seen(p1, c.ext, OPEN_PORT, timeout=2.0) for _ in range(12)]
        assert peers == [EGRESS_A] * 12, peers
        # within the bound of FAST_PROBES (200 ms x 2 + 150 ms) plus slack for a
        # loaded machine; test/bench/egress_failover.py measures it properly
        assert detected < 2.0, f"failover took {detected:.2f}s"
        status = egress_status(c.wacd1)["groups"][0]["gateways"]
        down = {m["egressIP"]: m for m in status}[remote_ip]
        assert down["state"] == "Down" and not down.get("inRoute", False), down
    finally:
        c.restore_link(c.node2)
    wait_for(lambda: set(spread(12)) == {EGRESS_A, EGRESS_B}, 5, "node2's gateway back after its link returns")


def test_egress_gateway_survives_wacd_restart(topo):
    c = Cluster(topo)
    p1 = c.pod("prod", "p1", c.node1)
    c.cluster()
    c.apply(wacnet.to_yaml(gateway_doc("prod-egress", [member(c.node2, EGRESS_A)],
                                       namespace_selector="projectcalico.org/name == 'prod'")))
    assert seen(p1, c.ext) == EGRESS_A
    conn = topo.open_connection(p1, c.ext.ip4, FW_PORT)
    assert conn.peer == EGRESS_A
    conn.start_heartbeat(interval=0.05)
    before = {n.name: (wac_rules(n), wac_routes(n), wac_addresses(n)) for n in (c.node1, c.node2)}
    rulesets = [w.ruleset() for w in c.wacds]

    for wacd in c.wacds:
        wacd.kill()
    time.sleep(0.3)
    for wacd in c.wacds:
        wacd.start()
    time.sleep(1.0)  # let the first reconciliation and probes run

    after = {n.name: (wac_rules(n), wac_routes(n), wac_addresses(n)) for n in (c.node1, c.node2)}
    assert after == before
    for wacd, ruleset in zip(c.wacds, rulesets):
        wacnet.assert_same_ruleset(ruleset, wacd.ruleset(), f"ruleset of {wacd.node.name} after restart")
    stats = conn.stop_heartbeat()
    assert stats["failed"] == 0, f"the established egress flow lost data: {stats}"
    assert conn.ping()
    assert seen(p1, c.ext) == EGRESS_A

    # a stale entry of wac's own is removed on start; other programs' entries are left alone
    ip_cmd(c.node1, "rule", "add", "fwmark", "0x0fe00000/0x0ff00000", "lookup", "20999", "priority", "100",
           "proto", PROTO)
    ip_cmd(c.node1, "rule", "add", "fwmark", "0x7", "lookup", "300", "priority", "101")
    ip_cmd(c.node1, "route", "add", "unreachable", "198.51.100.0/24", "table", "300")
    c.wacd1.restart()
    wait_for(lambda: not any("20999" in r for r in wac_rules(c.node1)), 3, "the stale rule removed")
    assert "lookup 300" in ip_cmd(c.node1, "rule", "show")
    assert "unreachable 198.51.100.0/24" in ip_cmd(c.node1, "route", "show", "table", "300")
    assert seen(p1, c.ext) == EGRESS_A
