// Kubernetes NetworkPolicy -> model::Policy, as Calico converts it.
#include "agent/selector.h"
#include "helpers.h"

using namespace wac;
using namespace wac::api;
using namespace wac::api::test;

namespace {

std::string canonical(const std::string& text) {
  auto parsed = selector::Selector::parse(text);
  REQUIRE(std::holds_alternative<selector::Selector>(parsed));
  return std::get<selector::Selector>(parsed).canonical();
}

std::string knp(const std::string& spec, const std::string& name = "k") {
  return "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: " + name +
         "\n  namespace: default\nspec:\n" + spec;
}

model::Policy k8s_policy(const std::string& yaml) {
  auto r = translated(yaml);
  CHECK(r.key.kind == model::Kind::K8sNetworkPolicy);
  return body<model::Policy>(r);
}

std::vector<model::Policy> fixture_policies() {
  std::vector<model::Policy> out;
  for (const auto& doc : documents(fixture("k8s_policies.yaml"))) {
    model::Resource r;
    Problems p = translate(doc.resource, r);
    INFO(p.str());
    REQUIRE(p.ok());
    out.push_back(body<model::Policy>(r));
  }
  return out;
}

}  // namespace

TEST_CASE("k8s: default deny ingress") {
  auto doc = documents(fixture("k8s_policies.yaml"))[1];
  model::Resource r;
  REQUIRE(translate(doc.resource, r).ok());
  CHECK(r.key == model::Key{model::Kind::K8sNetworkPolicy, "default", "default-deny-ingress"});
  const auto& p = body<model::Policy>(r);
  CHECK(p.name == "knp.default.default-deny-ingress");
  CHECK(p.ns == "default");
  CHECK(p.order == 1000.0);
  CHECK(p.from_k8s);
  CHECK(p.selector == "all()");
  CHECK(p.applies_ingress);
  CHECK_FALSE(p.applies_egress);
  CHECK(p.ingress.empty());
  CHECK(p.egress.empty());
}

TEST_CASE("k8s: the documentation example (ipBlock except, namespace and pod peers, endPort)") {
  const auto p = fixture_policies()[0];
  CHECK(p.selector == canonical("role == 'db'"));
  CHECK(p.applies_ingress);
  CHECK(p.applies_egress);
  REQUIRE(p.ingress.size() == 3);  // one rule per peer, all TCP 6379
  for (const auto& r : p.ingress) {
    CHECK(r.action == model::Action::Allow);
    CHECK(r.protocol == 6);
    CHECK(r.destination.ports == std::vector<model::PortRange>{{6379, 6379, ""}});
  }
  CHECK(p.ingress[0].source.nets == std::vector<Cidr>{*Cidr::parse("172.17.0.0/16")});
  CHECK(p.ingress[0].source.not_nets == std::vector<Cidr>{*Cidr::parse("172.17.1.0/24")});
  CHECK(p.ingress[0].source.selector.empty());
  // namespaceSelector only: every pod of the matching namespaces.
  CHECK(p.ingress[1].source.selector == "all()");
  CHECK(p.ingress[1].source.namespace_selector == canonical("project == 'myproject'"));
  // podSelector only: matching pods of the policy's own namespace.
  CHECK(p.ingress[2].source.selector == canonical("role == 'frontend'"));
  CHECK(p.ingress[2].source.namespace_selector.empty());

  REQUIRE(p.egress.size() == 1);
  CHECK(p.egress[0].protocol == 6);
  CHECK(p.egress[0].destination.nets == std::vector<Cidr>{*Cidr::parse("10.0.0.0/24")});
  CHECK(p.egress[0].destination.ports == std::vector<model::PortRange>{{32000, 32768, ""}});
}

TEST_CASE("k8s: namespace and pod selectors together, named ports, one rule per protocol") {
  const auto p = fixture_policies()[2];
  CHECK(p.selector == canonical("tier in { 'api', 'web' }"));
  CHECK(p.applies_ingress);
  CHECK_FALSE(p.applies_egress);
  REQUIRE(p.ingress.size() == 2);  // TCP, then UDP (Calico sorts by protocol name)
  CHECK(p.ingress[0].protocol == 6);
  CHECK(p.ingress[0].destination.ports == std::vector<model::PortRange>{{0, 0, "http"}, {8443, 8443, ""}});
  CHECK(p.ingress[1].protocol == 17);
  CHECK(p.ingress[1].destination.ports == std::vector<model::PortRange>{{53, 53, ""}});
  for (const auto& r : p.ingress) {
    CHECK(r.source.selector == canonical("has(app)"));
    CHECK(r.source.namespace_selector == canonical("team == 'frontend'"));
  }
}

TEST_CASE("k8s: rule shapes") {
  SECTION("no peers: from anywhere; ports merged into ranges") {
    auto p = k8s_policy(knp("  ingress:\n    - ports: [{port: 80}, {port: 82}, {port: 81}, {port: 90}, {port: 85, endPort: 89}]\n"));
    REQUIRE(p.ingress.size() == 1);
    CHECK(p.ingress[0].source == model::EntityRule{});
    CHECK(p.ingress[0].destination.ports == std::vector<model::PortRange>{{80, 82, ""}, {85, 90, ""}});
  }
  SECTION("an empty rule allows everything") {
    auto p = k8s_policy(knp("  ingress:\n    - {}\n"));
    REQUIRE(p.ingress.size() == 1);
    CHECK(p.ingress[0] == model::Rule{});
  }
  SECTION("a port without a number is every port of its protocol") {
    auto p = k8s_policy(knp("  egress:\n    - ports: [{protocol: UDP}, {protocol: UDP, port: 53}, {}]\n"));
    CHECK(p.applies_egress);
    REQUIRE(p.egress.size() == 2);
    CHECK(p.egress[0].protocol == 6);  // {} defaults to TCP
    CHECK(p.egress[0].destination.ports.empty());
    CHECK(p.egress[1].protocol == 17);
    CHECK(p.egress[1].destination.ports.empty());
  }
  SECTION("empty namespaceSelector: every namespace") {
    auto p = k8s_policy(knp("  ingress:\n    - from: [{namespaceSelector: {}}]\n"));
    CHECK(p.ingress[0].source.namespace_selector == "all()");
    CHECK(p.ingress[0].source.selector == "all()");
  }
  SECTION("empty podSelector peer: every pod of this namespace") {
    auto p = k8s_policy(knp("  egress:\n    - to: [{podSelector: {}}]\n"));
    CHECK(p.egress[0].destination.selector == "all()");
    CHECK(p.egress[0].destination.namespace_selector.empty());
  }
  SECTION("matchExpressions") {
    auto p = k8s_policy(knp("  podSelector:\n    matchLabels: {app: web}\n    matchExpressions:\n"
                            "      - {key: env, operator: NotIn, values: [dev, test]}\n"
                            "      - {key: canary, operator: DoesNotExist}\n"));
    CHECK(p.selector == canonical("app == 'web' && env not in { 'dev', 'test' } && ! has(canary)"));
  }
  SECTION("policyTypes as Kubernetes defaults them") {
    CHECK(k8s_policy(knp("  egress: [{}]\n")).applies_ingress);
    CHECK(k8s_policy(knp("  egress: [{}]\n")).applies_egress);
    auto p = k8s_policy(knp("  policyTypes: [Egress]\n"));
    CHECK_FALSE(p.applies_ingress);
    CHECK(p.applies_egress);
  }
}

TEST_CASE("k8s: validation as the API server does it") {
  const std::string who = "K8sNetworkPolicy default/k: ";
  CHECK(problems(knp("  ingress:\n    - from: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]\n")) ==
        who + "spec.ingress[0].from[0]: may not specify both ipBlock and another peer (podSelector/namespaceSelector)");
  CHECK(problems(knp("  ingress:\n    - from: [{}]\n")) ==
        who + "spec.ingress[0].from[0]: must specify a peer (podSelector, namespaceSelector or ipBlock)");
  CHECK(problems(knp("  egress:\n    - to: [{ipBlock: {cidr: 10.0.0.0/8, except: [192.0.2.0/24]}}]\n")) ==
        who + "spec.egress[0].to[0].ipBlock.except[0]: 192.0.2.0/24 must be a strict subset of cidr 10.0.0.0/8");
  CHECK(problems(knp("  egress:\n    - to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.0.0.0/8]}}]\n")) ==
        who + "spec.egress[0].to[0].ipBlock.except[0]: 10.0.0.0/8 must be a strict subset of cidr 10.0.0.0/8");
  CHECK(problems(knp("  egress:\n    - to: [{ipBlock: {cidr: 10.0.0.0/33}}]\n")) ==
        who + "spec.egress[0].to[0].ipBlock.cidr: invalid CIDR \"10.0.0.0/33\"");
  CHECK(problems(knp("  ingress:\n    - ports: [{port: http, endPort: 90}]\n")) ==
        who + "spec.ingress[0].ports[0].endPort: may not be specified with a named port");
  CHECK(problems(knp("  ingress:\n    - ports: [{port: 100, endPort: 90}]\n")) ==
        who + "spec.ingress[0].ports[0].endPort: must be between port (100) and 65535");
  CHECK(problems(knp("  ingress:\n    - ports: [{endPort: 90}]\n")) ==
        who + "spec.ingress[0].ports[0].endPort: may not be specified without port");
  CHECK(problems(knp("  ingress:\n    - ports: [{protocol: tcp, port: 80}]\n")) ==
        who + "spec.ingress[0].ports[0].protocol: unsupported protocol \"tcp\" (expected TCP, UDP or SCTP)");
  CHECK(problems(knp("  ingress:\n    - ports: [{port: \"80:90\"}]\n")) ==
        who + "spec.ingress[0].ports[0].port: invalid port \"80:90\"");
  CHECK(problems(knp("  podSelector:\n    matchExpressions: [{key: a, operator: In}]\n")) ==
        who + "spec.podSelector.matchExpressions[0].values: must be specified when operator is In or NotIn");
  CHECK(problems(knp("  podSelector:\n    matchExpressions: [{key: a, operator: Exists, values: [x]}]\n")) ==
        who + "spec.podSelector.matchExpressions[0].values: may not be specified when operator is Exists or DoesNotExist");
  CHECK(problems(knp("  podSelector:\n    matchExpressions: [{key: a, operator: Equals, values: [x]}]\n")) ==
        who + "spec.podSelector.matchExpressions[0].operator: invalid operator \"Equals\" (expected In, NotIn, Exists or DoesNotExist)");
  CHECK(problems(knp("  podSelector:\n    matchLabels: {app: \"it's\"}\n")).starts_with(
      who + "spec.podSelector.matchLabels[\"app\"]: invalid label \"app\": "));
  CHECK(problems(knp("  policyTypes: [Ingress, ingress]\n")) ==
        who + "spec.policyTypes[1]: invalid policy type \"ingress\" (expected Ingress or Egress)");
}

TEST_CASE("k8s: expansion is bounded") {
  std::string peers;
  for (int i = 0; i < 400; ++i) peers += "{ipBlock: {cidr: 10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250) + "/32}},";
  peers.pop_back();
  std::string ports = "[{port: 1}, {protocol: UDP, port: 1}, {protocol: SCTP, port: 1}]";
  CHECK(problems(knp("  ingress:\n    - from: [" + peers + "]\n      ports: " + ports + "\n")) ==
        "K8sNetworkPolicy default/k: spec.ingress[0]: expands to more than 1000 rules");
}
