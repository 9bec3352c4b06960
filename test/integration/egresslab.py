"""The egress gateway lab shared by test_egress_gateway.py and
test/bench/egress_failover.py.

Nodes node1, node2 (and more if asked), each running its own wacd, on a node
network 192.0.2.0/24 behind a router (192.0.2.254); an external host
203.0.113.10 behind the router whose listener reports the peer address and
whose own firewall admits only the egress IPs on port 8080 (9090 is open to
anyone, to see who comes).

Each node also has the masquerade a CNI adds for pod traffic leaving the
cluster (Calico's natOutgoing), so a pod that does not use a gateway is seen
with its node's address, and a pod that does must not be masqueraded by its
own node on the way to the gateway.
"""

import json
import time

import wacnet

FW_PORT = 8080      # the external firewall admits only the egress IPs here
OPEN_PORT = 9090    # open to anyone: shows the source address
POD_PORT = 7070     # a server in a pod, for cluster-internal traffic
EGRESS_A = "192.0.2.100"
EGRESS_B = "192.0.2.101"
EGRESS_IPS = (EGRESS_A, EGRESS_B)
# IPv6 (Cluster.add_ipv6): the node network's global range, the router's
# network behind it, and an egress IP
FABRIC_NET6 = "2001:db8:2::/64"          # node k: 2001:db8:2::k, the router 2001:db8:2::fe
FABRIC_ROUTER6 = "2001:db8:2::fe"
ROUTED_NET6 = "2001:db8:203::/64"        # the router 2001:db8:203::1, the external host ::10
EGRESS6_A = "2001:db8:2::100"
PROTO = "87"        # wacd's default egress.routeProtocol

CNI_MASQUERADE6 = """
table ip6 wt-cni6 {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip6 saddr fd00:244::/48 ip6 daddr != fd00:244::/48 oifname "fab0" masquerade
  }
}
"""

CNI_MASQUERADE = """
table ip wt-cni {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 10.244.0.0/16 ip daddr != 10.244.0.0/16 oifname "fab0" masquerade
  }
}
"""

EXT_FIREWALL = f"""
table inet wt-fw {{
  chain input {{
    type filter hook input priority filter; policy accept;
    tcp dport {FW_PORT} ip saddr != {{ {EGRESS_A}, {EGRESS_B} }} reject with tcp reset
  }}
}}
"""

FAST_PROBES = {"intervalMilliseconds": 200, "timeoutMilliseconds": 150, "failureThreshold": 2}
# What api/translate_egress.cc fills in for an absent spec.healthCheck.
DEFAULT_PROBES = {"protocol": "ICMP", "intervalMilliseconds": 1000, "timeoutMilliseconds": 500,
                  "failureThreshold": 3, "successThreshold": 1}


def wacd_config(node_names, extra=""):
    """wacd's configuration: the cluster's ranges, every node known as a
    gateway node even while it runs no pod, and `extra` egress keys
    (indented YAML lines, e.g. "  setSysctls: false\\n")."""
    return ("egress:\n"
            '  clusterCIDRs: [10.244.0.0/16, "fd00:244::/48", 10.96.0.0/12]\n'
            f"  gatewayNodes: [{', '.join(node_names)}]\n" + extra)


def gateway_doc(name, gateways, namespace_selector=None, labels=None, order=None, destinations=None,
                selector=None, health_check=FAST_PROBES, gateway_namespace=None):
    """An EgressGateway; health_check=None leaves spec.healthCheck out (the
    defaults)."""
    spec = {}
    if namespace_selector:
        spec["namespaceSelector"] = namespace_selector
    if selector is not None:
        spec["selector"] = selector
    if order is not None:
        spec["order"] = order
    spec["destinationCIDRs"] = destinations or [wacnet.ROUTED_NET4]
    if health_check is not None:
        spec["healthCheck"] = dict(health_check)
    if gateway_namespace:
        spec["gatewayNamespace"] = gateway_namespace
    spec["gateways"] = gateways
    meta = {"name": name}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "wac.dev/v1", "kind": "EgressGateway", "metadata": meta, "spec": spec}


def fabric_ip6(node):
    """The node's global IPv6 address on the node network (Cluster.add_ipv6)."""
    return f"2001:db8:2::{node.index}"


def member(node, egress_ip, **extra):
    node_ip = fabric_ip6(node) if ":" in egress_ip else node.fabric_ip4
    return {"node": node.name, "nodeIP": node_ip, "egressIP": egress_ip, "interface": "fab0", **extra}


def nft_script(where, script):
    wacnet.run(["ip", "netns", "exec", wacnet._netns_name(where), "nft", "-f", "-"], input=script)


def ip_cmd(where, *args):
    return wacnet.run(["ip", "-n", wacnet._netns_name(where), *args]).stdout


def wac_rules(node):
    return [line.strip() for line in ip_cmd(node, "rule", "show").splitlines() if f"proto {PROTO}" in line]


def wac_routes(node):
    return [line.strip() for line in ip_cmd(node, "route", "show", "table", "all", "proto", PROTO).splitlines()
            if line.strip()]


def wac_addresses(node, egress_ips=EGRESS_IPS):
    return [line.strip() for line in ip_cmd(node, "addr", "show", "dev", "fab0").splitlines()
            if "inet " in line and any(e in line for e in egress_ips)]


def route_hops(node, table):
    """The next hops ("via" addresses) of the group's route in `table`;
    ["unreachable"] when it has none."""
    text = ip_cmd(node, "route", "show", "table", str(table))
    if text.startswith("unreachable"):
        return ["unreachable"]
    hops = []
    words = text.split()
    for i, word in enumerate(words[:-1]):
        if word == "via":
            hops.append(words[i + 1])
    return sorted(hops)


def egress_status(wacd):
    return json.loads(wacd.ctl("egress", "-o", "json").stdout)


def wait_for(check, timeout, what, interval=0.05):
    return wacnet.wait_for(check, what, timeout, interval)


def seen(src, ext, port=FW_PORT, timeout=1.0):
    """The source address the external host saw, or None when refused/lost."""
    result = wacnet.probe(src, ext.ip4, port, timeout=timeout)
    return result.peer if result.ok else None


class Cluster:
    """`nodes` nodes each running wacd, the router, the external host, pods."""

    def __init__(self, topo, nodes=2, config_extra=""):
        self.topo = topo
        self.nodes = [topo.add_node() for _ in range(nodes)]
        self.node1, self.node2 = self.nodes[0], self.nodes[1]
        self.ext = topo.add_routed_external("ext")
        for node in self.nodes:
            nft_script(node, CNI_MASQUERADE)
        nft_script(self.ext, EXT_FIREWALL)
        topo.start_server(self.ext, tcp=[FW_PORT, OPEN_PORT])
        config = topo.workdir / "wacd-egress.yaml"
        config.write_text(wacd_config([n.name for n in self.nodes], config_extra))
        self.wacds = [topo.start_wacd(node, extra_args=["-c", str(config)], log_level="info")
                      for node in self.nodes]
        self.wacd1, self.wacd2 = self.wacds[0], self.wacds[1]

    def pod(self, ns, name, node, **kw):
        return self.topo.add_pod(ns, name, node, ipv6=False, **kw)

    def apply(self, text):
        for wacd in self.wacds:
            wacd.apply(text)

    def delete(self, text):
        for wacd in self.wacds:
            wacd.delete(text)

    def cluster(self, namespaces=None):
        self.apply(wacnet.cluster_yaml(self.topo.pods, namespaces))

    def add_ipv6(self):
        """Global IPv6 on the node network (the harness gives it link-local
        addresses only, which cannot be a gateway's nodeIP): 2001:db8:2::k on
        each node's fab0, the router at ::fe with 2001:db8:203::/64 behind it,
        the external host at 2001:db8:203::10, every node's IPv6 default route
        through the router, and the CNI's masquerade for IPv6 pod traffic.
        The router has no route to the pods' IPv6 range either."""
        router = self.topo.add_fabric_router()
        wacnet.ip_batch(router, [f"addr add {FABRIC_ROUTER6}/64 dev fab0 nodad",
                                 "addr add 2001:db8:203::1/64 dev lan0 nodad"])
        wacnet.sysctl(router, {"net.ipv6.conf.all.forwarding": 1})
        for node in self.nodes:
            wacnet.ip_batch(node.netns, [f"addr add {fabric_ip6(node)}/64 dev fab0 nodad",
                                         f"route replace ::/0 via {FABRIC_ROUTER6} dev fab0"])
            nft_script(node, CNI_MASQUERADE6)
        self.ext.ip6s.append("2001:db8:203::10")
        wacnet.ip_batch(self.ext.netns, ["addr add 2001:db8:203::10/64 dev eth0 nodad",
                                         "route add ::/0 via 2001:db8:203::1"])

    def restore_link(self, node):
        """Brings a node's fab0 back after a cut: the kernel dropped the
        routes through it, the harness puts them back."""
        ip_cmd(node, "link", "set", "fab0", "up")
        self.topo._refresh_routes()
