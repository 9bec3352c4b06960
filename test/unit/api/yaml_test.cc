// YAML documents -> wac.v1 resources, and back.
#include <google/protobuf/util/message_differencer.h>

#include "api/kinds.h"
#include "helpers.h"

using namespace wac;
using namespace wac::api;
using namespace wac::api::test;

namespace {

std::string parse_error(const std::string& yaml, const std::string& source = "policy.yaml") {
  std::vector<Document> docs;
  Status s = parse_documents(yaml, source, docs);
  CHECK_FALSE(s.ok());
  CHECK(docs.empty());  // nothing comes out of a bad input
  return s.message();
}

}  // namespace

TEST_CASE("every fixture parses and translates") {
  for (const char* name : {"calico_policies.yaml", "network_sets.yaml", "workload_endpoint.yaml", "namespaces.yaml",
                           "k8s_policies.yaml", "list.yaml", "security_group.yaml",
                           "describe_security_groups.json"}) {
    INFO(name);
    for (const auto& doc : documents(fixture(name), name)) {
      model::Resource out;
      Problems p = translate(doc.resource, out);
      INFO(doc.origin << ": " << p.str());
      CHECK(p.ok());
    }
  }
}

TEST_CASE("unknown fields name file, document, resource, path and line") {
  CHECK(parse_error(fixture("unknown_field.yaml"), "policy.yaml") ==
        "policy.yaml: document 2 (NetworkPolicy default/x): spec.ingres: unknown field (line 12)");
  CHECK(parse_error(policy("  ingress:\n    - action: Allow\n      source:\n        nets: [10.0.0.0/8]\n        natNets: []\n")) ==
        "policy.yaml: document 1 (NetworkPolicy default/p): spec.ingress[0].source.natNets: unknown field (line 11)");
  // Proto-style names are not Calico's names.
  CHECK(parse_error(policy("  ingress:\n    - action: Allow\n      ip_version: 4\n")) ==
        "policy.yaml: document 1 (NetworkPolicy default/p): spec.ingress[0].ip_version: unknown field (line 9)");
  CHECK(parse_error("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\nextra: 1\n") ==
        "policy.yaml: document 1 (Namespace a): extra: unknown field (line 4)");
}

TEST_CASE("Calico's int-or-string fields accept both spellings") {
  auto r = resource(policy("  ingress:\n    - action: Allow\n      protocol: 6\n      destination:\n"
                           "        ports: [80, \"8080:8090\", 1000:2000, http]\n"));
  const auto& rule = r.network_policy().spec().ingress(0);
  CHECK(rule.protocol() == "6");
  REQUIRE(rule.destination().ports_size() == 4);
  CHECK(rule.destination().ports(0) == "80");
  CHECK(rule.destination().ports(1) == "8080:8090");
  CHECK(rule.destination().ports(2) == "1000:2000");
  CHECK(rule.destination().ports(3) == "http");
}

TEST_CASE("typed fields are checked while reading") {
  CHECK(parse_error(policy("  order: \"100\"\n")) ==
        "policy.yaml: document 1 (NetworkPolicy default/p): spec.order: expected a number, got \"100\" (line 7)");
  CHECK(parse_error(policy("  order: .inf\n")).find("spec.order: expected a number") != std::string::npos);
  CHECK(parse_error(policy("  ingress:\n    - action: Allow\n      ipVersion: four\n")) ==
        "policy.yaml: document 1 (NetworkPolicy default/p): spec.ingress[0].ipVersion: expected an integer, got \"four\" (line 9)");
  CHECK(parse_error(policy("  ingress:\n    - action: Allow\n      ipVersion: 99999999999\n"))
            .find("expected an integer") != std::string::npos);
  CHECK(parse_error(policy("  ingress: {action: Allow}\n")) ==
        "policy.yaml: document 1 (NetworkPolicy default/p): spec.ingress: expected a list, got a mapping (line 7)");
  CHECK(parse_error(policy("  selector: [a]\n")) ==
        "policy.yaml: document 1 (NetworkPolicy default/p): spec.selector: expected a value, got a list (line 7)");
  CHECK(parse_error(policy("  selector: a\n  selector: b\n")) ==
        "policy.yaml: document 1 (NetworkPolicy default/p): spec.selector: duplicate field (line 8)");
  CHECK(parse_error("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: g}\n"
                    "spec: {doNotTrack: yes}\n")
            .find("spec.doNotTrack: expected true or false, got \"yes\"") != std::string::npos);
  CHECK(resource(policy("  order: 1e3\n")).network_policy().spec().order() == 1000.0);
  CHECK(resource(policy("  selector:\n")).network_policy().spec().selector().empty());  // null = unset
}

TEST_CASE("documents: kinds, lists, namespaces") {
  auto docs = documents(fixture("list.yaml"), "list.yaml");
  REQUIRE(docs.size() == 3);
  CHECK(docs[0].origin == "list.yaml: document 1, items[0]");
  CHECK(docs[0].resource.has_global_network_set());
  CHECK(docs[1].resource.has_namespace_());
  CHECK(docs[2].origin == "list.yaml: document 2, items[0]");
  CHECK(docs[2].resource.network_policy().metadata().name() == "typed-item");

  auto k8s = documents(fixture("k8s_policies.yaml"));
  CHECK(k8s.size() == 3);
  for (const auto& d : k8s) CHECK(d.resource.has_k8s_network_policy());

  // Namespaced resources without a namespace get the default one, as with kubectl.
  auto np = resource("apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: p}\n");
  CHECK(np.network_policy().metadata().namespace_() == "default");
  std::vector<Document> out;
  YamlOptions opts;
  opts.default_namespace = "team-a";
  REQUIRE(parse_documents("apiVersion: projectcalico.org/v3\nkind: NetworkSet\nmetadata: {name: s}\n", "f", out, opts));
  CHECK(out[0].resource.network_set().metadata().namespace_() == "team-a");

  // Empty documents (a trailing ---) are skipped.
  CHECK(documents("---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n").size() == 1);
}

TEST_CASE("document-level errors") {
  CHECK(parse_error("apiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata: {name: h}\n") ==
        "policy.yaml: document 1: unsupported apiVersion/kind \"projectcalico.org/v3\" \"HostEndpoint\" (supported: v1 "
        "Namespace, projectcalico.org/v3 WorkloadEndpoint, projectcalico.org/v3 NetworkPolicy, projectcalico.org/v3 "
        "GlobalNetworkPolicy, projectcalico.org/v3 NetworkSet, projectcalico.org/v3 GlobalNetworkSet, "
        "networking.k8s.io/v1 NetworkPolicy, wac.dev/v1 SecurityGroup, wac.dev/v1 EgressGateway) (line 1)");
  CHECK(parse_error("apiVersion: crd.projectcalico.org/v1\nkind: NetworkPolicy\nmetadata: {name: h}\n")
            .find("write projectcalico.org/v3") != std::string::npos);
  CHECK(parse_error("kind: NetworkPolicy\nmetadata: {name: h}\n") == "policy.yaml: document 1: apiVersion: required (line 1)");
  CHECK(parse_error("- a\n- b\n") ==
        "policy.yaml: document 1: expected a mapping (apiVersion, kind, metadata, spec), got a list (line 1)");
  CHECK(parse_error("apiVersion: v1\nkind: Namespace\nmetadata: {name: a\n").starts_with("policy.yaml:"));
  CHECK(parse_error("apiVersion: v1\nkind: Namespace\nmetadata: {name: a\n").find("invalid YAML") != std::string::npos);
  CHECK(parse_error("apiVersion: v1\nkind: Namespace\n") == "policy.yaml: document 1 (Namespace <unnamed>): metadata: required (line 1)");
}

TEST_CASE("alias expansion is bounded") {
  // Three nested lists of 1000 aliases each: 10^9 nodes if expanded, from
  // about 20 KB of text.  The reader must give up, not expand.
  auto repeat = [](const std::string& item, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += (i ? ", " : "") + item;
    return out;
  };
  std::string yaml = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: k, namespace: default}\n"
                     "spec:\n  ingress: [&i {from: [&p {ipBlock: {cidr: 10.0.0.0/8, except: [" +
                     repeat("10.0.0.0/16", 1000) + "]}}, " + repeat("*p", 999) + "]}, " + repeat("*i", 999) + "]\n";
  std::string msg = parse_error(yaml);
  CHECK(msg.find("document expands far beyond its size (nested YAML aliases?)") != std::string::npos);
}

TEST_CASE("output: JSON in Calico's shape, YAML that reads back the same") {
  for (const char* name : {"calico_policies.yaml", "network_sets.yaml", "workload_endpoint.yaml", "namespaces.yaml",
                           "k8s_policies.yaml"}) {
    INFO(name);
    std::vector<v1::Resource> resources;
    for (const auto& d : documents(fixture(name))) resources.push_back(d.resource);
    std::string yaml = to_yaml_text(resources);
    INFO(yaml);
    auto again = documents(yaml);
    REQUIRE(again.size() == resources.size());
    for (size_t i = 0; i < resources.size(); ++i)
      CHECK(google::protobuf::util::MessageDifferencer::Equals(resources[i], again[i].resource));
  }

  auto docs = documents(fixture("calico_policies.yaml"));
  auto j = to_json(docs[1].resource);
  CHECK(j["apiVersion"] == "projectcalico.org/v3");
  CHECK(j["kind"] == "GlobalNetworkPolicy");
  CHECK(j["metadata"]["name"] == "deny-blue");
  CHECK(j["spec"]["order"] == 100.5);
  CHECK(j["spec"]["namespaceSelector"] == "team == 'payments'");
  CHECK(j["spec"]["ingress"][0]["destination"]["ports"] == nlohmann::ordered_json::parse(R"([80, "8080:8090", "http"])"));
  CHECK(j["spec"]["ingress"][2]["protocol"] == 58);
  CHECK(j["spec"]["ingress"][2]["notICMP"]["type"] == 128);
  auto first_key = j.begin().key();
  CHECK(first_key == "apiVersion");

  auto k8s = to_json(documents(fixture("k8s_policies.yaml"))[0].resource);
  CHECK(k8s["apiVersion"] == "networking.k8s.io/v1");
  CHECK(k8s["kind"] == "NetworkPolicy");
  CHECK(k8s["spec"]["ingress"][0]["ports"][0]["port"] == 6379);
  CHECK(k8s["spec"]["egress"][0]["ports"][0]["endPort"] == 32768);

  std::vector<v1::Resource> two = {docs[0].resource, docs[1].resource};
  auto list = nlohmann::json::parse(to_json_text(two));
  CHECK(list["kind"] == "List");
  CHECK(list["items"].size() == 2);
  CHECK(nlohmann::json::parse(to_json_text({docs[0].resource}))["kind"] == "NetworkPolicy");
}

TEST_CASE("yaml output quotes strings that would read as something else") {
  auto r = resource("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  labels: {flag: \"true\", n: \"007\", e: \"\"}\n");
  std::string yaml = to_yaml_text({r});
  CHECK(yaml.find("flag: \"true\"") != std::string::npos);
  CHECK(yaml.find("\"n\": \"007\"") != std::string::npos);  // "n" is a YAML 1.1 boolean, as key or value
  auto back = resource(yaml);
  CHECK(back.namespace_().metadata().labels().at("n") == "007");
  CHECK(back.namespace_().metadata().labels().at("e").empty());
}

TEST_CASE("format_problem puts document and resource in front") {
  auto docs = documents(policy("  ingress:\n    - action: Allow\n      source: {nets: [bad]}\n"), "p.yaml");
  model::Resource out;
  Problems p = translate(docs[0].resource, out);
  REQUIRE(p.items().size() == 1);
  CHECK(format_problem(docs[0], p.items()[0]) ==
        "p.yaml: document 1 (NetworkPolicy default/p): spec.ingress[0].source.nets[0]: invalid CIDR \"bad\"");
}

TEST_CASE("kind spellings") {
  CHECK(kind_by_alias("networkpolicies")->kind == model::Kind::NetworkPolicy);
  CHECK(kind_by_alias("netpol")->kind == model::Kind::NetworkPolicy);
  CHECK(kind_by_alias("NetworkPolicy")->kind == model::Kind::NetworkPolicy);
  CHECK(kind_by_alias("networkpolicies.projectcalico.org")->kind == model::Kind::NetworkPolicy);
  CHECK(kind_by_alias("gnp")->kind == model::Kind::GlobalNetworkPolicy);
  CHECK(kind_by_alias("GlobalNetworkSets")->kind == model::Kind::GlobalNetworkSet);
  CHECK(kind_by_alias("networkset")->kind == model::Kind::NetworkSet);
  CHECK(kind_by_alias("wep")->kind == model::Kind::WorkloadEndpoint);
  CHECK(kind_by_alias("ns")->kind == model::Kind::Namespace);
  CHECK(kind_by_alias("knp")->kind == model::Kind::K8sNetworkPolicy);
  CHECK(kind_by_alias("networkpolicies.networking.k8s.io")->kind == model::Kind::K8sNetworkPolicy);
  CHECK(kind_by_alias("hostendpoint") == nullptr);
  CHECK(kind_by_alias("") == nullptr);
}

TEST_CASE("malformed streams that hang yaml-cpp's LoadAll are rejected") {
  for (const char* text : {",", ",,,,,,? Y", "- !+(.,.)"}) {
    INFO(text);
    std::vector<Document> docs;
    Status s = parse_documents(text, "bad.yaml", docs);
    CHECK_FALSE(s.ok());
    CHECK(s.message().starts_with("bad.yaml"));
  }
}
