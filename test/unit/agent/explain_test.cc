#include <catch2/catch.hpp>

#include "agent/calc.h"
#include "agent/explain.h"

using namespace wac;
using namespace wac::agent;
using model::Direction;
using model::Kind;

namespace {

model::Endpoint web(const std::string& node = "node1") {
  model::Endpoint e;
  e.ns = "shop";
  e.pod = "web";
  e.name = node + "-k8s-web-eth0";
  e.node = node;
  e.interface_name = "caliweb";
  e.ip_networks = {*Cidr::parse("10.244.1.5/32"), *Cidr::parse("fd00:244:0:1::5/128")};
  e.labels = {{"app", "web"}};
  return e;
}

model::Rule rule(model::Action a) {
  model::Rule r;
  r.action = a;
  return r;
}

}  // namespace

TEST_CASE("explain lists a pod's policies in evaluation order with their chains and rules") {
  Calculator calc(CalcConfig{"node1"});
  calc.upsert_endpoint(web());
  model::Policy late;  // a namespaced policy with order 200
  late.ns = "shop";
  late.name = "late";
  late.order = 200;
  late.selector = "app == 'web'";
  late.applies_ingress = true;
  late.ingress = {rule(model::Action::Deny)};
  model::Policy early;  // a global policy with order 5 and two rules
  early.name = "early";
  early.order = 5;
  early.selector = "app == 'web'";
  early.applies_ingress = true;
  early.applies_egress = true;
  model::Rule allow = rule(model::Action::Allow);
  allow.protocol = 6;
  allow.name = "from-clients";
  allow.source.selector = "role == 'client'";
  allow.destination.ports = {{80, 80, ""}, {8000, 8080, ""}};
  early.ingress = {allow, rule(model::Action::Pass)};
  model::Policy other = early;  // selects someone else
  other.name = "other";
  other.selector = "app == 'db'";
  calc.upsert_policy({Kind::NetworkPolicy, "shop", "late"}, late);
  calc.upsert_policy({Kind::GlobalNetworkPolicy, "", "early"}, early);
  calc.upsert_policy({Kind::GlobalNetworkPolicy, "", "other"}, other);
  calc.recompute();

  std::string error;
  auto e = explain_pod(calc, "shop", "web", &error);
  REQUIRE(e);
  CHECK(e->endpoint == "node1-k8s-web-eth0");
  CHECK(e->interface_name == "caliweb");
  CHECK(e->addresses == std::vector<std::string>{"10.244.1.5", "fd00:244:0:1::5"});

  const ExplainedDirection& in = e->ingress;
  CHECK(in.map == "to-pod");
  CHECK(in.chain == "pod-shop/web-ingress");
  REQUIRE(in.policies.size() == 2);
  CHECK(in.policies[0].key.name == "early");
  CHECK(in.policies[0].order == 5);
  CHECK(in.policies[0].chain == "gnp-early-ingress");
  REQUIRE(in.policies[0].rules.size() == 2);
  CHECK(in.policies[0].rules[0].action == "Allow");
  CHECK(in.policies[0].rules[0].name == "from-clients");
  CHECK(in.policies[0].rules[0].match == "tcp from selector role == 'client' to ports 80, 8000-8080");
  CHECK(in.policies[0].rules[1].action == "Pass");
  CHECK(in.policies[0].rules[1].match.empty());
  CHECK(in.policies[0].nft_rules == calc.desired().chains.at("gnp-early-ingress").rules);
  CHECK(in.policies[1].key == model::Key{Kind::NetworkPolicy, "shop", "late"});
  CHECK(in.policies[1].chain == "np-shop/late-ingress");
  CHECK(in.otherwise == "dropped: no policy allowed it (default deny)");

  const ExplainedDirection& out = e->egress;
  CHECK(out.map == "from-pod");
  CHECK(out.chain == "pod-shop/web-egress");
  REQUIRE(out.policies.size() == 1);
  CHECK(out.policies[0].chain == "gnp-early-egress");
  CHECK(out.policies[0].rules.empty());
  CHECK(out.otherwise ==
        "dropped: no policy allowed it (default deny); allowed traffic to the node itself is then accepted "
        "(endpointToHostAction: Accept)");

  // The WorkloadEndpoint name works too; other namespaces and nodes do not.
  CHECK(explain_pod(calc, "shop", "node1-k8s-web-eth0", nullptr));
  CHECK_FALSE(explain_pod(calc, "default", "web", &error));
  CHECK(error == "no endpoint of pod default/web on this node");
}

TEST_CASE("a pod no policy selects is allowed, and says so") {
  Calculator calc(CalcConfig{"node1", {"cali"}, 0x10000, /*endpoint_to_host_allow=*/false});
  calc.upsert_endpoint(web());
  calc.recompute();
  auto e = explain_pod(calc, "shop", "web", nullptr);
  REQUIRE(e);
  CHECK(e->ingress.policies.empty());
  CHECK(e->ingress.otherwise == "allowed: no policy selects this pod for ingress");
  CHECK(e->egress.otherwise ==
        "allowed: no policy selects this pod for egress; allowed traffic to the node itself is then dropped "
        "(endpointToHostAction: Drop)");
}

TEST_CASE("a pod on another node is not explained here") {
  Calculator calc(CalcConfig{"node1"});
  calc.upsert_endpoint(web("node2"));
  calc.recompute();
  std::string error;
  CHECK_FALSE(explain_pod(calc, "shop", "web", &error));
  CHECK(error == "no endpoint of pod shop/web on this node");
}

TEST_CASE("rule matches read like the Calico fields they came from") {
  model::Rule r;
  CHECK(describe_match(r).empty());
  r.ip_version = 6;
  r.protocol = 58;
  r.icmp = model::IcmpMatch{128, std::nullopt};
  CHECK(describe_match(r) == "IPv6 ipv6-icmp icmp type 128");
  model::Rule n;
  n.not_protocol = 17;
  n.source.nets = {*Cidr::parse("10.0.0.0/8")};
  n.source.not_nets = {*Cidr::parse("10.1.0.0/16")};
  n.source.not_selector = "tier == 'x'";
  n.destination.namespace_selector = "global()";
  n.destination.selector = "corp == 'y'";
  n.destination.not_ports = {{0, 0, "http"}};
  n.destination.domains = {"*.example.com"};
  CHECK(describe_match(n) ==
        "not udp from nets 10.0.0.0/8 notNets 10.1.0.0/16 notSelector tier == 'x' "
        "to selector corp == 'y' namespaceSelector global() notPorts http domains *.example.com");
}
