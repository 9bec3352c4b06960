// Calico resources: every validation rule reports the exact field path.
#include <cmath>

#include "agent/selector.h"
#include "api/kinds.h"
#include "helpers.h"

using namespace wac;
using namespace wac::api;
using namespace wac::api::test;

namespace {

std::string canonical(const std::string& selector_text) {
  auto parsed = selector::Selector::parse(selector_text);
  REQUIRE(std::holds_alternative<selector::Selector>(parsed));
  return std::get<selector::Selector>(parsed).canonical();
}

const std::string kPrefix = "NetworkPolicy default/p: ";

std::string ingress_rule(const std::string& rule_body) { return policy("  ingress:\n    - " + rule_body); }

}  // namespace

TEST_CASE("the brief's example error, word for word") {
  std::string yaml = R"(apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: allow-web, namespace: default}
spec:
  ingress:
    - action: Allow
      source:
        nets: [10.0.0.0/8, 10.0.0.300/8]
)";
  CHECK(problems(yaml) ==
        "NetworkPolicy default/allow-web: spec.ingress[0].source.nets[1]: invalid CIDR \"10.0.0.300/8\"");
}

TEST_CASE("Calico documentation shapes translate") {
  auto docs = documents(fixture("calico_policies.yaml"));
  REQUIRE(docs.size() == 2);

  model::Resource np;
  REQUIRE(translate(docs[0].resource, np).ok());
  CHECK(np.key == model::Key{model::Kind::NetworkPolicy, "production", "allow-tcp-6379"});
  const auto& p = body<model::Policy>(np);
  CHECK(p.selector == canonical("role == 'database'"));
  CHECK(p.applies_ingress);
  CHECK(p.applies_egress);
  CHECK_FALSE(p.order.has_value());
  REQUIRE(p.ingress.size() == 1);
  CHECK(p.ingress[0].protocol == 6);
  CHECK(p.ingress[0].source.selector == canonical("role == 'frontend'"));
  REQUIRE(p.ingress[0].destination.ports.size() == 1);
  CHECK(p.ingress[0].destination.ports[0] == model::PortRange{6379, 6379, ""});
  REQUIRE(p.egress.size() == 1);
  CHECK(p.egress[0].action == model::Action::Allow);

  model::Resource gnp;
  Problems problems = translate(docs[1].resource, gnp);
  INFO(problems.str());
  REQUIRE(problems.ok());
  const auto& g = body<model::Policy>(gnp);
  CHECK(gnp.key == model::Key{model::Kind::GlobalNetworkPolicy, "", "deny-blue"});
  CHECK(g.order == 100.5);
  CHECK(g.namespace_selector == canonical("team == 'payments'"));
  CHECK(g.applies_ingress);
  CHECK(g.applies_egress);
  REQUIRE(g.ingress.size() == 4);
  const auto& deny = g.ingress[0];
  CHECK(deny.action == model::Action::Deny);
  CHECK(deny.source.not_ports == std::vector<model::PortRange>{{1, 1023, ""}});
  CHECK(deny.destination.ports ==
        std::vector<model::PortRange>{{80, 80, ""}, {8080, 8090, ""}, {0, 0, "http"}});
  CHECK(deny.source.namespace_selector == canonical("all()"));
  CHECK(g.ingress[1].icmp == model::IcmpMatch{8, 0});
  CHECK(g.ingress[2].action == model::Action::Log);
  CHECK(g.ingress[2].ip_version == 6);
  CHECK(g.ingress[2].protocol == 58);
  CHECK(g.ingress[2].not_icmp == model::IcmpMatch{128, std::nullopt});
  const auto& pass = g.ingress[3];
  CHECK(pass.action == model::Action::Pass);
  REQUIRE(pass.source.nets.size() == 2);
  CHECK(pass.source.nets[0].str() == "10.0.0.0/8");  // host bits masked, as Calico does
  CHECK(pass.source.not_nets[0].str() == "192.0.2.128/25");
  CHECK(g.egress[0].destination.namespace_selector == "global()");
  CHECK(g.egress[1].destination.domains == std::vector<std::string>{"api.example.com", "*.example.org"});
  CHECK(gnp.source == docs[1].resource.SerializeAsString());
}

TEST_CASE("network sets, endpoints and namespaces translate") {
  auto sets = documents(fixture("network_sets.yaml"));
  model::Resource gns, ns_set;
  REQUIRE(translate(sets[0].resource, gns).ok());
  const auto& g = body<model::NetworkSet>(gns);
  CHECK(g.ns.empty());
  CHECK(g.nets.size() == 3);
  CHECK(g.labels.at("role") == "external-database");
  REQUIRE(translate(sets[1].resource, ns_set).ok());
  const auto& s = body<model::NetworkSet>(ns_set);
  CHECK(s.ns == "staging");
  CHECK(s.nets[0].str() == "198.51.100.16/28");
  CHECK(s.allowed_egress_domains == std::vector<std::string>{"db.example.com", "*.db.example.com"});

  auto wep = translated(fixture("workload_endpoint.yaml"));
  const auto& ep = body<model::Endpoint>(wep);
  CHECK(wep.key == model::Key{model::Kind::WorkloadEndpoint, "default", "node1-k8s-my--nginx--b1337a-eth0"});
  CHECK(ep.interface_name == "cali0ef24ba");
  CHECK(ep.node == "node1");
  CHECK(ep.pod == "my-nginx-b1337a");
  REQUIRE(ep.ip_networks.size() == 2);
  CHECK(ep.ip_networks[1].str() == "fd00:244::7");
  // Only named ports matter to policy.
  CHECK(ep.ports == std::vector<model::NamedPort>{{"some-port", 6, 1234}, {"another-port", 17, 5432}});

  auto ns = translated(fixture("namespaces.yaml"));
  CHECK(ns.key == model::Key{model::Kind::Namespace, "", "production"});
  CHECK(body<model::Namespace>(ns).labels.at("team") == "payments");
}

TEST_CASE("CIDRs") {
  CHECK(problems(ingress_rule("action: Allow\n      destination:\n        notNets: [\"fd00::/129\"]")) ==
        kPrefix + "spec.ingress[0].destination.notNets[0]: invalid CIDR \"fd00::/129\"");
  CHECK(problems(ingress_rule("action: Allow\n      source:\n        nets: [10.0.0.0/8, \"2001:db8::/32\"]")) ==
        kPrefix +
            "spec.ingress[0].source.nets[1]: IPv6 CIDR 2001:db8::/32 does not match the rule's IP version, set by "
            "source.nets[0] (10.0.0.0/8)");
  CHECK(problems(ingress_rule("action: Allow\n      ipVersion: 6\n      destination:\n        nets: [192.0.2.0/24]")) ==
        kPrefix +
            "spec.ingress[0].destination.nets[0]: IPv4 CIDR 192.0.2.0/24 does not match the rule's IP version, set "
            "by ipVersion 6");
  CHECK(problems(ingress_rule("action: Allow\n      protocol: ICMP\n      source:\n        nets: [\"fd00::/8\"]")) ==
        kPrefix +
            "spec.ingress[0].source.nets[0]: IPv6 CIDR fd00::/8 does not match the rule's IP version, set by "
            "protocol ICMP");
}

TEST_CASE("ports") {
  auto rule = [](const std::string& ports, const std::string& protocol = "TCP") {
    return ingress_rule("action: Allow\n      protocol: " + protocol + "\n      destination:\n        ports: " + ports);
  };
  CHECK(problems(rule("[\"2000:1000\"]")) ==
        kPrefix + "spec.ingress[0].destination.ports[0]: invalid port range \"2000:1000\": first port is greater than last");
  CHECK(problems(rule("[0]")) == kPrefix +
                                     "spec.ingress[0].destination.ports[0]: invalid port \"0\" (expected a port "
                                     "1-65535, a range \"first:last\" or a port name)");
  CHECK_FALSE(problems(rule("[65536]")).empty());
  CHECK_FALSE(problems(rule("[\"1:65536\"]")).empty());
  CHECK_FALSE(problems(rule("[\"080\"]")).empty());
  CHECK(problems(rule("[Http_x]")) ==
        kPrefix +
            "spec.ingress[0].destination.ports[0]: invalid named port \"Http_x\": must contain only lower case "
            "alphanumeric characters or '-'");
  CHECK(problems(rule("[\"1:65535\", http, 443]")).empty());
  CHECK(problems(rule("[80]", "SCTP")).empty());
  CHECK(problems(rule("[80]", "udplite")).empty());
  CHECK(problems(rule("[80]", "ICMP")) ==
        kPrefix + "spec.ingress[0].destination.ports: rules that specify ports must set protocol to TCP, UDP, SCTP or UDPLite");
  CHECK(problems(ingress_rule("action: Allow\n      source:\n        notPorts: [80]")) ==
        kPrefix + "spec.ingress[0].source.notPorts: rules that specify ports must set protocol to TCP, UDP, SCTP or UDPLite");
}

TEST_CASE("protocols") {
  auto proto = [](const std::string& p) {
    auto r = translated(ingress_rule("action: Allow\n      protocol: " + p));
    return body<model::Policy>(r).ingress[0].protocol;
  };
  CHECK(proto("tcp") == 6);
  CHECK(proto("Udp") == 17);
  CHECK(proto("icmpv6") == 58);
  CHECK(proto("SCTP") == 132);
  CHECK(proto("UDPLite") == 136);
  CHECK(proto("\"47\"") == 47);
  CHECK(proto("255") == 255);
  CHECK(problems(ingress_rule("action: Allow\n      protocol: tcpx")) ==
        kPrefix +
            "spec.ingress[0].protocol: invalid protocol \"tcpx\" (expected TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a "
            "number 1-255)");
  CHECK_FALSE(problems(ingress_rule("action: Allow\n      protocol: 0")).empty());
  CHECK_FALSE(problems(ingress_rule("action: Allow\n      protocol: 256")).empty());
  CHECK(problems(ingress_rule("action: Allow\n      notProtocol: \"\"")).empty());
  CHECK(problems(ingress_rule("action: Allow\n      notProtocol: 300")).find("spec.ingress[0].notProtocol: invalid protocol") !=
        std::string::npos);
}

TEST_CASE("ICMP fields") {
  CHECK(problems(ingress_rule("action: Allow\n      protocol: TCP\n      icmp: {type: 8}")) ==
        kPrefix + "spec.ingress[0].icmp: rules that specify ICMP fields must set protocol to ICMP or ICMPv6");
  CHECK(problems(ingress_rule("action: Allow\n      notICMP: {type: 8}")) ==
        kPrefix + "spec.ingress[0].notICMP: rules that specify ICMP fields must set protocol to ICMP or ICMPv6");
  CHECK(problems(ingress_rule("action: Allow\n      protocol: ICMP\n      icmp: {type: 255}")) ==
        kPrefix + "spec.ingress[0].icmp.type: must be 0-254");
  CHECK(problems(ingress_rule("action: Allow\n      protocol: ICMP\n      icmp: {type: 3, code: 256}")) ==
        kPrefix + "spec.ingress[0].icmp.code: must be 0-255");
  CHECK(problems(ingress_rule("action: Allow\n      protocol: ICMP\n      icmp: {code: 1}")) ==
        kPrefix + "spec.ingress[0].icmp.code: ICMP code specified without an ICMP type");
  CHECK(problems(ingress_rule("action: Allow\n      protocol: ICMP\n      ipVersion: 6")) ==
        kPrefix + "spec.ingress[0].ipVersion: must be 4 with protocol ICMP");
  CHECK(problems(ingress_rule("action: Allow\n      protocol: ICMPv6\n      ipVersion: 4")) ==
        kPrefix + "spec.ingress[0].ipVersion: must be 6 with protocol ICMPv6");
  CHECK(problems(ingress_rule("action: Allow\n      ipVersion: 5")) == kPrefix + "spec.ingress[0].ipVersion: must be 4 or 6");
}

TEST_CASE("actions and types") {
  CHECK(problems(ingress_rule("action: allow")) ==
        kPrefix + "spec.ingress[0].action: invalid action \"allow\" (expected Allow, Deny, Log or Pass); did you mean Allow?");
  CHECK(problems(ingress_rule("protocol: TCP")) == kPrefix + "spec.ingress[0].action: required (Allow, Deny, Log or Pass)");
  CHECK(problems(policy("  types: [ingress]\n")) ==
        kPrefix + "spec.types[0]: invalid policy type \"ingress\" (expected Ingress or Egress); did you mean Ingress?");
  CHECK(problems(policy("  types: [Egress, Egress]\n")) == kPrefix + "spec.types[1]: 'Egress' type specified more than once");

  auto types = [](const std::string& spec) {
    auto r = translated(policy(spec));
    const auto& p = body<model::Policy>(r);
    return std::pair{p.applies_ingress, p.applies_egress};
  };
  // Calico's defaulting of an empty types list.
  CHECK(types("  selector: all()\n") == std::pair{true, false});
  CHECK(types("  ingress: [{action: Allow}]\n") == std::pair{true, false});
  CHECK(types("  egress: [{action: Allow}]\n") == std::pair{false, true});
  CHECK(types("  ingress: [{action: Deny}]\n  egress: [{action: Allow}]\n") == std::pair{true, true});
  CHECK(types("  types: [Egress]\n  ingress: [{action: Deny}]\n") == std::pair{false, true});
}

TEST_CASE("order must be finite") {
  v1::Resource r = resource(policy("  order: 10\n"));
  r.mutable_network_policy()->mutable_spec()->set_order(INFINITY);
  model::Resource out;
  CHECK(translate(r, out).str() == kPrefix + "spec.order: must be a finite number");
  r.mutable_network_policy()->mutable_spec()->set_order(NAN);
  CHECK(translate(r, out).str() == kPrefix + "spec.order: must be a finite number");
}

TEST_CASE("selectors") {
  std::string msg = problems(policy("  selector: \"app == \"\n"));
  CHECK(msg.starts_with(kPrefix + "spec.selector: invalid selector \"app == \": "));
  CHECK(msg.size() > (kPrefix + "spec.selector: invalid selector \"app == \": ").size());  // the parser's reason follows

  CHECK(problems(policy("  selector: global()\n")) ==
        kPrefix + "spec.selector: global() can only be used in a rule's namespaceSelector");
  CHECK(problems(ingress_rule("action: Allow\n      source:\n        selector: global()")) ==
        kPrefix + "spec.ingress[0].source.selector: global() can only be used in a rule's namespaceSelector");
  CHECK(problems(ingress_rule("action: Allow\n      source:\n        namespaceSelector: \"global() && a == 'b'\"")) ==
        kPrefix + "spec.ingress[0].source.namespaceSelector: global() cannot be combined with other selector terms");
  // A label value that merely reads "global()" is not the global() term.
  CHECK(problems(policy("  selector: \"scope == 'global()'\"\n")).empty());
  CHECK(problems(ingress_rule("action: Allow\n      source:\n        notSelector: \"has(\"")).starts_with(
      kPrefix + "spec.ingress[0].source.notSelector: invalid selector"));
  // Blank selectors mean "none" in rules.
  auto r = translated(ingress_rule("action: Allow\n      source:\n        selector: \"  \""));
  CHECK(body<model::Policy>(r).ingress[0].source.selector.empty());
}

TEST_CASE("domains only in the destination of egress Allow rules") {
  CHECK(problems(ingress_rule("action: Allow\n      destination:\n        domains: [example.com]")) ==
        kPrefix + "spec.ingress[0].destination.domains: domains are only allowed in the destination of egress Allow rules");
  CHECK(problems(policy("  egress:\n    - action: Deny\n      destination:\n        domains: [example.com]\n")) ==
        kPrefix + "spec.egress[0].destination.domains: domains are only allowed in the destination of egress Allow rules");
  CHECK(problems(policy("  egress:\n    - action: Allow\n      source:\n        domains: [example.com]\n")) ==
        kPrefix + "spec.egress[0].source.domains: domains are only allowed in the destination of egress Allow rules");
  CHECK(problems(policy("  egress:\n    - action: Allow\n      destination:\n        domains: [example.com]\n"
                        "        nets: [192.0.2.0/24]\n")) ==
        kPrefix + "spec.egress[0].destination.domains: domains cannot be combined with nets in the same destination (use a separate rule)");
  CHECK(problems(policy("  egress:\n    - action: Allow\n      destination:\n        domains: [\"bad..name\"]\n"))
            .starts_with(kPrefix + "spec.egress[0].destination.domains[0]: invalid domain \"bad..name\": "));
  auto r = translated(policy("  egress:\n    - action: Allow\n      destination:\n        domains: [WWW.Example.COM, www.example.com.]\n"));
  CHECK(body<model::Policy>(r).egress[0].destination.domains == std::vector<std::string>{"www.example.com"});
}

TEST_CASE("unsupported Calico features are refused, not ignored") {
  CHECK(problems(policy("  serviceAccountSelector: \"role == 'x'\"\n")) ==
        kPrefix + "spec.serviceAccountSelector: service account selectors are not supported by wac");
  CHECK(problems(ingress_rule("action: Allow\n      source:\n        serviceAccounts: {names: [a]}")) ==
        kPrefix + "spec.ingress[0].source.serviceAccounts: service account matches are not supported by wac");
  CHECK(problems(ingress_rule("action: Allow\n      source:\n        services: {name: a}")) ==
        kPrefix + "spec.ingress[0].source.services: service matches are not supported by wac");
  CHECK(problems(ingress_rule("action: Allow\n      http: {methods: [GET]}")) ==
        kPrefix + "spec.ingress[0].http: HTTP matches are not supported by wac");
  CHECK(problems(policy("  tier: security\n")) == kPrefix + "spec.tier: tiers are not supported by wac (only \"default\")");
  CHECK(problems(policy("  tier: default\n")).empty());
  std::string gnp = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: g}\nspec:\n";
  CHECK(problems(gnp + "  doNotTrack: true\n") == "GlobalNetworkPolicy g: spec.doNotTrack: doNotTrack policies are not supported by wac");
  CHECK(problems(gnp + "  preDNAT: true\n") == "GlobalNetworkPolicy g: spec.preDNAT: preDNAT policies are not supported by wac");
  CHECK(problems(gnp + "  applyOnForward: true\n") ==
        "GlobalNetworkPolicy g: spec.applyOnForward: applyOnForward policies are not supported by wac");
  CHECK(problems(gnp + "  doNotTrack: false\n  applyOnForward: false\n").empty());
}

TEST_CASE("names, namespaces and labels") {
  std::string np = "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\n";
  CHECK(problems(np + "metadata: {name: Bad_Name, namespace: default}\n") ==
        "NetworkPolicy default/Bad_Name: metadata.name: invalid name \"Bad_Name\": must consist of lower case "
        "alphanumeric characters, '-' or '.', and start and end with an alphanumeric character (DNS-1123 subdomain)");
  CHECK(problems(np + "metadata: {name: " + std::string(254, 'a') + ", namespace: default}\n")
            .find("metadata.name: invalid name \"") != std::string::npos);
  CHECK(problems(np + "metadata: {name: " + std::string(253, 'a') + ", namespace: default}\n").empty());
  CHECK(problems(np + "metadata: {name: knp.default.x, namespace: default}\n") ==
        "NetworkPolicy default/knp.default.x: metadata.name: names starting \"knp.\" are reserved for Kubernetes "
        "NetworkPolicies");
  CHECK(problems(np + "metadata: {name: p, namespace: Prod}\n") ==
        "NetworkPolicy Prod/p: metadata.namespace: invalid namespace \"Prod\": must consist of lower case "
        "alphanumeric characters or '-' (DNS-1123 label)");
  CHECK(problems("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: s, namespace: default}\n") ==
        "GlobalNetworkSet default/s: metadata.namespace: must be empty: GlobalNetworkSet is cluster-scoped");
  CHECK(problems("apiVersion: v1\nkind: Namespace\nmetadata: {name: a.b}\n") ==
        "Namespace a.b: metadata.name: invalid name \"a.b\": must consist of lower case alphanumeric characters or "
        "'-' (DNS-1123 label)");

  std::string labelled = np + "metadata:\n  name: p\n  namespace: default\n  labels:\n";
  CHECK(problems(labelled + "    -bad: x\n") ==
        "NetworkPolicy default/p: metadata.labels[\"-bad\"]: invalid label key \"-bad\": name part must consist of "
        "alphanumeric characters, '-', '_' or '.', and start and end with an alphanumeric character");
  CHECK(problems(labelled + "    good: " + std::string(64, 'v') + "\n")
            .find("metadata.labels[\"good\"]: invalid label value") != std::string::npos);
  CHECK(problems(labelled + "    example.com/app: web\n    a: \"\"\n").empty());
  CHECK(problems(labelled + "    pcns.team: x\n") ==
        "NetworkPolicy default/p: metadata.labels[\"pcns.team\"]: label keys starting \"pcns.\" are reserved for "
        "namespace labels");
  CHECK(problems(labelled + "    projectcalico.org/namespace: other\n") ==
        "NetworkPolicy default/p: metadata.labels[\"projectcalico.org/namespace\"]: projectcalico.org/namespace must "
        "equal metadata.namespace \"default\"");
}

TEST_CASE("namespace is required for namespaced kinds") {
  v1::Resource r = resource(fixture("workload_endpoint.yaml"));
  r.mutable_workload_endpoint()->mutable_metadata()->clear_namespace_();
  r.mutable_workload_endpoint()->mutable_metadata()->mutable_labels()->erase("projectcalico.org/namespace");
  model::Resource out;
  CHECK(translate(r, out).str() ==
        "WorkloadEndpoint node1-k8s-my--nginx--b1337a-eth0: metadata.namespace: required for WorkloadEndpoint");
}

TEST_CASE("workload endpoints") {
  const std::string base = fixture("workload_endpoint.yaml");
  const std::string who = "WorkloadEndpoint default/node1-k8s-my--nginx--b1337a-eth0: ";
  auto with = [&](const std::string& from, const std::string& to) {
    std::string y = base;
    auto at = y.find(from);
    REQUIRE(at != std::string::npos);
    return y.replace(at, from.size(), to);
  };
  CHECK(problems(with("10.244.1.7/32", "10.244.1.0/24")) ==
        who + "spec.ipNetworks[0]: \"10.244.1.0/24\" is not a single address (must be /32 for IPv4 or /128 for IPv6)");
  CHECK(problems(with("10.244.1.7/32", "10.244.1.300")) == who + "spec.ipNetworks[0]: invalid CIDR \"10.244.1.300\"");
  CHECK(problems(with("  interfaceName: cali0ef24ba\n", "")) == who + "spec.interfaceName: required");
  CHECK(problems(with("cali0ef24ba", "cali0123456789abc")) ==
        who + "spec.interfaceName: invalid interface name \"cali0123456789abc\": must be no more than 15 characters (is 17)");
  CHECK(problems(with("ca:fe:1d:52:bb:e9", "ca:fe:1d:52:bb")) ==
        who + "spec.mac: invalid value \"ca:fe:1d:52:bb\": must be a MAC address like 0a:58:0a:f4:01:05");
  CHECK(problems(with("port: 1234", "port: 0")) == who + "spec.ports[0].port: must be 1-65535");
  CHECK(problems(with("protocol: UDP", "protocol: ICMP")) == who + "spec.ports[1].protocol: protocol \"ICMP\" has no ports");
  CHECK(problems(with("hostIP: 192.0.2.10", "hostIP: 192.0.2")) == who + "spec.ports[2].hostIP: invalid IP address \"192.0.2\"");
  CHECK(problems(with("    - name: some-port\n", "    - name: Some_Port\n")) ==
        who + "spec.ports[0].name: invalid port name \"Some_Port\": must contain only lower case alphanumeric characters or '-'");
}

TEST_CASE("network set limits and nets") {
  v1::Resource r;
  auto* set = r.mutable_global_network_set();
  set->mutable_metadata()->set_name("big");
  auto* nets = set->mutable_spec()->mutable_nets();
  nets->Reserve(int(kMaxNetsPerNetworkSet) + 1);
  for (size_t i = 0; i <= kMaxNetsPerNetworkSet; ++i) *nets->Add() = "198.51.100.0/24";
  model::Resource out;
  CHECK(translate(r, out).str() == "GlobalNetworkSet big: spec.nets: too many nets (1000001, at most 1000000)");
  nets->RemoveLast();
  CHECK(translate(r, out).ok());
  CHECK(body<model::NetworkSet>(out).nets.size() == kMaxNetsPerNetworkSet);
}

TEST_CASE("rules per direction are limited") {
  v1::Resource r = resource(policy("  selector: all()\n"));
  auto* spec = r.mutable_network_policy()->mutable_spec();
  for (size_t i = 0; i <= kMaxRulesPerDirection; ++i) spec->add_egress()->set_action("Allow");
  model::Resource out;
  CHECK(translate(r, out).str() == kPrefix + "spec.egress: too many rules (1001, at most 1000)");
}

TEST_CASE("a flood of problems is reported briefly") {
  std::string nets;
  for (int i = 0; i < 30; ++i) nets += std::string(nets.empty() ? "" : ", ") + "bad" + std::to_string(i);
  std::string msg = problems(ingress_rule("action: Allow\n      source:\n        nets: [" + nets + "]"));
  CHECK(std::count(msg.begin(), msg.end(), '\n') == 20);
  CHECK(msg.ends_with("... and 10 more problems"));
}

TEST_CASE("invalid UTF-8 and unknown proto fields are rejected") {
  v1::Resource r = resource(policy("  selector: all()\n"));
  r.mutable_network_policy()->mutable_spec()->set_selector("app == '\xff'");
  model::Resource out;
  CHECK(translate(r, out).str() == kPrefix + "spec.selector: invalid UTF-8");

  r = resource(policy("  selector: all()\n"));
  (*r.mutable_network_policy()->mutable_metadata()->mutable_labels())["k"] = "\xc3\x28";
  CHECK(translate(r, out).str() == kPrefix + "metadata.labels[\"k\"]: invalid UTF-8");

  r = resource(policy("  ingress: [{action: Allow}]\n"));
  r.mutable_network_policy()->mutable_spec()->mutable_ingress(0)->GetReflection()->MutableUnknownFields(
      r.mutable_network_policy()->mutable_spec()->mutable_ingress(0))->AddVarint(99, 1);
  CHECK(translate(r, out).str() ==
        kPrefix + "spec.ingress[0]: contains fields this version of wac does not know (field numbers 99)");

  CHECK(translate(v1::Resource{}, out).str() == "Resource: no resource kind set");
}

TEST_CASE("batches reject duplicates") {
  v1::ApplyRequest req;
  *req.add_resources() = resource(policy("  selector: all()\n"));
  *req.add_resources() = resource(fixture("namespaces.yaml"));
  *req.add_resources() = resource(policy("  selector: a == 'b'\n"));
  std::vector<model::Resource> out;
  CHECK(translate_all(req.resources(), out).str() ==
        kPrefix + "duplicate: resources[2] and resources[0] have the same kind, namespace and name");
  CHECK(out.empty());
  req.mutable_resources()->RemoveLast();
  CHECK(translate_all(req.resources(), out).ok());
  CHECK(out.size() == 2);
}

TEST_CASE("resource references") {
  auto ref = [](std::string kind, std::string ns, std::string name) {
    v1::ResourceRef r;
    r.set_kind(kind);
    r.set_namespace_(ns);
    r.set_name(name);
    return r;
  };
  model::Key key;
  CHECK(translate_ref(ref("NetworkPolicy", "default", "p"), key).ok());
  CHECK(key == model::Key{model::Kind::NetworkPolicy, "default", "p"});
  CHECK(translate_ref(ref("K8sNetworkPolicy", "default", "p"), key).ok());
  CHECK(key.kind == model::Kind::K8sNetworkPolicy);
  CHECK(translate_ref(ref("netpol", "default", "p"), key).str() ==
        "netpol default/p: kind: unknown kind \"netpol\" (expected one of Namespace, WorkloadEndpoint, NetworkPolicy, "
        "GlobalNetworkPolicy, NetworkSet, GlobalNetworkSet, K8sNetworkPolicy, SecurityGroup, EgressGateway)");
  CHECK(translate_ref(ref("NetworkPolicy", "", "p"), key).str() == "NetworkPolicy p: namespace: required for NetworkPolicy");
  CHECK(translate_ref(ref("GlobalNetworkPolicy", "x", "p"), key).str() ==
        "GlobalNetworkPolicy x/p: namespace: must be empty: GlobalNetworkPolicy is cluster-scoped");
  CHECK(translate_ref(ref("Namespace", "", "UPPER"), key).str().find("name: invalid name") != std::string::npos);
}

TEST_CASE("a resource's stored source does not depend on its map order") {
  // Debug builds of protobuf iterate maps in a random order; the agent
  // compares sources to tell a real change from a re-send.
  auto with_labels = [](bool reversed) {
    v1::Resource r;
    auto& labels = *r.mutable_namespace_()->mutable_metadata()->mutable_labels();
    r.mutable_namespace_()->mutable_metadata()->set_name("ordered");
    for (int i = 0; i < 64; ++i) {
      int n = reversed ? 63 - i : i;
      labels["key" + std::to_string(n)] = "value" + std::to_string(n);
    }
    model::Resource out;
    REQUIRE(translate(r, out).ok());
    return out.source;
  };
  std::string first = with_labels(false);
  CHECK(with_labels(true) == first);
  v1::Resource parsed;
  REQUIRE(parsed.ParseFromString(first));
  model::Resource again;
  REQUIRE(translate(parsed, again).ok());
  CHECK(again.source == first);
}
