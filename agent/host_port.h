// "IP:PORT" listen addresses (metricsAddress, listen.address): an IPv4
// literal or a bracketed IPv6 literal, and a port.  Host names are not
// accepted: what a listener binds to should not depend on a resolver.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "netlink/ip.h"

namespace wac::agent {

struct HostPort {
  IpAddr host;
  uint16_t port = 0;
  // "127.0.0.1:9475", "[::1]:9475": the form gRPC and civetweb both accept.
  std::string str() const;
  bool operator==(const HostPort&) const = default;
};

// nullopt with `why` set ("port 0 is not allowed") when `text` is not one.
std::optional<HostPort> parse_host_port(std::string_view text, std::string* why = nullptr);

}  // namespace wac::agent
