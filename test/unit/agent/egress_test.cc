// Egress gateway planning without root: membership (selectors, Calico
// Enterprise annotations), table/mark allocation, the nftables chains and
// sets, the routing plan (desired rules, ECMP routes, addresses) and its
// reconciliation against a fake kernel, the apply-time cross-resource
// checks, and the egress config keys.
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>

#include "agent/config.h"
#include "agent/egress.h"
#include "agent/egress_plan.h"

using namespace wac;
using namespace wac::agent;
using namespace wac::agent::egress;
using netlink::FwmarkRule;
using netlink::HostView;
using netlink::NextHop;
using netlink::Route;

namespace {

IpAddr ip(const char* text) { return *IpAddr::parse(text); }
Cidr net(const char* text) { return *Cidr::parse(text); }

model::Endpoint pod(const std::string& ns, const std::string& name, const std::string& node, const char* addr,
                    model::Labels labels = {}, std::map<std::string, std::string> annotations = {}) {
  model::Endpoint e;
  e.ns = ns;
  e.name = node + "-k8s-" + name + "-eth0";
  e.pod = name;
  e.node = node;
  e.interface_name = "cali" + name;
  e.ip_networks = {net(addr)};
  e.labels = std::move(labels);
  e.annotations = std::move(annotations);
  return e;
}

model::EgressGatewayMember member(const std::string& node, const char* node_ip, const char* egress_ip) {
  return {node, ip(node_ip), ip(egress_ip), "", true};
}

model::EgressGateway gateway(const std::string& name, const std::string& ns_selector,
                             std::vector<model::EgressGatewayMember> members) {
  model::EgressGateway g;
  g.name = name;
  g.namespace_selector = ns_selector;
  g.destinations = {net("0.0.0.0/0")};
  g.gateways = std::move(members);
  return g;
}

// node1 (this node): fab0 192.0.2.1/24, default via 192.0.2.254; pods on cali*.
HostView host() {
  HostView h;
  h.links = {{1, "lo", true}, {2, "fab0", true}, {3, "calia", true}};
  h.addresses = {{2, ip("192.0.2.1"), 24, 0, false}};
  h.main_routes = {{net("0.0.0.0/0"), ip("192.0.2.254"), 2, 0},
                   {net("192.0.2.0/24"), std::nullopt, 2, 0},
                   {net("10.244.1.5/32"), std::nullopt, 3, 0}};
  return h;
}

Settings settings(const std::string& node = "node1") {
  Settings s;
  s.node_name = node;
  s.config.cluster_cidrs = {net("10.244.0.0/16"), net("10.96.0.0/12")};
  return s;
}

std::vector<std::string> elements(DesiredState& d, const std::string& set) {
  std::vector<std::string> out;
  for (const auto& [k, e] : d.sets.at(set).elements.elements()) out.push_back(k);
  return out;
}

bool has_rule(const DesiredState& d, const std::string& chain, const std::string& needle) {
  for (const auto& r : d.chains.at(chain).rules)
    if (r.find(needle) != std::string::npos) return true;
  return false;
}

model::Namespace ns(const std::string& name, model::Labels labels = {}, std::map<std::string, std::string> ann = {}) {
  return {name, std::move(labels), std::move(ann)};
}

}  // namespace

TEST_CASE("egress plan: spec selectors pick pods cluster-wide, sets hold their addresses") {
  DesiredState d;
  Planner p(settings(), d);
  p.upsert_namespace(ns("prod", {{"team", "a"}}));
  p.upsert_namespace(ns("other"));
  p.upsert_endpoint(pod("prod", "web1", "node1", "10.244.1.5"));
  p.upsert_endpoint(pod("prod", "web2", "node2", "10.244.2.5"));
  p.upsert_endpoint(pod("other", "x", "node1", "10.244.1.6"));
  p.upsert_gateway(gateway("gw", "team == 'a'", {member("node2", "192.0.2.2", "192.0.2.100")}));
  p.recompute(host());

  CHECK(elements(d, "egw-gw-src4") == std::vector<std::string>{"10.244.1.5", "10.244.2.5"});
  CHECK(elements(d, "egw-gw-dst4") == std::vector<std::string>{"0.0.0.0/0"});
  CHECK(elements(d, "egress-cluster4") == std::vector<std::string>{"10.244.0.0/16", "10.96.0.0/12"});
  CHECK(elements(d, "egress-gateways4") == std::vector<std::string>{"192.0.2.2"});
  CHECK(p.local_pods("gw") == std::vector<std::string>{"prod/web1"});

  // a new pod is covered at once, a relabelled namespace leaves
  p.upsert_endpoint(pod("prod", "web3", "node1", "10.244.1.7"));
  p.upsert_namespace(ns("other", {{"team", "a"}}));
  p.recompute(host());
  CHECK(elements(d, "egw-gw-src4").size() == 4);
  p.upsert_namespace(ns("prod"));
  p.recompute(host());
  CHECK(elements(d, "egw-gw-src4") == std::vector<std::string>{"10.244.1.6"});
  p.remove_endpoint("other", "node1-k8s-x-eth0");
  p.recompute(host());
  CHECK(elements(d, "egw-gw-src4").empty());
}

TEST_CASE("egress plan: Calico Enterprise annotations pick gateways by label, the pod's own wins") {
  DesiredState d;
  Planner p(settings(), d);
  auto red = gateway("red", "", {member("node2", "192.0.2.2", "192.0.2.100")});
  red.labels = {{"egress-code", "red"}};
  red.gateway_namespace = "egress";
  auto blue = gateway("blue", "", {member("node2", "192.0.2.2", "192.0.2.101")});
  blue.labels = {{"egress-code", "blue"}};
  auto spec = gateway("by-spec", "projectcalico.org/name == 'prod'", {member("node2", "192.0.2.2", "192.0.2.102")});
  p.upsert_gateway(red);
  p.upsert_gateway(blue);
  p.upsert_gateway(spec);
  p.upsert_namespace(ns("egress", {{"role", "egress"}}));
  p.upsert_namespace(ns("prod", {}, {{model::kEgressSelectorAnnotation, "egress-code == 'red'"},
                                     {model::kEgressNamespaceSelectorAnnotation, "role == 'egress'"}}));
  p.upsert_endpoint(pod("prod", "a", "node1", "10.244.1.5"));
  p.upsert_endpoint(pod("prod", "b", "node1", "10.244.1.6", {},
                        {{model::kEgressSelectorAnnotation, "egress-code == 'blue'"}}));
  p.upsert_endpoint(pod("prod", "c", "node1", "10.244.1.7", {},
                        {{model::kEgressSelectorAnnotation, "egress-code == 'green'"}}));
  p.recompute(host());
  // a: the namespace's annotation (red, in namespace egress)
  CHECK(p.local_pods("red") == std::vector<std::string>{"prod/a"});
  // b: its own annotation (blue has no gateway namespace: any namespace may use it)
  CHECK(p.local_pods("blue") == std::vector<std::string>{"prod/b"});
  // c: its annotation picks nothing, so the spec selectors decide
  CHECK(p.local_pods("by-spec") == std::vector<std::string>{"prod/c"});

  // without a namespaceSelector annotation, a gateway of another namespace does not qualify
  p.upsert_namespace(ns("prod", {}, {{model::kEgressSelectorAnnotation, "egress-code == 'red'"}}));
  p.recompute(host());
  CHECK(p.local_pods("red").empty());
  CHECK(p.local_pods("by-spec") == std::vector<std::string>{"prod/a", "prod/c"});
}

TEST_CASE("egress plan: tables and marks come from the configured ranges and stay put") {
  DesiredState d;
  Settings s = settings();
  s.config.table_first = 100;
  s.config.table_last = 102;  // three slots
  s.config.mark_mask = 0x00f00000;
  Planner p(s, d);
  for (const char* name : {"a", "b", "c", "d"}) p.upsert_gateway(gateway(name, "all()", {member("node2", "192.0.2.2", "192.0.2.100")}));
  p.recompute(host());
  std::set<uint32_t> tables, marks;
  int without = 0;
  for (const char* name : {"a", "b", "c", "d"}) {
    auto tm = p.table_and_mark(name);
    if (!tm) {
      ++without;
      continue;
    }
    CHECK(tm->first >= 100);
    CHECK(tm->first <= 102);
    CHECK((tm->second & ~0x00f00000u) == 0);
    CHECK(tm->second != 0);
    CHECK(tm->second == (tm->first - 100 + 1) << 20);
    tables.insert(tm->first);
    marks.insert(tm->second);
  }
  CHECK(without == 1);
  CHECK(tables.size() == 3);
  CHECK(marks.size() == 3);

  // the one left out gets a slot as soon as one is free; the others keep theirs
  std::string waiting;
  for (const char* name : {"a", "b", "c", "d"})
    if (!p.table_and_mark(name)) waiting = name;
  std::string leaving = waiting == "a" ? "b" : "a";
  auto freed = *p.table_and_mark(leaving);
  std::map<std::string, std::pair<uint32_t, uint32_t>> before;
  for (const char* name : {"a", "b", "c", "d"})
    if (name != leaving && name != waiting) before[name] = *p.table_and_mark(name);
  p.remove_gateway(leaving);
  p.recompute(host());
  CHECK(p.table_and_mark(waiting) == freed);
  for (const auto& [name, tm] : before) CHECK(p.table_and_mark(name) == tm);
}

TEST_CASE("egress plan: the same name gets the same table in a fresh planner") {
  auto table_of = [](std::vector<std::string> order) {
    DesiredState d;
    Planner p(settings(), d);
    for (const auto& n : order) p.upsert_gateway(gateway(n, "all()", {member("node2", "192.0.2.2", "192.0.2.100")}));
    p.recompute(host());
    return p.table_and_mark("prod-egress");
  };
  CHECK(table_of({"prod-egress", "x", "y"}) == table_of({"y", "prod-egress"}));
}

TEST_CASE("egress plan: chains mark in order, keep pod addresses toward gateways, SNAT on the gateway") {
  DesiredState d;
  Planner p(settings(), d);
  auto late = gateway("late", "all()", {member("node2", "192.0.2.2", "192.0.2.100")});
  late.order = 20;
  late.excluded = {net("203.0.113.0/28")};
  auto early = gateway("early", "all()", {member("node1", "192.0.2.1", "192.0.2.101")});
  early.order = 10;
  early.destinations = {net("203.0.113.0/24")};
  p.upsert_gateway(late);
  p.upsert_gateway(early);
  p.upsert_endpoint(pod("prod", "a", "node1", "10.244.1.5"));
  p.recompute(host());

  const auto& mark = d.chains.at(kMarkChain);
  REQUIRE(mark.hook);
  CHECK(mark.hook->type == "filter");
  CHECK(mark.hook->hook == "prerouting");
  CHECK(mark.hook->priority == -90);
  CHECK(mark.rules == std::vector<std::string>{"iifname \"cali*\" jump egress-select"});

  const auto& select = d.chains.at(kSelectChain).rules;
  REQUIRE(select.size() == 4);
  CHECK(select[0] == "ip daddr @egress-cluster4 return comment \"cluster destinations stay inside\"");
  CHECK(select[2].starts_with("ip saddr @egw-early-src4 ip daddr @egw-early-dst4 meta mark set meta mark and "
                              "0xf00fffff or "));
  CHECK(select[2].find("return comment \"egress gateway early\"") != std::string::npos);
  CHECK(select[3].starts_with("ip saddr @egw-late-src4 ip daddr @egw-late-dst4 ip daddr != @egw-late-excl4 meta mark"));

  const auto& nat = d.chains.at(kNatChain);
  REQUIRE(nat.hook);
  CHECK(nat.hook->type == "nat");
  CHECK(nat.hook->priority == 90);
  CHECK(nat.rules[0] == "meta mark and 0x0ff00000 != 0 rt ip nexthop @egress-gateways4 counter snat ip to ip saddr "
                        "comment \"to a gateway node: keeps the pod address\"");
  // node1 is early's gateway: SNAT to its egress IP on the default route's interface
  CHECK(has_rule(d, kNatChain,
                 "ip saddr @egw-early-src4 ip daddr @egw-early-dst4 ip daddr != @egress-cluster4 oifname \"fab0\" "
                 "counter snat ip to 192.0.2.101 comment \"egress gateway early: 192.0.2.101 via fab0\""));
  CHECK_FALSE(has_rule(d, kNatChain, "192.0.2.100"));  // late's gateway is elsewhere
}

TEST_CASE("egress plan: an egress IP that is the uplink's own primary address is masqueraded") {
  DesiredState d;
  Planner p(settings(), d);
  p.upsert_gateway(gateway("gw", "all()", {member("node1", "192.0.2.1", "192.0.2.1")}));
  p.recompute(host());
  CHECK(has_rule(d, kNatChain, "oifname \"fab0\" counter masquerade comment"));
  CHECK(p.routing(host()).state.addresses.empty());  // the host's, not ours to add or remove
}

TEST_CASE("egress plan: routing for a client node: fwmark rule, ECMP over gateways, local gateway via the main table") {
  DesiredState d;
  Planner p(settings(), d);
  p.upsert_gateway(gateway("gw", "all()",
                           {member("node3", "192.0.2.3", "192.0.2.102"), member("node2", "192.0.2.2", "192.0.2.101"),
                            member("node1", "192.0.2.1", "192.0.2.100")}));
  p.upsert_endpoint(pod("prod", "a", "node2", "10.244.2.5"));
  p.recompute(host());
  // no local pod uses it: no rule, no route, but this node is a gateway
  RoutingPlan plan = p.routing(host());
  CHECK(plan.state.rules.empty());
  CHECK(plan.state.routes.empty());
  CHECK(plan.state.addresses == std::vector<netlink::Address>{{2, ip("192.0.2.100")}});

  p.upsert_endpoint(pod("prod", "b", "node1", "10.244.1.5"));
  p.recompute(host());
  plan = p.routing(host());
  auto [table, mark] = *p.table_and_mark("gw");
  CHECK(plan.state.rules == std::vector<FwmarkRule>{{Family::V4, 100, mark, 0x0ff00000, table}});
  REQUIRE(plan.state.routes.size() == 1);
  const Route& r = plan.state.routes[0];
  CHECK(r.table == table);
  CHECK(r.dst == net("0.0.0.0/0"));
  CHECK(r.type == Route::Type::Unicast);
  // sorted; the local gateway forwards to the main table's next hop
  CHECK(r.nexthops == std::vector<NextHop>{{ip("192.0.2.2"), 2}, {ip("192.0.2.3"), 2}, {ip("192.0.2.254"), 2}});
  CHECK(plan.sysctls.forward4);
  CHECK(plan.sysctls.hash_l4_v4);
  CHECK(plan.sysctls.loose_rp_filter == std::set<std::string>{"fab0"});

  SECTION("a gateway the probe finds dead leaves the route; it comes back when it answers") {
    CHECK(p.set_probe({"gw", "node3", ip("192.0.2.102")}, ProbeState::Down, "3 probes failed"));
    CHECK_FALSE(p.set_probe({"gw", "node3", ip("192.0.2.102")}, ProbeState::Down, "4 probes failed"));
    CHECK(p.routing(host()).state.routes[0].nexthops ==
          std::vector<NextHop>{{ip("192.0.2.2"), 2}, {ip("192.0.2.254"), 2}});
    auto report = p.report(host());
    REQUIRE(report.groups.size() == 1);
    for (const auto& m : report.groups[0].gateways) {
      if (m.node == "node3") {
        CHECK(m.state == "Down");
        CHECK(m.detail == "4 probes failed");
        CHECK_FALSE(m.in_route);
      } else {
        CHECK(m.in_route);
      }
    }
    CHECK(p.set_probe({"gw", "node3", ip("192.0.2.102")}, ProbeState::Up, "echo reply"));
    CHECK(p.routing(host()).state.routes[0].nexthops.size() == 3);
  }
  SECTION("marked unhealthy through the API, and the local uplink down") {
    auto g = gateway("gw", "all()",
                     {member("node3", "192.0.2.3", "192.0.2.102"), member("node2", "192.0.2.2", "192.0.2.101"),
                      member("node1", "192.0.2.1", "192.0.2.100")});
    g.gateways[0].healthy = false;
    p.upsert_gateway(g);
    p.recompute(host());
    HostView h = host();
    h.links[1].up = false;
    CHECK(p.routing(h).state.routes[0].nexthops == std::vector<NextHop>{{ip("192.0.2.2"), 2}});
    auto report = p.report(h);
    CHECK(report.groups[0].gateways[0].state == "Unhealthy");
    CHECK(report.groups[0].gateways[2].state == "Down");
    CHECK(report.groups[0].local_pods == std::vector<std::string>{"prod/b"});
  }
  SECTION("no gateway left: the table fails closed") {
    for (const char* node : {"node2", "node3"}) {
      std::string egress = node == std::string("node2") ? "192.0.2.101" : "192.0.2.102";
      p.set_probe({"gw", node, ip(egress.c_str())}, ProbeState::Down, "dead");
    }
    HostView h = host();
    h.links[1].up = false;
    Route r2 = p.routing(h).state.routes[0];
    CHECK(r2.type == Route::Type::Unreachable);
    CHECK(r2.nexthops.empty());
  }
  SECTION("a nodeIP that is not on-link is reported, not routed") {
    p.upsert_gateway(gateway("gw", "all()", {member("node9", "198.51.100.9", "198.51.100.10")}));
    p.recompute(host());
    auto rep = p.report(host());
    CHECK(rep.groups[0].gateways[0].detail.find("not on a network this node is directly connected to") !=
          std::string::npos);
    CHECK(p.routing(host()).state.routes[0].type == Route::Type::Unreachable);
  }
  SECTION("probe targets: remote gateways of groups with local pods") {
    std::set<IpAddr> probed;
    for (const auto& t : p.probe_targets()) probed.insert(t.node_ip);
    CHECK(probed == std::set<IpAddr>{ip("192.0.2.2"), ip("192.0.2.3")});
  }
}

TEST_CASE("egress plan: removing the last gateway leaves no chain, set or routing entry") {
  DesiredState d;
  Planner p(settings(), d);
  p.upsert_gateway(gateway("gw", "all()", {member("node1", "192.0.2.1", "192.0.2.100")}));
  p.upsert_endpoint(pod("prod", "a", "node1", "10.244.1.5"));
  p.recompute(host());
  CHECK(d.chains.count(kNatChain));
  CHECK(d.sets.count("egw-gw-src4"));
  p.remove_gateway("gw");
  p.recompute(host());
  CHECK_FALSE(d.chains.count(kMarkChain));
  CHECK_FALSE(d.chains.count(kSelectChain));
  CHECK_FALSE(d.chains.count(kNatChain));
  // emptied now, gone after the sync that empties them
  CHECK(elements(d, "egw-gw-src4").empty());
  CHECK(elements(d, "egress-cluster4").empty());
  CHECK(p.synced());
  for (const auto& [name, set] : d.sets) CHECK_FALSE(name.starts_with("egw-"));
  for (const auto& [name, set] : d.sets) CHECK_FALSE(name.starts_with("egress-"));
  CHECK(p.routing(host()).state == netlink::RoutingState{});
  CHECK_FALSE(p.synced());
}

TEST_CASE("egress plan: removed and re-added before a sync reuses the emptied sets") {
  DesiredState d;
  Planner p(settings(), d);
  auto g = gateway("gw", "all()", {member("node2", "192.0.2.2", "192.0.2.100")});
  p.upsert_gateway(g);
  p.upsert_endpoint(pod("prod", "a", "node1", "10.244.1.5"));
  p.recompute(host());
  for (auto& [name, set] : d.sets) set.elements.mark_synced();  // as the syncer would
  p.remove_gateway("gw");
  p.recompute(host());
  p.upsert_gateway(g);
  p.recompute(host());
  CHECK_FALSE(p.synced());  // nothing to erase: all in use again
  std::vector<nft::Element> add, remove;
  d.sets.at("egw-gw-src4").elements.changes(add, remove);
  CHECK(add.empty());  // the element is back where it was: no change for the kernel
  CHECK(remove.empty());
  CHECK(elements(d, "egw-gw-src4") == std::vector<std::string>{"10.244.1.5"});
}

TEST_CASE("egress plan: IPv6 gateways plan their own family") {
  DesiredState d;
  Planner p(settings(), d);
  HostView h = host();
  h.main_routes.push_back({net("2001:db8::/64"), std::nullopt, 2, 0});
  auto g = gateway("gw6", "all()", {{"node2", ip("2001:db8::2"), ip("2001:db8::100"), "", true}});
  g.destinations = {net("::/0")};
  p.upsert_gateway(g);
  model::Endpoint e = pod("prod", "a", "node1", "fd00:244:0:1::5/128");
  p.upsert_endpoint(e);
  p.recompute(h);
  CHECK(elements(d, "egw-gw6-src6") == std::vector<std::string>{"fd00:244:0:1::5"});
  CHECK(has_rule(d, kSelectChain, "ip6 saddr @egw-gw6-src6 ip6 daddr @egw-gw6-dst6 meta mark set"));
  auto plan = p.routing(h);
  REQUIRE(plan.state.rules.size() == 1);
  CHECK(plan.state.rules[0].family == Family::V6);
  CHECK(plan.state.routes[0].nexthops == std::vector<NextHop>{{ip("2001:db8::2"), 2}});
  CHECK(plan.sysctls.forward6);
  CHECK_FALSE(plan.sysctls.hash_l4_v6);  // a single gateway
}

// ---------------------------------------------------------------- apply checks

TEST_CASE("egress checks: overlapping gateways need different orders") {
  auto a = gateway("a", "projectcalico.org/name == 'prod'", {member("node2", "192.0.2.2", "192.0.2.100")});
  auto b = gateway("b", "", {member("node2", "192.0.2.2", "192.0.2.101")});
  b.selector = "app == 'web'";
  b.namespace_selector = "";
  model::Endpoint web = pod("prod", "web", "node1", "10.244.1.5", {{"app", "web"}});
  model::Endpoint db = pod("prod", "db", "node2", "10.244.2.5", {{"app", "db"}});
  ClusterView view;
  view.gateways = {&a, &b};
  view.endpoints = {&db};
  Settings s = settings();

  CHECK(check_gateways(view, {"b"}, s).empty());  // nobody is selected by both
  view.endpoints.push_back(&web);
  auto problems = check_gateways(view, {"b"}, s);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0] == "EgressGateway b: spec.order: matches the same traffic as EgressGateway a (pod "
                       "prod/node1-k8s-web-eth0, overlapping destinations) with the same order (unset); give one of "
                       "them a lower spec.order");
  b.order = 5;
  CHECK(check_gateways(view, {"b"}, s).empty());
  b.order.reset();
  b.destinations = {net("203.0.113.0/24")};
  a.destinations = {net("198.51.100.0/24")};
  CHECK(check_gateways(view, {"b"}, s).empty());  // disjoint destinations
  a.destinations = {net("203.0.113.128/25")};
  CHECK(check_gateways(view, {"b"}, s).size() == 1);

  // identical selectors overlap even before any pod exists
  auto c = gateway("c", "projectcalico.org/name == 'prod'", {member("node2", "192.0.2.2", "192.0.2.102")});
  ClusterView empty;
  empty.gateways = {&a, &c};
  a.destinations = {net("0.0.0.0/0")};
  s.config.gateway_nodes = {"node2"};
  auto same = check_gateways(empty, {"c"}, s);
  REQUIRE(same.size() == 1);
  CHECK(same[0].find("EgressGateway c: spec.order: matches the same traffic as EgressGateway a (the same selectors") ==
        0);
}

TEST_CASE("egress checks: unknown nodes and egress IPs claimed by two nodes") {
  auto a = gateway("a", "all()", {member("node2", "192.0.2.2", "192.0.2.100")});
  auto b = gateway("b", "all()", {member("node7", "192.0.2.7", "192.0.2.100")});
  b.order = 1;
  model::Endpoint e = pod("prod", "web", "node2", "10.244.2.5");
  ClusterView view;
  view.gateways = {&a, &b};
  view.endpoints = {&e};
  Settings s = settings();
  auto problems = check_gateways(view, {"b"}, s);
  REQUIRE(problems.size() == 2);
  CHECK(problems[0] == "EgressGateway b: spec.gateways[0].node: unknown node \"node7\" (known: this node, nodes running "
                       "a WorkloadEndpoint, egress.gatewayNodes)");
  CHECK(problems[1] == "EgressGateway b: spec.gateways[0].egressIP: 192.0.2.100 is already the egress IP of node "
                       "node2 (EgressGateway a)");
  s.config.gateway_nodes = {"node7"};
  CHECK(check_gateways(view, {"b"}, s).size() == 1);
  CHECK(check_gateways(view, {"a"}, s).empty() == false);  // a is checked against b the same way
}

// ---------------------------------------------------------------- reconciliation

namespace {

class FakeKernel : public RoutingKernel {
 public:
  netlink::RoutingState state;
  HostView view = host();
  std::map<std::string, std::string> sysctls = {{"net/ipv4/ip_forward", "0"},
                                                {"net/ipv4/fib_multipath_hash_policy", "0"},
                                                {"net/ipv4/conf/all/rp_filter", "1"},
                                                {"net/ipv4/conf/fab0/rp_filter", "0"}};
  std::vector<std::string> log;
  bool fail_routes = false;

  Status read_own(netlink::RoutingState& out) override {
    out = state;
    return Status::Ok();
  }
  Status read_host(HostView& out) override {
    out = view;
    return Status::Ok();
  }
  Status add_rule(const FwmarkRule& r) override {
    log.push_back("add rule " + r.str());
    state.rules.push_back(r);
    return Status::Ok();
  }
  Status remove_rule(const FwmarkRule& r) override {
    log.push_back("remove rule " + r.str());
    std::erase(state.rules, r);
    return Status::Ok();
  }
  Status put_route(const Route& r) override {
    if (fail_routes) return Status::Error("writing route " + r.str() + ": Invalid input data or parameter");
    log.push_back("put route " + r.str());
    std::erase_if(state.routes, [&](const Route& x) { return x.table == r.table && x.dst == r.dst; });
    state.routes.push_back(r);
    return Status::Ok();
  }
  Status remove_route(const Route& r) override {
    log.push_back("remove route " + r.str());
    std::erase_if(state.routes, [&](const Route& x) { return x.table == r.table && x.dst == r.dst; });
    return Status::Ok();
  }
  Status add_address(const netlink::Address& a) override {
    log.push_back("add address " + a.str());
    state.addresses.push_back(a);
    return Status::Ok();
  }
  Status remove_address(const netlink::Address& a) override {
    log.push_back("remove address " + a.str());
    std::erase(state.addresses, a);
    return Status::Ok();
  }
  Status read_sysctl(const std::string& key, std::string& value) override {
    auto it = sysctls.find(key);
    if (it == sysctls.end()) return Status::Error("cannot read " + key);
    value = it->second;
    return Status::Ok();
  }
  Status write_sysctl(const std::string& key, const std::string& value) override {
    log.push_back("sysctl " + key + "=" + value);
    sysctls[key] = value;
    return Status::Ok();
  }
};

model::Resource res(model::Body body) {
  model::Resource r;
  if (auto* g = std::get_if<model::EgressGateway>(&body)) r.key = {model::Kind::EgressGateway, "", g->name};
  if (auto* e = std::get_if<model::Endpoint>(&body)) r.key = {model::Kind::WorkloadEndpoint, e->ns, e->name};
  r.body = std::move(body);
  return r;
}

}  // namespace

TEST_CASE("egress manager: adds before the rules, removes only its stale entries after them") {
  boost::asio::io_context io;
  DesiredState d;
  auto fake = std::make_unique<FakeKernel>();
  FakeKernel& k = *fake;
  // left by an earlier run: a rule and route of a gateway that no longer exists
  k.state.rules.push_back({Family::V4, 100, 0x00700000, 0x0ff00000, 20006});
  k.state.routes.push_back({20006, net("0.0.0.0/0"), Route::Type::Unicast, {{ip("192.0.2.9"), 2}}});
  Manager m(io, settings(), d, std::move(fake));
  m.observe(res(gateway("gw", "all()", {member("node2", "192.0.2.2", "192.0.2.100")})));
  m.observe(res(pod("prod", "a", "node1", "10.244.1.5")));
  m.recompute();

  m.before_rules();
  auto [table, mark] = *m.planner().table_and_mark("gw");
  CHECK(k.state.rules.size() == 2);  // added; the stale one still there while nftables may mark for it
  CHECK(k.state.routes.size() == 2);
  CHECK(k.sysctls["net/ipv4/ip_forward"] == "1");
  CHECK(k.sysctls["net/ipv4/conf/fab0/rp_filter"] == "2");
  CHECK(k.sysctls["net/ipv4/fib_multipath_hash_policy"] == "0");  // one gateway: nothing to spread

  CHECK_FALSE(m.after_rules(false));  // nftables failed: stale entries stay
  CHECK(k.state.rules.size() == 2);
  m.after_rules(true);
  CHECK(k.state.rules == std::vector<FwmarkRule>{{Family::V4, 100, mark, 0x0ff00000, table}});
  REQUIRE(k.state.routes.size() == 1);
  CHECK(k.state.routes[0].table == table);

  SECTION("a second cycle changes nothing (a restart keeps what is right)") {
    k.log.clear();
    m.recompute();
    m.before_rules();
    m.after_rules(true);
    CHECK(k.log.empty());
  }
  SECTION("deleting the gateway removes its rule and route") {
    m.forget({model::Kind::EgressGateway, "", "gw"});
    m.recompute();
    m.before_rules();
    CHECK(k.state.rules.size() == 1);
    CHECK(m.after_rules(true));  // its sets can go: another sync
    CHECK(k.state.rules.empty());
    CHECK(k.state.routes.empty());
    k.log.clear();
    m.before_rules();  // nothing of ours left: the kernel is not read again
    CHECK(k.log.empty());
  }
  SECTION("kernel errors are reported, with what failed") {
    k.fail_routes = true;
    k.state.routes.clear();
    m.recompute();
    m.before_rules();
    auto report = m.report();
    bool found = false;
    for (const auto& p : report.problems) found |= p.find("kernel: writing route table") == 0;
    CHECK(found);
  }
}

TEST_CASE("egress manager: with setSysctls false, wrong settings are reported, not changed") {
  boost::asio::io_context io;
  DesiredState d;
  auto fake = std::make_unique<FakeKernel>();
  FakeKernel& k = *fake;
  Settings s = settings();
  s.config.set_sysctls = false;
  Manager m(io, s, d, std::move(fake));
  m.observe(res(gateway("gw", "all()", {member("node2", "192.0.2.2", "192.0.2.100")})));
  m.observe(res(pod("prod", "a", "node1", "10.244.1.5")));
  m.recompute();
  m.before_rules();
  CHECK(k.sysctls["net/ipv4/ip_forward"] == "0");
  auto problems = m.report().problems;
  REQUIRE(problems.size() >= 2);
  CHECK(problems[0].find("net.ipv4.ip_forward is 0, egress gateways need 1") == 0);
  CHECK(problems[1].find("net.ipv4.conf.fab0.rp_filter is 0, egress gateways need 2") == 0);
}

// ---------------------------------------------------------------- config

TEST_CASE("egress config: keys, defaults and errors naming the key") {
  Config c;
  REQUIRE(Config::from_yaml(R"(
nodeName: n1
egress:
  clusterCIDRs: [10.244.0.0/16, "fd00:244::/48"]
  tableRange: 3000-3099
  rulePriority: 200
  markMask: 0x00f00000
  routeProtocol: 99
  setSysctls: false
  gatewayNodes: [gw1]
)",
                            c)
              .ok());
  CHECK(c.egress.cluster_cidrs.size() == 2);
  CHECK(c.egress.table_first == 3000);
  CHECK(c.egress.table_last == 3099);
  CHECK(c.egress.rule_priority == 200);
  CHECK(c.egress.mark_mask == 0x00f00000);
  CHECK(c.egress.route_protocol == 99);
  CHECK_FALSE(c.egress.set_sysctls);
  CHECK(c.egress.gateway_nodes == std::vector<std::string>{"gw1"});
  CHECK(c.to_yaml().find("tableRange: 3000-3099") != std::string::npos);

  Config d;
  CHECK(d.egress.table_first == 20000);
  CHECK(d.egress.mark_mask == 0x0ff00000);
  auto error = [](const std::string& yaml) {
    Config x;
    return Config::from_yaml("nodeName: n1\n" + yaml, x).message();
  };
  CHECK(error("egress: {clusterCIDRs: [10.0.0.1/8]}") == "egress.clusterCIDRs[0]: invalid CIDR \"10.0.0.1/8\"");
  CHECK(error("egress: {tableRange: 5}") ==
        "egress.tableRange: expected FIRST-LAST table IDs, e.g. 20000-20999, got \"5\"");
  CHECK(error("egress: {tableRange: 200-300}") ==
        "egress.tableRange: must not include the kernel's tables 253-255 (default, main, local)");
  CHECK(error("egress: {tableRange: 30-20}") == "egress.tableRange: FIRST must be at least 1 and not above LAST");
  CHECK(error("egress: {markMask: 0x0f0f0000}") ==
        "egress.markMask: must be one run of contiguous bits, e.g. 0x0ff00000");
  CHECK(error("egress: {markMask: 0x00030000}") == "egress.markMask: overlaps verdictMark");
  CHECK(error("egress: {routeProtocol: 2}") ==
        "egress.routeProtocol: 0-4 are the kernel's own (unspec, redirect, kernel, boot, static)");
  CHECK(error("egress: {routeProtocol: 300}") == "egress.routeProtocol: must be at most 255");
  CHECK(error("egress: {rulePriority: 40000}") ==
        "egress.rulePriority: must be 1-32765 (before the main table's rule)");
  CHECK(error("egress: {tables: 1}") == "egress.tables: unknown key");
}
