"""GlobalNetworkSet selected by label in a GlobalNetworkPolicy egress rule:
membership decides access, an in-place update of the set flips it without
touching the policy, and deleting the set denies."""

import json

import wacnet
from wacnet import Case

POLICY = """
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: client-egress
spec:
  selector: app == 'client'
  types: [Egress]
  egress:
  - action: Allow
    destination:
      selector: netset == 'partners'
"""


def network_set(*nets: str) -> str:
    return wacnet.to_yaml({
        "apiVersion": "projectcalico.org/v3",
        "kind": "GlobalNetworkSet",
        "metadata": {"name": "partners", "labels": {"netset": "partners"}},
        "spec": {"nets": list(nets)},
    })


def reach(client, bystander, ext, first: bool, second: bool) -> list:
    """client -> each of ext's two addresses (both families) as expected;
    the bystander (not selected) reaches both throughout."""
    cases = []
    for fam in (4, 6):
        addrs = ext.ip4s if fam == 4 else ext.ip6s
        cases += [Case(client, ext, 80, first, family=fam, ip=addrs[0]),
                  Case(client, ext, 80, second, family=fam, ip=addrs[1]),
                  Case(bystander, ext, 80, True, family=fam, ip=addrs[1])]
    return cases


def test_global_network_set_membership_update_and_delete(topo):
    node = topo.add_node()
    client = topo.add_pod("default", "client", labels={"app": "client"})
    bystander = topo.add_pod("default", "bystander", labels={"app": "other"})
    ext = topo.add_external("ext", addresses=2)
    topo.start_server(ext, tcp=[80])
    wacnet.assert_matrix(reach(client, bystander, ext, True, True), within=0)

    wacd = topo.start_wacd(node)
    first4, second4 = ext.ip4s
    first6, second6 = ext.ip6s
    wacd.apply(wacnet.cluster_yaml(topo.pods))
    wacd.apply(network_set(f"{first4}/32", f"{first6}/128"))
    wacd.apply(POLICY)
    wacnet.assert_matrix(reach(client, bystander, ext, first=True, second=False))

    policy_before = wacd.get("GlobalNetworkPolicy", "client-egress")
    wacd.apply(network_set(f"{second4}/32", f"{second6}/128"))  # same name, new nets
    wacnet.assert_matrix(reach(client, bystander, ext, first=False, second=True))
    assert wacd.get("GlobalNetworkPolicy", "client-egress") == policy_before
    stored = json.dumps(wacd.get("GlobalNetworkSet", "partners"))
    assert f"{second4}/32" in stored and f"{first4}/32" not in stored

    wacd.delete(network_set(f"{second4}/32", f"{second6}/128"))
    wacnet.assert_matrix(reach(client, bystander, ext, first=False, second=False))
    assert wacd.ctl("get", "GlobalNetworkSet", "partners", "-o", "json", check=False).returncode != 0
