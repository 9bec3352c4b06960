#include "nft/ruleset.h"

#include <catch2/catch.hpp>

#include "test/unit/nft/golden.h"

using namespace wac::nft;

TEST_CASE("the rendered transaction matches the golden nft script") {
  wac::test::check_golden("transaction.nft", wac::test::golden_transaction().render());
}

TEST_CASE("replace_chain is add + flush + one add rule per rule") {
  Transaction tx;
  tx.replace_chain({"c", "", std::nullopt, {"accept", "drop"}});
  REQUIRE(tx.ops().size() == 4);
  CHECK(tx.ops()[0].type == Op::Type::AddChain);
  CHECK(tx.ops()[0].chain->rules.empty());  // the declaration carries no rules
  CHECK(tx.ops()[1].type == Op::Type::FlushChain);
  CHECK(tx.ops()[2].rule == "accept");
  CHECK(tx.ops()[3].rule == "drop");
  CHECK(tx.render() ==
        "add chain inet wac c\n"
        "flush chain inet wac c\n"
        "add rule inet wac c accept\n"
        "add rule inet wac c drop\n");
}

TEST_CASE("refresh_element is add + delete + add") {
  Transaction tx;
  tx.refresh_element("fq", {"192.0.2.1", "", "", 2000});
  CHECK(tx.render() ==
        "add element inet wac fq { 192.0.2.1 timeout 2s }\n"
        "delete element inet wac fq { 192.0.2.1 }\n"
        "add element inet wac fq { 192.0.2.1 timeout 2s }\n");
}

TEST_CASE("declarations render with flags and comments") {
  Transaction tx;
  tx.add_set({"s", KeyType::Ipv6Addr, false, true, true, "c"});
  tx.add_set({"t", KeyType::Ipv4Addr, false, false, true, ""});
  tx.add_set({"m", KeyType::Ifname, true, false, false, "vm"});
  tx.add_chain({"b", "base", BaseHook{"nat", "postrouting", 100, "accept"}, {}});
  tx.add_chain({"n", "just a comment", std::nullopt, {}});
  CHECK(tx.render() ==
        "add set inet wac s { type ipv6_addr; flags interval,timeout; comment \"c\"; }\n"
        "add set inet wac t { type ipv4_addr; flags timeout; }\n"
        "add map inet wac m { type ifname : verdict; comment \"vm\"; }\n"
        "add chain inet wac b { type nat hook postrouting priority 100; policy accept; comment \"base\"; }\n"
        "add chain inet wac n { comment \"just a comment\"; }\n");
}

TEST_CASE("flush of a map needs the declaration") {
  Transaction tx;
  tx.flush_set("s");
  tx.flush_set(SetDecl{"m", KeyType::Ifname, true, false, false, ""});
  CHECK(tx.render() == "flush set inet wac s\nflush map inet wac m\n");
}

TEST_CASE("key types") {
  CHECK(std::string(key_type_name(KeyType::Ipv4Addr)) == "ipv4_addr");
  CHECK(std::string(key_type_name(KeyType::Ipv6Addr)) == "ipv6_addr");
  CHECK(std::string(key_type_name(KeyType::Ifname)) == "ifname");
}
