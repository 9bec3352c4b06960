"""The DNS policy lab shared by test_dns_policy.py and test/bench/dns_race.py.

Layout: node1 with a client pod, external host `dns` (198.51.100.10,
2001:db8:100::10) running dnsmasq, external host `web` (198.51.100.11-14,
2001:db8:100::11-14) serving TCP port 80 on every address. The pod resolves
with the libc resolver: its /etc/resolv.conf is /etc/netns/<pod netns>/
resolv.conf, bind-mounted by `ip netns exec`. The node's resolv.conf names
the same server, so wacd trusts it by default.
"""

import json
import shutil
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import wacnet

HERE = Path(__file__).resolve().parent
CLIENT = str(HERE / "dns_client.py")

# Short TTLs keep the expiry test short: timeout = max(TTL + 1, 1) seconds.
SHORT_TTL = 2


def wacd_config(hold: bool, **dns) -> str:
    """wacd's dns: section; keyword arguments add or override keys (maxAddressesPerName=100)."""
    settings = {"ttlGraceSeconds": 1, "minTTLSeconds": 1, "maxTTLSeconds": 3600,
                "holdResponses": "true" if hold else "false", **dns}
    return "dns: {" + ", ".join(f"{k}: {v}" for k, v in settings.items()) + "}\n"


class ResolvFiles:
    """/etc/netns/<netns>/resolv.conf files (what `ip netns exec` shows a
    process as /etc/resolv.conf); cleanup() removes every one written."""

    def __init__(self):
        self.made = []

    def __call__(self, where, *lines):
        directory = Path("/etc/netns") / wacnet._netns_name(where)
        directory.mkdir(parents=True, exist_ok=True)
        self.made.append(directory)
        (directory / "resolv.conf").write_text("\n".join(lines) + "\n")

    def cleanup(self):
        for directory in self.made:
            shutil.rmtree(directory, ignore_errors=True)
        self.made = []


def policy(*egress_rules, dns_protocols=("UDP", "TCP")):
    """A GlobalNetworkPolicy for the client pod: DNS to the dns host, plus `egress_rules`."""
    rules = [{"action": "Allow", "protocol": proto, "destination": {"nets": [net], "ports": [53]}}
             for proto in dns_protocols for net in ("198.51.100.10/32", "2001:db8:100::10/128")]
    return wacnet.to_yaml({
        "apiVersion": "projectcalico.org/v3",
        "kind": "GlobalNetworkPolicy",
        "metadata": {"name": "client-egress"},
        "spec": {"selector": "app == 'client'", "types": ["Egress"], "egress": rules + list(egress_rules)},
    })


def allow_domains(*domains, port=80):
    return {"action": "Allow", "protocol": "TCP", "destination": {"domains": list(domains), "ports": [port]}}


class DnsLab:
    def __init__(self, topo, resolv_files, hold=True, race_names=0, extra_config="", dns_settings=None,
                 state_dir=None):
        self.topo = topo
        self.node = topo.add_node()
        self.client = topo.add_pod("default", "client", labels={"app": "client"})
        self.dns = topo.add_external("dns")
        self.web = topo.add_external("web", addresses=4)
        topo.start_server(self.web, tcp=[80])
        w4, w6 = self.web.ip4s, self.web.ip6s
        self.records = {
            "api.example.test": w4[0], "other.example.test": w4[1], "edge.cdn.test": w4[2],
            "wild.test": w4[1], "a.b.wild.test": w4[3], "tcp.example.test": w4[3],
            "netset.example.test": w4[2], "v6.example.test": w6[1],
        }
        self.start_dnsmasq(race_names)
        # wacd trusts the node's resolvers.
        resolv_files(self.node, "nameserver 198.51.100.10", "nameserver 2001:db8:100::10")
        self.resolv_files = resolv_files
        self.use_resolver(self.client, "198.51.100.10")
        config = topo.workdir / "wacd.yaml"
        config.write_text(wacd_config(hold, **(dns_settings or {})) + extra_config)
        self.wacd = topo.start_wacd(self.node, extra_args=["-c", str(config)], state_dir=state_dir)
        self.wacd.apply(wacnet.cluster_yaml(topo.pods))

    def start_dnsmasq(self, race_names):
        args = ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                "--bind-interfaces", "--listen-address=198.51.100.10,2001:db8:100::10", "--port=53",
                f"--pid-file={self.topo.workdir}/dnsmasq.pid", "--user=root", "--local-ttl=300",
                "--log-facility=-", "--cname=www.example.test,edge.cdn.test"]
        args += [f"--host-record={name},{addr}" for name, addr in self.records.items()]
        args += [f"--host-record=short.example.test,{self.web.ip4s[1]},{SHORT_TTL}"]
        if race_names:
            args.append(f"--addn-hosts={self.race_hosts(race_names)}")
        with open(self.topo.workdir / "dnsmasq.log", "w") as log:
            self.dnsmasq = self.topo.spawn(self.dns, args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if dns_query(self.dns, "198.51.100.10", "api.example.test") is not None:
                return
            if self.dnsmasq.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError("dnsmasq did not start:\n" + (self.topo.workdir / "dnsmasq.log").read_text())

    def race_hosts(self, count) -> str:
        """n<i>.race.test -> 2001:db8:100:1::<i+1>, all served by `web`: a local
        route for the whole /64 makes every address in it its own."""
        path = self.topo.workdir / "race.hosts"
        path.write_text("".join(f"2001:db8:100:1::{i + 1:x} n{i}.race.test\n" for i in range(count)))
        wacnet.ip_batch(self.web.netns, ["route add local 2001:db8:100:1::/64 dev lo"])
        wacnet.ip_batch(self.node.netns, [f"route add 2001:db8:100:1::/64 via {self.web.ip6}"])
        return str(path)

    def use_resolver(self, pod, server, *options):
        self.resolv_files(pod, f"nameserver {server}", "options timeout:1 attempts:3", *options)

    def lookup_and_connect(self, name, pod=None, family=4, port=80, timeout=1.0) -> dict:
        pod = pod or self.client
        proc = wacnet.run(["ip", "netns", "exec", pod.netns, sys.executable, CLIENT, "connect", name, str(port),
                           "--family", str(family), "--timeout", str(timeout)], timeout=30)
        return json.loads(proc.stdout)

    def dns_report(self, name="") -> dict:
        return json.loads(self.wacd.ctl("dns", *([name] if name else []), "-o", "json").stdout)

    def dns_stats(self) -> dict:
        return json.loads(self.wacd.ctl("status", "-o", "json").stdout).get("dns", {})

    def set_elements(self, pattern, family=4) -> str:
        report = self.dns_report()
        for p in report.get("patterns", []):
            if p["pattern"] == pattern:
                name = p.get("setIpv4" if family == 4 else "setIpv6", "")
                return wacnet.nft(self.node, "list", "set", "inet", "wac", name)
        raise AssertionError(f"pattern {pattern} not in use: {report}")


def dns_query(where, server, name, qtype=1, timeout=0.5):
    """One raw UDP DNS query; the answer's bytes, or None."""
    header = struct.pack("!HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack("!HH", qtype, 1)
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    sock = wacnet.netns_socket(where, family, socket.SOCK_DGRAM)
    try:
        sock.settimeout(timeout)
        sock.sendto(header + question, (server, 53))
        return sock.recv(4096)
    except OSError:
        return None
    finally:
        sock.close()


def forged_response(name, addr, ttl=3600) -> bytes:
    """A DNS response claiming `name` A `addr`."""
    header = struct.pack("!HHHHHH", 0x4242, 0x8180, 1, 1, 0, 0)
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, ttl, 4) + socket.inet_aton(addr)
    return header + qname + struct.pack("!HH", 1, 1) + answer


def connect_ok(lab, ip, pod=None, port=80) -> bool:
    return wacnet.probe(pod or lab.client, ip, port, timeout=1.0).ok


def wait_for(predicate, within=5.0, interval=0.1):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
