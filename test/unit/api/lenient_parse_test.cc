// Requests the protobuf runtime refuses for invalid UTF-8: parsed leniently,
// then refused by the usual validation with the offending field named.
#include "api/lenient_parse.h"

#include <google/protobuf/util/message_differencer.h>

#include "api/validate.h"
#include "helpers.h"

using namespace wac;
using namespace wac::api;
using namespace wac::api::test;

namespace {

// What translating the request's resources says, after the lenient parse.
std::string apply_problems(const std::string& bytes) {
  v1::ApplyRequest req;
  REQUIRE(parse_allowing_invalid_utf8(bytes, req));
  std::vector<model::Resource> out;
  return translate_all(req.resources(), out).str();
}

std::string delete_problems(const std::string& bytes) {
  v1::DeleteRequest req;
  REQUIRE(parse_allowing_invalid_utf8(bytes, req));
  std::vector<model::Key> out;
  return translate_refs(req.refs(), out).str();
}

const std::string kNotUtf8 = "\xff\xfe";

}  // namespace

TEST_CASE("lenient parse: a valid request comes out as the strict parser gives it") {
  v1::ApplyRequest sent;
  for (auto& d : documents(fixture("calico_policies.yaml"))) *sent.add_resources() = d.resource;
  sent.mutable_resources(0)->mutable_network_policy()->mutable_metadata()->mutable_labels()->insert({"a", "b"});
  std::string bytes = sent.SerializeAsString();

  v1::ApplyRequest strict, lenient;
  REQUIRE(strict.ParseFromString(bytes));
  REQUIRE(parse_allowing_invalid_utf8(bytes, lenient));
  CHECK(google::protobuf::util::MessageDifferencer::Equals(lenient, strict));
  // proto3 `optional` keeps its presence through the lenient twin.
  CHECK(lenient.resources(1).global_network_policy().spec().has_order());
  CHECK(lenient.resources(1).global_network_policy().spec().order() == 100.5);
  CHECK(lenient.resources(0).network_policy().metadata().labels().at("a") == "b");
}

TEST_CASE("lenient parse: bytes that are not the wire format are refused") {
  v1::ApplyRequest req;
  CHECK_FALSE(parse_allowing_invalid_utf8(std::string("\x0a\xff\xff\xff\xff\x0f", 6), req));  // length past the end
  CHECK_FALSE(parse_allowing_invalid_utf8(wire::apply_request({wire::namespace_resource("a")}).substr(0, 5), req));
  CHECK_FALSE(parse_allowing_invalid_utf8(std::string("\x0f", 1), req));  // field 1 with wire type 7
}

TEST_CASE("invalid UTF-8 in a label value is named by its field path") {
  std::string bytes = wire::apply_request({wire::namespace_resource("utf8", {{"a", kNotUtf8}})});
  v1::ApplyRequest strict;
  CHECK_FALSE(strict.ParseFromString(bytes));  // why the lenient parse exists
  CHECK(apply_problems(bytes) == "Namespace utf8: metadata.labels[\"a\"]: invalid UTF-8");
}

TEST_CASE("invalid UTF-8 in a label key is named with the key escaped") {
  std::string bytes = wire::apply_request({wire::namespace_resource("utf8", {{"k" + kNotUtf8, "v"}})});
  CHECK(apply_problems(bytes) == "Namespace utf8: metadata.labels[\"k\\xff\\xfe\"]: key with invalid UTF-8");
}

TEST_CASE("invalid UTF-8 in a resource name is escaped in the resource's name too") {
  std::string bytes = wire::apply_request({wire::namespace_resource("x" + kNotUtf8)});
  CHECK(apply_problems(bytes) == "Namespace \"x\\xff\\xfe\": metadata.name: invalid UTF-8");
}

TEST_CASE("invalid UTF-8 deep in a policy names the rule and the list index") {
  std::string bytes = wire::apply_request(
      {wire::namespace_resource("fine"), wire::policy_resource("p", {"10.0.0.0/8", "10.0.0." + kNotUtf8})});
  CHECK(apply_problems(bytes) == "GlobalNetworkPolicy p: spec.ingress[0].source.nets[1]: invalid UTF-8");
}

TEST_CASE("unknown fields survive the lenient parse and are reported as before") {
  std::string meta_extra = wire::ld(99, "x");
  std::string resource = wire::ld(1, wire::ld(1, wire::meta("utf8", {{"a", kNotUtf8}}) + meta_extra));
  std::string bytes = wire::apply_request({resource}) + wire::ld(2, "y");
  v1::ApplyRequest req;
  REQUIRE(parse_allowing_invalid_utf8(bytes, req));
  CHECK(unknown_field_numbers(req) == "2");
  CHECK(apply_problems(bytes) ==
        "Namespace utf8: metadata: contains fields this version of wac does not know (field numbers 99)\n"
        "Namespace utf8: metadata.labels[\"a\"]: invalid UTF-8");
}

TEST_CASE("invalid UTF-8 in a reference names the reference's field") {
  CHECK(delete_problems(wire::ld(1, wire::resource_ref("Namespace", "", "n" + kNotUtf8))) ==
        "Namespace \"n\\xff\\xfe\": name: invalid UTF-8");
  CHECK(delete_problems(wire::ld(1, wire::resource_ref("NetworkPolicy", "d" + kNotUtf8, "p"))) ==
        "NetworkPolicy \"d\\xff\\xfe\"/p: namespace: invalid UTF-8");
  CHECK(delete_problems(wire::ld(1, wire::resource_ref("Name" + kNotUtf8, "", "n"))).starts_with(
      "\"Name\\xff\\xfe\" n: kind: unknown kind \"Name\\xff\\xfe\" (expected one of Namespace,"));
}

TEST_CASE("quoted escapes bytes that are not UTF-8 and keeps those that are") {
  CHECK(check::quoted("a\xff") == "\"a\\xff\"");
  CHECK(check::quoted("caf\xc3\xa9") == "\"caf\xc3\xa9\"");
  // A cut through a sequence would leave half of it: escaped instead.
  CHECK(check::quoted("\xc3\xa9\xc3\xa9", 3) == "\"\\xc3\\xa9\\xc3...\" (4 bytes)");
}
