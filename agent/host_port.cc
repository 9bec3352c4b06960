#include "agent/host_port.h"

#include <charconv>

namespace wac::agent {

std::string HostPort::str() const {
  std::string h = host.str();
  return (host.is_v4() ? h : "[" + h + "]") + ":" + std::to_string(port);
}

namespace {

std::optional<HostPort> fail(std::string* why, std::string message) {
  if (why) *why = std::move(message);
  return std::nullopt;
}

}  // namespace

std::optional<HostPort> parse_host_port(std::string_view text, std::string* why) {
  std::string_view host, port;
  if (text.starts_with('[')) {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return fail(why, "missing ']' after the IPv6 address");
    host = text.substr(1, close - 1);
    if (text.substr(close + 1, 1) != ":") return fail(why, "expected ':PORT' after ']'");
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail(why, "expected IP:PORT");
    host = text.substr(0, colon);
    if (host.find(':') != std::string_view::npos)
      return fail(why, "an IPv6 address must be in brackets: [ADDRESS]:PORT");
    port = text.substr(colon + 1);
  }
  auto addr = IpAddr::parse(host);
  if (!addr) return fail(why, "\"" + std::string(host) + "\" is not an IP address");
  if (!text.starts_with('[') && !addr->is_v4()) return fail(why, "an IPv6 address must be in brackets");
  if (text.starts_with('[') && addr->is_v4()) return fail(why, "brackets are for IPv6 addresses only");
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535)
    return fail(why, "\"" + std::string(port) + "\" is not a port number");
  if (value == 0) return fail(why, "port 0 is not allowed");
  return HostPort{*addr, uint16_t(value)};
}

}  // namespace wac::agent
