#include <catch2/catch.hpp>

#include "agent/calc.h"

using namespace wac;
using namespace wac::agent;
using model::Kind;
using model::Key;

namespace {

model::Endpoint ep(const std::string& ns, const std::string& pod, const std::string& node, const std::string& ip,
                   model::Labels labels) {
  model::Endpoint e;
  e.ns = ns;
  e.name = node + "-k8s-" + pod + "-eth0";
  e.pod = pod;
  e.node = node;
  e.interface_name = "cali" + pod.substr(0, 8);
  e.ip_networks = {*Cidr::parse(ip)};
  e.labels = std::move(labels);
  return e;
}

model::Policy gnp(const std::string& name, double order, const std::string& selector) {
  model::Policy p;
  p.name = name;
  p.order = order;
  p.selector = selector;
  p.applies_ingress = true;
  return p;
}

model::Rule allow_from(const std::string& sel) {
  model::Rule r;
  r.source.selector = sel;
  return r;
}

std::vector<std::string> elements(Calculator& c, const std::string& set) {
  std::vector<std::string> out;
  for (const auto& [k, e] : c.desired().sets.at(set).elements.elements()) out.push_back(k);
  return out;
}

// The name of the one IPv4 selector set a chain's rules reference.
std::string set_in(const nft::Chain& chain) {
  for (const auto& r : chain.rules) {
    auto at = r.find("@sel4-");
    if (at != std::string::npos) return r.substr(at + 1, r.find(' ', at) - at - 1);
  }
  return "";
}

Key key(Kind k, const std::string& ns, const std::string& name) { return {k, ns, name}; }

}  // namespace

TEST_CASE("only local endpoints get chains and map entries") {
  Calculator c({"node1"});
  c.upsert_endpoint(ep("default", "web", "node1", "10.244.1.2/32", {{"app", "web"}}));
  c.upsert_endpoint(ep("default", "db", "node2", "10.244.2.2/32", {{"app", "db"}}));
  c.recompute();
  auto& chains = c.desired().chains;
  CHECK(chains.count("pod-default/web-ingress"));
  CHECK(chains.count("pod-default/web-egress"));
  CHECK_FALSE(chains.count("pod-default/db-ingress"));
  auto from = c.desired().sets.at("from-pod").elements.elements();
  REQUIRE(from.size() == 1);
  CHECK(from.at("caliweb").verdict == "goto pod-default/web-egress");
  // No policy selects web: its ingress chain lets everything through.
  CHECK(chains.at("pod-default/web-ingress").rules.empty());
}

TEST_CASE("policies render in order and end in a default deny") {
  Calculator c({"node1"});
  c.upsert_endpoint(ep("default", "db", "node1", "10.244.1.5/32", {{"app", "db"}}));
  c.upsert_endpoint(ep("default", "fe", "node2", "10.244.2.7/32", {{"role", "frontend"}}));
  auto allow = gnp("allow-fe", 20, "app == 'db'");
  allow.ingress = {allow_from("role == 'frontend'")};
  auto deny = gnp("deny-bad", 10, "app == 'db'");
  deny.ingress = {allow_from("role == 'bad'")};
  deny.ingress[0].action = model::Action::Deny;
  c.upsert_policy(key(Kind::GlobalNetworkPolicy, "", "allow-fe"), allow);
  c.upsert_policy(key(Kind::GlobalNetworkPolicy, "", "deny-bad"), deny);
  c.recompute();

  const auto& pod = c.desired().chains.at("pod-default/db-ingress").rules;
  REQUIRE(pod.size() == 6);
  CHECK(pod[1] == "jump gnp-deny-bad-ingress");
  CHECK(pod[3] == "jump gnp-allow-fe-ingress");
  CHECK(pod[5].find("default deny") != std::string::npos);
  // The frontend endpoint on another node feeds the selector set.
  std::string set = set_in(c.desired().chains.at("gnp-allow-fe-ingress"));
  REQUIRE(!set.empty());
  CHECK(elements(c, set) == std::vector<std::string>{"10.244.2.7"});
  CHECK(c.desired().sets.at(set).decl.comment == "role == 'frontend'");
}

TEST_CASE("endpoints elsewhere only change set elements") {
  Calculator c({"node1"});
  c.upsert_endpoint(ep("default", "db", "node1", "10.244.1.5/32", {{"app", "db"}}));
  auto p = gnp("p", 1, "app == 'db'");
  p.ingress = {allow_from("role == 'frontend'")};
  c.upsert_policy(key(Kind::GlobalNetworkPolicy, "", "p"), p);
  c.recompute();
  auto chains_before = c.desired().chains;
  std::string set = set_in(c.desired().chains.at("gnp-p-ingress"));
  for (auto& [n, s] : c.desired().sets) s.elements.mark_synced();

  c.upsert_endpoint(ep("other", "fe1", "node7", "10.244.7.1/32", {{"role", "frontend"}}));
  c.upsert_endpoint(ep("other", "x", "node7", "10.244.7.2/32", {{"role", "backend"}}));
  c.recompute();
  CHECK(c.desired().chains == chains_before);
  CHECK(elements(c, set) == std::vector<std::string>{"10.244.7.1"});

  c.remove_endpoint("other", "node7-k8s-fe1-eth0");
  c.recompute();
  CHECK(elements(c, set).empty());
}

TEST_CASE("namespaced policy scopes rule selectors to its namespace unless namespaceSelector is given") {
  Calculator c({"node1"});
  c.upsert_namespace({"prod", {{"env", "prod"}}, {}});
  c.upsert_namespace({"dev", {{"env", "dev"}}, {}});
  c.upsert_endpoint(ep("prod", "db", "node1", "10.244.1.5/32", {{"app", "db"}}));
  c.upsert_endpoint(ep("prod", "fe", "node2", "10.244.2.1/32", {{"app", "fe"}}));
  c.upsert_endpoint(ep("dev", "fe", "node2", "10.244.2.2/32", {{"app", "fe"}}));
  model::Policy p;
  p.ns = "prod";
  p.name = "db";
  p.selector = "app == 'db'";
  p.applies_ingress = true;
  p.ingress = {allow_from("app == 'fe'")};
  model::Rule cross = allow_from("app == 'fe'");
  cross.source.namespace_selector = "env == 'dev'";
  p.ingress.push_back(cross);
  c.upsert_policy(key(Kind::NetworkPolicy, "prod", "db"), p);
  c.recompute();

  const auto& rules = c.desired().chains.at("np-prod/db-ingress").rules;
  REQUIRE(rules.size() == 4);  // two rules, two families each
  auto set_of = [](const std::string& rule) {
    auto at = rule.find('@');
    return rule.substr(at + 1, rule.find(' ', at) - at - 1);
  };
  CHECK(elements(c, set_of(rules[0])) == std::vector<std::string>{"10.244.2.1"});
  CHECK(elements(c, set_of(rules[2])) == std::vector<std::string>{"10.244.2.2"});

  // Relabelling a namespace moves its endpoints in and out of sets.
  c.upsert_namespace({"dev", {{"env", "staging"}}, {}});
  c.recompute();
  CHECK(elements(c, set_of(rules[2])).empty());
}

TEST_CASE("network sets feed selector sets, covered CIDRs are folded") {
  Calculator c({"node1"});
  c.upsert_endpoint(ep("default", "web", "node1", "10.244.1.2/32", {{"app", "web"}}));
  model::Policy p = gnp("egress", 1, "app == 'web'");
  p.applies_ingress = false;
  p.applies_egress = true;
  model::Rule r;
  r.destination.selector = "corp == 'true'";
  p.egress = {r};
  c.upsert_policy(key(Kind::GlobalNetworkPolicy, "", "egress"), p);
  c.upsert_network_set({"", "corp", {{"corp", "true"}}, {*Cidr::parse("198.51.100.0/24"), *Cidr::parse("198.51.100.9/32")}, {}});
  c.recompute();
  std::string set = set_in(c.desired().chains.at("gnp-egress-egress"));
  CHECK(elements(c, set) == std::vector<std::string>{"198.51.100.0/24"});
  c.upsert_network_set({"", "corp", {{"corp", "true"}}, {*Cidr::parse("203.0.113.0/25")}, {}});
  c.recompute();
  CHECK(elements(c, set) == std::vector<std::string>{"203.0.113.0/25"});
  c.remove_network_set("", "corp");
  c.recompute();
  CHECK(elements(c, set).empty());
}

TEST_CASE("a policy that no longer applies to any local endpoint loses its chains and sets") {
  Calculator c({"node1"});
  c.upsert_endpoint(ep("default", "db", "node1", "10.244.1.5/32", {{"app", "db"}}));
  auto p = gnp("p", 1, "app == 'db'");
  p.ingress = {allow_from("role == 'x'")};
  c.upsert_policy(key(Kind::GlobalNetworkPolicy, "", "p"), p);
  c.recompute();
  REQUIRE(c.desired().chains.count("gnp-p-ingress"));
  size_t sets_with = c.desired().sets.size();

  c.upsert_endpoint(ep("default", "db", "node1", "10.244.1.5/32", {{"app", "cache"}}));
  c.recompute();
  CHECK_FALSE(c.desired().chains.count("gnp-p-ingress"));
  CHECK(c.desired().sets.size() == sets_with - 2);
  CHECK(c.desired().chains.at("pod-default/db-ingress").rules.empty());

  c.remove_policy(key(Kind::GlobalNetworkPolicy, "", "p"));
  c.remove_endpoint("default", "node1-k8s-db-eth0");
  c.recompute();
  CHECK_FALSE(c.desired().chains.count("pod-default/db-ingress"));
  CHECK(c.desired().sets.at("from-pod").elements.elements().empty());
}

TEST_CASE("with flow logs every drop of a pod's traffic names its decision") {
  CalcConfig cfg{"node1"};
  cfg.flow_logs = {true, 5354, 1000, false};
  Calculator c(cfg);
  c.upsert_endpoint(ep("shop", "db", "node1", "10.244.1.2/32", {{"app", "db"}}));
  model::Policy deny = gnp("deny-bad", 10, "app == 'db'");
  model::Rule d = allow_from("role == 'bad'");
  d.action = model::Action::Deny;
  d.name = "no-bad";
  deny.ingress = {d};
  c.upsert_policy({Kind::GlobalNetworkPolicy, "", "deny-bad"}, deny);
  c.recompute();
  auto decisions = c.flow_decisions();

  auto id_in = [](const std::string& rule) {
    auto at = rule.find("meta mark set 0x");
    REQUIRE(at != std::string::npos);
    REQUIRE(rule.find("goto flow-log-deny", at) != std::string::npos);
    return uint32_t(std::stoul(rule.substr(at + 16, 8), nullptr, 16));
  };
  const auto& policy_rules = c.desired().chains.at("gnp-deny-bad-ingress").rules;
  auto rule = decisions->find(id_in(policy_rules.at(0)));
  REQUIRE(rule);
  CHECK(rule->policy->name == "deny-bad");
  CHECK(rule->rule_index == 0);
  CHECK(rule->rule_name == "no-bad");
  CHECK(rule->direction == model::Direction::Ingress);
  CHECK(rule->pod.empty());  // shared by pods: the packet's address tells which

  auto default_deny = decisions->find(id_in(c.desired().chains.at("pod-shop/db-ingress").rules.back()));
  REQUIRE(default_deny);
  CHECK(default_deny->reason == FlowReason::DefaultDeny);
  CHECK(default_deny->pod == "db");
  auto spoof = decisions->find(id_in(c.desired().chains.at("pod-shop/db-egress").rules.at(0)));
  REQUIRE(spoof);
  CHECK(spoof->reason == FlowReason::AntiSpoof);
  CHECK(spoof->direction == model::Direction::Egress);
  auto no_endpoint = decisions->find(id_in(c.desired().chains.at("dispatch-to-pod").rules.at(1)));
  REQUIRE(no_endpoint);
  CHECK(no_endpoint->reason == FlowReason::NoEndpoint);
  CHECK(c.desired().chains.count("flow-log-deny"));

  // The policy goes: its decisions are retired (readable a while longer).
  uint32_t gone = id_in(policy_rules.at(0));
  c.remove_policy({Kind::GlobalNetworkPolicy, "", "deny-bad"});
  c.recompute();
  CHECK_FALSE(c.desired().chains.count("gnp-deny-bad-ingress"));
  CHECK(decisions->find(gone));
}

TEST_CASE("without flow logs the ruleset is as before") {
  Calculator c({"node1"});
  c.upsert_endpoint(ep("shop", "db", "node1", "10.244.1.2/32", {{"app", "db"}}));
  c.upsert_policy({Kind::GlobalNetworkPolicy, "", "p"}, gnp("p", 1, "app == 'db'"));
  c.recompute();
  CHECK(c.desired().chains.at("pod-shop/db-ingress").rules.back() ==
        "counter drop comment \"default deny: no policy allowed this\"");
  CHECK_FALSE(c.desired().chains.count("flow-log-deny"));
  CHECK(c.flow_decisions()->size() == 0);
}
