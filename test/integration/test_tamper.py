"""Someone changes table inet wac behind wacd's back (`nft flush table`, a
rule inserted by hand, a map entry deleted): wacd notices from the nftables
change notifications, restores the table with one full sync, and says so in
`wacctl status`."""

import json
import re
import time

import wacnet
from wacnet import Case, run

POLICY = wacnet.SRV_FROM_CLIENTS


def nft(node, *args):
    run(["ip", "netns", "exec", node.netns, "nft", *args])


def by_object(ruleset):
    """The table's sets, maps and chains in name order: a table rebuilt from
    scratch lists its objects in creation order, which carries no meaning."""
    objects, current = [], []
    lines = wacnet.normalize_ruleset(ruleset).rstrip().splitlines()
    # The table's own closing brace goes apart, not with whichever object
    # happens to be created last.
    if lines and lines[-1] == "}":
        objects.append(lines.pop())
    for line in lines:
        if re.match(r"\s+(set|map|chain) ", line) and current:
            objects.append("\n".join(current).strip())
            current = []
        current.append(line)
    objects.append("\n".join(current).strip())
    return "\n\n".join(sorted(objects))


def wait_restored(wacd, programmed, what, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            wacnet.assert_same_ruleset(by_object(programmed), by_object(wacd.ruleset()), what)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def status(wacd):
    return json.loads(wacd.ctl("status", "-o", "json").stdout)


def test_foreign_changes_are_undone(topo):
    node = topo.add_node()
    client = topo.add_pod("default", "client", labels={"role": "client"})
    bad = topo.add_pod("default", "bad", labels={"role": "bad"})
    srv = topo.add_pod("default", "srv", labels={"app": "srv"})
    topo.start_server(srv, tcp=[80])
    cases = [Case(client, srv, 80, True), Case(bad, srv, 80, False), Case(bad, srv, 80, False, family=6)]

    wacd = topo.start_wacd(node)
    wacd.apply(wacnet.cluster_yaml(topo.pods) + "---" + POLICY)
    wacnet.assert_matrix(cases)
    programmed = wacd.ruleset()
    assert int(status(wacd).get("foreignChanges", 0)) == 0

    tampering = [
        ("flush table", ["flush", "table", "inet", "wac"]),
        ("accept inserted first", ["insert", "rule", "inet", "wac", "forward", "accept"]),
        ("map entry deleted", ["delete", "element", "inet", "wac", "to-pod", "{", f'"{srv.iface}"', "}"]),
        ("table deleted", ["delete", "table", "inet", "wac"]),
    ]
    for n, (what, command) in enumerate(tampering, start=1):
        nft(node, *command)
        wait_restored(wacd, programmed, f"ruleset after '{what}'")
        wacnet.assert_matrix(cases, within=0)
        s = status(wacd)
        assert int(s["foreignChanges"]) >= n, s
        assert "nft (pid" in s["lastForeignChange"], s

    # wacd's own changes are not foreign
    before = int(status(wacd)["foreignChanges"])
    wacd.apply(POLICY.replace("ports: [80]", "ports: [80, 8080]"))
    wacd.apply(POLICY)
    time.sleep(0.5)
    assert int(status(wacd)["foreignChanges"]) == before
