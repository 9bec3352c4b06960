#include "netlink/ip.h"

#include <arpa/inet.h>

#include <cstring>
#include <string_view>

namespace wac {

namespace {
// inet_pton is strict for AF_INET (dotted quad only) and AF_INET6.
std::optional<IpAddr> parse_with(int af, std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  char buf[64];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = 0;
  IpAddr a;
  a.family = af == AF_INET ? Family::V4 : Family::V6;
  if (inet_pton(af, buf, a.bytes.data()) != 1) return std::nullopt;
  return a;
}

void mask_to(IpAddr& a, int prefix) {
  int n = int(a.size());
  for (int i = 0; i < n; ++i) {
    int bits = prefix - i * 8;
    if (bits >= 8) continue;
    a.bytes[i] &= bits <= 0 ? 0 : uint8_t(0xff << (8 - bits));
  }
}
}  // namespace

std::optional<IpAddr> IpAddr::parse(std::string_view text) {
  if (text.find(':') != std::string_view::npos) return parse_with(AF_INET6, text);
  return parse_with(AF_INET, text);
}

IpAddr IpAddr::v4(uint32_t h) {
  IpAddr a;
  a.bytes[0] = h >> 24;
  a.bytes[1] = h >> 16;
  a.bytes[2] = h >> 8;
  a.bytes[3] = h;
  return a;
}

IpAddr IpAddr::from_bytes(Family f, const uint8_t* data) {
  IpAddr a;
  a.family = f;
  std::memcpy(a.bytes.data(), data, a.size());
  return a;
}

std::string IpAddr::str() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

bool IpAddr::is_unicast() const {
  bool all_zero = true;
  for (size_t i = 0; i < size(); ++i) all_zero &= bytes[i] == 0;
  if (all_zero) return false;
  if (is_v4()) {
    if (bytes[0] == 127 || bytes[0] >= 224) return false;  // loopback, multicast, reserved, broadcast
    return true;
  }
  if (bytes[0] == 0xff) return false;  // multicast
  static const uint8_t loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return std::memcmp(bytes.data(), loopback, 16) != 0;
}

std::optional<Cidr> Cidr::parse(std::string_view text, bool allow_host_bits) {
  auto slash = text.find('/');
  auto addr = IpAddr::parse(text.substr(0, slash));
  if (!addr) return std::nullopt;
  Cidr c{*addr, uint8_t(addr->size() * 8)};
  if (slash == std::string_view::npos) return c;
  auto digits = text.substr(slash + 1);
  if (digits.empty() || digits.size() > 3) return std::nullopt;
  int prefix = 0;
  for (char ch : digits) {
    if (ch < '0' || ch > '9') return std::nullopt;
    prefix = prefix * 10 + (ch - '0');
  }
  if (prefix > c.max_prefix()) return std::nullopt;
  c.prefix = uint8_t(prefix);
  IpAddr masked = c.addr;
  mask_to(masked, prefix);
  if (masked != c.addr && !allow_host_bits) return std::nullopt;
  c.addr = masked;
  return c;
}

bool Cidr::contains(const IpAddr& a) const {
  if (a.family != addr.family) return false;
  IpAddr m = a;
  mask_to(m, prefix);
  return m == addr;
}

bool Cidr::contains(const Cidr& o) const { return o.prefix >= prefix && contains(o.addr); }

IpAddr Cidr::last() const {
  IpAddr a = addr;
  for (int i = 0; i < int(a.size()); ++i) {
    int bits = prefix - i * 8;
    if (bits >= 8) continue;
    a.bytes[i] |= bits <= 0 ? 0xff : uint8_t(0xff >> bits);
  }
  return a;
}

Cidr Cidr::parent(uint8_t shorter) const {
  Cidr c = *this;
  c.prefix = shorter;
  mask_to(c.addr, shorter);
  return c;
}

std::string Cidr::str() const {
  if (is_host()) return addr.str();
  return addr.str() + "/" + std::to_string(prefix);
}

}  // namespace wac

size_t std::hash<wac::IpAddr>::operator()(const wac::IpAddr& a) const noexcept {
  uint64_t h = 1469598103934665603ull ^ uint64_t(a.family);
  for (size_t i = 0; i < a.size(); ++i) h = (h ^ a.bytes[i]) * 1099511628211ull;
  return h;
}

size_t std::hash<wac::Cidr>::operator()(const wac::Cidr& c) const noexcept {
  return std::hash<wac::IpAddr>()(c.addr) * 31 + c.prefix;
}
