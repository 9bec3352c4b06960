// Policy-routing values without a kernel: the desired-vs-present diff and
// the host view's route lookups.
#include <catch2/catch.hpp>

#include "netlink/route.h"

using namespace wac;
using namespace wac::netlink;

namespace {

IpAddr ip(const char* t) { return *IpAddr::parse(t); }
Cidr net(const char* t) { return *Cidr::parse(t); }

Route ecmp(uint32_t table, const char* dst, std::vector<const char*> gws) {
  Route r{table, net(dst), Route::Type::Unicast, {}};
  for (const char* g : gws) r.nexthops.push_back({ip(g), 2});
  return r;
}

}  // namespace

TEST_CASE("routing diff: rules are added and removed by value") {
  RoutingState want, have;
  FwmarkRule a{Family::V4, 100, 0x00100000, 0x0ff00000, 20001};
  FwmarkRule b{Family::V4, 100, 0x00200000, 0x0ff00000, 20002};
  FwmarkRule stale{Family::V6, 100, 0x00300000, 0x0ff00000, 20003};
  want.rules = {a, b};
  have.rules = {stale, a};
  auto c = diff(want, have);
  CHECK(c.add_rules == std::vector<FwmarkRule>{b});
  CHECK(c.remove_rules == std::vector<FwmarkRule>{stale});
  CHECK(c.size() == 2);
  CHECK(diff(want, want).empty());
  CHECK(a.str() == "ipv4 priority 100 fwmark 0x00100000/0x0ff00000 lookup 20001");
}

TEST_CASE("routing diff: a route whose next hops changed is replaced in place, never removed first") {
  RoutingState want, have;
  want.routes = {ecmp(20001, "0.0.0.0/0", {"192.0.2.2"}), ecmp(20002, "203.0.113.0/24", {"192.0.2.2", "192.0.2.3"})};
  have.routes = {ecmp(20001, "0.0.0.0/0", {"192.0.2.2", "192.0.2.3"}), ecmp(20009, "0.0.0.0/0", {"192.0.2.9"})};
  auto c = diff(want, have);
  REQUIRE(c.put_routes.size() == 2);
  CHECK(c.put_routes[0] == want.routes[0]);
  CHECK(c.put_routes[1] == want.routes[1]);
  CHECK(c.remove_routes == std::vector<Route>{have.routes[1]});

  Route unreachable{20001, net("0.0.0.0/0"), Route::Type::Unreachable, {}};
  want.routes = {unreachable};
  have.routes = {ecmp(20001, "0.0.0.0/0", {"192.0.2.2"})};
  c = diff(want, have);
  CHECK(c.put_routes == std::vector<Route>{unreachable});
  CHECK(c.remove_routes.empty());
  CHECK(unreachable.str() == "table 20001 default/0.0.0.0/0 unreachable");
}

TEST_CASE("routing diff: duplicate present routes are cleaned up, addresses by value") {
  RoutingState want, have;
  want.routes = {ecmp(20001, "0.0.0.0/0", {"192.0.2.2"})};
  have.routes = {ecmp(20001, "0.0.0.0/0", {"192.0.2.2"}), ecmp(20001, "0.0.0.0/0", {"192.0.2.3"})};
  auto c = diff(want, have);
  CHECK(c.put_routes.empty());
  CHECK(c.remove_routes == std::vector<Route>{have.routes[1]});

  want = {};
  have = {};
  want.addresses = {{2, ip("192.0.2.100")}};
  have.addresses = {{3, ip("192.0.2.100")}, {2, ip("192.0.2.101")}};
  c = diff(want, have);
  CHECK(c.add_addresses == std::vector<Address>{{2, ip("192.0.2.100")}});
  CHECK(c.remove_addresses.size() == 2);
}

TEST_CASE("host view: longest prefix, lowest metric, interface filter, default route") {
  HostView h;
  h.links = {{2, "eth0", true}, {3, "eth1", true}};
  h.main_routes = {{net("0.0.0.0/0"), ip("192.0.2.254"), 2, 100},
                   {net("0.0.0.0/0"), ip("198.51.100.1"), 3, 50},
                   {net("203.0.113.0/24"), ip("192.0.2.253"), 2, 0},
                   {net("192.0.2.0/24"), std::nullopt, 2, 0},
                   {net("::/0"), ip("2001:db8::1"), 3, 0}};
  CHECK(h.lookup(net("203.0.113.7"))->gateway == ip("192.0.2.253"));
  CHECK(h.lookup(net("203.0.113.0/25"))->gateway == ip("192.0.2.253"));
  CHECK(h.lookup(net("203.0.112.0/23"))->gateway == ip("198.51.100.1"));  // wider than the /24: the defaults
  CHECK(h.lookup(net("0.0.0.0/0"), 2)->gateway == ip("192.0.2.254"));
  CHECK_FALSE(h.lookup(net("192.0.2.5"))->gateway);
  CHECK(h.lookup(net("10.0.0.0/8"), 9) == nullptr);
  CHECK(h.default_link(Family::V4)->name == "eth1");
  CHECK(h.default_link(Family::V6)->name == "eth1");
  CHECK(h.link("eth0")->ifindex == 2);
  CHECK(h.link(7) == nullptr);
}
