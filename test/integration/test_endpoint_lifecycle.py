"""Workload endpoints coming and going: an interface with the workload prefix
but no endpoint passes nothing; a re-added endpoint gets its policy back; an
endpoint applied before its interface exists is enforced from the moment the
interface appears."""
import json

import wacnet
from wacnet import Case

POLICY = wacnet.SRV_FROM_CLIENTS


def test_endpoint_delete_readd_and_late_interface(topo):
    node = topo.add_node()
    client = topo.add_pod("default", "client", labels={"role": "client"})
    other = topo.add_pod("default", "other", labels={"role": "other"})
    srv = topo.add_pod("default", "srv", labels={"app": "srv"})
    stray = topo.add_pod("default", "stray")  # a cali interface no endpoint ever describes
    late = topo.add_pod("default", "late", labels={"app": "srv"}, plumbed=False)
    for pod in (client, srv, stray, late):
        topo.start_server(pod, tcp=[80])

    enforced = [
        Case(client, srv, 80, True),
        Case(client, srv, 80, True, family=6),
        Case(other, srv, 80, False),
        Case(srv, client, 80, True),              # srv's egress is not policed
    ]
    no_endpoint = [
        Case(client, stray, 80, False),
        Case(stray, client, 80, False),
        Case(stray, client, 80, False, family=6),
    ]
    wacnet.assert_matrix(wacnet.expect_all(enforced + no_endpoint), within=0)

    wacd = topo.start_wacd(node)
    # late's endpoint goes in now; its interface does not exist yet
    wacd.apply(wacnet.cluster_yaml([client, other, srv, late]))
    wacd.apply(POLICY)
    wacnet.assert_matrix(enforced + no_endpoint)
    # link events tell the operator what waits and what is orphaned
    status = json.loads(wacd.ctl("status", "-o", "json").stdout)
    assert [e for e in status["endpointsWithoutInterface"] if late.iface in e], status
    assert stray.iface in status["interfacesWithoutEndpoint"], status
    assert srv.iface not in status.get("interfacesWithoutEndpoint", []), status

    # the endpoint goes away but the interface stays: both directions dropped
    srv_endpoint = srv.wep_yaml()
    wacd.delete(srv_endpoint)
    wacnet.assert_matrix([
        Case(client, srv, 80, False),
        Case(client, srv, 80, False, family=6),
        Case(srv, client, 80, False),
        Case(other, srv, 80, False),
    ])

    # back again: its policy applies as before
    wacd.apply(srv_endpoint)
    wacnet.assert_matrix(enforced)

    # late's interface appears: the very first connection is already policed
    topo.plumb_pod_interface(late)
    wacnet.assert_matrix([Case(other, late, 80, False), Case(other, late, 80, False, family=6)],
                         within=0)
    wacnet.assert_matrix([Case(client, late, 80, True), Case(client, late, 80, True, family=6),
                          Case(other, late, 80, False)])
    status = json.loads(wacd.ctl("status", "-o", "json").stdout)
    assert not status.get("endpointsWithoutInterface"), status
    assert int(status["linkEvents"]) > 0, status
