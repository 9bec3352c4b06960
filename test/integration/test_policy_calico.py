"""Calico v3 policy end to end: GlobalNetworkPolicy order with Deny, Allow and
Pass, the default deny of a selected endpoint, and a namespaced
NetworkPolicy whose rules select sources by namespace labels."""

import wacnet
from wacnet import Case

PASS_OPS = """
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: pass-ops
spec:
  order: 5
  selector: app == 'db'
  types: [Ingress]
  ingress:
  - action: Pass
    source:
      selector: team == 'ops'
"""

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
      selector: role == 'bad' || status == 'quarantined'
"""

ALLOW_FRONTEND = """
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: allow-frontend
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


def docs(*texts: str) -> str:
    return "".join("---" + t for t in texts)


def test_global_policy_order_deny_allow_pass(topo):
    node = topo.add_node()
    db = topo.add_pod("shop", "db", labels={"app": "db"})
    cache = topo.add_pod("shop", "cache", labels={"app": "cache"})
    frontend = topo.add_pod("shop", "frontend", labels={"role": "frontend"})
    # matches the Allow (order 20) but also the Deny (order 10), which wins
    quarantined = topo.add_pod("shop", "frontend-q", labels={"role": "frontend", "status": "quarantined"})
    bad = topo.add_pod("shop", "bad", labels={"role": "bad"})
    # matches the Deny too, but the Pass (order 5) comes first: it skips the
    # tier, and the namespace profile that follows allows everything
    ops = topo.add_pod("tools", "ops", labels={"role": "bad", "team": "ops"})
    other = topo.add_pod("shop", "other")
    topo.start_server(db, tcp=[5432, 8080], udp=[5432])
    topo.start_server(cache, tcp=[8080])

    cases = [
        Case(frontend, db, 5432, True),
        Case(frontend, db, 5432, True, family=6),
        Case(frontend, db, 8080, False),            # selected: default deny beyond the rules
        Case(frontend, db, 5432, False, "udp"),     # the Allow is TCP only
        Case(quarantined, db, 5432, False),
        Case(bad, db, 5432, False),
        Case(bad, db, 5432, False, family=6),
        Case(ops, db, 5432, True),
        Case(ops, db, 8080, True),
        Case(ops, db, 8080, True, family=6),
        Case(other, db, 5432, False),
        # not selected by any policy: accepts everything
        Case(bad, cache, 8080, True),
        Case(other, cache, 8080, True, family=6),
        Case(db, cache, 8080, True),                # the policies are ingress only
    ]
    wacnet.assert_matrix(wacnet.expect_all(cases), within=0)  # plain network first

    wacd = topo.start_wacd(node)
    wacd.apply(wacnet.cluster_yaml(topo.pods))
    # endpoints known, no policy yet: nothing selected, all allowed
    wacnet.assert_matrix(wacnet.expect_all(cases))

    wacd.apply(docs(PASS_OPS, DENY_BAD, ALLOW_FRONTEND))
    wacnet.assert_matrix(cases)

    # without the Pass, the ops pod falls to the Deny like any role=bad pod
    wacd.delete(PASS_OPS)
    wacnet.assert_matrix([Case(ops, db, 5432, False), Case(ops, db, 8080, False),
                          Case(frontend, db, 5432, True)])

    # no policy selects db any more: back to accepting everything
    wacd.delete(docs(DENY_BAD, ALLOW_FRONTEND))
    wacnet.assert_matrix(wacnet.expect_all(cases))


NAMESPACED_POLICY = """
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: api-ingress
  namespace: prod
spec:
  selector: app == 'api'
  types: [Ingress]
  ingress:
  - action: Allow          # no namespaceSelector: sources in prod only
    protocol: TCP
    source:
      selector: app == 'client'
    destination:
      ports: [80]
  - action: Allow
    protocol: TCP
    source:
      namespaceSelector: team == 'blue'
      selector: app == 'client'
    destination:
      ports: [80]
"""


def test_namespaced_policy_with_namespace_selector(topo):
    node = topo.add_node()
    api = topo.add_pod("prod", "api", labels={"app": "api"})
    prod_client = topo.add_pod("prod", "client", labels={"app": "client"})
    prod_stranger = topo.add_pod("prod", "stranger", labels={"app": "stranger"})
    blue_client = topo.add_pod("blue", "client", labels={"app": "client"})
    green_client = topo.add_pod("green", "client", labels={"app": "client"})
    # same labels as prod/api, other namespace: the prod policy must not select it
    blue_api = topo.add_pod("blue", "api", labels={"app": "api"})
    topo.start_server(api, tcp=[80])
    topo.start_server(blue_api, tcp=[80])
    namespaces = {"prod": {"team": "red"}, "blue": {"team": "blue"}, "green": {"team": "green"}}

    wacd = topo.start_wacd(node)
    wacd.apply(wacnet.cluster_yaml(topo.pods, namespaces))
    wacd.apply(NAMESPACED_POLICY)
    wacnet.assert_matrix([
        Case(prod_client, api, 80, True),
        Case(prod_client, api, 80, True, family=6),
        Case(blue_client, api, 80, True),
        Case(blue_client, api, 80, True, family=6),
        Case(green_client, api, 80, False),
        Case(prod_stranger, api, 80, False),
        Case(prod_stranger, blue_api, 80, True),
        Case(green_client, blue_api, 80, True),
    ])

    # namespace labels are live: relabelling moves namespaces in and out
    wacd.apply(wacnet.namespace_yaml("green", {"team": "blue"}) +
               wacnet.namespace_yaml("blue", {"team": "gray"}))
    wacnet.assert_matrix([
        Case(green_client, api, 80, True),
        Case(blue_client, api, 80, False),
        Case(prod_client, api, 80, True),
    ])
