// Golden-file comparison for rendered text.  The files live next to this
// header in golden/; run a test binary with WAC_UPDATE_GOLDEN=1 to rewrite
// them after an intended change, then review the diff.
#pragma once
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "nft/ruleset.h"

namespace wac::test {

inline std::filesystem::path golden_path(const std::string& name) {
  return std::filesystem::path(__FILE__).parent_path() / "golden" / name;
}

inline void check_golden(const std::string& name, const std::string& actual) {
  auto path = golden_path(name);
  if (std::getenv("WAC_UPDATE_GOLDEN")) {
    std::ofstream(path) << actual;
    WARN("rewrote " << path);
    return;
  }
  std::ifstream in(path);
  INFO("golden file " << path << " (WAC_UPDATE_GOLDEN=1 rewrites it)");
  REQUIRE(in.good());
  std::stringstream expected;
  expected << in.rdbuf();
  CHECK(actual == expected.str());
}

// One transaction that exercises every op and rendering rule; shared by
// the render golden test and the fake's state golden test.
inline nft::Transaction golden_transaction() {
  using namespace nft;
  Transaction tx;
  tx.add_table();
  SetDecl sel{"sel-3f2a1b9c", KeyType::Ipv4Addr, false, true, false, "app == \"db\"\nand more"};
  SetDecl sel6{"sel6-3f2a1b9c", KeyType::Ipv6Addr, false, true, false, ""};
  SetDecl fqdn{"fqdn-9a8b7c6d", KeyType::Ipv4Addr, false, false, true, "*.example.com"};
  SetDecl from_pod{"from-pod", KeyType::Ifname, true, false, false, ""};
  SetDecl stale{"netset-global/old.nets", KeyType::Ipv4Addr, false, true, false, ""};
  for (const auto& s : {sel, sel6, fqdn, from_pod, stale}) tx.add_set(s);

  Chain pod{"pod-default/web-7f9c.egress", "pod default/web-7f9c", std::nullopt,
            {"ip daddr @sel-3f2a1b9c accept", "ip6 daddr @sel6-3f2a1b9c accept", "ip daddr @fqdn-9a8b7c6d accept",
             "counter drop comment \"default deny\""}};
  Chain forward{"forward", "", BaseHook{"filter", "forward", -5, "accept"},
                {"ct state established,related accept", "ct state invalid drop", "iifname vmap @from-pod"}};
  Chain empty{"policy-x", "", std::nullopt, {}};
  tx.replace_chain(pod);
  tx.replace_chain(forward);
  tx.add_chain(empty);

  tx.add_element("sel-3f2a1b9c", {"10.0.0.0/8", "", "corp \"nets\"", std::nullopt});
  tx.add_element("sel-3f2a1b9c", {"192.0.2.7/32", "", "", std::nullopt});
  tx.add_element("sel-3f2a1b9c", {"203.0.113.1-203.0.113.5", "", "", std::nullopt});
  tx.add_element("sel-3f2a1b9c", {"240.0.0.0/4", "", "", std::nullopt});
  tx.delete_element("sel-3f2a1b9c", {"240.0.0.0/4", "", "", std::nullopt});
  tx.add_element("sel6-3f2a1b9c", {"2001:db8::/32", "", "", std::nullopt});
  tx.add_element("fqdn-9a8b7c6d", {"198.51.100.10", "", "api.example.com", 30000});
  tx.add_element("fqdn-9a8b7c6d", {"198.51.100.11", "", "", 1500});
  tx.refresh_element("fqdn-9a8b7c6d", {"198.51.100.10", "", "api.example.com", 60000});
  tx.add_element("from-pod", {"cali1a2b", "jump pod-default/web-7f9c.egress", "", std::nullopt});
  tx.add_element("from-pod", {"cali9z", "drop", "", std::nullopt});
  tx.delete_element("from-pod", {"cali9z", "", "", std::nullopt});
  tx.flush_set(stale);
  tx.delete_set("netset-global/old.nets");
  tx.delete_chain("policy-x");
  return tx;
}

}  // namespace wac::test
