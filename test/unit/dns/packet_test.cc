#include <catch2/catch.hpp>

#include "dns/packet.h"
#include "wire_builder.h"

using namespace wac;
using namespace wac::dns;
using namespace wac::dns::testing;

namespace {
const Wire kMsg = simple_response("api.example.com", "192.0.2.10", 300);

Bytes bytes(const Wire& w) { return {w.data(), w.size()}; }

void require_reject(const Wire& pkt, PacketStatus status, const std::string& reason_part) {
  PacketResult r = parse_packet(bytes(pkt));
  INFO("reason: " << r.reason);
  REQUIRE(r.status == status);
  REQUIRE(r.reason.find(reason_part) != std::string::npos);
}
}  // namespace

TEST_CASE("IPv4 UDP packet yields addresses, ports and the DNS payload") {
  Wire pkt = ipv4("198.51.100.53", "10.244.1.7", udp(53, 40000, kMsg));
  PacketResult r = parse_packet(bytes(pkt));
  REQUIRE(r.ok());
  CHECK(r.packet.src.str() == "198.51.100.53");
  CHECK(r.packet.dst.str() == "10.244.1.7");
  CHECK(r.packet.proto == kProtoUdp);
  CHECK(r.packet.sport == 53);
  CHECK(r.packet.dport == 40000);
  CHECK(Wire(r.packet.payload.begin(), r.packet.payload.end()) == kMsg);
}

TEST_CASE("IPv4 options are skipped using IHL") {
  Wire pkt = ipv4("198.51.100.53", "10.244.1.7", udp(53, 1234, kMsg), {.option_bytes = 12});
  PacketResult r = parse_packet(bytes(pkt));
  REQUIRE(r.ok());
  CHECK(r.packet.sport == 53);
  CHECK(r.packet.payload.size() == kMsg.size());
}

TEST_CASE("IPv4 trailing capture bytes beyond total length are ignored") {
  Wire pkt = ipv4("198.51.100.53", "10.244.1.7", udp(53, 1234, kMsg));
  pkt.insert(pkt.end(), 6, 0xee);  // link-layer padding
  PacketResult r = parse_packet(bytes(pkt));
  REQUIRE(r.ok());
  CHECK(r.packet.payload.size() == kMsg.size());
}

TEST_CASE("IPv4 header errors are rejected with a reason") {
  Wire good = ipv4("198.51.100.53", "10.244.1.7", udp(53, 1234, kMsg));
  SECTION("empty") { require_reject({}, PacketStatus::Truncated, "empty"); }
  SECTION("shorter than the fixed header") {
    require_reject(Wire(good.begin(), good.begin() + 19), PacketStatus::Truncated, "IPv4 header needs 20");
  }
  SECTION("IHL below 5") {
    good[0] = 0x44;
    require_reject(good, PacketStatus::BadHeader, "IHL 4");
  }
  SECTION("IHL past the capture") {
    Wire pkt(good.begin(), good.begin() + 20);
    pkt[0] = 0x4f;  // 60-byte header
    pkt[2] = 0, pkt[3] = 60;
    require_reject(pkt, PacketStatus::Truncated, "total length 60 exceeds the 20 captured");
  }
  SECTION("total length below header length") {
    good[2] = 0, good[3] = 10;
    require_reject(good, PacketStatus::BadHeader, "total length 10");
  }
  SECTION("total length beyond the capture (nflog copy range cut it)") {
    Wire cut(good.begin(), good.end() - 5);
    require_reject(cut, PacketStatus::Truncated, "exceeds the");
  }
  SECTION("version 5") {
    good[0] = 0x55;
    require_reject(good, PacketStatus::UnsupportedVersion, "IP version 5");
  }
  SECTION("ICMP") {
    Wire pkt = ipv4("198.51.100.53", "10.244.1.7", Wire(8, 0), {.proto = 1});
    require_reject(pkt, PacketStatus::UnsupportedProtocol, "protocol 1");
  }
}

TEST_CASE("IPv4 fragments are rejected") {
  SECTION("first fragment (MF set)") {
    Wire pkt = ipv4("198.51.100.53", "10.244.1.7", udp(53, 1234, kMsg), {.frag_field = 0x2000});
    require_reject(pkt, PacketStatus::Fragment, "more fragments");
  }
  SECTION("later fragment (offset set)") {
    Wire pkt = ipv4("198.51.100.53", "10.244.1.7", Wire(16, 0), {.frag_field = 0x0003});
    require_reject(pkt, PacketStatus::Fragment, "offset 24");
  }
  SECTION("DF alone is not a fragment") {
    Wire pkt = ipv4("198.51.100.53", "10.244.1.7", udp(53, 1234, kMsg), {.frag_field = 0x4000});
    CHECK(parse_packet(bytes(pkt)).ok());
  }
}

TEST_CASE("UDP length is checked") {
  Wire l4 = udp(53, 1234, kMsg);
  SECTION("UDP length below 8") {
    l4[4] = 0, l4[5] = 7;
    require_reject(ipv4("198.51.100.53", "10.244.1.7", l4), PacketStatus::BadHeader, "UDP length 7");
  }
  SECTION("UDP length beyond the IP payload") {
    l4[4] = 0x7f, l4[5] = 0;
    require_reject(ipv4("198.51.100.53", "10.244.1.7", l4), PacketStatus::Truncated, "UDP length 32512");
  }
  SECTION("UDP length shorter than the IP payload trims the payload") {
    l4[4] = 0, l4[5] = 8 + 12;
    PacketResult r = parse_packet(bytes(ipv4("198.51.100.53", "10.244.1.7", l4)));
    REQUIRE(r.ok());
    CHECK(r.packet.payload.size() == 12);
  }
  SECTION("UDP header cut") {
    require_reject(ipv4("198.51.100.53", "10.244.1.7", Wire(5, 0)), PacketStatus::Truncated, "UDP header");
  }
}

TEST_CASE("TCP data offset is honoured and checked") {
  Wire seg = tcp(53, 5555, tcp_framed(kMsg), 12);
  PacketResult r = parse_packet(bytes(ipv4("198.51.100.53", "10.244.1.7", seg, {.proto = 6})));
  REQUIRE(r.ok());
  CHECK(r.packet.proto == kProtoTcp);
  CHECK(r.packet.sport == 53);
  CHECK(r.packet.dport == 5555);
  CHECK(r.packet.payload.size() == kMsg.size() + 2);

  SECTION("data offset below 5") {
    seg[12] = 0x40;
    require_reject(ipv4("198.51.100.53", "10.244.1.7", seg, {.proto = 6}), PacketStatus::BadHeader,
                   "data offset 16");
  }
  SECTION("data offset beyond the segment") {
    Wire short_seg(seg.begin(), seg.begin() + 24);
    short_seg[12] = 0xf0;
    require_reject(ipv4("198.51.100.53", "10.244.1.7", short_seg, {.proto = 6}), PacketStatus::Truncated,
                   "TCP header with options needs 60");
  }
}

TEST_CASE("IPv6 with hop-by-hop, routing and destination options headers") {
  Wire pkt = ipv6("2001:db8::53", "fd00:244::7", udp(53, 4000, kMsg), 17,
                  {{0, 1}, {43, 2}, {60, 1}});
  PacketResult r = parse_packet(bytes(pkt));
  REQUIRE(r.ok());
  CHECK(r.packet.src.str() == "2001:db8::53");
  CHECK(r.packet.dst.str() == "fd00:244::7");
  CHECK(r.packet.sport == 53);
  CHECK(Wire(r.packet.payload.begin(), r.packet.payload.end()) == kMsg);
}

TEST_CASE("IPv6 rejects") {
  SECTION("fragment header") {
    Wire pkt = ipv6("2001:db8::53", "fd00:244::7", udp(53, 4000, kMsg), 17, {{0, 1}, {44, 1}});
    require_reject(pkt, PacketStatus::Fragment, "IPv6 fragment header at offset 48");
  }
  SECTION("extension header longer than the packet") {
    Wire pkt = ipv6("2001:db8::53", "fd00:244::7", Wire{}, 17, {{60, 1}});
    pkt[41] = 5;  // claims 48 bytes
    require_reject(pkt, PacketStatus::Truncated, "has length 48");
  }
  SECTION("payload length beyond capture") {
    Wire pkt = ipv6("2001:db8::53", "fd00:244::7", udp(53, 4000, kMsg));
    pkt.pop_back();
    require_reject(pkt, PacketStatus::Truncated, "IPv6 payload length");
  }
  SECTION("jumbogram") {
    Wire pkt = ipv6("2001:db8::53", "fd00:244::7", udp(53, 4000, kMsg));
    pkt[4] = pkt[5] = 0;
    require_reject(pkt, PacketStatus::UnsupportedProtocol, "jumbogram");
  }
  SECTION("ESP") {
    require_reject(ipv6("2001:db8::53", "fd00:244::7", Wire(16, 0), 50), PacketStatus::UnsupportedProtocol,
                   "protocol 50");
  }
  SECTION("short header") {
    Wire pkt = ipv6("2001:db8::53", "fd00:244::7", udp(53, 4000, kMsg));
    require_reject(Wire(pkt.begin(), pkt.begin() + 39), PacketStatus::Truncated, "IPv6 header needs 40");
  }
}

TEST_CASE("DNS-over-TCP framing") {
  Wire m1 = simple_response("a.example.com", "192.0.2.1", 60);
  Wire m2 = simple_response("b.example.com", "192.0.2.2", 60);
  TcpDnsFraming f;

  SECTION("one complete message") {
    Wire seg = tcp_framed(m1);
    split_tcp_dns(bytes(seg), f);
    REQUIRE(f.messages.size() == 1);
    CHECK_FALSE(f.incomplete);
    CHECK(Wire(f.messages[0].begin(), f.messages[0].end()) == m1);
  }
  SECTION("two messages in one segment") {
    Wire seg = tcp_framed(m1);
    append(seg, tcp_framed(m2));
    split_tcp_dns(bytes(seg), f);
    REQUIRE(f.messages.size() == 2);
    CHECK_FALSE(f.incomplete);
    CHECK(Wire(f.messages[1].begin(), f.messages[1].end()) == m2);
  }
  SECTION("second message split across segments") {
    Wire seg = tcp_framed(m1);
    Wire second = tcp_framed(m2);
    seg.insert(seg.end(), second.begin(), second.begin() + 10);
    split_tcp_dns(bytes(seg), f);
    CHECK(f.messages.size() == 1);
    CHECK(f.incomplete);
  }
  SECTION("only one byte of a length prefix") {
    Wire seg = tcp_framed(m1);
    seg.push_back(0);
    split_tcp_dns(bytes(seg), f);
    CHECK(f.messages.size() == 1);
    CHECK(f.incomplete);
  }
  SECTION("an empty segment (pure ACK) carries nothing and is not incomplete") {
    split_tcp_dns({}, f);
    CHECK(f.messages.empty());
    CHECK_FALSE(f.incomplete);
  }
  SECTION("object reuse clears the previous result") {
    Wire seg = tcp_framed(m1);
    seg.push_back(0);
    split_tcp_dns(bytes(seg), f);
    Wire seg2 = tcp_framed(m2);
    split_tcp_dns(bytes(seg2), f);
    CHECK(f.messages.size() == 1);
    CHECK_FALSE(f.incomplete);
  }
}
