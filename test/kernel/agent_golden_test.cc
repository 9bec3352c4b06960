// The agent's golden ruleset (test/unit/data/golden/agent_ruleset.nft, kept
// current by the agent unit tests) is accepted by nft and by the kernel.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include "netns.h"

TEST_CASE("the agent's golden ruleset passes nft -c and loads into the kernel") {
  wac::test::ScopedNetns netns;
  const std::string file = std::string(WAC_TEST_DATA) + "/golden/agent_ruleset.nft";
  CHECK(std::system(("nft -c -f " + file).c_str()) == 0);
  CHECK(std::system(("nft -f " + file).c_str()) == 0);
  CHECK(std::system("nft list chain inet wac np-shop/db-ingress | grep -q 'dport { 5432, 6000-6010 }'") == 0);
}
