"""Egress gateways end to end, in the lab of egresslab.py: two nodes (each
its own wacd) on a node network 192.0.2.0/24 behind a router, an external
host 203.0.113.10 behind the router whose listener reports the peer address
and whose own firewall admits only the egress IPs on port 8080 (9090 is open
to anyone, to see who comes); each node masquerades pod traffic leaving the
cluster as a CNI would.
"""

import re
import time

import wacnet
from test_metrics import scrape
from egresslab import (EGRESS6_A, EGRESS_A, EGRESS_B, FW_PORT, OPEN_PORT, POD_PORT, PROTO, ROUTED_NET6, Cluster,
                       egress_status, fabric_ip6, gateway_doc, ip_cmd, member, route_hops, seen, wac_addresses,
                       wac_routes, wac_rules, wait_for)
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
        assert detected < wacnet.bound(2.0), f"failover took {detected:.2f}s"
        status = egress_status(c.wacd1)["groups"][0]["gateways"]
        down = {m["egressIP"]: m for m in status}[remote_ip]
        assert down["state"] == "Down" and not down.get("inRoute", False), down
        # Prometheus says the same as wacctl egress
        metrics = scrape(c.node1)
        dead = [k for k in metrics if k.startswith("wac_egress_gateway_state{") and
                f'egress_ip="{remote_ip}"' in k and 'state="Down"' in k]
        assert dead and metrics[dead[0]] == 1, sorted(k for k in metrics if k.startswith("wac_egress"))
        in_route = {k: v for k, v in metrics.items() if k.startswith("wac_egress_gateway_in_route{")}
        assert [v for k, v in in_route.items() if f'egress_ip="{remote_ip}"' in k] == [0], in_route
        assert [v for k, v in in_route.items() if f'egress_ip="{remote_ip}"' not in k] == [1], in_route
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


def connection_via(topo, pod, ext, egress_ip, port=FW_PORT, attempts=40):
    """An established connection that the ECMP hash sent through the gateway
    with `egress_ip` (new source ports until one hashes there)."""
    for _ in range(attempts):
        conn = topo.open_connection(pod, ext.ip4, port)
        if conn.peer == egress_ip:
            return conn
        conn.close()
    raise AssertionError(f"no connection of {pod.label} went through {egress_ip} in {attempts} attempts")


def test_egress_gateway_member_removed_from_resource(topo):
    # node1 runs the client pod only; node2 and node3 are the gateways
    c = Cluster(topo, nodes=3)
    node3, wacd3 = c.nodes[2], c.wacds[2]
    p1 = c.pod("prod", "p1", c.node1)
    c.cluster()
    selector = "projectcalico.org/name == 'prod'"
    both = gateway_doc("prod-egress", [member(c.node2, EGRESS_A), member(node3, EGRESS_B)],
                       namespace_selector=selector)
    c.apply(wacnet.to_yaml(both))
    table = egress_status(c.wacd1)["groups"][0]["table"]
    assert route_hops(c.node1, table) == sorted([c.node2.fabric_ip4, node3.fabric_ip4])
    wait_for(lambda: {seen(p1, c.ext) for _ in range(12)} == {EGRESS_A, EGRESS_B}, 5, "flows over both gateways")
    assert wac_addresses(node3) == [f"inet {EGRESS_B}/32 scope global fab0"]
    assert f"snat ip to {EGRESS_B}" in wacd3.ruleset()
    # a flow through the gateway that stays must not notice the other one leaving
    conn = connection_via(topo, p1, c.ext, EGRESS_A)
    conn.start_heartbeat(interval=0.05)

    # node3 leaves the resource: re-applied with node2 alone
    one = gateway_doc("prod-egress", [member(c.node2, EGRESS_A)], namespace_selector=selector)
    c.apply(wacnet.to_yaml(one))

    # node3 gives up its egress address and its SNAT rule, and nothing else of node2's role moves there
    wait_for(lambda: not wac_addresses(node3), 3, "node3's egress address removed")
    ruleset3 = wacd3.ruleset()
    assert EGRESS_B not in ruleset3 and not re.search(r"snat ip to \d", ruleset3), ruleset3
    assert f"inet {EGRESS_B}/" not in ip_cmd(node3, "addr", "show")
    assert not wac_rules(node3) and not wac_routes(node3)
    # node2 keeps its own
    assert wac_addresses(c.node2) == [f"inet {EGRESS_A}/32 scope global fab0"]
    assert f"snat ip to {EGRESS_A}" in c.wacd2.ruleset()
    # node1's route keeps the survivor only; same table, same rule
    assert route_hops(c.node1, table) == [c.node2.fabric_ip4]
    assert len(wac_rules(c.node1)) == 1 and f"lookup {table}" in wac_rules(c.node1)[0]
    status = egress_status(c.wacd1)["groups"][0]
    assert [(m["node"], m["egressIP"], m["inRoute"]) for m in status["gateways"]] == [("node2", EGRESS_A, True)]

    # every new flow leaves through the survivor, with its egress IP (the firewall admits it)
    assert [seen(p1, c.ext) for _ in range(12)] == [EGRESS_A] * 12
    stats = conn.stop_heartbeat()
    assert stats["failed"] == 0, f"the flow through the remaining gateway lost data: {stats}"
    assert conn.ping()


def test_egress_gateway_pod_selector_picks_some_pods_of_a_namespace(topo):
    c = Cluster(topo)
    web1 = c.pod("prod", "web1", c.node1, labels={"app": "web"})
    batch1 = c.pod("prod", "batch1", c.node1, labels={"app": "batch"})
    batch2 = c.pod("prod", "batch2", c.node2, labels={"app": "batch"})
    web2 = c.pod("prod", "web2", c.node2, labels={"app": "web"})
    oweb = c.pod("other", "web", c.node1, labels={"app": "web"})  # right label, wrong namespace
    c.cluster()
    c.apply(wacnet.to_yaml(gateway_doc("prod-web", [member(c.node2, EGRESS_A)],
                                       namespace_selector="projectcalico.org/name == 'prod'",
                                       selector="app == 'web'")))

    assert seen(web1, c.ext) == EGRESS_A
    assert seen(web2, c.ext) == EGRESS_A
    # unselected pods of the same namespace leave with their own node's address (refused on FW_PORT)
    assert seen(batch1, c.ext, OPEN_PORT) == c.node1.fabric_ip4
    assert seen(batch2, c.ext, OPEN_PORT) == c.node2.fabric_ip4
    assert seen(batch1, c.ext) is None
    assert seen(oweb, c.ext, OPEN_PORT) == c.node1.fabric_ip4
    assert egress_status(c.wacd1)["groups"][0]["localPods"] == ["prod/web1"]
    # the group's source set holds the selected pods of every node, and only those
    src = wacnet.nft(c.node1, "list", "set", "inet", "wac", "egw-prod-web-src4")
    assert web1.ip4 in src and web2.ip4 in src, src
    assert batch1.ip4 not in src and batch2.ip4 not in src and oweb.ip4 not in src, src

    # a label change moves a pod in and out at once
    c.apply(batch1.wep_yaml(labels={"app": "web"}))
    assert seen(batch1, c.ext) == EGRESS_A
    c.apply(web1.wep_yaml(labels={"app": "batch"}))
    assert seen(web1, c.ext, OPEN_PORT) == c.node1.fabric_ip4


def annotated_wep(pod, annotations):
    doc = pod.wep_doc()
    doc["metadata"]["annotations"] = annotations
    return doc


def test_egress_gateway_calico_enterprise_annotations(topo):
    c = Cluster(topo)
    t1 = c.pod("team", "t1", c.node1)
    t2 = c.pod("team", "t2", c.node2)
    t3 = c.pod("team", "t3", c.node1)
    o1 = c.pod("other", "o1", c.node1)
    o2 = c.pod("other", "o2", c.node2)
    c.cluster()
    # Calico's gateway deployments, as EgressGateways: "red" stands in for one in
    # namespace egw (labelled purpose=egress), "blue" for one in no namespace.
    # Neither has spec selectors: only annotations pick them.
    red = gateway_doc("red", [member(c.node2, EGRESS_A)], labels={"egress-code": "red"}, gateway_namespace="egw")
    blue = gateway_doc("blue", [member(c.node1, EGRESS_B)], labels={"egress-code": "blue"})
    egw = wacnet.namespace_doc("egw", {"purpose": "egress"})
    team = wacnet.namespace_doc("team")
    team["metadata"]["annotations"] = {"egress.projectcalico.org/selector": "egress-code == 'red'",
                                       "egress.projectcalico.org/namespaceSelector": "purpose == 'egress'"}
    c.apply(wacnet.to_yaml(red, blue, egw, team,
                           # the pod's own annotation wins over its namespace's
                           annotated_wep(t2, {"egress.projectcalico.org/selector": "egress-code == 'blue'"}),
                           # no namespaceSelector: only gateways of the pod's own namespace (or of none)
                           # qualify, and red stands in for one in egw
                           annotated_wep(t3, {"egress.projectcalico.org/selector": "egress-code == 'red'"}),
                           # both annotations on a pod of a namespace without any
                           annotated_wep(o2, {"egress.projectcalico.org/selector": "egress-code == 'red'",
                                              "egress.projectcalico.org/namespaceSelector": "purpose == 'egress'"})))

    assert seen(t1, c.ext) == EGRESS_A      # through its namespace's annotations
    assert seen(t2, c.ext) == EGRESS_B      # through its own annotation
    assert seen(t3, c.ext, OPEN_PORT) == c.node1.fabric_ip4
    assert seen(o1, c.ext, OPEN_PORT) == c.node1.fabric_ip4
    assert seen(o2, c.ext) == EGRESS_A      # through its own two annotations
    groups = {g["name"]: g for g in egress_status(c.wacd1)["groups"]}
    assert groups["red"]["localPods"] == ["team/t1"] and groups["blue"]["localPods"] == []
    groups = {g["name"]: g for g in egress_status(c.wacd2)["groups"]}
    assert groups["blue"]["localPods"] == ["team/t2"] and groups["red"]["localPods"] == ["other/o2"]

    # the namespace annotation changed: its pods follow at once
    team["metadata"]["annotations"] = {"egress.projectcalico.org/selector": "egress-code == 'blue'"}
    c.apply(wacnet.to_yaml(team))
    assert seen(t1, c.ext) == EGRESS_B
    assert seen(t3, c.ext, OPEN_PORT) == c.node1.fabric_ip4  # its own annotation still picks nothing
    # an annotation that does not parse is refused, naming it
    bad = wacnet.namespace_doc("other")
    bad["metadata"]["annotations"] = {"egress.projectcalico.org/namespaceSelector": "purpose == 'egress'"}
    err = c.wacd1.ctl("apply", "-f", "-", input=wacnet.to_yaml(bad), check=False)
    assert err.returncode == 1 and "egress.projectcalico.org/namespaceSelector" in err.stderr, err.stderr


SYSCTLS_WRONG = {"net.ipv4.ip_forward": 0, "net.ipv4.conf.all.rp_filter": 1, "net.ipv4.conf.fab0.rp_filter": 1,
                 "net.ipv4.fib_multipath_hash_policy": 0}


def sysctls(node):
    return {key: wacnet.read_sysctl(node, key) for key in SYSCTLS_WRONG}


def test_egress_gateway_sets_the_sysctls_it_needs(topo):
    c = Cluster(topo)
    p1 = c.pod("prod", "p1", c.node1)
    c.cluster()
    for node in c.nodes:  # what would break the path: no forwarding, strict rp_filter, per-host ECMP
        wacnet.sysctl(node, SYSCTLS_WRONG)
    c.apply(wacnet.to_yaml(gateway_doc("prod-egress", [member(c.node1, EGRESS_A), member(c.node2, EGRESS_B)],
                                       namespace_selector="projectcalico.org/name == 'prod'")))
    # node1, client and gateway: forwards, loose rp_filter on fab0 (its next hops' and its uplink), per-flow ECMP
    assert sysctls(c.node1) == {"net.ipv4.ip_forward": "1", "net.ipv4.conf.all.rp_filter": "1",
                                "net.ipv4.conf.fab0.rp_filter": "2", "net.ipv4.fib_multipath_hash_policy": "1"}
    # node2, gateway only: forwards, loose rp_filter on its uplink; no ECMP route there, so the hash is left alone
    assert sysctls(c.node2) == {"net.ipv4.ip_forward": "1", "net.ipv4.conf.all.rp_filter": "1",
                                "net.ipv4.conf.fab0.rp_filter": "2", "net.ipv4.fib_multipath_hash_policy": "0"}
    for wacd in c.wacds:
        assert egress_status(wacd).get("problems", []) == []
    # and the path works both ways, over both gateways
    wait_for(lambda: {seen(p1, c.ext) for _ in range(12)} == {EGRESS_A, EGRESS_B}, 5, "flows over both gateways")


def test_egress_gateway_reports_sysctls_with_set_sysctls_false(topo):
    c = Cluster(topo, config_extra="  setSysctls: false\n")
    c.pod("prod", "p1", c.node1)
    c.cluster()
    wacnet.sysctl(c.node1, {"net.ipv4.conf.all.rp_filter": 1, "net.ipv4.conf.fab0.rp_filter": 1,
                            "net.ipv4.fib_multipath_hash_policy": 0})
    wacnet.sysctl(c.node2, {"net.ipv4.ip_forward": 0})
    before = [sysctls(node) for node in c.nodes]
    doc = gateway_doc("prod-egress", [member(c.node1, EGRESS_A), member(c.node2, EGRESS_B)],
                      namespace_selector="projectcalico.org/name == 'prod'")
    c.apply(wacnet.to_yaml(doc))

    # nothing is written
    assert [sysctls(node) for node in c.nodes] == before
    # each node says what is wrong with it, in JSON and in the table
    problems1 = egress_status(c.wacd1)["problems"]
    assert any(p.startswith("net.ipv4.conf.fab0.rp_filter is 1, egress gateways need 2") for p in problems1), problems1
    assert any(p.startswith("net.ipv4.fib_multipath_hash_policy is 0, egress gateways need 1")
               for p in problems1), problems1
    assert not any("ip_forward" in p for p in problems1), problems1
    problems2 = egress_status(c.wacd2)["problems"]
    assert any(p.startswith("net.ipv4.ip_forward is 0, egress gateways need 1") for p in problems2), problems2
    text = c.wacd2.ctl("get", "egress").stdout
    assert "Problem: net.ipv4.ip_forward is 0, egress gateways need 1" in text, text
    assert "egress.setSysctls: true" in text, text

    # once the admin has set them, the next sync finds nothing to report
    wacnet.sysctl(c.node1, {"net.ipv4.conf.fab0.rp_filter": 2, "net.ipv4.fib_multipath_hash_policy": 1})
    wacnet.sysctl(c.node2, {"net.ipv4.ip_forward": 1})
    c.apply(wacnet.namespace_yaml("prod", {"touched": "yes"}))
    for wacd in c.wacds:
        wait_for(lambda: not egress_status(wacd).get("problems"), 3, f"no problems left on {wacd.node.name}")


def seen6(src, ext, port=OPEN_PORT, timeout=1.0):
    result = wacnet.probe(src, ext.ip6, port, timeout=timeout)
    return result.peer if result.ok else None


def wac_routing6(node):
    """wac's IPv6 rules, routes (any table) and egress addresses on fab0."""
    rules = [line.strip() for line in ip_cmd(node, "-6", "rule", "show").splitlines() if f"proto {PROTO}" in line]
    routes = [line.strip() for line in ip_cmd(node, "-6", "route", "show", "table", "all", "proto", PROTO).splitlines()
              if line.strip()]
    addresses = [line.strip() for line in ip_cmd(node, "-6", "addr", "show", "dev", "fab0").splitlines()
                 if EGRESS6_A in line]
    return rules, routes, addresses


def test_egress_gateway_ipv6(topo):
    c = Cluster(topo)
    c.add_ipv6()
    p1 = topo.add_pod("prod", "p1", c.node1)   # dual stack
    p2 = topo.add_pod("prod", "p2", c.node2)
    o1 = topo.add_pod("other", "o1", c.node1)
    c.cluster()
    assert seen6(p1, c.ext) == fabric_ip6(c.node1)   # the CNI's masquerade, before any gateway

    # one resource, both families: node2 is the gateway for each (one egress IP per family)
    doc = gateway_doc("prod-egress", [member(c.node2, EGRESS_A), member(c.node2, EGRESS6_A)],
                      namespace_selector="projectcalico.org/name == 'prod'",
                      destinations=[wacnet.ROUTED_NET4, ROUTED_NET6])
    c.apply(wacnet.to_yaml(doc))
    assert seen6(p1, c.ext) == EGRESS6_A
    assert seen6(p2, c.ext) == EGRESS6_A   # through its own node's gateway
    assert seen(p1, c.ext) == EGRESS_A
    assert seen6(o1, c.ext) == fabric_ip6(c.node1)
    # cluster-internal IPv6 traffic is not redirected
    topo.start_server(o1, tcp=[POD_PORT])
    assert wacnet.probe(p2, o1.ip6, POD_PORT).peer == p2.ip6

    table = egress_status(c.wacd1)["groups"][0]["table"]
    rules, routes, addresses = wac_routing6(c.node1)
    assert len(rules) == 1 and f"lookup {table}" in rules[0] and "fwmark" in rules[0], rules
    assert f"{ROUTED_NET6} via {fabric_ip6(c.node2)} dev fab0 proto {PROTO}" in \
        ip_cmd(c.node1, "-6", "route", "show", "table", str(table))
    assert wacnet.read_sysctl(c.node1, "net.ipv6.conf.all.forwarding") == "1"
    addresses = wac_routing6(c.node2)[2]
    assert len(addresses) == 1 and addresses[0].startswith(f"inet6 {EGRESS6_A}/128 scope global"), addresses
    assert f"snat ip6 to {EGRESS6_A}" in c.wacd2.ruleset()
    wait_for(lambda: {m["egressIP"]: m["state"] for m in egress_status(c.wacd1)["groups"][0]["gateways"]}
             == {EGRESS_A: "Healthy", EGRESS6_A: "Healthy"}, 3, "node1's ICMP and ICMPv6 probes of node2")

    # deleting it leaves no IPv6 rule, route or address behind either
    c.delete(wacnet.to_yaml(doc))
    for node in c.nodes:
        wait_for(lambda: wac_routing6(node) == ([], [], []), 3, f"no IPv6 egress routing left on {node.name}")
    assert seen6(p1, c.ext) == fabric_ip6(c.node1)
