// wac.dev/v1 EgressGateway: translation, defaults, every validation error
// with its field path, the Calico Enterprise annotations, and YAML round
// trips.
#include "api/kinds.h"
#include "api/table.h"
#include "helpers.h"

using namespace wac;
using namespace wac::api;
using namespace wac::api::test;

namespace {

const std::string kPrefix = "EgressGateway prod-egress: ";

// An EgressGateway whose spec is `spec` (indented as the body of `spec:`).
std::string gateway(const std::string& spec, const std::string& meta_extra = "") {
  return "apiVersion: wac.dev/v1\nkind: EgressGateway\nmetadata:\n  name: prod-egress\n" + meta_extra + "spec:\n" + spec;
}

const std::string kOneGateway =
    "  gateways:\n  - {node: node2, nodeIP: 192.0.2.2, egressIP: 192.0.2.100}\n";

}  // namespace

TEST_CASE("egress gateway: the documented shape translates, with defaults") {
  auto r = translated(gateway(R"(  namespaceSelector: projectcalico.org/name == "prod"
  selector: app == "web"
  excludedCIDRs: [192.0.2.0/24]
  order: 10
  gatewayNamespace: egress
  gateways:
  - {node: node1, nodeIP: 192.0.2.1, egressIP: 192.0.2.100, interface: eth0}
  - {node: node2, nodeIP: 192.0.2.2, egressIP: 192.0.2.101, healthy: false}
)",
                              "  labels: {egress-code: red}\n"));
  CHECK(r.key == model::Key{model::Kind::EgressGateway, "", "prod-egress"});
  const auto& g = body<model::EgressGateway>(r);
  CHECK(g.name == "prod-egress");
  CHECK(g.labels.at("egress-code") == "red");
  CHECK(g.namespace_selector == "projectcalico.org/name == 'prod'");
  CHECK(g.selector == "app == 'web'");
  REQUIRE(g.destinations.size() == 1);  // only the served family
  CHECK(g.destinations[0] == *Cidr::parse("0.0.0.0/0"));
  CHECK(g.excluded == std::vector<Cidr>{*Cidr::parse("192.0.2.0/24")});
  CHECK(g.order == 10);
  CHECK(g.gateway_namespace == "egress");
  REQUIRE(g.gateways.size() == 2);
  CHECK(g.gateways[0].interface == "eth0");
  CHECK(g.gateways[0].healthy);
  CHECK_FALSE(g.gateways[1].healthy);
  CHECK(g.gateways[1].egress_ip == *IpAddr::parse("192.0.2.101"));
  CHECK(g.health_check.protocol == model::EgressHealthCheck::Protocol::ICMP);
  CHECK(g.health_check.interval_ms == 1000);
  CHECK(g.health_check.timeout_ms == 500);
  CHECK(g.health_check.failure_threshold == 3);
  CHECK(g.health_check.success_threshold == 1);
}

TEST_CASE("egress gateway: dual-stack gateways default to both families") {
  auto r = translated(gateway(R"(  gateways:
  - {node: n1, nodeIP: 192.0.2.1, egressIP: 192.0.2.100}
  - {node: n1, nodeIP: "2001:db8::1", egressIP: "2001:db8::100"}
)"));
  const auto& g = body<model::EgressGateway>(r);
  CHECK(g.destinations == std::vector<Cidr>{*Cidr::parse("0.0.0.0/0"), *Cidr::parse("::/0")});
}

TEST_CASE("egress gateway: validation errors name the field") {
  SECTION("gateways are required") {
    CHECK(problems(gateway("  selector: app == 'web'\n")) == kPrefix + "spec.gateways: at least one gateway is required");
  }
  SECTION("the egress IP must be unicast") {
    for (const char* ip : {"224.0.0.1", "0.0.0.0", "255.255.255.255", "127.0.0.1", "ff02::1"}) {
      INFO(ip);
      std::string spec = std::string("  gateways:\n  - {node: n, nodeIP: 192.0.2.2, egressIP: \"") + ip + "\"}\n";
      CHECK(problems(gateway(spec)).find(kPrefix + "spec.gateways[0].egressIP: \"" + ip +
                                         "\" is not a unicast address") != std::string::npos);
    }
  }
  SECTION("addresses are checked") {
    CHECK(problems(gateway("  gateways:\n  - {node: n, nodeIP: 192.0.2.300, egressIP: 192.0.2.100}\n")) ==
          kPrefix + "spec.gateways[0].nodeIP: invalid IP address \"192.0.2.300\"");
    CHECK(problems(gateway("  gateways:\n  - {node: n, egressIP: 192.0.2.100}\n")) ==
          kPrefix + "spec.gateways[0].nodeIP: required");
    CHECK(problems(gateway("  gateways:\n  - {node: n, nodeIP: \"2001:db8::1\", egressIP: 192.0.2.100}\n")) ==
          kPrefix + "spec.gateways[0].nodeIP: must be of the egress IP's family (IPv4)");
    CHECK(problems(gateway("  gateways:\n  - {node: n, nodeIP: \"fe80::1\", egressIP: \"2001:db8::1\"}\n"))
              .find("spec.gateways[0].nodeIP: a link-local address") != std::string::npos);
  }
  SECTION("node and interface names") {
    CHECK(problems(gateway("  gateways:\n  - {nodeIP: 192.0.2.2, egressIP: 192.0.2.100}\n")) ==
          kPrefix + "spec.gateways[0].node: required");
    CHECK(problems(gateway("  gateways:\n  - {node: Node_2, nodeIP: 192.0.2.2, egressIP: 192.0.2.100}\n"))
              .starts_with(kPrefix + "spec.gateways[0].node: invalid node name \"Node_2\""));
    CHECK(problems(gateway(
              "  gateways:\n  - {node: n, nodeIP: 192.0.2.2, egressIP: 192.0.2.100, interface: a-very-long-interface}\n"))
              .starts_with(kPrefix + "spec.gateways[0].interface: invalid interface name"));
  }
  SECTION("one gateway per node and family, each egress IP once") {
    CHECK(problems(gateway(R"(  gateways:
  - {node: n, nodeIP: 192.0.2.2, egressIP: 192.0.2.100}
  - {node: n, nodeIP: 192.0.2.2, egressIP: 192.0.2.101}
  - {node: m, nodeIP: 192.0.2.3, egressIP: 192.0.2.100}
)")) == kPrefix + "spec.gateways[1].node: node \"n\" already has an IPv4 gateway here (spec.gateways[0])\n" + kPrefix +
             "spec.gateways[2].egressIP: 192.0.2.100 is already the egress IP of spec.gateways[0]");
  }
  SECTION("selectors and CIDRs") {
    CHECK(problems(gateway("  selector: app ==\n" + kOneGateway)).starts_with(kPrefix + "spec.selector: invalid selector"));
    CHECK(problems(gateway("  namespaceSelector: global()\n" + kOneGateway)) ==
          kPrefix + "spec.namespaceSelector: global() can only be used in a rule's namespaceSelector");
    CHECK(problems(gateway("  destinationCIDRs: [10.0.0.0/33]\n" + kOneGateway)) ==
          kPrefix + "spec.destinationCIDRs[0]: invalid CIDR \"10.0.0.0/33\"");
    CHECK(problems(gateway("  excludedCIDRs: [nope]\n" + kOneGateway)) ==
          kPrefix + "spec.excludedCIDRs[0]: invalid CIDR \"nope\"");
    CHECK(problems(gateway("  destinationCIDRs: [\"2001:db8::/32\"]\n" + kOneGateway)) ==
          kPrefix + "spec.destinationCIDRs[0]: IPv6 destination, but no gateway has an IPv6 egressIP");
  }
  SECTION("health check") {
    CHECK(problems(gateway("  healthCheck: {protocol: HTTP}\n" + kOneGateway)) ==
          kPrefix + "spec.healthCheck.protocol: expected ICMP, TCP or None, got \"HTTP\"");
    CHECK(problems(gateway("  healthCheck: {protocol: TCP}\n" + kOneGateway)) ==
          kPrefix + "spec.healthCheck.port: a TCP check needs a port 1-65535");
    CHECK(problems(gateway("  healthCheck: {port: 80}\n" + kOneGateway)) ==
          kPrefix + "spec.healthCheck.port: only a TCP check has a port");
    CHECK(problems(gateway("  healthCheck: {intervalMilliseconds: 50}\n" + kOneGateway)) ==
          kPrefix + "spec.healthCheck.intervalMilliseconds: must be 100-60000 (got 50)");
    CHECK(problems(gateway("  healthCheck: {intervalMilliseconds: 200, timeoutMilliseconds: 200}\n" + kOneGateway)) ==
          kPrefix + "spec.healthCheck.timeoutMilliseconds: must be less than the interval (200 ms)");
    CHECK(problems(gateway("  healthCheck: {failureThreshold: 1000}\n" + kOneGateway)) ==
          kPrefix + "spec.healthCheck.failureThreshold: must be 1-100 (got 1000)");
  }
  SECTION("cluster-scoped") {
    CHECK(problems("apiVersion: wac.dev/v1\nkind: EgressGateway\nmetadata: {name: prod-egress, namespace: prod}\nspec:\n" +
                   kOneGateway) == "EgressGateway prod/prod-egress: metadata.namespace: must be empty: EgressGateway is "
                                   "cluster-scoped");
  }
}

TEST_CASE("egress gateway: unknown YAML fields are refused with their line") {
  std::vector<Document> docs;
  Status s = parse_documents(gateway("  egressIPs: [192.0.2.100]\n" + kOneGateway), "gw.yaml", docs);
  CHECK(s.message() == "gw.yaml: document 1 (EgressGateway prod-egress): spec.egressIPs: unknown field (line 6)");
}

TEST_CASE("egress gateway: Calico Enterprise annotations must hold selectors") {
  std::string ns = R"(apiVersion: v1
kind: Namespace
metadata:
  name: prod
  annotations:
    egress.projectcalico.org/selector: egress-code == 'red'
    egress.projectcalico.org/namespaceSelector: projectcalico.org/name == 'egress'
)";
  CHECK(problems(ns) == "");
  std::string bad = ns;
  bad.replace(bad.find("egress-code == 'red'"), 20, "egress-code ==");
  CHECK(problems(bad).starts_with("Namespace prod: metadata.annotations[\"egress.projectcalico.org/selector\"]: "
                                  "invalid selector"));
  std::string lone = R"(apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata:
  name: node1-k8s-web-eth0
  namespace: prod
  annotations:
    egress.projectcalico.org/namespaceSelector: all()
spec: {node: node1, interfaceName: cali0123456789a, ipNetworks: [10.244.1.5/32]}
)";
  CHECK(problems(lone) == "WorkloadEndpoint prod/node1-k8s-web-eth0: metadata.annotations[\"egress.projectcalico.org/"
                          "namespaceSelector\"]: needs egress.projectcalico.org/selector on the same object (it "
                          "narrows which gateways that selector picks)");
}

TEST_CASE("egress gateway: kind spellings, YAML round trip and table") {
  for (const char* alias : {"egress", "egressgateway", "EgressGateways", "egw"}) {
    const KindInfo* k = kind_by_alias(alias);
    REQUIRE(k);
    CHECK(k->kind == model::Kind::EgressGateway);
  }
  std::string yaml = gateway("  namespaceSelector: projectcalico.org/name == 'prod'\n  order: 5\n  destinationCIDRs: "
                             "[203.0.113.0/24]\n" +
                             kOneGateway);
  v1::Resource r = resource(yaml);
  std::string out = to_yaml_text({r});
  CHECK(out.find("egressIP: 192.0.2.100") != std::string::npos);
  CHECK(out.find("destinationCIDRs:") != std::string::npos);
  CHECK(out.find("nodeIP: 192.0.2.2") != std::string::npos);
  v1::Resource again = resource(out);
  CHECK(again.SerializeAsString() == r.SerializeAsString());
  std::string table = format_table({r}, false);
  CHECK(table.find("NAME") != std::string::npos);
  CHECK(table.find("node2=192.0.2.100") != std::string::npos);
  CHECK(table.find("203.0.113.0/24") != std::string::npos);
}

TEST_CASE("egress gateway: status table") {
  v1::EgressStatusResponse s;
  auto* g = s.add_groups();
  g->set_name("prod-egress");
  g->set_table(20001);
  g->set_mark(0x00100000);
  auto* m = g->add_gateways();
  m->set_node("node2");
  m->set_node_ip("192.0.2.2");
  m->set_egress_ip("192.0.2.100");
  m->set_state("Down");
  m->set_detail("3 probes failed in a row, last: no echo reply (timeout)");
  g->add_local_pods("prod/web-1");
  s.add_problems("net.ipv4.ip_forward is 0");
  std::string text = format_egress_status(s);
  CHECK(text.find("EgressGateway prod-egress   table 20001   mark 0x00100000") != std::string::npos);
  CHECK(text.find("node2") != std::string::npos);
  CHECK(text.find("Down") != std::string::npos);
  CHECK(text.find("Local pods using it: prod/web-1") != std::string::npos);
  CHECK(text.find("Problem: net.ipv4.ip_forward is 0") != std::string::npos);
}
