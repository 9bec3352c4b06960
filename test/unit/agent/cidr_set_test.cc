#include <catch2/catch.hpp>

#include "agent/cidr_set.h"

using wac::Cidr;
using wac::agent::CidrSet;
using wac::agent::ElementTable;

namespace {
Cidr C(const char* s) { return *Cidr::parse(s); }
std::vector<std::string> keys(const ElementTable& t) {
  std::vector<std::string> out;
  for (const auto& [k, e] : t.elements()) out.push_back(k);
  return out;
}
}  // namespace

TEST_CASE("cidr set hides CIDRs covered by a present shorter prefix") {
  ElementTable t;
  CidrSet s(t);
  s.add(C("10.1.2.3"), "ep a");
  s.add(C("10.1.0.0/16"), "netset x");
  CHECK(keys(t) == std::vector<std::string>{"10.1.0.0/16"});
  s.add(C("10.1.9.9"), "ep b");  // arrives already covered
  CHECK(keys(t) == std::vector<std::string>{"10.1.0.0/16"});
  s.remove(C("10.1.0.0/16"));  // both hosts re-appear
  CHECK(keys(t) == std::vector<std::string>{"10.1.2.3", "10.1.9.9"});
}

TEST_CASE("cidr set re-exposes only what no other prefix still covers") {
  ElementTable t;
  CidrSet s(t);
  s.add(C("10.0.0.0/8"), "");
  s.add(C("10.1.0.0/16"), "");
  s.add(C("10.1.1.0/24"), "");
  s.add(C("10.2.0.1"), "");
  s.remove(C("10.0.0.0/8"));
  CHECK(keys(t) == std::vector<std::string>{"10.1.0.0/16", "10.2.0.1"});
  s.remove(C("10.1.0.0/16"));
  CHECK(keys(t) == std::vector<std::string>{"10.1.1.0/24", "10.2.0.1"});
}

TEST_CASE("cidr set counts references from several contributors") {
  ElementTable t;
  CidrSet s(t);
  s.add(C("192.0.2.7"), "ep a");
  s.add(C("192.0.2.7"), "ep b");
  s.remove(C("192.0.2.7"));
  CHECK(keys(t) == std::vector<std::string>{"192.0.2.7"});
  s.remove(C("192.0.2.7"));
  CHECK(keys(t).empty());
  s.remove(C("192.0.2.7"));  // removing an absent CIDR is harmless
  CHECK(s.contributions() == 0);
}

TEST_CASE("cidr set keeps families apart and handles /0 and v6") {
  ElementTable t;
  CidrSet s(t);
  s.add(C("2001:db8::/32"), "");
  s.add(C("2001:db8::5"), "");
  s.add(C("0.0.0.0/0"), "");
  s.add(C("198.51.100.1"), "");
  CHECK(keys(t) == std::vector<std::string>{"0.0.0.0/0", "2001:db8::/32"});
}

TEST_CASE("element table reports net changes since the last sync") {
  ElementTable t;
  t.put({"a", "", "", std::nullopt});
  t.put({"b", "", "", std::nullopt});
  t.mark_synced();
  t.erase("a");
  t.put({"a", "", "", std::nullopt});  // back as it was: no change
  t.put({"b", "jump x", "", std::nullopt});  // changed: replace
  t.put({"c", "", "", std::nullopt});
  std::vector<wac::nft::Element> add, remove;
  t.changes(add, remove);
  REQUIRE(add.size() == 2);
  CHECK(add[0].key == "b");
  CHECK(add[0].verdict == "jump x");
  CHECK(add[1].key == "c");
  REQUIRE(remove.size() == 1);
  CHECK(remove[0].key == "b");
  CHECK(remove[0].verdict.empty());
  t.mark_synced();
  CHECK_FALSE(t.has_changes());
}
