// libFuzzer target: YAML text -> wac.v1 resources (api/yaml.cc) -> model
// (api/translate.cc).  Beyond "no crash, no sanitizer report" it checks
// that accepted input survives the wacctl output round trip: resources
// written as YAML read back identical, and translate is deterministic.
#include <google/protobuf/util/message_differencer.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "api/translate.h"
#include "api/yaml.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wac::api;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<Document> docs;
  wac::Status parsed = parse_documents(text, "fuzz.yaml", docs);
  check(parsed.ok() || !parsed.message().empty());
  if (!parsed.ok()) {
    check(docs.empty());
    return 0;
  }

  std::vector<wac::v1::Resource> resources;
  for (const auto& doc : docs) {
    resources.push_back(doc.resource);
    wac::model::Resource first, second;
    Problems p1 = translate(doc.resource, first);
    Problems p2 = translate(doc.resource, second);
    check(p1.ok() == p2.ok());
    check(p1.str() == p2.str());
    if (p1.ok()) check(first == second);
    for (const auto& problem : p1.items()) check(!problem.message.empty());
  }

  std::vector<Document> again;
  check(parse_documents(to_yaml_text(resources), "again.yaml", again).ok());
  check(again.size() == resources.size());
  for (size_t i = 0; i < resources.size(); ++i)
    check(google::protobuf::util::MessageDifferencer::Equals(resources[i], again[i].resource));
  (void)to_json_text(resources);
  return 0;
}
