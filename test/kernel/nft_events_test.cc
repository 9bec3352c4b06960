// The nftables change watcher against the real kernel, each test in a fresh
// network namespace: it must name the process behind each transaction on
// the watched table and ignore every other table.
#include <catch2/catch.hpp>
#include <linux/netfilter.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "netlink/nft_events.h"
#include "nft/backend.h"
#include "test/kernel/netns.h"

using namespace wac::netlink;
using wac::test::ScopedNetns;

namespace {

std::vector<NftCommit> read_for(NftEventWatcher& w, std::chrono::milliseconds how_long) {
  std::vector<NftCommit> commits;
  auto deadline = std::chrono::steady_clock::now() + how_long;
  while (std::chrono::steady_clock::now() < deadline) {
    REQUIRE(w.read([&](const NftCommit& c) { commits.push_back(c); }).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return commits;
}

void nft(const std::string& args) { REQUIRE(std::system(("nft " + args).c_str()) == 0); }

}  // namespace

TEST_CASE("the nft event watcher names the process that changed the table") {
  ScopedNetns ns;
  NftEventWatcher w(NFPROTO_INET, "wac");
  REQUIRE(w.open().ok());

  nft("add table inet wac");
  nft("add chain inet wac c");
  nft("add table inet other");  // another table: not reported
  nft("add chain inet other c");
  nft("add table ip wac");      // same name, other family: not reported
  auto commits = read_for(w, std::chrono::milliseconds(300));
  REQUIRE(commits.size() == 2);
  for (const auto& c : commits) {
    CHECK(c.process == "nft");
    CHECK(c.pid != uint32_t(getpid()));
    CHECK(c.pid != 0);
    CHECK(c.messages >= 1);
    CHECK_FALSE(c.overrun);
  }
  CHECK(commits[1].generation > commits[0].generation);

  // wacd's own transactions and element batches carry wacd's pid.
  auto backend = wac::nft::make_kernel_backend();
  wac::nft::Transaction tx;
  tx.add_table();
  tx.add_set({"s", wac::nft::KeyType::Ipv4Addr, false, true, false, "test"});
  REQUIRE(backend->commit(tx).ok());
  wac::nft::ElementBatch batch{{{"s", wac::nft::KeyType::Ipv4Addr, false, true, false, "test"},
                                {{"192.0.2.0/24", "", "", std::nullopt}}, {}, {}}};
  REQUIRE(backend->commit_elements(batch).ok());
  commits = read_for(w, std::chrono::milliseconds(300));
  REQUIRE(commits.size() == 2);
  for (const auto& c : commits) CHECK(c.pid == uint32_t(getpid()));
  CHECK(w.stats().enobufs == 0);
}
