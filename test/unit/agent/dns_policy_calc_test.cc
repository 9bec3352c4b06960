// The calculator's part of DNS policy: the tap chain, domain sets, and the
// allowedEgressDomains of network sets selected by egress Allow rules.
#include <catch2/catch.hpp>

#include "agent/calc.h"
#include "agent/dns_rules.h"

using namespace wac;
using namespace wac::agent;
using model::Kind;

namespace {

model::Endpoint local_pod(const std::string& name, model::Labels labels) {
  model::Endpoint e;
  e.ns = "default";
  e.name = "node1-k8s-" + name + "-eth0";
  e.pod = name;
  e.node = "node1";
  e.interface_name = "cali" + name;
  e.ip_networks = {*Cidr::parse("10.244.1.2/32")};
  e.labels = std::move(labels);
  return e;
}

model::NetworkSet netset(const std::string& name, model::Labels labels, std::vector<std::string> domains,
                         std::vector<std::string> nets = {}) {
  model::NetworkSet s;
  s.name = name;
  s.labels = std::move(labels);
  s.allowed_egress_domains = std::move(domains);
  for (const auto& n : nets) s.nets.push_back(*Cidr::parse(n));
  return s;
}

model::Policy egress_policy(model::Action action, const std::string& dest_selector) {
  model::Policy p;
  p.name = "egress";
  p.selector = "app == 'client'";
  p.applies_egress = true;
  model::Rule r;
  r.action = action;
  r.protocol = 6;
  r.destination.selector = dest_selector;
  r.destination.ports = {{443, 443, ""}};
  p.egress = {r};
  return p;
}

const model::Key kPolicy{Kind::GlobalNetworkPolicy, "", "egress"};

// Rules of the policy's egress chain that match a domain set.
std::vector<std::string> domain_rules(Calculator& c) {
  std::vector<std::string> out;
  auto it = c.desired().chains.find("gnp-egress-egress");
  if (it == c.desired().chains.end()) return out;
  for (const auto& r : it->second.rules)
    if (r.find("@fqdn") != std::string::npos) out.push_back(r);
  return out;
}

}  // namespace

TEST_CASE("dns calc: the tap chain logs DNS responses to workload interfaces in postrouting") {
  CalcConfig cfg{"node1", {"cali", "tap"}};
  cfg.dns_tap_group = 777;
  Calculator c(cfg);
  const nft::Chain& tap = c.desired().chains.at(kDnsTapChain);
  REQUIRE(tap.hook);
  CHECK(tap.hook->hook == "postrouting");
  CHECK(tap.hook->priority == kDnsTapPriority);
  CHECK(tap.hook->policy == "accept");
  CHECK(tap.rules == std::vector<std::string>{
                         "oifname \"cali*\" meta l4proto { tcp, udp } th sport 53 counter log group 777",
                         "oifname \"tap*\" meta l4proto { tcp, udp } th sport 53 counter log group 777"});
  cfg.dns_tap_group = 0;
  Calculator off(cfg);
  CHECK_FALSE(off.desired().chains.count(kDnsTapChain));
}

TEST_CASE("dns calc: destination.domains use timeout sets the syncer leaves to the tap") {
  Calculator c({"node1"});
  c.upsert_endpoint(local_pod("client", {{"app", "client"}}));
  model::Policy p = egress_policy(model::Action::Allow, "");
  p.egress[0].destination.domains = {"api.example.com", "*.example.org"};
  c.upsert_policy(kPolicy, p);
  c.recompute();
  auto rules = domain_rules(c);
  CHECK(rules.size() == 4);  // two domains x two families
  const auto& sets = c.domain_sets();
  REQUIRE(sets.count("api.example.com"));
  const auto [v4, v6] = sets.at("api.example.com");  // copies: remove_policy below erases the entry
  const DesiredSet& d4 = c.desired().sets.at(v4);
  CHECK(d4.decl.timeout);
  CHECK_FALSE(d4.decl.interval);
  CHECK(d4.decl.comment == "api.example.com");
  CHECK(d4.external_elements);
  CHECK(c.desired().sets.at(v6).decl.key == nft::KeyType::Ipv6Addr);
  c.remove_policy(kPolicy);
  c.recompute();
  CHECK(c.domain_sets().empty());
  CHECK_FALSE(c.desired().sets.count(v4));
}

TEST_CASE("dns calc: a network set's allowedEgressDomains join the egress Allow rules that select it") {
  Calculator c({"node1"});
  c.upsert_endpoint(local_pod("client", {{"app", "client"}}));
  c.upsert_network_set(netset("partners", {{"kind", "partner"}}, {"api.partner.test", "*.cdn.partner.test"},
                              {"203.0.113.0/24"}));
  c.upsert_policy(kPolicy, egress_policy(model::Action::Allow, "kind == 'partner'"));
  c.recompute();

  auto rules = domain_rules(c);
  REQUIRE(rules.size() == 4);
  for (const auto& r : rules) {
    CHECK(r.find("th dport 443") != std::string::npos);  // the rule's other matches stay
    CHECK(r.find("meta l4proto tcp") != std::string::npos);
    CHECK(r.find("@sel") == std::string::npos);          // the domain replaces the selector
    CHECK(r.find("meta mark set meta mark or") != std::string::npos);
  }
  CHECK(c.domain_sets().count("api.partner.test"));
  CHECK(c.domain_sets().count("*.cdn.partner.test"));

  SECTION("the set's domains change: the rules follow") {
    c.upsert_network_set(netset("partners", {{"kind", "partner"}}, {"api.partner.test"}, {"203.0.113.0/24"}));
    c.recompute();
    CHECK(domain_rules(c).size() == 2);
    CHECK_FALSE(c.domain_sets().count("*.cdn.partner.test"));
  }
  SECTION("relabelled out of the selector, or deleted: no domain rules") {
    c.upsert_network_set(netset("partners", {{"kind", "other"}}, {"api.partner.test"}));
    c.recompute();
    CHECK(domain_rules(c).empty());
    c.upsert_network_set(netset("partners", {{"kind", "partner"}}, {"api.partner.test"}));
    c.recompute();
    CHECK(domain_rules(c).size() == 2);
    c.remove_network_set("", "partners");
    c.recompute();
    CHECK(domain_rules(c).empty());
    CHECK(c.domain_sets().empty());
  }
  SECTION("a second set matching the same selector adds its domains once") {
    c.upsert_network_set(netset("more", {{"kind", "partner"}}, {"api.partner.test", "x.partner.test"}));
    c.recompute();
    CHECK(domain_rules(c).size() == 6);
  }
}

TEST_CASE("dns calc: network set domains count only in egress Allow rules") {
  Calculator c({"node1"});
  c.upsert_endpoint(local_pod("client", {{"app", "client"}}));
  c.upsert_network_set(netset("partners", {{"kind", "partner"}}, {"api.partner.test"}));
  c.upsert_policy(kPolicy, egress_policy(model::Action::Deny, "kind == 'partner'"));
  c.recompute();
  CHECK(domain_rules(c).empty());
  CHECK(c.domain_sets().empty());
}

TEST_CASE("dns calc: a namespaced set is selected only from its namespace's policies") {
  Calculator c({"node1"});
  c.upsert_endpoint(local_pod("client", {{"app", "client"}}));
  model::NetworkSet other = netset("partners", {{"kind", "partner"}}, {"api.partner.test"});
  other.ns = "elsewhere";
  c.upsert_network_set(other);
  model::Policy p = egress_policy(model::Action::Allow, "kind == 'partner'");
  p.ns = "default";
  p.name = "np";
  c.upsert_policy({Kind::NetworkPolicy, "default", "np"}, p);
  c.recompute();
  CHECK(c.domain_sets().empty());
  other.ns = "default";
  c.upsert_network_set(other);
  c.recompute();
  CHECK(c.domain_sets().count("api.partner.test"));
}
