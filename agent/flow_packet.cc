#include "agent/flow_packet.h"

namespace wac::agent {

namespace {

using Bytes = std::span<const uint8_t>;

constexpr size_t kIpv4MinHeader = 20;
constexpr size_t kIpv6Header = 40;
constexpr uint8_t kIcmp = 1, kTcp = 6, kUdp = 17, kDccp = 33, kIcmpv6 = 58, kSctp = 132, kUdpLite = 136;
constexpr uint8_t kHopByHop = 0, kRouting = 43, kFragment = 44, kDestOpts = 60;

uint16_t be16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }

bool has_ports(uint8_t proto) {
  return proto == kTcp || proto == kUdp || proto == kUdpLite || proto == kSctp || proto == kDccp;
}

// Ports or ICMP type/code, when the capture reaches that far.
void read_transport(Bytes l4, FlowTuple& t) {
  if (has_ports(t.protocol) && l4.size() >= 4) {
    t.src_port = be16(&l4[0]);
    t.dst_port = be16(&l4[2]);
  } else if ((t.protocol == kIcmp || t.protocol == kIcmpv6) && l4.size() >= 2) {
    t.icmp_type = l4[0];
    t.icmp_code = l4[1];
  }
}

std::optional<FlowTuple> parse_ipv4(Bytes b) {
  if (b.size() < kIpv4MinHeader) return std::nullopt;
  size_t header_len = size_t(b[0] & 0x0f) * 4;
  if (header_len < kIpv4MinHeader) return std::nullopt;
  FlowTuple t;
  t.src = IpAddr::from_bytes(Family::V4, &b[12]);
  t.dst = IpAddr::from_bytes(Family::V4, &b[16]);
  t.protocol = b[9];
  t.fragment = (be16(&b[6]) & 0x1fff) != 0;  // only the first fragment carries the transport header
  if (!t.fragment && header_len <= b.size()) read_transport(b.subspan(header_len), t);
  return t;
}

std::optional<FlowTuple> parse_ipv6(Bytes b) {
  if (b.size() < kIpv6Header) return std::nullopt;
  FlowTuple t;
  t.src = IpAddr::from_bytes(Family::V6, &b[8]);
  t.dst = IpAddr::from_bytes(Family::V6, &b[24]);
  uint8_t next = b[6];
  Bytes rest = b.subspan(kIpv6Header);
  // Each extension header is at least 8 bytes, so this ends within size/8 steps.
  while (next == kHopByHop || next == kRouting || next == kDestOpts || next == kFragment) {
    if (rest.size() < 8) {
      t.protocol = next;  // cut short inside the extension headers: the protocol is unknown
      return t;
    }
    if (next == kFragment) {
      t.fragment = (be16(&rest[2]) & 0xfff8) != 0;
      next = rest[0];
      rest = rest.subspan(8);
      if (t.fragment) break;
      continue;
    }
    size_t ext_len = (size_t(rest[1]) + 1) * 8;
    next = rest[0];
    rest = ext_len <= rest.size() ? rest.subspan(ext_len) : Bytes{};
  }
  t.protocol = next;
  if (!t.fragment) read_transport(rest, t);
  return t;
}

}  // namespace

std::optional<FlowTuple> parse_flow_tuple(std::span<const uint8_t> captured) {
  if (captured.empty()) return std::nullopt;
  switch (captured[0] >> 4) {
    case 4: return parse_ipv4(captured);
    case 6: return parse_ipv6(captured);
    default: return std::nullopt;
  }
}

}  // namespace wac::agent
