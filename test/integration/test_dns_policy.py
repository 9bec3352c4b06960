"""DNS policy end to end: egress rules naming domains, fed by wacd's DNS tap
from a real DNS server (dnsmasq) on an external host; see dnslab.py for the
layout. Each test builds its own lab (about 3 s)."""

import json
import re
import signal
import socket
import sys
import time

import pytest

import wacnet
from test_metrics import scrape
from dnslab import (CLIENT, SHORT_TTL, DnsLab, ResolvFiles, allow_domains, connect_ok, dns_query, forged_response,
                    policy, wait_for)
from wacnet import Case


@pytest.fixture
def resolv_files():
    files = ResolvFiles()
    yield files
    files.cleanup()


def test_name_allows_its_address_only(topo, resolv_files):
    lab = DnsLab(topo, resolv_files)
    api, other = lab.records["api.example.test"], lab.records["other.example.test"]
    lab.wacd.apply(policy(allow_domains("api.example.test")))
    # Nothing learned yet: the address itself is not allowed.
    assert not connect_ok(lab, api)

    result = lab.lookup_and_connect("api.example.test")
    assert result["addresses"] == [api], result
    assert result["ok"] and result["peer"] == lab.client.ip4, result
    # Another address of the same server stays closed.
    wacnet.assert_matrix([Case(lab.client, api, 80, True), Case(lab.client, other, 80, False)], within=0)

    report = lab.dns_report()
    names = {n["name"]: n for n in report["names"]}
    assert [a["address"] for a in names["api.example.test"]["addresses"]] == [api]
    assert names["api.example.test"]["patterns"] == ["api.example.test"]
    assert 250 < names["api.example.test"]["addresses"][0]["remainingSeconds"] <= 301
    listing = lab.set_elements("api.example.test")
    assert api in listing and "timeout" in listing and 'comment "api.example.test"' in listing, listing
    assert 'comment "api.example.test"' in wacnet.nft(lab.node, "list", "table", "inet", "wac")
    text = lab.wacd.ctl("dns").stdout
    assert "api.example.test" in text and api in text, text
    stats = lab.dns_stats()
    assert stats["enabled"] and stats["holdActive"], stats
    assert int(stats["elementsAdded"]) >= 1 and int(stats.get("writeErrors", 0)) == 0, stats
    # The tap's element batches are wacd's own commits, not changes to repair.
    status = json.loads(lab.wacd.ctl("status", "-o", "json").stdout)
    assert int(status.get("foreignChanges", 0)) == 0, status
    # Prometheus shows what wacctl shows.
    metrics = scrape(lab.node)
    assert metrics['wac_dns_learned_addresses_by_pattern{pattern="api.example.test"}'] == 1, metrics
    assert metrics["wac_dns_tap_up"] == 1 and metrics["wac_dns_hold_active"] == 1
    assert metrics["wac_dns_responses_parsed_total"] >= 1


def test_wildcard_and_cname_chain(topo, resolv_files):
    lab = DnsLab(topo, resolv_files)
    lab.wacd.apply(policy(allow_domains("*.wild.test", "www.example.test")))
    deep = lab.lookup_and_connect("a.b.wild.test")  # '*' matches one or more labels
    assert deep["ok"], deep
    bare = lab.lookup_and_connect("wild.test")      # ... but not zero
    assert bare["addresses"] == [lab.records["wild.test"]] and not bare["ok"], bare
    # www.example.test CNAME edge.cdn.test A .13: the address counts for www.example.test.
    chained = lab.lookup_and_connect("www.example.test")
    assert chained["addresses"] == [lab.records["edge.cdn.test"]] and chained["ok"], chained
    names = {n["name"]: n for n in lab.dns_report()["names"]}
    assert names["www.example.test"]["patterns"] == ["www.example.test"], names
    assert "edge.cdn.test" not in names  # matches no pattern: not kept


def test_aaaa_over_ipv6(topo, resolv_files):
    lab = DnsLab(topo, resolv_files)
    lab.use_resolver(lab.client, "2001:db8:100::10")
    lab.wacd.apply(policy(allow_domains("v6.example.test")))
    v6 = lab.records["v6.example.test"]
    assert not connect_ok(lab, v6)
    result = lab.lookup_and_connect("v6.example.test", family=6)
    assert result["addresses"] == [v6] and result["ok"], result
    assert not connect_ok(lab, lab.web.ip6s[2])
    assert v6 in lab.set_elements("v6.example.test", family=6)


def test_short_ttl_expires_from_the_kernel(topo, resolv_files):
    lab = DnsLab(topo, resolv_files)
    lab.wacd.apply(policy(allow_domains("short.example.test")))
    addr = lab.web.ip4s[1]
    result = lab.lookup_and_connect("short.example.test")
    assert result["ok"], result
    learned = time.monotonic()
    # TTL 2 + grace 1: the kernel drops the element 3 s after the answer.
    assert wait_for(lambda: not connect_ok(lab, addr), within=SHORT_TTL + 1 + 3, interval=0.2)
    assert time.monotonic() - learned >= SHORT_TTL + 1 - 0.5
    assert addr not in lab.set_elements("short.example.test")
    # Until the next resolution, which opens it again.
    assert lab.lookup_and_connect("short.example.test")["ok"]


def test_forged_responses_open_nothing(topo, resolv_files):
    lab = DnsLab(topo, resolv_files)
    evil = topo.add_pod("default", "evil", labels={"app": "evil"})
    lab.wacd.apply(wacnet.cluster_yaml(topo.pods))
    lab.wacd.apply(policy(allow_domains("api.example.test")))
    target = lab.records["other.example.test"]
    before = int(lab.dns_stats().get("untrusted", 0))
    # From a pod on the node and from an untrusted external host, source port 53.
    for sender in (evil, lab.web):
        with wacnet.in_netns(sender):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind(("0.0.0.0", 53))
            for _ in range(3):
                sock.sendto(forged_response("api.example.test", target), (lab.client.ip4, 33333))
        finally:
            sock.close()
    assert wait_for(lambda: int(lab.dns_stats().get("untrusted", 0)) >= before + 6), lab.dns_stats()
    assert scrape(lab.node)['wac_dns_rejected_total{reason="untrusted"}'] == int(lab.dns_stats()["untrusted"])
    assert not connect_ok(lab, target)
    assert not lab.dns_report().get("names"), lab.dns_report()
    assert target not in lab.set_elements("api.example.test")


def test_restart_keeps_learned_addresses(topo, resolv_files):
    lab = DnsLab(topo, resolv_files)
    lab.wacd.apply(policy(allow_domains("api.example.test")))
    api = lab.records["api.example.test"]
    assert lab.lookup_and_connect("api.example.test")["ok"]
    lab.wacd.stop()  # SIGTERM: the cache file is written
    cache = json.loads((lab.wacd.state_dir / "dns-cache.json").read_text())
    assert [e["key"] for e in cache["entries"]] == ["api.example.test"], cache
    assert connect_ok(lab, api)  # the kernel keeps enforcing meanwhile
    lab.wacd.start()
    assert connect_ok(lab, api)  # no new lookup needed
    names = {n["name"]: n for n in lab.dns_report().get("names", [])}
    assert api in [a["address"] for a in names["api.example.test"]["addresses"]], names
    assert api in lab.set_elements("api.example.test")
    # SIGKILL (no save): the kernel still holds the element, and a restart keeps it.
    lab.wacd.kill()
    lab.wacd.start()
    assert connect_ok(lab, api)



def hold_rule_packets(lab, family="ip") -> int:
    """Packets the DNS hold's UDP rule (`... udp sport 53 counter queue num N bypass`) has seen."""
    listing = wacnet.nft(lab.node, "list", "table", family, "wac-dns")
    m = re.search(r"udp sport 53 counter packets (\d+) bytes \d+ queue num \d+ bypass", listing)
    assert m, listing
    return int(m.group(1))


def test_dns_works_while_wacd_is_down(topo, resolv_files):
    """SIGKILL leaves the hold's queue rule in place with nobody reading the
    queue: its `bypass` flag lets responses through unheld, so pods keep
    resolving. Nothing is learned meanwhile; after a restart it is again."""
    lab = DnsLab(topo, resolv_files)  # hold on
    lab.wacd.apply(policy(allow_domains("api.example.test", "other.example.test")))
    api, other = lab.records["api.example.test"], lab.records["other.example.test"]
    assert lab.dns_stats()["holdActive"], lab.dns_stats()
    assert lab.lookup_and_connect("api.example.test")["ok"]

    assert lab.wacd.kill(signal.SIGKILL) == -signal.SIGKILL
    held_before = hold_rule_packets(lab)
    # A raw query answered within 0.5 s: the response was not held (the
    # resolver would otherwise see nothing and retry after its 1 s timeout).
    assert dns_query(lab.client, "198.51.100.10", "other.example.test", timeout=0.5) is not None
    down = lab.lookup_and_connect("other.example.test")
    assert down["addresses"] == [other], down  # the libc resolver got its answer
    assert hold_rule_packets(lab) >= held_before + 2  # ... through the queue rule, bypassed
    assert not down["ok"], down                       # but nobody learned it: still closed
    assert connect_ok(lab, api)                       # what was learned before stays allowed

    lab.wacd.start()
    assert lab.dns_stats()["holdActive"], lab.dns_stats()
    assert not connect_ok(lab, other)
    up = lab.lookup_and_connect("other.example.test")
    assert up["addresses"] == [other] and up["ok"], up
    names = {n["name"]: n for n in lab.dns_report().get("names", [])}
    assert [a["address"] for a in names["other.example.test"]["addresses"]] == [other], names
    assert other in lab.set_elements("other.example.test")
    assert int(lab.dns_stats().get("heldPackets", 0)) >= 1, lab.dns_stats()


def test_dns_over_tcp(topo, resolv_files):
    lab = DnsLab(topo, resolv_files)
    lab.use_resolver(lab.client, "198.51.100.10", "options use-vc")
    # Only TCP to the DNS server: the answer must be learned from TCP segments.
    lab.wacd.apply(policy(allow_domains("tcp.example.test"), dns_protocols=("TCP",)))
    addr = lab.records["tcp.example.test"]
    assert not connect_ok(lab, addr)
    result = lab.lookup_and_connect("tcp.example.test")
    assert result["addresses"] == [addr] and result["ok"], result


def test_network_set_domains(topo, resolv_files):
    lab = DnsLab(topo, resolv_files)
    lab.wacd.apply(wacnet.to_yaml({
        "apiVersion": "projectcalico.org/v3",
        "kind": "GlobalNetworkSet",
        "metadata": {"name": "partners", "labels": {"partner": "yes"}},
        "spec": {"allowedEgressDomains": ["netset.example.test"]},
    }))
    lab.wacd.apply(policy({"action": "Allow", "protocol": "TCP",
                           "destination": {"selector": "partner == 'yes'", "ports": [80]}}))
    result = lab.lookup_and_connect("netset.example.test")
    assert result["ok"], result
    assert not lab.lookup_and_connect("api.example.test")["ok"]


def test_resolve_then_connect_is_never_dropped(topo, resolv_files):
    """With the hold, a connection made the instant the answer arrives passes
    (200 fresh names; any first-SYN drop would cost a 1 s retransmission)."""
    lab = DnsLab(topo, resolv_files, race_names=200)
    lab.wacd.apply(policy(allow_domains("*.race.test")))
    proc = wacnet.run(["ip", "netns", "exec", lab.client.netns, sys.executable, CLIENT, "race", "n{}.race.test",
                       "200", "80", "--family", "6", "--timeout", "0.5"], timeout=120)
    result = json.loads(proc.stdout)
    assert result["failed_lookups"] == 0 and result["lost"] == 0, result

