// Flow log header parsing: crafted IPv4/IPv6 packets, captures cut short
// anywhere, and garbage never crash it.
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "agent/flow_packet.h"

using namespace wac;
using namespace wac::agent;

namespace {

using Bytes = std::vector<uint8_t>;

void put16(Bytes& b, size_t at, uint16_t v) {
  b[at] = uint8_t(v >> 8);
  b[at + 1] = uint8_t(v);
}

Bytes ipv4(uint8_t proto, Bytes l4, uint16_t frag = 0) {
  Bytes b(20, 0);
  b[0] = 0x45;
  put16(b, 2, uint16_t(20 + l4.size() + 1000));  // claims more than captured: flow logs copy headers only
  put16(b, 6, frag);
  b[8] = 64;
  b[9] = proto;
  Bytes src{10, 244, 1, 9}, dst{10, 244, 1, 2};
  std::copy(src.begin(), src.end(), b.begin() + 12);
  std::copy(dst.begin(), dst.end(), b.begin() + 16);
  b.insert(b.end(), l4.begin(), l4.end());
  return b;
}

Bytes ipv6(uint8_t next, Bytes rest) {
  Bytes b(40, 0);
  b[0] = 0x60;
  put16(b, 4, uint16_t(rest.size() + 500));
  b[6] = next;
  b[7] = 64;
  b[8] = 0xfd;   // fd00::9
  b[23] = 9;
  b[24] = 0xfd;  // fd00::2
  b[39] = 2;
  b.insert(b.end(), rest.begin(), rest.end());
  return b;
}

Bytes ports(uint16_t sport, uint16_t dport, size_t header = 20) {
  Bytes b(header, 0);
  put16(b, 0, sport);
  put16(b, 2, dport);
  return b;
}

}  // namespace

TEST_CASE("IPv4 TCP and UDP give the 5-tuple") {
  auto tcp = parse_flow_tuple(ipv4(6, ports(40312, 5432)));
  REQUIRE(tcp);
  CHECK(tcp->src.str() == "10.244.1.9");
  CHECK(tcp->dst.str() == "10.244.1.2");
  CHECK(tcp->protocol == 6);
  CHECK(tcp->src_port == 40312);
  CHECK(tcp->dst_port == 5432);
  CHECK_FALSE(tcp->icmp_type);

  auto udp = parse_flow_tuple(ipv4(17, ports(5353, 53, 8)));
  REQUIRE(udp);
  CHECK(udp->protocol == 17);
  CHECK(udp->dst_port == 53);
}

TEST_CASE("ICMP gives type and code, no ports") {
  auto echo = parse_flow_tuple(ipv4(1, {8, 0, 0, 0, 0, 1, 0, 1}));
  REQUIRE(echo);
  CHECK(echo->icmp_type == 8);
  CHECK(echo->icmp_code == 0);
  CHECK_FALSE(echo->dst_port);

  auto v6 = parse_flow_tuple(ipv6(58, {128, 0, 0, 0}));
  REQUIRE(v6);
  CHECK(v6->src.str() == "fd00::9");
  CHECK(v6->dst.str() == "fd00::2");
  CHECK(v6->protocol == 58);
  CHECK(v6->icmp_type == 128);
}

TEST_CASE("IPv6 extension headers are walked to the transport header") {
  Bytes hop(8, 0);
  hop[0] = 60;  // next: destination options
  Bytes dest(16, 0);
  dest[0] = 6;  // next: TCP
  dest[1] = 1;  // 16 bytes
  Bytes rest = hop;
  rest.insert(rest.end(), dest.begin(), dest.end());
  Bytes tcp = ports(1234, 443);
  rest.insert(rest.end(), tcp.begin(), tcp.end());
  auto t = parse_flow_tuple(ipv6(0, rest));
  REQUIRE(t);
  CHECK(t->protocol == 6);
  CHECK(t->src_port == 1234);
  CHECK(t->dst_port == 443);
}

TEST_CASE("fragments: the first has ports, later ones only addresses") {
  auto first = parse_flow_tuple(ipv4(17, ports(1000, 2000, 8), 0x2000));  // MF, offset 0
  REQUIRE(first);
  CHECK_FALSE(first->fragment);
  CHECK(first->dst_port == 2000);
  auto later = parse_flow_tuple(ipv4(17, ports(1000, 2000, 8), 0x0010));  // offset 128
  REQUIRE(later);
  CHECK(later->fragment);
  CHECK_FALSE(later->dst_port);
  CHECK(later->dst.str() == "10.244.1.2");

  Bytes frag(8, 0);
  frag[0] = 17;
  put16(frag, 2, 0x0100);  // offset 32, not the first
  auto v6 = parse_flow_tuple(ipv6(44, frag));
  REQUIRE(v6);
  CHECK(v6->fragment);
  CHECK(v6->protocol == 17);
  CHECK_FALSE(v6->dst_port);
}

TEST_CASE("a capture cut short keeps what it has") {
  Bytes full = ipv4(6, ports(40312, 5432));
  for (size_t len = 0; len < full.size(); ++len) {
    auto t = parse_flow_tuple({full.data(), len});
    if (len < 20) {
      CHECK_FALSE(t);  // not even the IP header
    } else {
      REQUIRE(t);
      CHECK(t->dst.str() == "10.244.1.2");
      CHECK(t->dst_port.has_value() == (len >= 24));
    }
  }
  Bytes v6 = ipv6(6, ports(1, 2));
  for (size_t len = 0; len < v6.size(); ++len) {
    auto t = parse_flow_tuple({v6.data(), len});
    CHECK(t.has_value() == (len >= 40));
  }
}

TEST_CASE("garbage is rejected or read within bounds, never a crash") {
  CHECK_FALSE(parse_flow_tuple({}));
  Bytes not_ip{0x00, 0x01, 0x02};
  CHECK_FALSE(parse_flow_tuple(not_ip));
  Bytes bad_ihl = ipv4(6, ports(1, 2));
  bad_ihl[0] = 0x43;  // IHL 3
  CHECK_FALSE(parse_flow_tuple(bad_ihl));
  Bytes huge_ihl = ipv4(6, ports(1, 2));
  huge_ihl[0] = 0x4f;  // 60-byte header, only 40 captured: addresses, no ports
  auto h = parse_flow_tuple(huge_ihl);
  REQUIRE(h);
  CHECK_FALSE(h->src_port);
  Bytes ext_loop = ipv6(0, Bytes(8, 0));  // hop-by-hop whose next header is hop-by-hop, then nothing
  CHECK(parse_flow_tuple(ext_loop));

  std::mt19937 rng(42);
  for (int i = 0; i < 20000; ++i) {
    Bytes b(rng() % 120);
    for (auto& x : b) x = uint8_t(rng());
    if (!b.empty() && i % 2) b[0] = uint8_t((i % 4 == 1 ? 0x40 : 0x60) | (b[0] & 0x0f));
    (void)parse_flow_tuple(b);
  }
}
