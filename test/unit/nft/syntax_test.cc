#include "nft/syntax.h"

#include <catch2/catch.hpp>

using namespace wac::nft;

TEST_CASE("names wac uses are valid nft identifiers") {
  for (const char* name : {"forward", "from-pod", "sel-3f2a1b9c", "netset-global/corp-nets", "pod-default/web-7f9c.egress",
                           "policy-default/allow-api-egress", "_x", "a", "dns-tap", "nat-postrouting"}) {
    INFO(name);
    CHECK(check_name("chain", name).ok());
  }
}

TEST_CASE("names nft would not parse are refused with the reason") {
  CHECK_THAT(check_name("chain", "").message(), Catch::Contains("empty"));
  CHECK_THAT(check_name("chain", "fwd").message(), Catch::Contains("keyword"));
  CHECK_THAT(check_name("set", "ip").message(), Catch::Contains("keyword"));
  CHECK_THAT(check_name("set", "auto-merge").message(), Catch::Contains("keyword"));
  CHECK_THAT(check_name("chain", "9lives").message(), Catch::Contains("must start with a letter"));
  CHECK_THAT(check_name("chain", "-x").message(), Catch::Contains("must start with a letter"));
  CHECK_THAT(check_name("chain", "a b").message(), Catch::Contains("' ' at position 1"));
  CHECK_THAT(check_name("chain", "a\"b").message(), Catch::Contains("position 1"));
  CHECK_THAT(check_name("chain", "a;b").message(), Catch::Contains("';'"));
  CHECK_THAT(check_name("chain", "caf\xc3\xa9").message(), Catch::Contains("position 3"));
  CHECK(check_name("chain", std::string(255, 'a')).ok());
  CHECK_THAT(check_name("chain", std::string(256, 'a')).message(), Catch::Contains("longer than 255"));
  // The error names the kind of object.
  CHECK_THAT(check_name("set", "").message(), Catch::StartsWith("set name"));
}

TEST_CASE("a keyword inside a longer name is fine (the scanner takes the longest match)") {
  CHECK(check_name("chain", "ip-allow").ok());
  CHECK(check_name("chain", "fwd2").ok());
  CHECK(check_name("chain", "counter/x").ok());
}

TEST_CASE("comments are sanitized, never rejected") {
  CHECK(sanitize_comment("app == 'db'") == "app == 'db'");
  CHECK(sanitize_comment("app == \"db\"") == "app == 'db'");
  CHECK(sanitize_comment("a\nb\tc\rd") == "a b c d");
  CHECK(sanitize_comment("bad \xff byte") == "bad ? byte");
  CHECK(sanitize_comment("cut \xe2\x82") == "cut ??");  // truncated sequence
  CHECK(sanitize_comment(std::string(300, 'x')).size() == 128);
  // 127 ASCII bytes + a 2-byte character: the character would end past 128, so it goes.
  std::string s = std::string(127, 'x') + "\xc3\xa9";
  CHECK(sanitize_comment(s) == std::string(127, 'x'));
  // A 3-byte character that fits exactly stays whole.
  std::string t = std::string(125, 'x') + "\xe2\x82\xac" + "tail";
  CHECK(sanitize_comment(t) == std::string(125, 'x') + "\xe2\x82\xac");
}

TEST_CASE("rules that could smuggle commands are refused") {
  CHECK(check_rule("ip saddr @sel-1 counter accept").ok());
  CHECK(check_rule("counter drop comment \"default; deny # really\"").ok());
  CHECK(check_rule("tcp dport { 80, 443 } accept").ok());
  CHECK_THAT(check_rule("accept; delete table inet wac").message(), Catch::Contains("';' outside quotes at position 6"));
  CHECK_THAT(check_rule("accept # rest").message(), Catch::Contains("'#' outside quotes"));
  CHECK_THAT(check_rule("accept\nflush ruleset").message(), Catch::Contains("control character"));
  CHECK_THAT(check_rule("comment \"open").message(), Catch::Contains("unterminated"));
  CHECK_THAT(check_rule("").message(), Catch::Contains("empty"));
}

TEST_CASE("interface names") {
  CHECK(check_ifname("cali1a2b3c4d5e6").ok());
  CHECK(check_ifname("eth0.100").ok());
  CHECK_THAT(check_ifname("cali1a2b3c4d5e6f").message(), Catch::Contains("longer than 15"));
  CHECK_FALSE(check_ifname("").ok());
  CHECK_FALSE(check_ifname("a/b").ok());
  CHECK_FALSE(check_ifname("a b").ok());
  CHECK_FALSE(check_ifname("cali*").ok());
  CHECK_FALSE(check_ifname("a\"b").ok());
  CHECK_FALSE(check_ifname("..").ok());
}

TEST_CASE("timeouts render in nft time syntax") {
  CHECK(format_timeout(30000) == "30s");
  CHECK(format_timeout(1500) == "1500ms");
  CHECK(format_timeout(1) == "1ms");
  CHECK(format_timeout(3600000) == "3600s");
}

TEST_CASE("verdicts") {
  Verdict v;
  REQUIRE(parse_verdict("jump pod-default/web-7f9c-egress", v).ok());
  CHECK(v.kind == Verdict::Kind::Jump);
  CHECK(v.chain == "pod-default/web-7f9c-egress");
  CHECK(v.str() == "jump pod-default/web-7f9c-egress");
  REQUIRE(parse_verdict("goto x1", v).ok());
  CHECK(v.kind == Verdict::Kind::Goto);
  for (const char* plain : {"accept", "drop", "continue", "return"}) {
    REQUIRE(parse_verdict(plain, v).ok());
    CHECK(v.str() == plain);
    CHECK(v.chain.empty());
  }
  CHECK_THAT(parse_verdict("jump fwd", v).message(), Catch::Contains("keyword"));
  CHECK_THAT(parse_verdict("jump ", v).message(), Catch::Contains("empty"));
  CHECK_THAT(parse_verdict("reject", v).message(), Catch::Contains("'reject' is not"));
}

TEST_CASE("validate() names the op and field at fault") {
  Transaction tx;
  tx.add_table();
  Chain ok;
  ok.name = "pod-a";
  ok.rules = {"accept"};
  tx.replace_chain(ok);
  CHECK(validate(tx).ok());

  Transaction bad_rule = tx;
  Chain c;
  c.name = "pod-b";
  c.rules = {"accept; flush ruleset"};
  bad_rule.replace_chain(c);
  auto st = validate(bad_rule);
  REQUIRE_FALSE(st.ok());
  CHECK_THAT(st.message(), Catch::StartsWith("transaction op 6:") && Catch::Contains("chain 'pod-b'"));

  Transaction bad_elem;
  Element e;
  e.key = "10.0.0.0/33";
  bad_elem.add_element("sel-1", e);
  CHECK_THAT(validate(bad_elem).message(), Catch::Contains("element '10.0.0.0/33' of set 'sel-1'"));

  Transaction bad_verdict;
  e.key = "cali1";
  e.verdict = "jump ip";
  bad_verdict.add_element("from-pod", e);
  CHECK_THAT(validate(bad_verdict).message(), Catch::Contains("keyword"));

  Transaction zero_timeout;
  e.verdict.clear();
  e.timeout_ms = 0;
  zero_timeout.add_element("fq", e);
  CHECK_THAT(validate(zero_timeout).message(), Catch::Contains("timeout must be > 0"));

  Transaction no_hook;
  Chain base;
  base.name = "forward";
  base.hook = BaseHook{};
  no_hook.add_chain(base);
  CHECK_THAT(validate(no_hook).message(), Catch::Contains("has no hook"));
}
