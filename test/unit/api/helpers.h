// Shared by the api/ unit tests.
#pragma once
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>
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

}  // namespace wac::api::test
