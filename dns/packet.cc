#include "dns/packet.h"

namespace wac::dns {

namespace {

constexpr size_t kIpv4MinHeader = 20;
constexpr size_t kIpv6Header = 40;
constexpr size_t kUdpHeader = 8;
constexpr size_t kTcpMinHeader = 20;

// IPv6 next-header values we walk over or reject explicitly.
constexpr uint8_t kIpv6HopByHop = 0;
constexpr uint8_t kIpv6Routing = 43;
constexpr uint8_t kIpv6Fragment = 44;
constexpr uint8_t kIpv6DestOpts = 60;

uint16_t be16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }

PacketResult reject(PacketStatus status, std::string reason) {
  PacketResult r;
  r.status = status;
  r.reason = std::move(reason);
  return r;
}

std::string at(const char* what, size_t need, size_t have) {
  return std::string(what) + " needs " + std::to_string(need) + " bytes, only " + std::to_string(have) +
         " available";
}

// Fills proto/ports/payload from the transport header at `l4`.
PacketResult parse_transport(uint8_t proto, Bytes l4, PacketResult r) {
  r.packet.proto = proto;
  if (proto == kProtoUdp) {
    if (l4.size() < kUdpHeader) return reject(PacketStatus::Truncated, at("UDP header", kUdpHeader, l4.size()));
    size_t udp_len = be16(&l4[4]);
    if (udp_len < kUdpHeader)
      return reject(PacketStatus::BadHeader, "UDP length " + std::to_string(udp_len) + " is less than 8");
    if (udp_len > l4.size())
      return reject(PacketStatus::Truncated, "UDP length " + std::to_string(udp_len) + " exceeds the " +
                                                 std::to_string(l4.size()) + " bytes after the IP header");
    r.packet.sport = be16(&l4[0]);
    r.packet.dport = be16(&l4[2]);
    r.packet.payload = l4.subspan(kUdpHeader, udp_len - kUdpHeader);
    return r;
  }
  if (proto == kProtoTcp) {
    if (l4.size() < kTcpMinHeader)
      return reject(PacketStatus::Truncated, at("TCP header", kTcpMinHeader, l4.size()));
    size_t data_offset = size_t(l4[12] >> 4) * 4;
    if (data_offset < kTcpMinHeader)
      return reject(PacketStatus::BadHeader, "TCP data offset " + std::to_string(data_offset) + " is less than 20");
    if (data_offset > l4.size())
      return reject(PacketStatus::Truncated, at("TCP header with options", data_offset, l4.size()));
    r.packet.sport = be16(&l4[0]);
    r.packet.dport = be16(&l4[2]);
    r.packet.payload = l4.subspan(data_offset);
    return r;
  }
  return reject(PacketStatus::UnsupportedProtocol, "transport protocol " + std::to_string(proto) + " is not UDP or TCP");
}

PacketResult parse_ipv4(Bytes b) {
  if (b.size() < kIpv4MinHeader) return reject(PacketStatus::Truncated, at("IPv4 header", kIpv4MinHeader, b.size()));
  size_t header_len = size_t(b[0] & 0x0f) * 4;
  if (header_len < kIpv4MinHeader)
    return reject(PacketStatus::BadHeader, "IPv4 IHL " + std::to_string(header_len / 4) + " is less than 5");
  size_t total_len = be16(&b[2]);
  if (total_len < header_len)
    return reject(PacketStatus::BadHeader, "IPv4 total length " + std::to_string(total_len) +
                                               " is less than the header length " + std::to_string(header_len));
  // The capture may carry trailing bytes (link padding); the total length
  // field decides where the datagram ends.
  if (total_len > b.size())
    return reject(PacketStatus::Truncated, "IPv4 total length " + std::to_string(total_len) + " exceeds the " +
                                               std::to_string(b.size()) + " captured bytes");
  uint16_t frag = be16(&b[6]);
  bool more_fragments = frag & 0x2000;
  uint16_t offset = frag & 0x1fff;
  if (more_fragments || offset != 0)
    return reject(PacketStatus::Fragment, "IPv4 fragment (offset " + std::to_string(offset * 8) +
                                              (more_fragments ? ", more fragments)" : ")"));
  PacketResult r;
  r.packet.src = IpAddr::from_bytes(Family::V4, &b[12]);
  r.packet.dst = IpAddr::from_bytes(Family::V4, &b[16]);
  return parse_transport(b[9], b.subspan(header_len, total_len - header_len), std::move(r));
}

PacketResult parse_ipv6(Bytes b) {
  if (b.size() < kIpv6Header) return reject(PacketStatus::Truncated, at("IPv6 header", kIpv6Header, b.size()));
  size_t payload_len = be16(&b[4]);
  if (payload_len == 0)
    return reject(PacketStatus::UnsupportedProtocol, "IPv6 payload length 0 (jumbogram) is not supported");
  if (kIpv6Header + payload_len > b.size())
    return reject(PacketStatus::Truncated, "IPv6 payload length " + std::to_string(payload_len) + " exceeds the " +
                                               std::to_string(b.size() - kIpv6Header) + " captured payload bytes");
  PacketResult r;
  r.packet.src = IpAddr::from_bytes(Family::V6, &b[8]);
  r.packet.dst = IpAddr::from_bytes(Family::V6, &b[24]);
  uint8_t next = b[6];
  Bytes rest = b.subspan(kIpv6Header, payload_len);
  // Each extension header is at least 8 bytes, so this loop ends within
  // payload_len / 8 steps.
  while (next == kIpv6HopByHop || next == kIpv6Routing || next == kIpv6DestOpts || next == kIpv6Fragment) {
    size_t offset = b.size() - rest.size();
    if (next == kIpv6Fragment)
      return reject(PacketStatus::Fragment, "IPv6 fragment header at offset " + std::to_string(offset));
    if (rest.size() < 8)
      return reject(PacketStatus::Truncated,
                    "IPv6 extension header " + std::to_string(next) + " at offset " + std::to_string(offset) +
                        " needs 8 bytes, only " + std::to_string(rest.size()) + " available");
    size_t ext_len = (size_t(rest[1]) + 1) * 8;
    if (ext_len > rest.size())
      return reject(PacketStatus::Truncated, "IPv6 extension header " + std::to_string(next) + " at offset " +
                                                 std::to_string(offset) + " has length " + std::to_string(ext_len) +
                                                 ", only " + std::to_string(rest.size()) + " bytes available");
    next = rest[0];
    rest = rest.subspan(ext_len);
  }
  return parse_transport(next, rest, std::move(r));
}

}  // namespace

const char* to_string(PacketStatus s) {
  switch (s) {
    case PacketStatus::Ok: return "ok";
    case PacketStatus::Truncated: return "truncated";
    case PacketStatus::BadHeader: return "bad header";
    case PacketStatus::Fragment: return "fragment";
    case PacketStatus::UnsupportedVersion: return "unsupported IP version";
    case PacketStatus::UnsupportedProtocol: return "unsupported protocol";
  }
  return "unknown";
}

PacketResult parse_packet(Bytes captured) {
  if (captured.empty()) return reject(PacketStatus::Truncated, "empty packet");
  int version = captured[0] >> 4;
  if (version == 4) return parse_ipv4(captured);
  if (version == 6) return parse_ipv6(captured);
  return reject(PacketStatus::UnsupportedVersion, "IP version " + std::to_string(version) + " is not 4 or 6");
}

void split_tcp_dns(Bytes segment, TcpDnsFraming& out) {
  out.messages.clear();
  out.incomplete = false;
  while (!segment.empty()) {
    if (segment.size() < 2) {
      out.incomplete = true;
      return;
    }
    size_t len = be16(segment.data());
    if (len > segment.size() - 2) {
      out.incomplete = true;
      return;
    }
    // A zero length prefix carries no message; skip it rather than hand an
    // empty buffer to the DNS parser.
    if (len > 0) out.messages.push_back(segment.subspan(2, len));
    segment = segment.subspan(2 + len);
  }
}

}  // namespace wac::dns
