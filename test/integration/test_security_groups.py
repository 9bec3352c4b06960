"""AWS security groups for pods, end to end.

Group A (web) allows TCP 80 from the members of group B and egress to one
CIDR, the external host's network; group B (clients) allows egress TCP 80 to
A's members and nothing inbound.  The groups are applied as the JSON that
`aws ec2 describe-security-groups` prints; pods join them with Calico's
annotation aws.tigera.io/security-groups.  Checked: connections in both
directions; a pod joining B (its WorkloadEndpoint re-applied with the
annotation) gains access at once; a pod whose annotation is removed loses
it, also from another node; a Calico deny policy on a pod its groups allow
still denies (both must allow)."""

import json

import wacnet
from wacnet import Case

A = "sg-0a1b2c3d4e5f60718"
B = "sg-0b2c3d4e5f6a70819"


def describe_security_groups(ext_net: str) -> str:
    """What `aws ec2 describe-security-groups --group-ids A B` prints."""
    def pair(group):
        return {"GroupId": group, "UserId": "123456789012"}

    def permission(protocol, from_port, to_port, ranges=(), groups=()):
        return {"FromPort": from_port, "IpProtocol": protocol,
                "IpRanges": [{"CidrIp": c, "Description": "external host"} for c in ranges],
                "Ipv6Ranges": [], "PrefixListIds": [], "ToPort": to_port,
                "UserIdGroupPairs": [pair(g) for g in groups]}

    groups = [
        {"Description": "web servers", "GroupName": "web", "OwnerId": "123456789012", "GroupId": A,
         "IpPermissions": [permission("tcp", 80, 80, groups=[B])],
         "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": ext_net}], "Ipv6Ranges": [],
                                  "PrefixListIds": [], "UserIdGroupPairs": []}],
         "Tags": [{"Key": "Name", "Value": "web"}], "VpcId": "vpc-0123456789abcdef0"},
        {"Description": "clients", "GroupName": "clients", "OwnerId": "123456789012", "GroupId": B,
         "IpPermissions": [],
         "IpPermissionsEgress": [permission("tcp", 80, 80, groups=[A])],
         "VpcId": "vpc-0123456789abcdef0"},
    ]
    return json.dumps({"SecurityGroups": groups}, indent=4)


def wep_yaml(pod, groups=None) -> str:
    """The pod's WorkloadEndpoint, annotated with its groups (None: no annotation)."""
    doc = pod.wep_doc()
    if groups is not None:
        doc["metadata"]["annotations"] = {"aws.tigera.io/security-groups": json.dumps(groups)}
    return wacnet.to_yaml(doc)


DENY_WEB = """
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: deny-web
spec:
  order: 10
  selector: app == 'web'
  types: [Ingress]
  ingress:
  - action: Deny
"""

ALLOW_WEB = """
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: allow-web
spec:
  order: 10
  selector: app == 'web'
  types: [Ingress]
  ingress:
  - action: Allow
"""


def test_security_groups_membership_both_directions_and_and_with_policy(topo):
    node1, node2 = topo.add_node(), topo.add_node()
    web = topo.add_pod("shop", "web", node=node1, labels={"app": "web"})        # in A
    client = topo.add_pod("shop", "client", node=node1)                         # in B
    other = topo.add_pod("shop", "other", node=node1)                           # in no group, joins B later
    remote = topo.add_pod("shop", "remote", node=node2)                         # in B, on another node
    ext = topo.add_external("ext", node=node1)
    for host in (web, client, other, remote, ext):
        topo.start_server(host, tcp=[80, 8080])

    def cases(in_b, plain):
        """in_b: pods in B; plain: pods in no group."""
        out = [
            Case(web, ext, 80, True),                 # A egress: the external network
            Case(web, ext, 80, False, family=6),      # ... IPv4 only
            Case(ext, web, 80, False),                # A ingress: only from B
            Case(web, client, 80, False),             # A egress is not to pods; B has no ingress
            Case(client, web, 8080, False),           # only port 80 is allowed
        ]
        for pod in in_b:
            out += [Case(pod, web, 80, True), Case(pod, web, 80, True, family=6)]
            if pod.node is node1:                     # (node2 runs no wacd: its pods' egress is open)
                out.append(Case(pod, ext, 80, False))  # B egress: only to A
        for pod in plain:
            out += [Case(pod, web, 80, False), Case(pod, web, 80, False, family=6),
                    Case(pod, ext, 80, True),         # no group: unaffected
                    Case(ext, pod, 80, True)]
        return out

    wacnet.assert_matrix(wacnet.expect_all(cases([client, remote], [other])), within=0)  # plain network

    wacd = topo.start_wacd(node1)
    wacd.apply(wacnet.cluster_yaml(topo.pods))
    applied = wacd.apply(describe_security_groups("198.51.100.0/24"))
    assert f"SecurityGroup {A} applied" in applied and f"SecurityGroup {B} applied" in applied
    # groups exist, no pod in any: nothing changes
    wacnet.assert_matrix(wacnet.expect_all(cases([client, remote], [other])))

    wacd.apply(wep_yaml(web, [A]) + wep_yaml(client, [B]) + wep_yaml(remote, [B]))
    wacnet.assert_matrix(cases(in_b=[client, remote], plain=[other]))

    # Inspectable: get, status, the ruleset.
    listed = wacd.get("securitygroups")
    assert sorted(item["metadata"]["name"] for item in listed["items"]) == [A, B]
    table = wacd.get("sg", output="table")
    assert "GROUP-NAME" in table and "web" in table and "clients" in table
    assert "SecurityGroup: 2" in wacd.status()
    ruleset = wacd.ruleset()
    assert f"chain {A}-ingress" in ruleset and 'comment "sg sg-0a1b2c3d4e5f60718 (web) ingress"' in ruleset
    assert f"has(sg.aws.tigera.io/{B})" in ruleset

    # other joins B: its WorkloadEndpoint re-applied with the annotation
    wacd.apply(wep_yaml(other, [B]))
    wacnet.assert_matrix(cases(in_b=[client, remote, other], plain=[]))

    # client's annotation removed: it loses A's port (and B's egress limits)
    wacd.apply(wep_yaml(client))
    wacnet.assert_matrix(cases(in_b=[remote, other], plain=[client]))
    # the same for a pod on another node: only the group's set changes
    wacd.apply(wep_yaml(remote, []))
    wacnet.assert_matrix(cases(in_b=[other], plain=[client, remote]))

    # A Calico policy that denies what A allows: both must allow, so denied.
    wacd.apply(DENY_WEB)
    wacnet.assert_matrix([Case(other, web, 80, False), Case(other, web, 80, False, family=6),
                          Case(web, ext, 80, True)])      # the policy is ingress only
    wacd.delete(DENY_WEB)
    # A Calico policy that allows what A does not: still denied.
    wacd.apply(ALLOW_WEB)
    wacnet.assert_matrix([Case(other, web, 80, True), Case(other, web, 80, True, family=6),
                          Case(ext, web, 80, False), Case(client, web, 80, False),
                          Case(other, web, 8080, False)])
    wacd.delete(ALLOW_WEB)

    # Groups and memberships survive a restart (state file), enforced as before.
    wacd.restart()
    wacnet.assert_matrix(cases(in_b=[other], plain=[client, remote]))

    # The group deleted while web still names it: web's groups allow nothing.
    wacd.delete(describe_security_groups("198.51.100.0/24"))
    wacnet.assert_matrix([Case(other, web, 80, False), Case(web, ext, 80, False),
                          Case(client, ext, 80, True)])


def test_invalid_security_groups_change_nothing(topo):
    node = topo.add_node()
    web = topo.add_pod("shop", "web", node=node)
    topo.start_server(web, tcp=[80])
    wacd = topo.start_wacd(node)
    wacd.apply(wacnet.cluster_yaml(topo.pods))
    good = json.loads(describe_security_groups("198.51.100.0/24"))
    bad = json.loads(describe_security_groups("198.51.100.0/24"))
    bad["SecurityGroups"][1]["IpPermissionsEgress"][0]["PrefixListIds"] = [{"PrefixListId": "pl-6ea54007"}]
    proc = wacd.ctl("apply", "-f", "-", input=json.dumps(bad), check=False)
    assert proc.returncode == 1
    assert (f"SecurityGroups[1].IpPermissionsEgress[0].PrefixListIds[0].PrefixListId: prefix lists are not "
            f"supported") in proc.stderr
    assert wacd.get("securitygroups")["items"] == []          # all or nothing
    wacd.apply(json.dumps(good))
    assert len(wacd.get("securitygroups")["items"]) == 2
    proc = wacd.ctl("apply", "-f", "-", input=wep_yaml(web, ["sg-nothex"]), check=False)
    assert proc.returncode == 1
    assert 'invalid security group ID "sg-nothex"' in proc.stderr
    assert "annotations" not in wacd.get("WorkloadEndpoint", web.wep_name, ns="shop")["metadata"]
