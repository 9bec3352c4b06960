"""Kubernetes NetworkPolicy (networking.k8s.io/v1) end to end: a namespace's
default-deny ingress plus an allow by pod, namespace and port; a default-deny
egress plus an allow to an ipBlock with an exception."""

import wacnet
from wacnet import Case

INGRESS_POLICIES = """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny-ingress
  namespace: shop
spec:
  podSelector: {}
  policyTypes: [Ingress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: db-access
  namespace: shop
spec:
  podSelector:
    matchLabels:
      app: db
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector:
        matchLabels:
          role: api
    - namespaceSelector:
        matchLabels:
          team: ops
      podSelector:
        matchLabels:
          role: admin
    ports:
    - protocol: TCP
      port: 5432
"""


def test_default_deny_ingress_with_allow(topo):
    node = topo.add_node()
    db = topo.add_pod("shop", "db", labels={"app": "db"})
    web = topo.add_pod("shop", "web", labels={"app": "web"})
    shop_api = topo.add_pod("shop", "api", labels={"role": "api"})
    shop_other = topo.add_pod("shop", "other", labels={"role": "other"})
    ops_admin = topo.add_pod("ops", "admin", labels={"role": "admin"})
    ops_api = topo.add_pod("ops", "api", labels={"role": "api"})
    dev_admin = topo.add_pod("dev", "admin", labels={"role": "admin"})
    ext = topo.add_external("ext")
    topo.start_server(db, tcp=[5432, 9000])
    topo.start_server(web, tcp=[8080])
    topo.start_server(ops_admin, tcp=[8080])

    cases = [
        Case(shop_api, db, 5432, True),
        Case(shop_api, db, 5432, True, family=6),
        Case(shop_api, db, 9000, False),        # port not in the allow
        Case(shop_other, db, 5432, False),      # pod label not in the allow
        Case(ops_admin, db, 5432, True),        # namespace AND pod labels match
        Case(ops_admin, db, 5432, True, family=6),
        Case(ops_api, db, 5432, False),         # podSelector alone = same namespace only
        Case(dev_admin, db, 5432, False),       # pod matches, namespace does not
        Case(ext, db, 5432, False),
        Case(shop_api, web, 8080, False),       # default deny, even within the namespace
        Case(ops_admin, web, 8080, False, family=6),
        Case(shop_other, ops_admin, 8080, True),  # ops has no policy
        Case(ext, ops_admin, 8080, True),
    ]
    wacnet.assert_matrix(wacnet.expect_all(cases), within=0)

    wacd = topo.start_wacd(node)
    wacd.apply(wacnet.cluster_yaml(topo.pods, {"ops": {"team": "ops"}, "dev": {"team": "dev"}}))
    wacd.apply(INGRESS_POLICIES)
    wacnet.assert_matrix(cases)


EGRESS_POLICIES = """
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny-egress
  namespace: locked
spec:
  podSelector: {}
  policyTypes: [Egress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-partner-web
  namespace: locked
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock:
        cidr: 198.51.100.0/24
        except: [198.51.100.11/32]
    ports:
    - protocol: TCP
      port: 80
"""


def test_default_deny_egress_with_ip_block_except(topo):
    node = topo.add_node()
    app = topo.add_pod("locked", "app", labels={"role": "app"})
    free = topo.add_pod("open", "free", labels={"role": "app"})
    peer = topo.add_pod("open", "peer")
    ext = topo.add_external("ext", addresses=2)
    allowed_ip, excepted_ip = ext.ip4s  # 198.51.100.10, 198.51.100.11
    assert excepted_ip == "198.51.100.11"
    topo.start_server(ext, tcp=[80, 81])
    topo.start_server(peer, tcp=[8080])
    topo.start_server(app, tcp=[8080])

    cases = [
        Case(app, ext, 80, True, ip=allowed_ip),
        Case(app, ext, 80, False, ip=excepted_ip),
        Case(app, ext, 81, False, ip=allowed_ip),   # port not allowed
        Case(app, ext, 80, False, family=6),        # the ipBlock is IPv4 only
        Case(app, peer, 8080, False),               # other pods: egress default deny
        Case(free, ext, 80, True, ip=excepted_ip),  # other namespaces are unaffected
        Case(free, peer, 8080, True),
        Case(ext, app, 8080, True),                 # egress-only policies: ingress untouched
        Case(peer, app, 8080, True, family=6),
    ]
    wacnet.assert_matrix(wacnet.expect_all(cases), within=0)

    wacd = topo.start_wacd(node)
    wacd.apply(wacnet.cluster_yaml(topo.pods))
    wacd.apply(EGRESS_POLICIES)
    wacnet.assert_matrix(cases)
