"""`wacctl explain POD`: the policies that apply to a pod, in evaluation
order, with their rules and the nftables chains that implement them; the
chains it names are the ones in the kernel, and a later order change shows."""
import json

import wacnet

POLICIES = """
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: zz-deny-bad
  namespace: shop
spec:
  order: 10
  selector: app == 'db'
  types: [Ingress]
  ingress:
  - action: Deny
    source:
      selector: role == 'bad'
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: aa-allow-frontend
spec:
  order: 500
  selector: app == 'db'
  types: [Ingress, Egress]
  ingress:
  - action: Allow
    protocol: TCP
    source:
      selector: role == 'frontend'
    destination:
      ports: [5432]
  egress:
  - action: Allow
"""


def test_explain_lists_policies_in_order_with_their_chains(topo):
    node = topo.add_node()
    db = topo.add_pod("shop", "db", labels={"app": "db"})
    fe = topo.add_pod("shop", "fe", labels={"role": "frontend"})
    wacd = topo.start_wacd(node)
    wacd.apply(wacnet.cluster_yaml([db, fe]) + "---" + POLICIES)

    text = wacd.ctl("explain", "db", "-n", "shop").stdout
    lines = text.splitlines()
    assert lines[0].startswith(f"Pod shop/db (endpoint {db.wep_name}, interface {db.iface}, {db.ip4}"), text
    ingress = lines.index("Ingress: to-pod map -> chain pod-shop/db-ingress")
    egress = lines.index("Egress: from-pod map -> chain pod-shop/db-egress")
    assert lines[ingress + 1:egress - 1] == [
        "  1. NetworkPolicy shop/zz-deny-bad (order 10) -> chain np-shop/zz-deny-bad-ingress",
        "       rule 0: Deny from selector role == 'bad'",
        "  2. GlobalNetworkPolicy aa-allow-frontend (order 500) -> chain gnp-aa-allow-frontend-ingress",
        "       rule 0: Allow tcp from selector role == 'frontend' to ports 5432",
        "  otherwise dropped: no policy allowed it (default deny)",
    ], text
    assert lines[egress + 1:egress + 3] == [
        "  1. GlobalNetworkPolicy aa-allow-frontend (order 500) -> chain gnp-aa-allow-frontend-egress",
        "       rule 0: Allow everything",
    ], text

    # every chain it names exists in the kernel, and the pod chain jumps in that order
    ruleset = wacd.ruleset()
    for chain in ("pod-shop/db-ingress", "np-shop/zz-deny-bad-ingress", "gnp-aa-allow-frontend-ingress",
                  "pod-shop/db-egress", "gnp-aa-allow-frontend-egress"):
        assert f"chain {chain} {{" in ruleset, chain
    pod_chain = ruleset[ruleset.index("chain pod-shop/db-ingress {"):]
    assert pod_chain.index("jump np-shop/zz-deny-bad-ingress") < pod_chain.index("jump gnp-aa-allow-frontend-ingress")

    # --nft adds the programmed rules; -o json carries the same
    with_nft = wacd.ctl("explain", "db", "-n", "shop", "--nft").stdout
    assert "nft: " in with_nft and "comment \"gnp aa-allow-frontend ingress rule 0\"" in with_nft, with_nft
    as_json = json.loads(wacd.ctl("explain", "db", "-n", "shop", "-o", "json").stdout)
    assert [p["name"] for p in as_json["ingress"]["policies"]] == ["zz-deny-bad", "aa-allow-frontend"]

    # a new order moves the global policy first
    wacd.apply(POLICIES.replace("order: 500", "order: 1"))
    text = wacd.ctl("explain", "db", "-n", "shop").stdout
    assert text.index("1. GlobalNetworkPolicy aa-allow-frontend (order 1)") < \
        text.index("2. NetworkPolicy shop/zz-deny-bad (order 10)"), text

    # a pod nothing selects; a pod that is not here
    text = wacd.ctl("explain", "fe", "-n", "shop").stdout
    assert "  no policy applies\n  otherwise allowed: no policy selects this pod for ingress" in text, text
    missing = wacd.ctl("explain", "db", check=False)  # namespace defaults to "default"
    assert missing.returncode == 1
    assert "NOT_FOUND: no endpoint of pod default/db on this node" in missing.stderr
