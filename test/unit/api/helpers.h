// Shared by the api/ unit tests.
#pragma once
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/translate.h"
#include "api/yaml.h"

namespace wac::api::test {

inline std::string fixture(const std::string& name) {
  std::ifstream f(std::string(WAC_TEST_DATA) + "/api/" + name);
  REQUIRE(f.good());
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

inline std::vector<Document> documents(const std::string& yaml, const std::string& source = "test.yaml") {
  std::vector<Document> docs;
  Status s = parse_documents(yaml, source, docs);
  INFO(s.message());
  REQUIRE(s.ok());
  return docs;
}

inline v1::Resource resource(const std::string& yaml) {
  auto docs = documents(yaml);
  REQUIRE(docs.size() == 1);
  return docs[0].resource;
}

// The problems of translating the single document in `yaml` ("" if none).
inline std::string problems(const std::string& yaml) {
  model::Resource out;
  return translate(resource(yaml), out).str();
}

inline model::Resource translated(const std::string& yaml) {
  model::Resource out;
  Problems p = translate(resource(yaml), out);
  INFO(p.str());
  REQUIRE(p.ok());
  return out;
}

template <class T>
const T& body(const model::Resource& r) {
  REQUIRE(std::holds_alternative<T>(r.body));
  return std::get<T>(r.body);
}

// A Calico NetworkPolicy "default/p" with the given spec (YAML, indented
// as the body of `spec:`).
inline std::string policy(const std::string& spec) {
  return "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata:\n  name: p\n  namespace: default\nspec:\n" +
         spec;
}

// Protobuf wire format by hand, for requests a protobuf library would not
// build (strings that are not UTF-8); field numbers from wac.proto.
namespace wire {

inline std::string varint(uint64_t n) {
  std::string out;
  do {
    out.push_back(char((n & 0x7f) | (n > 0x7f ? 0x80 : 0)));
    n >>= 7;
  } while (n);
  return out;
}
// A length-delimited field: string, bytes or message.
inline std::string ld(int number, std::string_view data) {
  return varint(uint64_t(number) << 3 | 2) + varint(data.size()) + std::string(data);
}
inline std::string meta(std::string_view name, std::vector<std::pair<std::string, std::string>> labels = {}) {
  std::string out = ld(1, name);
  for (const auto& [key, value] : labels) out += ld(3, ld(1, key) + ld(2, value));  // map entry: key 1, value 2
  return out;
}
inline std::string namespace_resource(std::string_view name, std::vector<std::pair<std::string, std::string>> labels = {}) {
  return ld(1, ld(1, meta(name, std::move(labels))));  // Resource.namespace = 1
}
// A GlobalNetworkPolicy with one ingress Allow rule from `nets`.
inline std::string policy_resource(std::string_view name, const std::vector<std::string>& source_nets) {
  std::string source;
  for (const auto& net : source_nets) source += ld(1, net);  // EntityRule.nets
  std::string rule = ld(1, "Allow") + ld(7, source);     // Rule.action, Rule.source
  std::string spec = ld(3, "all()") + ld(5, rule);       // selector, ingress
  return ld(4, ld(1, meta(name)) + ld(2, spec));         // Resource.global_network_policy = 4
}
inline std::string apply_request(const std::vector<std::string>& resources) {
  std::string out;
  for (const auto& r : resources) out += ld(1, r);
  return out;
}
inline std::string resource_ref(std::string_view kind, std::string_view ns, std::string_view name) {
  return ld(1, kind) + (ns.empty() ? "" : ld(2, ns)) + ld(3, name);
}

}  // namespace wire

}  // namespace wac::api::test
