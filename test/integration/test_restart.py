"""wacd dies (SIGKILL) and comes back: the kernel keeps enforcing the last
programmed rules meanwhile (fail static), established connections never
notice, the restarted agent leaves the ruleset as it was, and re-applying
the same resources converges to the same ruleset."""

import signal
import time

import wacnet
from wacnet import Case

POLICY = wacnet.SRV_FROM_CLIENTS

ALSO_ALLOW_BAD = POLICY.replace("role == 'client'", "role in {'client', 'bad'}")


def test_sigkill_and_restart_keep_enforcement(topo):
    node = topo.add_node()
    client = topo.add_pod("default", "client", labels={"role": "client"})
    bad = topo.add_pod("default", "bad", labels={"role": "bad"})
    srv = topo.add_pod("default", "srv", labels={"app": "srv"})
    topo.start_server(srv, tcp=[80, 81])
    cases = [
        Case(client, srv, 80, True),
        Case(client, srv, 80, True, family=6),
        Case(client, srv, 81, False),
        Case(bad, srv, 80, False),
        Case(bad, srv, 80, False, family=6),
    ]

    wacd = topo.start_wacd(node)
    resources = wacnet.cluster_yaml(topo.pods) + "---" + POLICY
    wacd.apply(resources)
    wacnet.assert_matrix(cases)
    programmed = wacd.ruleset()

    conn = topo.open_connection(client, srv.ip4, 80)
    conn.start_heartbeat(interval=0.05)

    assert wacd.kill(signal.SIGKILL) == -signal.SIGKILL
    assert not wacd.running
    wacnet.assert_same_ruleset(programmed, wacd.ruleset(), "ruleset after SIGKILL")
    wacnet.assert_matrix(cases, within=0)  # new connections, nobody home: rules still hold
    assert conn.ping()

    wacd.start()
    wacnet.assert_same_ruleset(programmed, wacd.ruleset(), "ruleset right after restart")
    time.sleep(1.0)  # give a resync on start time to (wrongly) change anything
    wacnet.assert_same_ruleset(programmed, wacd.ruleset(), "ruleset 1s after restart")
    wacnet.assert_matrix(cases, within=0)

    stats = conn.stop_heartbeat()
    assert stats["failed"] == 0, f"established connection lost data: {stats}"
    assert stats["ok"] >= 10 and stats["max_gap"] < wacnet.bound(1.0), stats
    assert conn.ping()

    # the same resources again: nothing to change
    wacd.apply(resources)
    time.sleep(0.5)
    wacnet.assert_same_ruleset(programmed, wacd.ruleset(), "ruleset after re-apply")
    wacnet.assert_matrix(cases, within=0)

    # and the restarted agent still acts on changes
    wacd.apply(ALSO_ALLOW_BAD)
    wacnet.assert_matrix([Case(bad, srv, 80, True), Case(client, srv, 80, True),
                          Case(bad, srv, 81, False)])
    assert conn.ping()
