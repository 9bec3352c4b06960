// Policy routing as wac programs it for egress gateways: fwmark rules,
// routes in wac's own tables, and egress addresses on uplinks -- as plain
// values, the difference between two sets of them, and a libnl-route-3
// socket that reads and writes them.
//
// Everything wac writes carries its own protocol number (FRA_PROTOCOL,
// rtm_protocol, IFA_PROTO), and reads return only entries carrying it, so
// wac never touches another program's rules, routes or addresses, and can
// find and remove its own stale ones after a restart.
#pragma once
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "netlink/ip.h"
#include "netlink/status.h"

struct nl_sock;

namespace wac::netlink {

// `ip rule add fwmark MARK/MASK lookup TABLE priority PRIORITY proto P`
struct FwmarkRule {
  Family family = Family::V4;
  uint32_t priority = 0;
  uint32_t mark = 0;
  uint32_t mask = 0;
  uint32_t table = 0;
  auto operator<=>(const FwmarkRule&) const = default;
  std::string str() const;  // "ipv4 priority 100 fwmark 0x00100000/0x0ff00000 lookup 20001"
};

struct NextHop {
  std::optional<IpAddr> gateway;  // nullopt: the destination is on the link itself
  int ifindex = 0;
  auto operator<=>(const NextHop&) const = default;
};

struct Route {
  enum class Type : uint8_t { Unicast, Unreachable };
  uint32_t table = 0;
  Cidr dst;
  Type type = Type::Unicast;
  std::vector<NextHop> nexthops;  // sorted; more than one: ECMP; none for Unreachable
  Family family() const { return dst.family(); }
  auto operator<=>(const Route&) const = default;
  std::string str() const;  // "table 20001 0.0.0.0/0 via 192.0.2.2 (if 3), via 192.0.2.3 (if 3)"
};

// A host address (/32 or /128) wac added to an interface.
struct Address {
  int ifindex = 0;
  IpAddr addr;
  auto operator<=>(const Address&) const = default;
  std::string str() const;  // "192.0.2.100 on if 3"
};

// wac's own entries (or the ones it wants): the unit of reconciliation.
struct RoutingState {
  std::vector<FwmarkRule> rules;
  std::vector<Route> routes;
  std::vector<Address> addresses;
  bool operator==(const RoutingState&) const = default;
};

// What it takes to get from `present` to `desired`.  A route is keyed by
// (table, destination): one whose next hops changed is replaced in place,
// so a flow's packets never find the table empty.
struct RoutingChanges {
  std::vector<FwmarkRule> add_rules, remove_rules;
  std::vector<Route> put_routes;  // add or replace
  std::vector<Route> remove_routes;
  std::vector<Address> add_addresses, remove_addresses;
  bool empty() const;
  size_t size() const;
};
RoutingChanges diff(const RoutingState& desired, const RoutingState& present);

// ---------------------------------------------------------------- the host

struct HostLink {
  int ifindex = 0;
  std::string name;
  bool up = false;  // administratively up with carrier (IFF_UP and IFF_RUNNING)
  bool operator==(const HostLink&) const = default;
};

struct HostAddress {
  int ifindex = 0;
  IpAddr addr;
  uint8_t prefix = 0;
  uint8_t protocol = 0;    // IFA_PROTO (0 for addresses added without one)
  bool secondary = false;  // IFA_F_SECONDARY (IPv4: not the interface's primary address)
  bool operator==(const HostAddress&) const = default;
};

// A unicast route of the main table.
struct MainRoute {
  Cidr dst;
  std::optional<IpAddr> gateway;  // nullopt: directly connected
  int ifindex = 0;
  uint32_t metric = 0;
  bool operator==(const MainRoute&) const = default;
};

// The host as egress planning needs to see it.
struct HostView {
  std::vector<HostLink> links;
  std::vector<HostAddress> addresses;
  std::vector<MainRoute> main_routes;
  bool operator==(const HostView&) const = default;

  const HostLink* link(const std::string& name) const;
  const HostLink* link(int ifindex) const;
  // The most specific main-table route covering `dst` (lowest metric among
  // equals); with `ifindex` != 0 only routes through that interface.
  const MainRoute* lookup(const Cidr& dst, int ifindex = 0) const;
  // The interface of the family's default route, if any.
  const HostLink* default_link(Family f) const;
  const HostAddress* address(const IpAddr& a) const;
};

// ---------------------------------------------------------------- the kernel

// One rtnetlink socket (libnl-route-3) in the calling thread's network
// namespace.  Calls block for one request/acknowledge round trip.
class RouteSocket {
 public:
  explicit RouteSocket(uint8_t protocol) : protocol_(protocol) {}
  ~RouteSocket();
  RouteSocket(const RouteSocket&) = delete;
  RouteSocket& operator=(const RouteSocket&) = delete;

  Status open();
  uint8_t protocol() const { return protocol_; }

  // The entries carrying our protocol, in every table and family.
  Status read_own(RoutingState& out);
  Status read_host(HostView& out);

  Status add_rule(const FwmarkRule& r);
  Status remove_rule(const FwmarkRule& r);
  Status put_route(const Route& r);  // create or replace
  Status remove_route(const Route& r);
  Status add_address(const Address& a);
  Status remove_address(const Address& a);

 private:
  Status read_rules(std::vector<FwmarkRule>& out);
  Status read_routes(std::vector<Route>* own, std::vector<MainRoute>* main);
  Status read_addresses(std::vector<HostAddress>& out);
  Status read_links(std::vector<HostLink>& out);

  uint8_t protocol_;
  nl_sock* sock_ = nullptr;
};

}  // namespace wac::netlink
