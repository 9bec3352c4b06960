#include "nft/listing.h"

#include <catch2/catch.hpp>

using namespace wac::nft;

// As `nft -t -s -y list table inet wac` prints it (nft 1.0.6).
static const char* kListing = R"(table inet wac {
	set s {
		type ipv4_addr
		flags interval,timeout
		comment "my set"
	}

	map m {
		type ifname : verdict
		comment "vm"
	}

	set plain6 {
		type ipv6_addr
		size 65535
	}

	flowtable ft {
		hook ingress priority 0
		devices = { lo }
	}

	chain c1 {
		comment "chain one"
	}

	chain forward {
		comment "base"
		type filter hook forward priority -5; policy drop;
		ct state established,related accept
		iifname vmap @m
		ip saddr @s counter jump c1 comment "r1"
		tcp dport { 22, 80,
			    443 } accept
	}

	chain post {
		type nat hook postrouting priority srcnat + 10; policy accept;
		comment "not a chain comment"
	}
}
)";

TEST_CASE("a terse nft listing parses into chains and set declarations") {
  Snapshot snap;
  REQUIRE(parse_table_listing(kListing, snap).ok());
  CHECK(snap.table_exists);
  REQUIRE(snap.sets.size() == 3);
  CHECK(snap.sets["s"] == SetDecl{"s", KeyType::Ipv4Addr, false, true, true, "my set"});
  CHECK(snap.sets["m"] == SetDecl{"m", KeyType::Ifname, true, false, false, "vm"});
  CHECK(snap.sets["plain6"] == SetDecl{"plain6", KeyType::Ipv6Addr, false, false, false, ""});

  REQUIRE(snap.chains.size() == 3);
  CHECK(snap.chains["c1"] == Chain{"c1", "chain one", std::nullopt, {}});
  const Chain& fwd = snap.chains["forward"];
  CHECK(fwd.comment == "base");
  REQUIRE(fwd.hook);
  CHECK(*fwd.hook == BaseHook{"filter", "forward", -5, "drop"});
  CHECK(fwd.rules == std::vector<std::string>{"ct state established,related accept", "iifname vmap @m",
                                              "ip saddr @s counter jump c1 comment \"r1\"",
                                              "tcp dport { 22, 80, 443 } accept"});
  const Chain& post = snap.chains["post"];
  REQUIRE(post.hook);
  CHECK(post.hook->priority == 110);  // symbolic priority, in case -y was not honoured
  CHECK(post.comment.empty());
  CHECK(post.rules == std::vector<std::string>{"comment \"not a chain comment\""});
}

TEST_CASE("an empty listing means no table") {
  Snapshot snap;
  snap.table_exists = true;
  REQUIRE(parse_table_listing("", snap).ok());
  CHECK_FALSE(snap.table_exists);
}

TEST_CASE("a set type wac cannot represent is an error naming it") {
  Snapshot snap;
  auto st = parse_table_listing("table inet wac {\n\tset ports {\n\t\ttype inet_service\n\t}\n}\n", snap);
  REQUIRE_FALSE(st.ok());
  CHECK_THAT(st.message(), Catch::Contains("'ports'") && Catch::Contains("inet_service"));
  st = parse_table_listing("table inet wac {\n\tmap nat {\n\t\ttype ipv4_addr : ipv4_addr\n\t}\n}\n", snap);
  REQUIRE_FALSE(st.ok());
  CHECK_THAT(st.message(), Catch::Contains("map 'nat'"));
}
