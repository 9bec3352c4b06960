#!/usr/bin/env python3
"""Writes the seed corpora for the dns fuzzers (test/fuzz/corpus/{dns,packet,domain}).

Run from anywhere: python3 test/unit/dns/make_fuzz_seeds.py
The seeds are small, hand-shaped inputs covering the interesting paths
(compression, CNAME chains, loops, framing, extension headers, fragments);
the committed files are this script's output.
"""
import ipaddress
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fuzz", "corpus")


def name(text):
    out = b""
    for label in [l for l in text.split(".") if l]:
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def ptr(offset):
    return bytes([0xC0 | (offset >> 8), offset & 0xFF])


def ip(text):
    return ipaddress.ip_address(text).packed


def rr(owner, rtype, ttl, rdata, klass=1):
    return owner + struct.pack("!HHIH", rtype, klass, ttl, len(rdata)) + rdata


def message(questions, answers, qr=True, opcode=0, rcode=0, tc=False, counts=None, extra=b"", arcount=0):
    flags = (0x8000 if qr else 0) | (opcode << 11) | (0x200 if tc else 0) | 0x100 | 0x80 | rcode
    qd, an = counts or (len(questions), len(answers))
    head = struct.pack("!HHHHHH", 0x1234, flags, qd, an, 0, arcount)
    body = b"".join(n + struct.pack("!HH", t, 1) for n, t in questions) + b"".join(answers)
    return head + body + extra


def dns_seeds():
    seeds = {}
    seeds["a"] = message([(name("api.example.com"), 1)], [rr(name("api.example.com"), 1, 300, ip("192.0.2.1"))])
    seeds["aaaa"] = message([(name("v6.example.com"), 28)], [rr(name("v6.example.com"), 28, 60, ip("2001:db8::1"))])
    seeds["cname_chain"] = message(
        [(name("www.example.com"), 1)],
        [rr(name("www.example.com"), 5, 3600, name("edge.cdn.example.net")),
         rr(name("edge.cdn.example.net"), 5, 120, name("n1.cdn.example.net")),
         rr(name("n1.cdn.example.net"), 1, 20, ip("203.0.113.7")),
         rr(name("n1.cdn.example.net"), 1, 20, ip("203.0.113.8"))])
    seeds["cname_out_of_order"] = message(
        [(name("www.example.com"), 1)],
        [rr(name("c.example.org"), 1, 50, ip("192.0.2.9")),
         rr(name("www.example.com"), 5, 90, name("c.example.org"))])
    # Compressed: question at 12; answers point back to it.
    seeds["compressed"] = message(
        [(name("www.example.com"), 1)],
        [rr(ptr(12), 5, 300, bytes([4]) + b"edge" + ptr(16)),
         rr(ptr(12 + 17 + 4 + 12), 1, 60, ip("198.51.100.4"))])
    seeds["cname_loop"] = message(
        [(name("a.example.com"), 1)],
        [rr(name("a.example.com"), 5, 60, name("b.example.com")),
         rr(name("b.example.com"), 5, 60, name("a.example.com"))])
    seeds["pointer_loop"] = message([(ptr(12), 1)], [])
    seeds["truncated"] = seeds["a"][:-3]
    seeds["wrong_counts"] = message([(name("x.example.com"), 1)], [rr(name("x.example.com"), 1, 5, ip("192.0.2.2"))],
                                    counts=(1, 4))
    seeds["query"] = message([(name("x.example.com"), 1)], [], qr=False)
    seeds["nxdomain_tc"] = message([(name("nope.example.com"), 1)], [], rcode=3, tc=True)
    opt = b"\0" + struct.pack("!HHIH", 41, 1232, 0, 0)
    seeds["edns"] = message([(name("e.example.com"), 1)], [rr(name("e.example.com"), 1, 30, ip("192.0.2.3"))],
                            extra=opt, arcount=1)
    return seeds


def udp(sport, dport, payload):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def tcp(sport, dport, payload):
    return struct.pack("!HHIIBBHHH", sport, dport, 1000, 2000, 5 << 4, 0x18, 65535, 0, 0) + payload


def framed(msg):
    return struct.pack("!H", len(msg)) + msg


def ipv4(src, dst, l4, proto=17, frag=0, options=b""):
    ihl = (20 + len(options)) // 4
    return (struct.pack("!BBHHHBBH", 0x40 | ihl, 0, 20 + len(options) + len(l4), 0x4242, frag, 64, proto, 0)
            + ip(src) + ip(dst) + options + l4)


def ipv6(src, dst, l4, proto=17, exts=()):
    chain = b""
    for i, t in enumerate(exts):
        nxt = exts[i + 1] if i + 1 < len(exts) else proto
        chain += bytes([nxt, 0]) + b"\0" * 6
    first = exts[0] if exts else proto
    return struct.pack("!IHBB", 0x60000000, len(chain) + len(l4), first, 64) + ip(src) + ip(dst) + chain + l4


def packet_seeds(dns):
    s = {}
    s["v4_udp"] = ipv4("198.51.100.53", "10.244.0.9", udp(53, 40000, dns["a"]))
    s["v4_udp_options"] = ipv4("198.51.100.53", "10.244.0.9", udp(53, 40000, dns["cname_chain"]), options=b"\1" * 8)
    s["v4_tcp_two"] = ipv4("198.51.100.53", "10.244.0.9",
                           tcp(53, 40000, framed(dns["a"]) + framed(dns["compressed"])), proto=6)
    s["v4_tcp_split"] = ipv4("198.51.100.53", "10.244.0.9", tcp(53, 40000, framed(dns["cname_chain"])[:30]), proto=6)
    s["v4_fragment"] = ipv4("198.51.100.53", "10.244.0.9", udp(53, 40000, dns["a"]), frag=0x2000)
    s["v4_truncated"] = s["v4_udp"][:-4]
    s["v6_udp"] = ipv6("2001:db8::53", "fd00:244::9", udp(53, 40000, dns["aaaa"]))
    s["v6_ext"] = ipv6("2001:db8::53", "fd00:244::9", udp(53, 40000, dns["cname_loop"]), exts=(0, 43, 60))
    s["v6_fragment"] = ipv6("2001:db8::53", "fd00:244::9", udp(53, 40000, dns["a"]), exts=(0, 44))
    s["v6_tcp"] = ipv6("2001:db8::53", "fd00:244::9", tcp(53, 40000, framed(dns["edns"])), proto=6)
    s["v4_icmp"] = ipv4("198.51.100.53", "10.244.0.9", b"\x08\0\0\0\0\0\0\0", proto=1)
    s["v4_query"] = ipv4("10.244.0.9", "198.51.100.53", udp(40000, 53, dns["query"]))
    return s


def domain_seeds():
    pairs = [
        ("api.example.com", "api.example.com"), ("*.example.com", "a.b.example.com"),
        ("*.example.com", "example.com"), ("www.*.com", "www.sun.com"), ("www.*.com", "www.com"),
        ("update.*.mycompany.com", "update.x.y.mycompany.com"), ("API.Example.COM.", "api.example.com."),
        ("*", "com"), ("a..b", "a.b"), ("a*.com", "ab.com"), ("*.*.com", "a.b.com"),
        ("www.example.*", "www.example.co.uk"), ("under_score.x-y.com", "UNDER_SCORE.X-Y.COM"),
    ]
    return {"p%02d" % i: (p + "\n" + n).encode() for i, (p, n) in enumerate(pairs)}


def write(folder, seeds):
    path = os.path.join(ROOT, folder)
    os.makedirs(path, exist_ok=True)
    for key, data in seeds.items():
        with open(os.path.join(path, key), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    dns = dns_seeds()
    write("dns", dns)
    write("packet", packet_seeds(dns))
    write("domain", domain_seeds())
