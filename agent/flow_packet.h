// The connection a logged packet belongs to: addresses, protocol, ports (or
// ICMP type and code), read from the headers nfnetlink_log copied.
//
// Unlike dns/packet.h, which needs whole datagrams, this reads headers only:
// flow logs copy just the first bytes of each packet, so the IP length
// fields usually point past the capture and that is fine. Every read is
// bounds-checked against the capture; whatever cannot be read is left out
// (a non-first fragment has addresses but no ports).
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "netlink/ip.h"

namespace wac::agent {

struct FlowTuple {
  IpAddr src, dst;
  uint8_t protocol = 0;  // IP protocol number (after IPv6 extension headers)
  std::optional<uint16_t> src_port, dst_port;  // TCP, UDP, UDP-Lite, SCTP, DCCP
  std::optional<uint8_t> icmp_type, icmp_code;  // ICMP, ICMPv6
  bool fragment = false;  // a non-first fragment: no transport header
  bool operator==(const FlowTuple&) const = default;
};

// nullopt: not IPv4/IPv6, or the IP header itself is cut short.
std::optional<FlowTuple> parse_flow_tuple(std::span<const uint8_t> captured);

}  // namespace wac::agent
