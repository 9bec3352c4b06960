"""wacnet: network-namespace topologies for wac's end-to-end tests.

Builds Calico-shaped nodes, pods and external hosts out of network namespaces
and veth pairs, runs peer-echo servers, probes connections (alone or as a
matrix, in parallel) and drives `wacd`/`wacctl`.  Standard library only; must
run as root.

Layout of one Topology (node k = 1, 2, ...):

    pod netns --eth0==caliXXXXXXXXXXX-- node k netns --extbr-- ext host netns(es)
      10.244.k.n/32, fd00:244:0:k::n/128   ip_forward on     198.51.100.0/24,
      default via 169.254.1.1 (proxy ARP)  /32 + /128 routes 2001:db8:100::/64
      default via fe80::1 (v6)             to each pod
                                            --fab0-- fabric netns (bridge) -- other nodes
                                                     192.0.2.k/24, fe80::k (v6 next hop)

Every interface lives inside a namespace this module created, so interface
names only need to be unique per namespace; namespace names carry the run tag
`wti<pid>t<n>-` so parallel runs never collide and a later run can sweep what a
killed run left behind (`sweep_leftovers`, also `python3 wacnet.py sweep`).

Servers and probes run inside this Python process: a thread enters a namespace
with setns(2) (network namespaces are per thread) just long enough to create a
socket, which stays bound to that namespace.  That keeps probes at a few
milliseconds each and lets a whole connection matrix run in parallel.

Processes (wacd) are started with a parent-death signal from the thread that
calls start(); start and restart them from the main thread.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import ctypes
import dataclasses
import errno
import hashlib
import itertools
import json
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterable, Optional, Sequence

# ---------------------------------------------------------------------------
# Names

RUN_TAG = f"wti{os.getpid()}"
_NAME_RE = re.compile(r"^wti(\d+)t\d+-")
_topology_counter = itertools.count(1)

EXT_NET4 = "198.51.100.0/24"
EXT_NET6 = "2001:db8:100::/64"
POD_NET4 = "10.244.0.0/16"
POD_NET6 = "fd00:244::/48"
POD_GW4 = "169.254.1.1"
POD_GW6 = "fe80::1"
FABRIC_ROUTER4 = "192.0.2.254"     # add_fabric_router(): the node network's router
ROUTED_NET4 = "203.0.113.0/24"     # ... and the network behind it (add_routed_external)
CALICO_HOST_MAC = "ee:ee:ee:ee:ee:ee"
IFNAMSIZ = 15  # usable characters in an interface name


# The policy most single-node tests enforce: pods labelled app=srv accept
# TCP 80 from pods labelled role=client, and nothing else.
SRV_FROM_CLIENTS = """
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: srv-from-clients
spec:
  selector: app == 'srv'
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    source:
      selector: role == 'client'
    destination:
      ports: [80]
"""


def calico_iface_name(namespace: str, pod: str, prefix: str = "cali") -> str:
    """Host-side interface name the way Calico's CNI plugin derives it."""
    digest = hashlib.sha1(f"{namespace}.{pod}".encode()).hexdigest()
    name = prefix + digest[: IFNAMSIZ - len(prefix)]
    assert len(name) <= IFNAMSIZ
    return name


def wep_name(node: str, pod: str, endpoint: str = "eth0", orchestrator: str = "k8s") -> str:
    """WorkloadEndpoint name as Calico builds it: dashes inside parts doubled."""
    return "-".join(part.replace("-", "--") for part in (node, orchestrator, pod, endpoint))


# ---------------------------------------------------------------------------
# Commands


class CommandError(RuntimeError):
    def __init__(self, cmd: Sequence[str], rc: int, stdout: str, stderr: str):
        self.cmd, self.rc, self.stdout, self.stderr = list(cmd), rc, stdout, stderr
        detail = (stderr or stdout).strip()
        super().__init__(f"`{' '.join(cmd)}` exited {rc}: {detail}")


def run(cmd: Sequence[str], input: Optional[str] = None, check: bool = True,
        timeout: float = 30.0) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(cmd), input=input, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise CommandError(cmd, proc.returncode, proc.stdout, proc.stderr)
    return proc


def wait_for(predicate, what: str, timeout: float = 10.0, interval: float = 0.05):
    """Polls `predicate` until it returns something truthy, and returns that;
    after `timeout` seconds fails naming `what` and the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def ip_batch(netns: str, commands: Iterable[str]) -> None:
    """Runs `ip` commands (without the leading `ip`) in one process in netns."""
    script = "\n".join(commands) + "\n"
    run(["ip", "-n", netns, "-batch", "-"], input=script)


def _netns_name(where) -> str:
    return where if isinstance(where, str) else where.netns


def nft(where, *args: str, check: bool = True) -> str:
    """`nft ARGS` inside a namespace (a name or anything with .netns).

    A single string argument is split on whitespace: nft(node, 'list table inet wac').
    """
    if len(args) == 1:
        args = tuple(args[0].split())
    return run(["ip", "netns", "exec", _netns_name(where), "nft", *args], check=check).stdout


def wac_ruleset(where) -> str:
    """`nft list table inet wac`, or a one-line explanation when it cannot be read."""
    proc = run(["ip", "netns", "exec", _netns_name(where), "nft", "list", "table", "inet", "wac"],
               check=False)
    if proc.returncode != 0:
        return f"(nft list table inet wac failed: {proc.stderr.strip()})"
    return proc.stdout


_COUNTER_RE = re.compile(r"counter packets \d+ bytes \d+")
_EXPIRES_RE = re.compile(r" expires \S+")


def strip_counters(ruleset: str) -> str:
    """A ruleset listing with counter values and element expiry times removed,
    so two listings of the same rules compare equal."""
    return _EXPIRES_RE.sub("", _COUNTER_RE.sub("counter", ruleset))


_ELEMENTS_RE = re.compile(r"elements = \{(.*?)\}", re.S)


def _split_elements(body: str) -> list:
    """Splits an `elements = { ... }` body on commas outside quoted comments."""
    items, current, quoted = [], "", False
    for ch in body:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            items.append(current)
            current = ""
        else:
            current += ch
    items.append(current)
    return [" ".join(i.split()) for i in items if i.strip()]


def normalize_ruleset(ruleset: str) -> str:
    """strip_counters, plus set elements in sorted order, one per line: the
    kernel lists hash-set elements in hash order, which may change when the
    same elements are added again."""
    def sort_block(m):
        items = sorted(_split_elements(m.group(1)))
        return "elements = {\n" + "".join(f"    {i},\n" for i in items) + "}"
    return _ELEMENTS_RE.sub(sort_block, strip_counters(ruleset))


# ---------------------------------------------------------------------------
# Entering namespaces from a thread

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextlib.contextmanager
def in_netns(where):
    """Moves the calling thread (only) into a network namespace for the block.

    Sockets created inside stay in that namespace after the block ends."""
    name = _netns_name(where)
    with open("/proc/thread-self/ns/net") as home, open(f"/run/netns/{name}") as target:
        _setns(target.fileno())
        try:
            yield
        finally:
            _setns(home.fileno())


def sysctl(where, settings: dict) -> None:
    """Writes sysctls ({'net.ipv4.ip_forward': 1}) in a namespace."""
    with in_netns(where):
        for key, value in settings.items():
            with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
                f.write(str(value))


def read_sysctl(where, key: str) -> str:
    with in_netns(where):
        with open("/proc/sys/" + key.replace(".", "/")) as f:
            return f.read().strip()


def netns_socket(where, family: int, kind: int) -> socket.socket:
    with in_netns(where):
        return socket.socket(family, kind)


# ---------------------------------------------------------------------------
# YAML (a small emitter: block style, strings JSON-quoted, which YAML accepts)

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_./-]+$")


def _yaml_scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(str(value))


def _yaml_key(key: str) -> str:
    return key if _PLAIN_KEY.match(key) else json.dumps(key)


def _yaml_lines(value, indent: int) -> list:
    pad = " " * indent
    lines = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{_yaml_key(key)}:")
                lines.extend(_yaml_lines(item, indent + 2))
            else:
                empty = "{}" if isinstance(item, dict) else "[]" if isinstance(item, list) else None
                lines.append(f"{pad}{_yaml_key(key)}: {empty or _yaml_scalar(item)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)) and item:
                inner = _yaml_lines(item, indent + 2)
                lines.append(f"{pad}- {inner[0].lstrip()}")
                lines.extend(inner[1:])
            else:
                lines.append(f"{pad}- {_yaml_scalar(item)}")
    else:
        lines.append(pad + _yaml_scalar(value))
    return lines


def to_yaml(*documents: dict) -> str:
    """Multi-document YAML text for plain dicts/lists/scalars."""
    return "".join("---\n" + "\n".join(_yaml_lines(doc, 0)) + "\n" for doc in documents)


def namespace_doc(name: str, labels: Optional[dict] = None) -> dict:
    meta = {"name": name}
    if labels:
        meta["labels"] = dict(labels)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def namespace_yaml(name: str, labels: Optional[dict] = None) -> str:
    return to_yaml(namespace_doc(name, labels))


# ---------------------------------------------------------------------------
# Topology objects


@dataclasses.dataclass
class Node:
    name: str          # Kubernetes node name, given to wacd as --node-name
    index: int         # k in 10.244.k.0/24
    netns: str
    fabric_ip4: Optional[str] = None
    fabric_ip6: Optional[str] = None
    pods: list = dataclasses.field(default_factory=list)

    @property
    def label(self) -> str:
        return self.name

    @property
    def pod_cidr4(self) -> str:
        return f"10.244.{self.index}.0/24"

    @property
    def pod_cidr6(self) -> str:
        return f"fd00:244:0:{self.index}::/64"


@dataclasses.dataclass
class Pod:
    ns: str            # Kubernetes namespace
    name: str          # pod name
    node: Node
    ip4: Optional[str]
    ip6: Optional[str]
    iface: str         # host-side interface in the node namespace
    netns: str
    labels: dict = dataclasses.field(default_factory=dict)
    ports: list = dataclasses.field(default_factory=list)  # [(name, port, "TCP"|"UDP")]

    @property
    def label(self) -> str:
        return f"{self.ns}/{self.name}"

    @property
    def addresses(self) -> list:
        return [a for a in (self.ip4, self.ip6) if a]

    def ip(self, family: int = 4) -> str:
        addr = self.ip4 if family == 4 else self.ip6
        if not addr:
            raise ValueError(f"pod {self.label} has no IPv{family} address")
        return addr

    @property
    def wep_name(self) -> str:
        return wep_name(self.node.name, self.name)

    def wep_doc(self, labels: Optional[dict] = None) -> dict:
        """The WorkloadEndpoint Calico would write for this pod."""
        all_labels = dict(self.labels if labels is None else labels)
        all_labels.setdefault("projectcalico.org/namespace", self.ns)
        all_labels.setdefault("projectcalico.org/orchestrator", "k8s")
        all_labels.setdefault("projectcalico.org/serviceaccount", "default")
        nets = []
        if self.ip4:
            nets.append(f"{self.ip4}/32")
        if self.ip6:
            nets.append(f"{self.ip6}/128")
        spec = {
            "node": self.node.name,
            "orchestrator": "k8s",
            "pod": self.name,
            "endpoint": "eth0",
            "interfaceName": self.iface,
            "ipNetworks": nets,
        }
        if self.ports:
            spec["ports"] = [{"name": n, "port": p, "protocol": proto} for n, p, proto in self.ports]
        return {
            "apiVersion": "projectcalico.org/v3",
            "kind": "WorkloadEndpoint",
            "metadata": {"name": self.wep_name, "namespace": self.ns, "labels": all_labels},
            "spec": spec,
        }

    def wep_yaml(self, labels: Optional[dict] = None) -> str:
        return to_yaml(self.wep_doc(labels))


@dataclasses.dataclass
class ExternalHost:
    name: str
    node: Node
    netns: str
    ip4s: list
    ip6s: list

    @property
    def label(self) -> str:
        return self.name

    @property
    def addresses(self) -> list:
        return self.ip4s + self.ip6s

    @property
    def ip4(self) -> str:
        return self.ip4s[0]

    @property
    def ip6(self) -> str:
        return self.ip6s[0]

    def ip(self, family: int = 4) -> str:
        return self.ip4 if family == 4 else self.ip6


def endpoints_yaml(*pods: Pod) -> str:
    return to_yaml(*(p.wep_doc() for p in pods))


def cluster_yaml(pods: Sequence[Pod], namespaces: Optional[dict] = None) -> str:
    """Namespace resources (name -> labels; every pod's namespace is included,
    unlabelled unless given) followed by the pods' WorkloadEndpoints."""
    labels = {p.ns: {} for p in pods}
    labels.update(namespaces or {})
    return to_yaml(*(namespace_doc(name, lab) for name, lab in labels.items()),
                   *(p.wep_doc() for p in pods))


# ---------------------------------------------------------------------------
# Peer-echo server


def _plain_peer(addr: str) -> str:
    """'::ffff:10.0.0.1' -> '10.0.0.1' (dual-stack sockets report v4 peers mapped)."""
    return addr[7:] if addr.startswith("::ffff:") and "." in addr else addr


_IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)


def _reply_source(ancillary) -> list:
    """PKTINFO control message that sends a reply from the address the
    request was sent to (ifindex 0: let routing pick the interface)."""
    for level, kind, data in ancillary:
        if level == socket.IPPROTO_IP and kind == _IP_PKTINFO:
            # struct in_pktinfo { int ifindex; in_addr spec_dst; in_addr addr; }
            return [(level, kind, b"\0" * 4 + data[8:12] + b"\0" * 4)]
        if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO:
            # struct in6_pktinfo { in6_addr addr; unsigned ifindex; }
            return [(level, kind, data[:16] + b"\0" * 4)]
    return []


class PeerServer:
    """TCP and UDP listeners in one namespace, served by one thread.

    TCP: on accept, sends the peer address it saw plus a newline, then echoes
    whatever the client sends.  UDP: answers each datagram with the peer
    address and a newline.  Listens on :: (dual stack), so every address of
    the namespace answers."""

    def __init__(self, where, tcp: Sequence[int] = (), udp: Sequence[int] = ()):
        self.netns = _netns_name(where)
        self.tcp_ports, self.udp_ports = list(tcp), list(udp)
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        self._stopping = False
        self.accepted = 0
        self._thread: Optional[threading.Thread] = None

    def start(self) -> "PeerServer":
        try:
            for port in self.tcp_ports:
                self._listen(port, socket.SOCK_STREAM, self._on_accept)
            for port in self.udp_ports:
                self._listen(port, socket.SOCK_DGRAM, self._on_datagram)
        except BaseException:
            self._close_all()
            raise
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread = threading.Thread(target=self._loop, name=f"peer-server-{self.netns}",
                                        daemon=True)
        self._thread.start()
        return self

    def _listen(self, port: int, kind: int, handler) -> None:
        if kind == socket.SOCK_STREAM:
            # Accepted TCP sockets answer from the address the client dialled.
            sock = netns_socket(self.netns, socket.AF_INET6, kind)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("::", port))
            sock.listen(128)
            self._register(sock, handler)
            return
        # UDP replies must leave from the address the datagram was sent to (a
        # host with two addresses in one subnet would otherwise answer from
        # its preferred one, and the client would drop the reply): one socket
        # per family, with PKTINFO telling each datagram's destination.
        v4 = netns_socket(self.netns, socket.AF_INET, kind)
        v4.setsockopt(socket.IPPROTO_IP, _IP_PKTINFO, 1)
        v4.bind(("0.0.0.0", port))
        self._register(v4, handler)
        v6 = netns_socket(self.netns, socket.AF_INET6, kind)
        v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        v6.bind(("::", port))
        self._register(v6, handler)

    def _register(self, sock: socket.socket, handler) -> None:
        sock.setblocking(False)
        self._sel.register(sock, selectors.EVENT_READ, handler)

    def _loop(self) -> None:
        while not self._stopping:
            for key, _ in self._sel.select(timeout=1.0):
                if key.data is None:
                    self._stopping = True
                    break
                key.data(key.fileobj)
        self._close_all()

    # Listeners must outlive any one peer's failure (a reply path that cannot
    # resolve its next hop makes sendto fail), so only connections are dropped.

    def _on_accept(self, listener: socket.socket) -> None:
        try:
            conn, peer = listener.accept()
        except OSError:
            return
        self.accepted += 1
        try:
            conn.setblocking(True)
            conn.settimeout(1.0)
            conn.sendall((_plain_peer(peer[0]) + "\n").encode())
        except OSError:
            conn.close()
            return
        self._sel.register(conn, selectors.EVENT_READ, self._on_data)

    def _on_data(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(65536)
            if data:
                conn.sendall(data)
                return
        except OSError:
            pass
        self._drop(conn)

    def _on_datagram(self, sock: socket.socket) -> None:
        try:
            _, ancillary, _, peer = sock.recvmsg(65536, socket.CMSG_SPACE(64))
            reply = (_plain_peer(peer[0]) + "\n").encode()
            sock.sendmsg([reply], _reply_source(ancillary), 0, peer)
        except OSError:
            pass

    def _drop(self, sock) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(sock)
        with contextlib.suppress(OSError):
            sock.close()

    def _close_all(self) -> None:
        for key in list(self._sel.get_map().values()):
            if key.data is not None:
                self._drop(key.fileobj)
        self._sel.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def stop(self) -> None:
        if self._thread is None:
            return
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)
        self._thread = None


# ---------------------------------------------------------------------------
# Probes


@dataclasses.dataclass
class ProbeResult:
    ok: bool
    peer: Optional[str]      # the source address the server saw
    reason: str              # "ok", "timeout", "refused", "unreachable", ...
    seconds: float

    def __iter__(self):      # unpacks as (ok, peer)
        return iter((self.ok, self.peer))


def _family_of(ip: str) -> int:
    return 6 if ":" in ip else 4


def _read_line(sock: socket.socket, deadline: float) -> Optional[str]:
    buf = b""
    while b"\n" not in buf:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        sock.settimeout(remaining)
        chunk = sock.recv(4096)
        if not chunk:
            return None
        buf += chunk
    return buf.split(b"\n", 1)[0].decode()


def _error_reason(exc: OSError) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "unreachable"
    if exc.errno == errno.EPERM:
        return "blocked locally"
    return f"error: {exc.strerror or exc}"


def probe(src, dst_ip: str, port: int, proto: str = "tcp", timeout: float = 1.0) -> ProbeResult:
    """One connection attempt from namespace `src` (name or object with .netns)."""
    family = socket.AF_INET6 if _family_of(dst_ip) == 6 else socket.AF_INET
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    start = time.monotonic()
    deadline = start + timeout
    sock = netns_socket(src, family, kind)
    try:
        sock.settimeout(timeout)
        sock.connect((dst_ip, port))
        if proto == "udp":
            sock.send(b"probe\n")
        line = _read_line(sock, deadline)
        if line is None:
            return ProbeResult(False, None, "no reply", time.monotonic() - start)
        return ProbeResult(True, line, "ok", time.monotonic() - start)
    except OSError as exc:
        return ProbeResult(False, None, _error_reason(exc), time.monotonic() - start)
    finally:
        sock.close()


def connect(src, dst_ip: str, port: int, proto: str = "tcp",
            timeout: float = 1.0) -> tuple:
    """(ok, seen_peer): ok when the server answered; denied = timeout/refused."""
    result = probe(src, dst_ip, port, proto, timeout)
    return result.ok, result.peer


@dataclasses.dataclass
class Case:
    """One expected connection outcome.  dst is a Pod/ExternalHost (its
    address of `family`) or an address string; `ip` picks another address of
    the destination (an external host's second address)."""
    src: object
    dst: object
    port: int
    expect: bool
    proto: str = "tcp"
    family: int = 4
    ip: Optional[str] = None

    @property
    def dst_ip(self) -> str:
        if self.ip:
            return self.ip
        return self.dst if isinstance(self.dst, str) else self.dst.ip(self.family)

    @property
    def title(self) -> str:
        src = getattr(self.src, "label", str(self.src))
        dst = self.dst if isinstance(self.dst, str) else self.dst.label
        return f"{src} -> {dst} [{self.dst_ip}]:{self.port}/{self.proto}"

    def source_ok(self, peer: Optional[str]) -> bool:
        """An allowed connection must arrive with the source's own address (no NAT)."""
        addrs = getattr(self.src, "addresses", None)
        if peer is None or addrs is None:
            return True
        return peer in addrs


def check_matrix(cases: Sequence[Case], timeout: float = 1.0) -> list:
    """Probes every case in parallel; returns ProbeResults in case order."""
    if not cases:
        return []
    workers = min(64, len(cases))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(probe, c.src, c.dst_ip, c.port, c.proto, timeout) for c in cases]
        return [f.result() for f in futures]


def _case_matches(case: Case, result: ProbeResult, check_source: bool) -> bool:
    if result.ok != case.expect:
        return False
    return not (result.ok and check_source and not case.source_ok(result.peer))


def format_matrix(cases: Sequence[Case], results: Sequence[ProbeResult], check_source: bool = True) -> str:
    rows = [("connection", "expected", "got", "detail", "")]
    for case, res in zip(cases, results):
        got = "allow" if res.ok else "deny"
        detail = f"src seen {res.peer}" if res.ok else res.reason
        flag = "" if _case_matches(case, res, check_source) else "<-- MISMATCH"
        if res.ok and check_source and not case.source_ok(res.peer):
            flag = "<-- WRONG SOURCE"
        rows.append((case.title, "allow" if case.expect else "deny", got, detail, flag))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) if i < 4 else cell for i, cell in enumerate(row)).rstrip()
        for row in rows)


def settle_matrix(cases: Sequence[Case], within: float = 5.0, timeout: float = 1.0,
                  check_source: bool = True) -> tuple:
    """Probes every case, re-probing mismatches until they match or `within`
    seconds pass (policy changes land asynchronously); within=0 means one
    round.  Returns (results, indexes of cases still not as expected)."""
    cases = list(cases)
    results = check_matrix(cases, timeout)
    deadline = time.monotonic() + within
    while True:
        bad = [i for i, (c, r) in enumerate(zip(cases, results))
               if not _case_matches(c, r, check_source)]
        if not bad or time.monotonic() >= deadline:
            return results, bad
        time.sleep(0.1)
        for i, res in zip(bad, check_matrix([cases[i] for i in bad], timeout)):
            results[i] = res


def assert_matrix(cases: Sequence[Case], within: float = 5.0, timeout: float = 1.0,
                  check_source: bool = True) -> list:
    """settle_matrix, raising AssertionError with an expected-vs-got table
    when any connection is not as expected.  Allowed connections must also
    arrive with the client's own address (check_source)."""
    cases = list(cases)
    results, bad = settle_matrix(cases, within, timeout, check_source)
    if bad:
        raise AssertionError(f"{len(bad)} of {len(cases)} connections not as expected "
                             f"(after {within:.1f}s):\n" + format_matrix(cases, results, check_source))
    return results


def expect_all(cases: Sequence[Case], expect: bool = True) -> list:
    """The same connections with one expectation (e.g. the baseline before
    any policy: everything reachable)."""
    return [dataclasses.replace(c, expect=expect) for c in cases]


def assert_same_ruleset(expected: str, actual: str, what: str = "ruleset") -> None:
    """Compares two `nft list` outputs (normalize_ruleset); unified diff on mismatch."""
    a, b = normalize_ruleset(expected), normalize_ruleset(actual)
    if a != b:
        import difflib
        diff = "\n".join(difflib.unified_diff(a.splitlines(), b.splitlines(), "expected", "actual",
                                               lineterm=""))
        raise AssertionError(f"{what} changed (counters ignored):\n{diff}")


# ---------------------------------------------------------------------------
# Long-lived connections


class EstablishedConnection:
    """A TCP connection from `src` to a PeerServer kept open so a test can
    check, later or continuously, that it still passes data."""

    def __init__(self, src, dst_ip: str, port: int, timeout: float = 2.0):
        family = socket.AF_INET6 if _family_of(dst_ip) == 6 else socket.AF_INET
        self.src_label = getattr(src, "label", str(src))
        self.dst = f"{dst_ip}:{port}"
        self._sock = netns_socket(src, family, socket.SOCK_STREAM)
        self._lock = threading.Lock()
        self._seq = 0
        self._buf = b""
        try:
            self._sock.settimeout(timeout)
            self._sock.connect((dst_ip, port))
            line = self._read_line(time.monotonic() + timeout)
        except OSError as exc:
            self._sock.close()
            raise ConnectionError(f"{self.src_label} -> {self.dst}: {_error_reason(exc)}") from exc
        if line is None:
            self._sock.close()
            raise ConnectionError(f"{self.src_label} -> {self.dst}: no greeting from server")
        self.peer = line
        self._heartbeat: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self.stats = {"sent": 0, "ok": 0, "failed": 0, "max_gap": 0.0, "failures": []}

    def _read_line(self, deadline: float) -> Optional[str]:
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._sock.settimeout(remaining)
            chunk = self._sock.recv(4096)
            if not chunk:
                raise ConnectionResetError("server closed the connection")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    def ping(self, timeout: float = 1.0) -> bool:
        """Sends a token and waits for its echo.  Echoes of earlier tokens that
        arrive late are skipped."""
        with self._lock:
            self._seq += 1
            token = f"ping-{self._seq}"
            deadline = time.monotonic() + timeout
            try:
                self._sock.sendall((token + "\n").encode())
                while True:
                    line = self._read_line(deadline)
                    if line is None:
                        return False
                    if line == token:
                        return True
            except (socket.timeout, TimeoutError):
                return False
            except OSError:
                return False

    def start_heartbeat(self, interval: float = 0.05, timeout: float = 1.0) -> None:
        """Pings continuously in a thread; stop_heartbeat() returns the stats."""
        def beat():
            last_ok = time.monotonic()
            while not self._stop.is_set():
                self.stats["sent"] += 1
                if self.ping(timeout):
                    now = time.monotonic()
                    self.stats["ok"] += 1
                    self.stats["max_gap"] = max(self.stats["max_gap"], now - last_ok)
                    last_ok = now
                else:
                    self.stats["failed"] += 1
                    self.stats["failures"].append(time.strftime("%H:%M:%S"))
                self._stop.wait(interval)
        self._stop.clear()
        self._heartbeat = threading.Thread(target=beat, name="heartbeat", daemon=True)
        self._heartbeat.start()

    def stop_heartbeat(self) -> dict:
        if self._heartbeat is not None:
            self._stop.set()
            self._heartbeat.join(timeout=5)
            self._heartbeat = None
        return dict(self.stats)

    def close(self) -> None:
        self.stop_heartbeat()
        with contextlib.suppress(OSError):
            self._sock.close()


# ---------------------------------------------------------------------------
# wacd / wacctl


def process_memory(pid: int) -> dict:
    """VmRSS and VmHWM (peak RSS) in KiB, VmRSS split into anonymous memory
    (heap, stacks) and file pages (the binary and libraries it touched), and
    the thread count, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.split()[0] if value.split() else ""
    return {"rss_kib": int(fields["VmRSS"]), "hwm_kib": int(fields["VmHWM"]), "anon_kib": int(fields["RssAnon"]),
            "file_kib": int(fields["RssFile"]), "threads": int(fields["Threads"])}


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class BinaryNotFound(RuntimeError):
    pass


def find_binary(name: str) -> str:
    """Where wac's binaries are: $WAC_BUILD_DIR/{.,agent,api}/NAME, else PATH."""
    candidates = []
    build = os.environ.get("WAC_BUILD_DIR")
    if build:
        candidates = [Path(build) / sub / name for sub in (".", "agent", "api")]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path.resolve())
    found = shutil.which(name)
    if found:
        return found
    looked = ", ".join(str(p) for p in candidates) or "(WAC_BUILD_DIR not set)"
    raise BinaryNotFound(f"{name} not found: looked in {looked} and on PATH "
                         f"(build it: ninja -C <build> {name})")


def _sanitized_build() -> bool:
    build = os.environ.get("WAC_BUILD_DIR")
    cache = Path(build) / "CMakeCache.txt" if build else None
    return bool(cache and cache.is_file() and "WAC_SANITIZE:BOOL=ON" in cache.read_text(errors="replace"))


# The time and memory bounds the tests assert are stated for a release build.
# A sanitized build (ASan+UBSan at -O0, test/run.sh's second stage) runs wacd
# several times slower and keeps freed memory in ASan's quarantine, so there
# each bound is scaled by this factor (release: 1).
SLOWDOWN = 5.0 if _sanitized_build() else 1.0


def bound(limit):
    """A time (s) or memory (KiB) bound of a release build, scaled for this build."""
    return limit * SLOWDOWN


class WacctlError(CommandError):
    pass


class WacdError(RuntimeError):
    pass


class Wacd:
    """One wacd in a node namespace, with its socket, state dir and log in
    `workdir`.  The log file is appended to across restarts."""

    def __init__(self, node: Node, workdir: Path, log_level: str = "debug",
                 iface_prefix: str = "cali", wacd: Optional[str] = None,
                 wacctl: Optional[str] = None, extra_args: Sequence[str] = (),
                 state_dir: Optional[Path] = None):
        self.node = node
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.socket = self.workdir / "wacd.sock"
        self.state_dir = Path(state_dir) if state_dir else self.workdir / "state"
        self.state_dir.mkdir(exist_ok=True)
        self.log_path = self.workdir / "wacd.log"
        self.log_level, self.iface_prefix = log_level, iface_prefix
        self.wacd_bin = wacd or find_binary("wacd")
        self.wacctl_bin = wacctl or find_binary("wacctl")
        self.extra_args = list(extra_args)
        self.proc: Optional[subprocess.Popen] = None
        self.starts = 0

    def command(self) -> list:
        return ["ip", "netns", "exec", self.node.netns,
                "setpriv", "--pdeathsig", "KILL", "--",
                self.wacd_bin, "--node-name", self.node.name, "--socket", str(self.socket),
                "--state-dir", str(self.state_dir), "--iface-prefix", self.iface_prefix,
                "--log-level", self.log_level, *self.extra_args]

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        """wacd's own pid: `ip netns exec` and setpriv exec it in place."""
        pid = self.proc.pid
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        if comm != "wacd":
            raise WacdError(f"pid {pid} is {comm!r}, not wacd")
        return pid

    def start(self, ready_timeout: float = 20.0) -> "Wacd":
        if self.running:
            raise WacdError("wacd is already running")
        self.starts += 1
        with open(self.log_path, "a") as log:
            log.write(f"=== harness: start #{self.starts} at {time.strftime('%H:%M:%S')}: "
                      f"{' '.join(self.command())}\n")
            log.flush()
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)
        self.wait_ready(ready_timeout)
        return self

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Ready = the socket exists and `wacctl status` exits 0."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise WacdError(f"wacd exited with {self.proc.returncode} before it was ready\n"
                                f"--- wacd log (tail) ---\n{self.log_tail()}")
            if self.socket.exists():
                proc = self.ctl("status", check=False, timeout=5)
                if proc.returncode == 0:
                    return
                last = (proc.stderr or proc.stdout).strip()
            time.sleep(0.05)
        raise WacdError(f"wacd not ready after {timeout:.0f}s (socket {self.socket} "
                        f"{'exists' if self.socket.exists() else 'missing'}; last status: {last})\n"
                        f"--- wacd log (tail) ---\n{self.log_tail()}")

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 10.0) -> Optional[int]:
        """Sends sig; for terminating signals waits for the exit and returns the code."""
        if not self.running:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        if sig not in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
            return None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise WacdError(f"wacd ignored signal {sig} for {timeout:.0f}s; killed it")

    def stop(self, timeout: float = 5.0) -> Optional[int]:
        """SIGTERM, then SIGKILL if it lingers."""
        if not self.running:
            return self.proc.returncode if self.proc else None
        self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    def restart(self, ready_timeout: float = 20.0) -> "Wacd":
        self.stop()
        return self.start(ready_timeout)

    def ctl(self, *args: str, input: Optional[str] = None, check: bool = True,
            timeout: float = 30.0) -> subprocess.CompletedProcess:
        cmd = [self.wacctl_bin, "--socket", str(self.socket), *args]
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise WacctlError(cmd, proc.returncode, proc.stdout, proc.stderr)
        return proc

    def apply(self, yaml_text: str) -> str:
        return self.ctl("apply", "-f", "-", input=yaml_text).stdout

    def delete(self, yaml_text: str) -> str:
        return self.ctl("delete", "-f", "-", input=yaml_text).stdout

    def get(self, kind: str, name: Optional[str] = None, ns: Optional[str] = None,
            output: str = "json"):
        """`wacctl get`; parsed JSON for output='json', text otherwise."""
        args = ["get", kind] + ([name] if name else []) + (["-n", ns] if ns else []) + ["-o", output]
        text = self.ctl(*args).stdout
        return json.loads(text) if output == "json" else text

    def status(self) -> str:
        return self.ctl("status").stdout

    def ruleset(self) -> str:
        return wac_ruleset(self.node)

    def log_tail(self, lines: int = 80) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log yet)"
        return "\n".join(text.splitlines()[-lines:])

    def diagnostics(self) -> list:
        state = "running" if self.running else f"exited ({self.proc.returncode if self.proc else 'never started'})"
        return [(f"wacd on {self.node.name} [{state}] log tail ({self.log_path})", self.log_tail()),
                (f"nft list table inet wac on {self.node.name}", self.ruleset())]


# ---------------------------------------------------------------------------
# Topology

_live_topologies: "set[Topology]" = set()


class Topology:
    """Namespaces, links, servers and processes of one test; destroy() (or
    leaving the `with` block) removes all of it."""

    def __init__(self):
        self.prefix = f"{RUN_TAG}t{next(_topology_counter)}"
        self.nodes: list = []
        self.pods: list = []
        self.externals: list = []
        self.wacds: list = []
        self._netns: list = []
        self._servers: list = []
        self._connections: list = []
        self._procs: list = []
        self._fabric: Optional[str] = None
        self._ext_lan_node: Optional[Node] = None
        self._router: Optional[str] = None
        self._routed_host_seq = itertools.count(10)
        self._ext_host_seq = itertools.count(10)
        self._pod_seq: dict = {}
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{self.prefix}-"))
        _live_topologies.add(self)

    def __enter__(self) -> "Topology":
        return self

    def __exit__(self, *exc) -> None:
        self.destroy()

    # -- namespaces -------------------------------------------------------

    def _add_netns(self, suffix: str) -> str:
        name = f"{self.prefix}-{suffix}"
        run(["ip", "netns", "add", name])
        self._netns.append(name)
        # No duplicate address detection: addresses are usable at once.
        sysctl(name, {"net.ipv6.conf.all.accept_dad": 0, "net.ipv6.conf.default.accept_dad": 0})
        ip_batch(name, ["link set lo up"])
        return name

    def netns_names(self) -> list:
        return list(self._netns)

    # -- nodes ------------------------------------------------------------

    def add_node(self, name: Optional[str] = None) -> Node:
        index = len(self.nodes) + 1
        node = Node(name or f"node{index}", index, self._add_netns(f"n{index}"))
        sysctl(node.netns, {"net.ipv4.ip_forward": 1, "net.ipv6.conf.all.forwarding": 1})
        # A real node has a default route (its uplink); proxy ARP for the
        # pods' 169.254.1.1 gateway only answers for routable addresses.  The
        # uplink is a veth looped back into the node: a dead end.
        ip_batch(node.netns, ["link add uplink0 type veth peer name uplink1",
                              "link set uplink1 up", "link set uplink0 up",
                              "route add default dev uplink0"])
        self.nodes.append(node)
        if len(self.nodes) > 1:
            for n in self.nodes:
                self._connect_to_fabric(n)
            self._refresh_routes()
        return node

    def node(self, name_or_index=1) -> Node:
        for n in self.nodes:
            if n.name == name_or_index or n.index == name_or_index:
                return n
        raise KeyError(name_or_index)

    def _connect_to_fabric(self, node: Node) -> None:
        if node.fabric_ip4:
            return
        if self._fabric is None:
            self._fabric = self._add_netns("fabric")
            ip_batch(self._fabric, ["link add br0 type bridge", "link set br0 up"])
        port = f"n{node.index}"
        ip_batch(self._fabric, [f"link add {port} type veth peer name fab0 netns {node.netns}",
                                f"link set {port} master br0", f"link set {port} up"])
        # IPv6 between nodes uses a fixed link-local next hop (fe80::<k>), so
        # the node network needs no v6 range of its own.
        node.fabric_ip4, node.fabric_ip6 = f"192.0.2.{node.index}", f"fe80::{node.index}"
        ip_batch(node.netns, ["link set fab0 up", f"addr add {node.fabric_ip4}/24 dev fab0",
                              f"addr add {node.fabric_ip6}/64 dev fab0 nodad"])

    def _refresh_routes(self) -> None:
        """Routes between nodes: each other's pod ranges, and the external LAN
        via the node it hangs off.  `replace` keeps this idempotent."""
        for node in self.nodes:
            cmds = []
            for other in self.nodes:
                if other is node or not (node.fabric_ip4 and other.fabric_ip4):
                    continue
                cmds += [f"route replace {other.pod_cidr4} via {other.fabric_ip4}",
                         f"route replace {other.pod_cidr6} via {other.fabric_ip6} dev fab0"]
                if other is self._ext_lan_node:
                    cmds += [f"route replace {EXT_NET4} via {other.fabric_ip4}",
                             f"route replace {EXT_NET6} via {other.fabric_ip6} dev fab0"]
            if self._router and node.fabric_ip4:
                cmds.append(f"route replace default via {FABRIC_ROUTER4} dev fab0")
            if cmds:
                ip_batch(node.netns, cmds)

    # -- pods -------------------------------------------------------------

    def add_pod(self, ns: str, name: str, node: Optional[Node] = None, ip: Optional[str] = None,
                ip6: Optional[str] = None, labels: Optional[dict] = None, ipv6: bool = True,
                ports: Sequence = (), plumbed: bool = True) -> Pod:
        """A pod: its own namespace with eth0, host side `cali…` in the node.
        Addresses default to the next free 10.244.<k>.n / fd00:244:0:<k>::n.
        plumbed=False allocates everything but leaves the veth out (add it
        with plumb_pod_interface): an endpoint can then exist before its
        interface does, as when Calico writes the endpoint before CNI is done."""
        node = node or (self.nodes[0] if self.nodes else self.add_node())
        n = next(self._pod_seq.setdefault(node.index, itertools.count(2)))
        ip4 = ip or f"10.244.{node.index}.{n}"
        ip6 = (ip6 or f"fd00:244:0:{node.index}::{n}") if ipv6 else None
        pod = Pod(ns, name, node, ip4, ip6, calico_iface_name(ns, name), "",
                  dict(labels or {}), list(ports))
        pod.netns = self._add_netns(f"p-{ns}-{name}")
        node.pods.append(pod)
        self.pods.append(pod)
        if plumbed:
            self.plumb_pod_interface(pod)
        return pod

    def plumb_pod_interface(self, pod: Pod) -> None:
        """eth0 in the pod, Calico-style host side in the node: proxy ARP for
        169.254.1.1, fe80::1 as the v6 gateway, /32 and /128 routes to the pod."""
        node = pod.node
        ip_batch(pod.netns, [f"link add eth0 type veth peer name {pod.iface} "
                             f"address {CALICO_HOST_MAC} netns {node.netns}"])
        sysctl(node.netns, {f"net.ipv4.conf.{pod.iface}.proxy_arp": 1,
                            # Calico's setting; the default delays replies up to 0.8 s
                            f"net.ipv4.neigh.{pod.iface}.proxy_delay": 0})
        host = [f"link set {pod.iface} up", f"addr add {POD_GW6}/64 dev {pod.iface} nodad",
                f"route add {pod.ip4}/32 dev {pod.iface} scope link"]
        inside = ["link set eth0 up", f"addr add {pod.ip4}/32 dev eth0",
                  f"route add default via {POD_GW4} dev eth0 onlink"]
        if pod.ip6:
            host.append(f"route add {pod.ip6}/128 dev {pod.iface}")
            inside += [f"addr add {pod.ip6}/128 dev eth0 nodad",
                       f"route add ::/0 via {POD_GW6} dev eth0"]
        ip_batch(node.netns, host)
        ip_batch(pod.netns, inside)

    def unplumb_pod_interface(self, pod: Pod) -> None:
        """Deletes the pod's veth (as CNI does on pod deletion); the pod
        namespace stays so plumb_pod_interface() can add it again."""
        ip_batch(pod.node.netns, [f"link del {pod.iface}"])

    # -- external hosts ---------------------------------------------------

    def add_external(self, name: str = "ext", node: Optional[Node] = None,
                     addresses: int = 1) -> ExternalHost:
        """A host outside the cluster on 198.51.100.0/24 + 2001:db8:100::/64,
        bridged to one node, with `addresses` addresses of each family."""
        node = node or (self.nodes[0] if self.nodes else self.add_node())
        self._ensure_ext_lan(node)
        nums = [next(self._ext_host_seq) for _ in range(addresses)]
        host = ExternalHost(name, node, self._add_netns(f"x-{name}"),
                            [f"198.51.100.{n}" for n in nums], [f"2001:db8:100::{n}" for n in nums])
        port = f"ext{len(self.externals)}"
        ip_batch(host.netns, [f"link add eth0 type veth peer name {port} netns {node.netns}"])
        ip_batch(node.netns, [f"link set {port} master extbr", f"link set {port} up"])
        cmds = ["link set eth0 up"]
        cmds += [f"addr add {a}/24 dev eth0" for a in host.ip4s]
        cmds += [f"addr add {a}/64 dev eth0 nodad" for a in host.ip6s]
        cmds += [f"route add {POD_NET4} via 198.51.100.1",
                 f"route add {POD_NET6} via 2001:db8:100::1"]
        ip_batch(host.netns, cmds)
        self.externals.append(host)
        return host

    def _ensure_ext_lan(self, node: Node) -> None:
        if self._ext_lan_node is node:
            return
        if self._ext_lan_node is not None:
            raise ValueError(f"the external LAN already hangs off {self._ext_lan_node.name}")
        ip_batch(node.netns, ["link add extbr type bridge mcast_snooping 0", "link set extbr up",
                              "addr add 198.51.100.1/24 dev extbr",
                              "addr add 2001:db8:100::1/64 dev extbr nodad"])
        self._ext_lan_node = node
        self._refresh_routes()

    def add_linked_external(self, name: str = "srv", node: Optional[Node] = None,
                            addresses: int = 1) -> ExternalHost:
        """A host on ROUTED_NET4 (203.0.113.10, .11, ...) with a veth of its own
        straight into the node, where the link is 203.0.113.1: no bridge on
        the way, the shortest forwarded path (test/bench/packet).  One per
        node; not with add_fabric_router, which owns that network."""
        node = node or (self.nodes[0] if self.nodes else self.add_node())
        if self._router:
            raise ValueError("add_fabric_router already uses 203.0.113.0/24")
        host = ExternalHost(name, node, self._add_netns(f"x-{name}"),
                            [f"203.0.113.{10 + n}" for n in range(addresses)], [])
        ip_batch(host.netns, [f"link add eth0 type veth peer name {name}0 netns {node.netns}"])
        ip_batch(node.netns, [f"link set {name}0 up", f"addr add 203.0.113.1/24 dev {name}0"])
        ip_batch(host.netns, ["link set eth0 up", *(f"addr add {a}/24 dev eth0" for a in host.ip4s),
                              "route add default via 203.0.113.1"])
        self.externals.append(host)
        return host

    # -- a router on the node network ------------------------------------

    def add_fabric_router(self) -> str:
        """A router on the node network (192.0.2.254) with a network of its
        own behind it, 203.0.113.0/24 (where it is 203.0.113.1).  Every node's
        default route then goes through it instead of the dead-end uplink.
        It has no route to the pod ranges, so a pod address that leaves the
        cluster unmasqueraded gets no answer.  Needs two nodes (the fabric).
        Returns the router's namespace name."""
        if self._router:
            return self._router
        if self._fabric is None:
            raise ValueError("add_fabric_router needs the node network: add at least two nodes first")
        self._router = self._add_netns("rtr")
        ip_batch(self._fabric, [f"link add rtr type veth peer name fab0 netns {self._router}",
                                "link set rtr master br0", "link set rtr up"])
        ip_batch(self._router, ["link set fab0 up", f"addr add {FABRIC_ROUTER4}/24 dev fab0",
                                "link add lan0 type bridge", "link set lan0 up",
                                "addr add 203.0.113.1/24 dev lan0"])
        sysctl(self._router, {"net.ipv4.ip_forward": 1})
        self._refresh_routes()
        return self._router

    def add_routed_external(self, name: str = "ext") -> ExternalHost:
        """A host on the router's network (203.0.113.N, default route via the
        router): reached from the nodes only through their default route."""
        router = self.add_fabric_router()
        n = next(self._routed_host_seq)
        host = ExternalHost(name, self.nodes[0], self._add_netns(f"x-{name}"), [f"203.0.113.{n}"], [])
        port = f"h{n}"
        ip_batch(host.netns, [f"link add eth0 type veth peer name {port} netns {router}"])
        ip_batch(router, [f"link set {port} master lan0", f"link set {port} up"])
        ip_batch(host.netns, ["link set eth0 up", f"addr add {host.ip4}/24 dev eth0",
                              "route add default via 203.0.113.1"])
        self.externals.append(host)
        return host

    # -- servers, connections, processes ----------------------------------

    def start_server(self, where, tcp: Sequence[int] = (), udp: Sequence[int] = ()) -> PeerServer:
        server = PeerServer(where, tcp, udp).start()
        self._servers.append(server)
        return server

    def open_connection(self, src, dst_ip: str, port: int) -> EstablishedConnection:
        conn = EstablishedConnection(src, dst_ip, port)
        self._connections.append(conn)
        return conn

    def spawn(self, where, argv: Sequence[str], **popen_kw) -> subprocess.Popen:
        """A process in a namespace, killed by destroy() (and by the kernel if
        this process dies: parent-death signal)."""
        cmd = ["ip", "netns", "exec", _netns_name(where), "setpriv", "--pdeathsig", "KILL", "--",
               *argv]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, **popen_kw)
        self._procs.append(proc)
        return proc

    def start_wacd(self, node: Optional[Node] = None, ready_timeout: float = 20.0, **kw) -> Wacd:
        node = node or self.nodes[0]
        wacd = Wacd(node, self.workdir / f"wacd-{node.name}-{len(self.wacds)}", **kw)
        self.wacds.append(wacd)
        return wacd.start(ready_timeout)

    def diagnostics(self) -> list:
        """(title, text) sections for a failure report: each wacd's log tail
        and the wac table of every node."""
        sections = []
        with_wacd = set()
        for wacd in self.wacds:
            sections += wacd.diagnostics()
            with_wacd.add(wacd.node.name)
        for node in self.nodes:
            if node.name not in with_wacd and _netns_exists(node.netns):
                sections.append((f"nft list table inet wac on {node.name}", wac_ruleset(node)))
        return sections

    # -- teardown ---------------------------------------------------------

    def destroy(self) -> list:
        """Removes everything; never raises.  Returns the problems it met."""
        problems = []

        def attempt(what, fn):
            try:
                fn()
            except Exception as exc:  # keep tearing down the rest
                problems.append(f"{what}: {exc}")

        for conn in self._connections:
            attempt("close connection", conn.close)
        for server in self._servers:
            attempt("stop server", server.stop)
        for wacd in self.wacds:
            attempt(f"stop wacd on {wacd.node.name}", wacd.stop)
        for proc in self._procs:
            attempt(f"kill pid {proc.pid}", lambda p=proc: _kill_and_reap(p))
        for name in reversed(self._netns):
            attempt(f"delete netns {name}", lambda n=name: delete_netns(n))
        attempt("remove workdir", lambda: shutil.rmtree(self.workdir, ignore_errors=True))
        self._connections, self._servers, self._procs, self._netns = [], [], [], []
        _live_topologies.discard(self)
        if problems:
            print("wacnet: teardown problems:\n  " + "\n  ".join(problems), file=sys.stderr)
        return problems


def _kill_and_reap(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(5)


def _netns_exists(name: str) -> bool:
    return os.path.exists(f"/run/netns/{name}")


def netns_pids(name: str) -> list:
    proc = run(["ip", "netns", "pids", name], check=False)
    return [int(p) for p in proc.stdout.split()] if proc.returncode == 0 else []


def delete_netns(name: str) -> None:
    """Kills whatever still runs in the namespace, then deletes it."""
    if not _netns_exists(name):
        return
    for pid in netns_pids(name):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    run(["ip", "netns", "del", name])


def list_run_netns(tag: Optional[str] = None) -> list:
    """Namespaces made by this scheme (of one run tag, e.g. RUN_TAG, or all)."""
    try:
        names = os.listdir("/run/netns")
    except FileNotFoundError:
        return []
    return sorted(n for n in names if _NAME_RE.match(n) and (tag is None or n.startswith(tag + "t")))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_leftovers() -> list:
    """Deletes namespaces (killing their processes) and temp dirs left by
    earlier runs whose process is gone.  Runs of live processes are untouched."""
    swept = []
    for name in list_run_netns():
        pid = int(_NAME_RE.match(name).group(1))
        if pid != os.getpid() and not _pid_alive(pid):
            try:
                delete_netns(name)
                swept.append(name)
            except CommandError as exc:
                print(f"wacnet: could not sweep {name}: {exc}", file=sys.stderr)
    tmp = Path(tempfile.gettempdir())
    for path in tmp.glob("wti*t*-*"):
        m = _NAME_RE.match(path.name)
        if m and path.is_dir() and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            swept.append(str(path))
    return swept


def destroy_all() -> None:
    for topo in list(_live_topologies):
        topo.destroy()


atexit.register(destroy_all)


def install_signal_cleanup() -> None:
    """SIGTERM/SIGHUP raise KeyboardInterrupt in the main thread, so `finally`
    blocks, fixture finalizers and atexit all get to tear down."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)


def main(argv: Sequence[str]) -> int:
    if len(argv) == 2 and argv[1] == "sweep":
        for name in sweep_leftovers():
            print(f"swept {name}")
        return 0
    if len(argv) == 2 and argv[1] == "list":
        print("\n".join(list_run_netns()))
        return 0
    print("usage: wacnet.py sweep|list", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
