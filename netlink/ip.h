// IP addresses and prefixes as wac passes them between layers: small value
// types with strict parsing (no inet_aton leniency) and canonical text form.
#pragma once
#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wac {

enum class Family : uint8_t { V4 = 4, V6 = 6 };

struct IpAddr {
  Family family = Family::V4;
  std::array<uint8_t, 16> bytes{};  // V4 uses the first 4 bytes

  static std::optional<IpAddr> parse(std::string_view text);
  static IpAddr v4(uint32_t host_order);
  static IpAddr from_bytes(Family f, const uint8_t* data);
  size_t size() const { return family == Family::V4 ? 4 : 16; }
  bool is_v4() const { return family == Family::V4; }
  std::string str() const;
  // Unicast: not unspecified, loopback, multicast, or the v4 broadcast address.
  bool is_unicast() const;
  auto operator<=>(const IpAddr&) const = default;
};

struct Cidr {
  IpAddr addr;  // always masked to the prefix
  uint8_t prefix = 0;

  // Accepts "a.b.c.d/n", "x::y/n" and bare addresses (host prefix).
  // Host bits set ("10.0.0.1/8") are rejected unless allow_host_bits, in
  // which case they are masked off, as Calico does for nets.
  static std::optional<Cidr> parse(std::string_view text, bool allow_host_bits = true);
  static Cidr host(const IpAddr& a) { return {a, uint8_t(a.size() * 8)}; }
  Family family() const { return addr.family; }
  uint8_t max_prefix() const { return uint8_t(addr.size() * 8); }
  bool is_host() const { return prefix == max_prefix(); }
  bool contains(const IpAddr& a) const;
  bool contains(const Cidr& other) const;  // other is equal or inside
  IpAddr last() const;                      // highest address inside
  Cidr parent(uint8_t shorter_prefix) const;
  std::string str() const;  // canonical; host prefixes print as a bare address
  auto operator<=>(const Cidr&) const = default;
};

}  // namespace wac

template <>
struct std::hash<wac::IpAddr> {
  size_t operator()(const wac::IpAddr& a) const noexcept;
};
template <>
struct std::hash<wac::Cidr> {
  size_t operator()(const wac::Cidr& c) const noexcept;
};
