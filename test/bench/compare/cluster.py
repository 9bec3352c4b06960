"""One synthetic cluster from a seed, and its renderings.

The same `Cluster` feeds every implementation the comparison measures:

  * wac:       Calico v3 / Kubernetes YAML for `wacctl apply`
  * iptables:  Calico-classic style: per-pod chains, per-policy chains, one
               ipset (hash:net) per rule selector; `ipset restore` then
               `iptables-restore`
  * nftables:  the same policy as one nft text file (named interval sets, a
               verdict map per direction, a chain per pod and per policy),
               reloaded whole with `nft -f` on every change

`Model` is the reference: which policies apply to which local endpoint, which
addresses each rule selector holds, and the verdict for one connection.  The
baselines are rendered from it; the connection matrix compares wac and each
baseline against its verdicts.

With `Params.focus_policies` = K > 0 the cluster also has one more local pod,
the packet benchmark's client (test/bench/packet): K global policies select it,
each with rules like every other policy's (other apps, ports, network sets),
and only the last one's last rules allow its traffic to SERVER_NET, so that
traffic is decided at the end of the pod's rule list.

Only what the generator produces is supported: selectors are conjunctions of
`key == 'v'` / `key in {...}`, actions Allow and Deny, TCP/UDP ports, source
and destination nets, namespaced policies whose endpoint selectors stay in
their namespace and whose network-set selectors use `namespaceSelector:
global()`.  Every policy has its own order, so no tie-break is involved.

Domain patterns (Params.domains, 0 unless asked for: the baselines have no
DNS policy) are egress rules allowing `destination.domains`; with nothing
resolved they allow nothing, which is how the model and the baselines treat
them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import random
from typing import Optional

POD_NET = ipaddress.ip_network("10.128.0.0/10")      # endpoint addresses
NETSET_NET = ipaddress.ip_network("100.64.0.0/10")   # network-set CIDRs (/28s, every other one)
EXT_NET = "198.51.100.0/24"                          # documentation range: the external host
ACCEPT_MARK = 0x10000

# the packet benchmark's focus pod and the server it talks to
SERVER_NET = "203.0.113.0/24"                        # documentation range
FOCUS_APP = "bench-client"
FOCUS_ORDER = 100000                                 # after every ordinary policy (orders 0..policies-1)
FOCUS_TCP_PORT, FOCUS_UDP_PORT = 8080, 9000          # egress to SERVER_NET, allowed by the last focus policy
FOCUS_INGRESS_PORT = 7000                            # ingress from SERVER_NET, allowed by the last focus policy

# --------------------------------------------------------------------------
# selectors


@dataclasses.dataclass(frozen=True)
class Selector:
    terms: tuple  # ((key, (values...)), ...): key == v for one value, key in {...} for several

    def render(self) -> str:
        parts = []
        for key, values in self.terms:
            if len(values) == 1:
                parts.append(f"{key} == '{values[0]}'")
            else:
                parts.append(f"{key} in {{{', '.join(repr(v) for v in values)}}}")
        return " && ".join(parts)

    def matches(self, labels: dict) -> bool:
        return all(labels.get(k) in vs for k, vs in self.terms)


def sel(**terms) -> Selector:
    return Selector(tuple((k, tuple(v) if isinstance(v, (list, tuple)) else (v,)) for k, v in terms.items()))


# --------------------------------------------------------------------------
# resources


@dataclasses.dataclass(eq=False)
class Endpoint:
    ns: str
    pod: str
    node: str
    iface: str
    ip: str
    labels: dict


@dataclasses.dataclass
class Rule:
    action: str                          # Allow | Deny
    protocol: Optional[str] = None       # TCP | UDP | None (any)
    src_sel: Optional[Selector] = None
    src_nets: tuple = ()
    dst_sel: Optional[Selector] = None
    dst_nets: tuple = ()
    dst_ports: tuple = ()
    global_sets: bool = False            # namespaceSelector: global() on the selector
    domains: tuple = ()                  # destination.domains (DNS policy)


@dataclasses.dataclass
class Policy:
    name: str
    ns: Optional[str]                    # None: GlobalNetworkPolicy
    order: int
    selector: Selector
    ingress: list
    egress: list

    @property
    def key(self) -> str:
        return f"{self.ns}/{self.name}" if self.ns else self.name


@dataclasses.dataclass
class NetSet:
    name: str
    labels: dict
    nets: list


@dataclasses.dataclass
class Params:
    endpoints: int = 1000
    local: int = 250
    policies: int = 2000
    netsets: int = 500
    cidrs_per_set: int = 200
    namespaces: int = 100
    apps: int = 1000
    domains: int = 0                     # domain patterns, spread over the policies round-robin
    seed: int = 1
    ext_ip: Optional[str] = None         # put this address in some network sets and source nets
    focus_policies: int = 0              # > 0: the packet benchmark's client pod and this many policies on it


def calico_iface(ns: str, pod: str) -> str:
    return "cali" + hashlib.sha1(f"{ns}.{pod}".encode()).hexdigest()[:11]


def endpoint_ip(i: int) -> str:
    return str(POD_NET.network_address + i + 1)


def netset_cidr(slot: int) -> str:
    # every other /28 so no two CIDRs of a set are adjacent (nft never merges them)
    return f"{NETSET_NET.network_address + slot * 32}/28"


class Cluster:
    """Deterministic from Params (seed included)."""

    NODE = "node1"

    def __init__(self, p: Params):
        self.p = p
        rnd = random.Random(p.seed)
        if p.apps % p.namespaces:
            raise ValueError("apps must be a multiple of namespaces (each app lives in one namespace)")
        self.namespaces = {f"ns{k}": {"team": f"t{k % 10}"} for k in range(p.namespaces)}
        self.endpoints = [self._endpoint(i, rnd.choice(("web", "api", "db"))) for i in range(p.endpoints)]
        self.netsets = {}
        for k in range(p.netsets):
            self.netsets[f"set{k}"] = self._netset(k, 0)
        self.policies = [self._policy(i, rnd) for i in range(p.policies)]
        self.focus = None
        if p.focus_policies > 0:
            # generated after everything else, so the rest of the cluster is the same for every K
            self.focus = self._focus_endpoint()
            self.endpoints.append(self.focus)
            self.policies += [self._focus_policy(j, rnd) for j in range(p.focus_policies)]

    # -- generators -------------------------------------------------------

    def _endpoint(self, i: int, tier: str) -> Endpoint:
        # apps live in one namespace each (app a in ns a % namespaces)
        a = i % self.p.apps
        ns = f"ns{a % self.p.namespaces}"
        pod = f"pod{i}"
        node = self.NODE if i < self.p.local else f"node{2 + i // 250}"
        return Endpoint(ns, pod, node, calico_iface(ns, pod), endpoint_ip(i), {"app": f"app{a}", "tier": tier})

    def _netset(self, k: int, shift: int) -> NetSet:
        per = self.p.cidrs_per_set
        nets = [netset_cidr(k * (per + 16) + c + shift) for c in range(per)]
        if self.p.ext_ip and k % 2 == 0:
            nets.append(f"{self.p.ext_ip}/32")
        return NetSet(f"set{k}", {"netset": f"set{k}"}, nets)

    def _policy(self, i: int, rnd: random.Random) -> Policy:
        """Odd policies are namespaced (their rule selectors pick apps of the
        same namespace), even ones global."""
        p = self.p
        a = i % p.apps
        ns = f"ns{a % p.namespaces}" if i % 2 else None
        if ns:
            src_app, dst_app = (a + 7 * p.namespaces) % p.apps, (a + 3 * p.namespaces) % p.apps
        else:
            src_app, dst_app = (7 * i + 1) % p.apps, (3 * i + 2) % p.apps
        port = 1000 + i % 100
        ingress = []
        if i % 10 == 3:
            ingress.append(Rule("Deny", "TCP", src_sel=sel(tier="db")))
        ingress.append(Rule("Allow", "TCP", src_sel=sel(app=f"app{src_app}", tier=["web", "api"]),
                            dst_ports=(port,)))
        if i % 2 == 0:
            src = f"{p.ext_ip}/32" if p.ext_ip and i % 4 == 0 else f"198.51.100.{128 + 16 * (i % 8)}/28"
            ingress.append(Rule("Allow", "TCP", src_nets=(src, "203.0.113.0/24"), dst_ports=(8080,)))
        egress = [Rule("Allow", "TCP", dst_sel=sel(app=f"app{dst_app}"), dst_ports=(1000 + (3 * i + 2) % 100,))]
        if p.netsets:
            egress.append(Rule("Allow", None, dst_sel=sel(netset=f"set{rnd.randrange(p.netsets)}"),
                               global_sets=ns is not None))
        egress.append(Rule("Allow", "UDP", dst_ports=(53,)))
        patterns = self._domain_patterns(i)
        if patterns:
            egress.append(Rule("Allow", "TCP", dst_ports=(443,), domains=patterns))
        return Policy(f"p{i}", ns, i, sel(app=f"app{a}"), ingress, egress)

    def _domain_patterns(self, i: int) -> tuple:
        """Patterns j with j % policies == i: every other one a wildcard, as
        egress allow-lists mix exact API hosts with whole provider zones."""
        p = self.p
        return tuple(f"*.zone{j}.example.test" if j % 2 else f"api{j}.example.test"
                     for j in range(i, p.domains, p.policies))

    def _focus_endpoint(self) -> Endpoint:
        ns, pod = "ns0", FOCUS_APP
        return Endpoint(ns, pod, self.NODE, calico_iface(ns, pod), endpoint_ip(self.p.endpoints),
                        {"app": FOCUS_APP, "tier": "web"})

    def _focus_policy(self, j: int, rnd: random.Random) -> Policy:
        """The rules of an ordinary global policy (an even index), none of
        which matches the client's traffic to SERVER_NET; the last focus
        policy ends with the rules that allow it."""
        base = self._policy(2 * j, rnd)
        pol = Policy(f"{FOCUS_APP}-{j}", None, FOCUS_ORDER + j, sel(app=FOCUS_APP), base.ingress, base.egress)
        if j == self.p.focus_policies - 1:
            pol.egress = pol.egress + [Rule("Allow", "TCP", dst_nets=(SERVER_NET,), dst_ports=(FOCUS_TCP_PORT,)),
                                       Rule("Allow", "UDP", dst_nets=(SERVER_NET,), dst_ports=(FOCUS_UDP_PORT,))]
            pol.ingress = pol.ingress + [Rule("Allow", "TCP", src_nets=(SERVER_NET,),
                                              dst_ports=(FOCUS_INGRESS_PORT,))]
        return pol

    # -- changes the benchmark makes ---------------------------------------

    def remote_endpoint(self, r: int) -> Endpoint:
        """An endpoint on another node whose labels match a rule selector of
        an active policy (the source selector of policy 0)."""
        i = self.p.endpoints + 1 + r
        ns = f"ns{1 % self.p.namespaces}"
        pod = f"extra{r}"
        return Endpoint(ns, pod, "node999", calico_iface(ns, pod), endpoint_ip(i),
                        {"app": f"app{1 % self.p.apps}", "tier": "web"})

    def changed_policy(self, r: int) -> Policy:
        pol = dataclasses.replace(self.policies[0])
        rules = [dataclasses.replace(x) for x in pol.ingress]
        allow = next(x for x in rules if x.action == "Allow" and x.src_sel)
        allow.dst_ports = (2000 + r,)
        pol.ingress = rules
        return pol

    def changed_netset(self, r: int) -> NetSet:
        """The network set egress rule of policy 0 uses, shifted by 7 CIDRs
        (7 removed, 7 added) on odd r, back to the original on even r."""
        name = self.policies[0].egress[1].dst_sel.terms[0][1][0]
        return self._netset(int(name[3:]), 7 if r % 2 == 0 else 0)

    # -- YAML for wac -------------------------------------------------------

    @staticmethod
    def _rule_doc(rule: Rule) -> dict:
        doc = {"action": rule.action}
        if rule.protocol:
            doc["protocol"] = rule.protocol
        src, dst = {}, {}
        if rule.src_sel:
            src["selector"] = rule.src_sel.render()
        if rule.src_nets:
            src["nets"] = list(rule.src_nets)
        if rule.dst_sel:
            dst["selector"] = rule.dst_sel.render()
            if rule.global_sets:
                dst["namespaceSelector"] = "global()"
        if rule.dst_nets:
            dst["nets"] = list(rule.dst_nets)
        if rule.dst_ports:
            dst["ports"] = list(rule.dst_ports)
        if rule.domains:
            dst["domains"] = list(rule.domains)
        if src:
            doc["source"] = src
        if dst:
            doc["destination"] = dst
        return doc

    @staticmethod
    def endpoint_doc(e: Endpoint) -> dict:
        labels = dict(e.labels)
        labels["projectcalico.org/namespace"] = e.ns
        labels["projectcalico.org/orchestrator"] = "k8s"
        name = "-".join(part.replace("-", "--") for part in (e.node, "k8s", e.pod, "eth0"))
        return {"apiVersion": "projectcalico.org/v3", "kind": "WorkloadEndpoint",
                "metadata": {"name": name, "namespace": e.ns, "labels": labels},
                "spec": {"node": e.node, "orchestrator": "k8s", "pod": e.pod, "endpoint": "eth0",
                         "interfaceName": e.iface, "ipNetworks": [f"{e.ip}/32"]}}

    @classmethod
    def policy_doc(cls, pol: Policy) -> dict:
        meta = {"name": pol.name}
        if pol.ns:
            meta["namespace"] = pol.ns
        return {"apiVersion": "projectcalico.org/v3",
                "kind": "NetworkPolicy" if pol.ns else "GlobalNetworkPolicy",
                "metadata": meta,
                "spec": {"order": pol.order, "selector": pol.selector.render(), "types": ["Ingress", "Egress"],
                         "ingress": [cls._rule_doc(x) for x in pol.ingress],
                         "egress": [cls._rule_doc(x) for x in pol.egress]}}

    @staticmethod
    def netset_doc(s: NetSet) -> dict:
        return {"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkSet",
                "metadata": {"name": s.name, "labels": dict(s.labels)}, "spec": {"nets": list(s.nets)}}

    def documents(self) -> list:
        docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": l}}
                for n, l in self.namespaces.items()]
        docs += [self.netset_doc(s) for s in self.netsets.values()]
        docs += [self.policy_doc(p) for p in self.policies]
        docs += [self.endpoint_doc(e) for e in self.endpoints]
        return docs


# --------------------------------------------------------------------------
# the reference model


class Model:
    """What the policy means on node1: active policies, per-pod policy lists,
    selector sets (addresses), and connection verdicts."""

    def __init__(self, cluster: Cluster):
        self.c = cluster
        self.local = [e for e in cluster.endpoints if e.node == Cluster.NODE]
        by_key = {}
        self.applies = {}   # iface -> {"ingress": [Policy], "egress": [Policy]}
        ordered = sorted(cluster.policies, key=lambda p: (p.order, p.key))
        # policy selectors are app == 'x': index local endpoints by app
        by_app = {}
        for e in self.local:
            by_app.setdefault(e.labels.get("app"), []).append(e)
        for e in self.local:
            self.applies[e.iface] = {"ingress": [], "egress": []}
        for pol in ordered:
            for e in self._candidates(pol, by_app):
                if pol.selector.matches(e.labels) and (pol.ns is None or pol.ns == e.ns):
                    self.applies[e.iface]["ingress"].append(pol)
                    self.applies[e.iface]["egress"].append(pol)
                    by_key[pol.key] = pol
        self.active = [p for p in ordered if p.key in by_key]
        self._members = {}
        self._by_label = None
        self._parsed = {}   # CIDR tuple -> ip_network objects

    @staticmethod
    def _candidates(pol: Policy, by_app: dict) -> list:
        apps = dict(pol.selector.terms).get("app")
        if apps is None:
            return [e for lst in by_app.values() for e in lst]
        return [e for a in apps for e in by_app.get(a, [])]

    # selector sets: one per (scope, selector); scope is the policy's
    # namespace for endpoint selectors in namespaced policies, "*" otherwise
    @staticmethod
    def set_key(pol: Policy, rule: Rule, s: Selector) -> tuple:
        scope = pol.ns if (pol.ns and not rule.global_sets) else "*"
        return (scope, rule.global_sets, s)

    def _endpoint_candidates(self, s: Selector) -> list:
        if self._by_label is None:
            self._by_label = {}
            for e in self.c.endpoints:
                for kv in e.labels.items():
                    self._by_label.setdefault(kv, []).append(e)
        best = None
        for k, vs in s.terms:
            cand = [e for v in vs for e in self._by_label.get((k, v), [])]
            if best is None or len(cand) < len(best):
                best = cand
        return best or []

    def members(self, key: tuple) -> list:
        if key not in self._members:
            scope, global_sets, s = key
            out = []
            if not global_sets:
                out += [f"{e.ip}/32" for e in self._endpoint_candidates(s)
                        if (scope == "*" or e.ns == scope) and s.matches(e.labels)]
            if scope == "*":
                out += [n for ns_ in self.c.netsets.values() if s.matches(ns_.labels) for n in ns_.nets]
            self._members[key] = out
        return self._members[key]

    # -- changes (the cluster and the model move together) -------------------

    def add_endpoint(self, e: Endpoint) -> None:
        assert e.node != Cluster.NODE
        self.c.endpoints.append(e)
        self._by_label, self._members = None, {}

    def remove_endpoint(self, e: Endpoint) -> None:
        self.c.endpoints.remove(e)
        self._by_label, self._members = None, {}

    def replace_policy(self, pol: Policy) -> None:
        """Same name, namespace and selector; other rules."""
        old = next(p for p in self.c.policies if p.key == pol.key)
        assert old.selector == pol.selector and old.order == pol.order
        swap = lambda lst: [pol if p is old else p for p in lst]
        self.c.policies = swap(self.c.policies)
        self.active = swap(self.active)
        for d in self.applies.values():
            d["ingress"], d["egress"] = swap(d["ingress"]), swap(d["egress"])

    def replace_netset(self, s: NetSet) -> None:
        self.c.netsets[s.name] = s
        self._members = {}

    def endpoint_member_of(self, e: Endpoint) -> list:
        """Keys of the sets in use that an extra endpoint would join."""
        return [k for k in self.sets_in_use()
                if not k[1] and (k[0] == "*" or k[0] == e.ns) and k[2].matches(e.labels)]

    def sets_in_use(self) -> list:
        keys = []
        seen = set()
        for pol in self.active:
            for rule in pol.ingress + pol.egress:
                for s in (rule.src_sel, rule.dst_sel):
                    if s is not None:
                        k = self.set_key(pol, rule, s)
                        if k not in seen:
                            seen.add(k)
                            keys.append(k)
        return keys

    # -- verdicts ---------------------------------------------------------

    def _in(self, ip: str, cidrs) -> bool:
        a = ipaddress.ip_address(ip)
        return any(a in n for n in self._networks(tuple(cidrs)))

    def _networks(self, cidrs: tuple) -> list:
        """Parsed once: a pod that thousands of policies select asks about
        the same 200-CIDR sets again and again."""
        nets = self._parsed.get(cidrs)
        if nets is None:
            nets = self._parsed[cidrs] = [ipaddress.ip_network(c) for c in cidrs]
        return nets

    def _rule_matches(self, pol: Policy, rule: Rule, direction: str, peer: str, proto: str, port: int) -> bool:
        if rule.domains:
            return False    # nothing resolved: a domain rule matches no address
        if rule.protocol and rule.protocol.lower() != proto:
            return False
        if rule.dst_ports and port not in rule.dst_ports:
            return False
        if direction == "ingress":
            s, nets = rule.src_sel, rule.src_nets
        else:
            s, nets = rule.dst_sel, rule.dst_nets
        if nets and not self._in(peer, nets):
            return False
        if s is not None and not self._in(peer, self.members(self.set_key(pol, rule, s))):
            return False
        return True

    def _verdict(self, iface: str, direction: str, peer: str, proto: str, port: int) -> bool:
        pols = self.applies[iface][direction]
        if not pols:
            return True
        for pol in pols:
            for rule in getattr(pol, direction):
                if self._rule_matches(pol, rule, direction, peer, proto, port):
                    return rule.action == "Allow"
        return False

    def allowed(self, src, dst_ip: str, proto: str, port: int, dst=None) -> bool:
        """src/dst: local Endpoints or None (outside the node); src_ip taken from src."""
        src_ip = src.ip if isinstance(src, Endpoint) else src
        if isinstance(src, Endpoint) and not self._verdict(src.iface, "egress", dst_ip, proto, port):
            return False
        if isinstance(dst, Endpoint) and not self._verdict(dst.iface, "ingress", src_ip, proto, port):
            return False
        return True


# --------------------------------------------------------------------------
# baseline renderings


def _h(text: str, n: int = 16) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:n]


def ipset_name(key: tuple) -> str:
    return "cali40s:" + _h(repr(key))            # <= 31 characters


def nft_set_name(key: tuple) -> str:
    return "s-" + _h(repr(key))


def policy_chain(pol: Policy, direction: str) -> str:
    return ("cali-pi-" if direction == "ingress" else "cali-po-") + _h(pol.key, 12)   # <= 28 characters


def _ipt_proto_ports(rule: Rule) -> list:
    out = []
    if rule.protocol:
        out += ["-p", rule.protocol.lower()]
        if rule.dst_ports:
            ports = ",".join(str(p) for p in rule.dst_ports)
            out += ["-m", "multiport", "--dports", ports]
    return out


def ipt_policy_rules(model: Model, pol: Policy, direction: str) -> list:
    chain = policy_chain(pol, direction)
    lines = []
    for rule in getattr(pol, direction):
        if rule.domains:
            continue        # allows nothing until names are resolved; no DNS policy here
        match = _ipt_proto_ports(rule)
        s, nets = (rule.src_sel, rule.src_nets) if direction == "ingress" else (rule.dst_sel, rule.dst_nets)
        flag = "src" if direction == "ingress" else "dst"
        if s is not None:
            match += ["-m", "set", "--match-set", ipset_name(model.set_key(pol, rule, s)), flag]
        # several nets: one rule per net (iptables -s a,b expands the same way)
        for net in (nets or [None]):
            m = list(match)
            if net:
                m += ["-s" if direction == "ingress" else "-d", net]
            if rule.action == "Allow":
                lines.append(f"-A {chain} {' '.join(m)} -j MARK --set-xmark {ACCEPT_MARK:#x}/{ACCEPT_MARK:#x}")
                lines.append(f"-A {chain} -m mark --mark {ACCEPT_MARK:#x}/{ACCEPT_MARK:#x} -j RETURN")
            else:
                lines.append(f"-A {chain} {' '.join(m)} -j DROP")
    return lines


def ipt_endpoint_chain(model: Model, iface: str, direction: str) -> list:
    chain = ("cali-tw-" if direction == "ingress" else "cali-fw-") + iface
    lines = [f"-A {chain} -j MARK --set-xmark 0x0/{ACCEPT_MARK:#x}"]
    pols = model.applies[iface][direction]
    for pol in pols:
        lines.append(f"-A {chain} -j {policy_chain(pol, direction)}")
        lines.append(f"-A {chain} -m mark --mark {ACCEPT_MARK:#x}/{ACCEPT_MARK:#x} -j RETURN")
    if pols:
        lines.append(f"-A {chain} -j DROP")
    return lines


def ipset_restore_cold(model: Model) -> str:
    out = []
    for key in model.sets_in_use():
        name = ipset_name(key)
        out.append(f"create {name} hash:net family inet hashsize 1024 maxelem 1048576")
        out += [f"add {name} {m}" for m in model.members(key)]
    return "\n".join(out) + "\n"


def _common_prefix(names: list) -> str:
    first, last = min(names), max(names)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]


def ipt_dispatch(ifaces: list, root: str, flag: str, target_prefix: str) -> tuple:
    """(chains, rules) of one dispatch direction as Calico's iptables mode
    builds it: a shallow tree, not one rule per interface in a row.  Names
    are grouped by the character after their common prefix; a group of one
    is matched in the root chain, a larger group gets a child chain the root
    reaches with one wildcard match.  Unknown interfaces are dropped."""
    names = sorted(set(ifaces))
    chains, rules = [root], []
    if not names:
        return chains, [f"-A {root} -j DROP"]
    common = _common_prefix(names)
    groups = {}
    for name in names:
        groups.setdefault(name[:len(common) + 1], []).append(name)
    for prefix, members in groups.items():
        if len(members) == 1:
            rules.append(f"-A {root} {flag} {members[0]} -g {target_prefix}{members[0]}")
            continue
        child = f"{root}-{prefix[len(common):]}"
        chains.append(child)
        rules.append(f"-A {root} {flag} {prefix}+ -g {child}")
        rules += [f"-A {child} {flag} {m} -g {target_prefix}{m}" for m in members]
        rules.append(f"-A {child} -j DROP")
    rules.append(f"-A {root} -j DROP")
    return chains, rules


def iptables_restore_cold(model: Model) -> str:
    chains = ["cali-FORWARD"]
    rules = ["-A FORWARD -j cali-FORWARD",
             "-A cali-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
             "-A cali-FORWARD -m conntrack --ctstate INVALID -j DROP",
             "-A cali-FORWARD -i cali+ -j cali-from-wl-dispatch",
             "-A cali-FORWARD -o cali+ -j cali-to-wl-dispatch",
             "-A cali-FORWARD -j ACCEPT"]
    ifaces = [e.iface for e in model.local]
    for root, flag, target in (("cali-from-wl-dispatch", "-i", "cali-fw-"), ("cali-to-wl-dispatch", "-o", "cali-tw-")):
        c, r = ipt_dispatch(ifaces, root, flag, target)
        chains += c
        rules += r
    for pol in model.active:
        for d in ("ingress", "egress"):
            chains.append(policy_chain(pol, d))
            rules += ipt_policy_rules(model, pol, d)
    for e in model.local:
        for d in ("ingress", "egress"):
            chains.append(("cali-tw-" if d == "ingress" else "cali-fw-") + e.iface)
            rules += ipt_endpoint_chain(model, e.iface, d)
    return "*filter\n" + "".join(f":{c} - [0:0]\n" for c in chains) + "\n".join(rules) + "\nCOMMIT\n"


def iptables_restore_policy(model: Model, pol: Policy) -> str:
    """--noflush input that rewrites one policy's chains (what Calico does)."""
    out = ["*filter"]
    for d in ("ingress", "egress"):
        out.append(f":{policy_chain(pol, d)} - [0:0]")
    for d in ("ingress", "egress"):
        out += ipt_policy_rules(model, pol, d)
    return "\n".join(out) + "\nCOMMIT\n"


def _nft_match(model: Model, pol: Policy, rule: Rule, direction: str, net: Optional[str]) -> str:
    m = []
    if rule.protocol:
        m.append(f"meta l4proto {rule.protocol.lower()}")
    s, key = (rule.src_sel, "saddr") if direction == "ingress" else (rule.dst_sel, "daddr")
    if s is not None:
        m.append(f"ip {key} @{nft_set_name(model.set_key(pol, rule, s))}")
    if net:
        m.append(f"ip {key} {net}")
    if rule.dst_ports:
        m.append("th dport { " + ", ".join(str(p) for p in rule.dst_ports) + " }")
    return " ".join(m)


def nft_policy_chain_body(model: Model, pol: Policy, direction: str) -> list:
    lines = []
    for rule in getattr(pol, direction):
        if rule.domains:
            continue        # as in ipt_policy_rules
        nets = rule.src_nets if direction == "ingress" else rule.dst_nets
        for net in (nets or [None]):
            m = _nft_match(model, pol, rule, direction, net)
            if rule.action == "Allow":
                lines.append(f"{m} meta mark set meta mark or {ACCEPT_MARK:#x} return".strip())
            else:
                lines.append(f"{m} drop".strip())
    return lines


def nft_table(model: Model, table: str = "naive") -> str:
    """The whole policy as one file; loading it replaces the table atomically."""
    out = [f"table inet {table} {{}}", f"delete table inet {table}", f"table inet {table} {{"]
    for key in model.sets_in_use():
        members = model.members(key)
        elems = f" elements = {{ {', '.join(m[:-3] if m.endswith('/32') else m for m in members)} }};" if members else ""
        out.append(f"  set {nft_set_name(key)} {{ type ipv4_addr; flags interval;{elems} }}")
    fw = ", ".join(f'"{e.iface}" : goto fw-{e.iface}' for e in model.local)
    tw = ", ".join(f'"{e.iface}" : goto tw-{e.iface}' for e in model.local)
    out.append(f"  map from-pod {{ type ifname : verdict;{f' elements = {{ {fw} }};' if fw else ''} }}")
    out.append(f"  map to-pod {{ type ifname : verdict;{f' elements = {{ {tw} }};' if tw else ''} }}")
    out.append("  chain forward { type filter hook forward priority filter; policy accept;\n"
               "    ct state established,related accept\n    ct state invalid drop\n"
               "    iifname \"cali*\" jump dispatch-from-pod\n    oifname \"cali*\" jump dispatch-to-pod\n  }")
    out.append("  chain dispatch-from-pod { iifname vmap @from-pod; drop; }")
    out.append("  chain dispatch-to-pod { oifname vmap @to-pod; drop; }")
    for pol in model.active:
        for d in ("ingress", "egress"):
            body = "\n    ".join(nft_policy_chain_body(model, pol, d))
            out.append(f"  chain {policy_chain(pol, d)} {{\n    {body}\n  }}")
    for e in model.local:
        for d, prefix in (("ingress", "tw-"), ("egress", "fw-")):
            lines = [f"meta mark set meta mark and {0xffffffff ^ ACCEPT_MARK:#x}"]
            pols = model.applies[e.iface][d]
            for pol in pols:
                lines.append(f"jump {policy_chain(pol, d)}")
                lines.append(f"meta mark and {ACCEPT_MARK:#x} != 0 return")
            if pols:
                lines.append("drop")
            body = "\n    ".join(lines)
            out.append(f"  chain {prefix}{e.iface} {{\n    {body}\n  }}")
    out.append("}")
    return "\n".join(out) + "\n"
