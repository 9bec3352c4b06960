// L3/L4 decoding of the packets the DNS tap receives from nfnetlink_log:
// raw bytes starting at the IPv4 or IPv6 header, as the kernel copied them.
//
// Everything is bounds-checked against the captured length; nothing here
// trusts a length field. Checksums are deliberately NOT verified: packets
// logged on the forward/output path may still carry a partial checksum
// (CHECKSUM_PARTIAL with offload, GRO), so a check would reject valid
// responses, and a forger can compute a valid checksum anyway.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "netlink/ip.h"

namespace wac::dns {

using Bytes = std::span<const uint8_t>;

inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;

enum class PacketStatus : uint8_t {
  Ok,
  Truncated,            // a header or length field points past the captured bytes
  BadHeader,            // impossible header field (IHL < 5, UDP length < 8, TCP data offset < 5, ...)
  Fragment,             // IPv4 MF/offset, or an IPv6 fragment header: we never reassemble
  UnsupportedVersion,   // neither IPv4 nor IPv6
  UnsupportedProtocol,  // transport other than UDP/TCP (ESP, ICMP, unknown extension header, ...)
};
const char* to_string(PacketStatus s);

// The transport view of one packet. `payload` points into the caller's buffer:
// for UDP the datagram data, for TCP the segment data (DNS-over-TCP framing
// is split by split_tcp_dns below).
struct Packet {
  IpAddr src, dst;
  uint8_t proto = 0;
  uint16_t sport = 0, dport = 0;
  Bytes payload;
};

struct PacketResult {
  PacketStatus status = PacketStatus::Ok;
  std::string reason;  // empty when ok; otherwise names the field and offsets
  Packet packet;
  bool ok() const { return status == PacketStatus::Ok; }
};

PacketResult parse_packet(Bytes captured);

// DNS-over-TCP framing (RFC 1035 4.2.2: each message has a 2-byte length
// prefix). The tap sees single segments and keeps no per-flow state, so:
//  - every message whose prefix and body lie wholly inside this segment is
//    returned, in order (a segment may carry several);
//  - a message that continues past the end of the segment is not parsed and
//    `incomplete` is set; the caller counts it (stats.tcp_incomplete). Its
//    addresses are not learned, so a pod relying on a response that large
//    over TCP must retry or have its destination allowed otherwise;
//  - a segment that starts in the middle of a message (the tail of a split
//    message) is read as if it started with a prefix; that almost always
//    yields `incomplete` or a message the DNS parser rejects.
struct TcpDnsFraming {
  std::vector<Bytes> messages;
  bool incomplete = false;
};
// Appends to out.messages (cleared first), so a caller can reuse one object.
void split_tcp_dns(Bytes segment, TcpDnsFraming& out);

}  // namespace wac::dns
