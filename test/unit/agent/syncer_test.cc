#include <catch2/catch.hpp>

#include "agent/calc.h"
#include "agent/syncer.h"
#include "nft/fake.h"

using namespace wac;
using namespace wac::agent;

namespace {

model::Endpoint ep(const std::string& pod, const std::string& node, const std::string& ip, model::Labels labels) {
  model::Endpoint e;
  e.ns = "default";
  e.name = node + "-k8s-" + pod + "-eth0";
  e.pod = pod;
  e.node = node;
  e.interface_name = "cali" + pod;
  e.ip_networks = {*Cidr::parse(ip)};
  e.labels = std::move(labels);
  return e;
}

model::Policy allow_db_from_fe() {
  model::Policy p;
  p.name = "allow-fe";
  p.order = 10;
  p.selector = "app == 'db'";
  p.applies_ingress = true;
  model::Rule r;
  r.protocol = 6;
  r.source.selector = "app == 'fe'";
  r.destination.ports = {{5432, 5432, ""}};
  p.ingress = {r};
  return p;
}

const model::Key kPolicy{model::Kind::GlobalNetworkPolicy, "", "allow-fe"};

struct World {
  Calculator calc{CalcConfig{"node1"}};
  nft::FakeBackend kernel;
  Syncer syncer{kernel};
  SyncResult sync() {
    calc.recompute();
    return syncer.sync(calc.desired());
  }
};

}  // namespace

TEST_CASE("first sync is a full reconcile, a remote endpoint is an element batch") {
  World w;
  w.calc.upsert_endpoint(ep("db", "node1", "10.244.1.2/32", {{"app", "db"}}));
  w.calc.upsert_policy(kPolicy, allow_db_from_fe());
  auto r = w.sync();
  REQUIRE(r.status.ok());
  CHECK(r.path == SyncResult::Path::Full);
  CHECK(w.kernel.render().find("chain gnp-allow-fe-ingress") != std::string::npos);

  w.calc.upsert_endpoint(ep("fe", "node2", "10.244.2.9/32", {{"app", "fe"}}));
  r = w.sync();
  REQUIRE(r.status.ok());
  CHECK(r.path == SyncResult::Path::Elements);
  CHECK(r.operations == 1);
  CHECK(w.kernel.render().find("10.244.2.9") != std::string::npos);

  CHECK(w.sync().path == SyncResult::Path::Nothing);  // nothing changed, nothing sent
}

TEST_CASE("a policy change rewrites only its own chain in one transaction") {
  World w;
  w.calc.upsert_endpoint(ep("db", "node1", "10.244.1.2/32", {{"app", "db"}}));
  w.calc.upsert_policy(kPolicy, allow_db_from_fe());
  REQUIRE(w.sync().status.ok());
  auto p = allow_db_from_fe();
  p.ingress[0].destination.ports = {{6543, 6543, ""}};
  w.calc.upsert_policy(kPolicy, p);
  auto r = w.sync();
  REQUIRE(r.status.ok());
  CHECK(r.path == SyncResult::Path::Transaction);
  CHECK(w.kernel.render().find("th dport 6543") != std::string::npos);
  CHECK(w.kernel.render().find("th dport 5432") == std::string::npos);
}

TEST_CASE("removing the last user of a policy removes its chain and sets") {
  World w;
  w.calc.upsert_endpoint(ep("db", "node1", "10.244.1.2/32", {{"app", "db"}}));
  w.calc.upsert_policy(kPolicy, allow_db_from_fe());
  REQUIRE(w.sync().status.ok());
  w.calc.remove_endpoint("default", "node1-k8s-db-eth0");
  auto r = w.sync();
  REQUIRE(r.status.ok());
  std::string text = w.kernel.render();
  CHECK(text.find("gnp-allow-fe") == std::string::npos);
  CHECK(text.find("sel4-") == std::string::npos);
  CHECK(text.find("calidb") == std::string::npos);
}

TEST_CASE("a failed transaction is followed by a full reconcile that repairs the kernel") {
  World w;
  w.calc.upsert_endpoint(ep("db", "node1", "10.244.1.2/32", {{"app", "db"}}));
  REQUIRE(w.sync().status.ok());
  w.calc.upsert_policy(kPolicy, allow_db_from_fe());
  w.kernel.fail_next_commit();
  auto r = w.sync();
  REQUIRE(r.status.ok());  // the full sync that followed succeeded
  CHECK(r.path == SyncResult::Path::Full);
  CHECK(w.kernel.failed_calls() == 1);
  CHECK(w.kernel.render().find("chain gnp-allow-fe-ingress") != std::string::npos);
}

TEST_CASE("a full sync removes objects someone else left in the table and keeps the rest") {
  World w;
  w.calc.upsert_endpoint(ep("db", "node1", "10.244.1.2/32", {{"app", "db"}}));
  REQUIRE(w.sync().status.ok());
  nft::Transaction stray;
  stray.add_chain({"stray-chain", "", std::nullopt, {}});
  stray.add_set({"stray-set", nft::KeyType::Ipv4Addr, false, false, false, ""});
  REQUIRE(w.kernel.commit(stray).ok());
  std::string before_stray;
  {
    World clean;
    clean.calc.upsert_endpoint(ep("db", "node1", "10.244.1.2/32", {{"app", "db"}}));
    REQUIRE(clean.sync().status.ok());
    before_stray = clean.kernel.render();
  }
  w.syncer.request_full_sync();
  REQUIRE(w.sync().status.ok());
  CHECK(w.kernel.render() == before_stray);
}

TEST_CASE("a failing element batch leaves the agent asking for a full sync when the repair fails too") {
  World w;
  w.calc.upsert_endpoint(ep("db", "node1", "10.244.1.2/32", {{"app", "db"}}));
  w.calc.upsert_policy(kPolicy, allow_db_from_fe());
  REQUIRE(w.sync().status.ok());
  w.calc.upsert_endpoint(ep("fe", "node2", "10.244.2.9/32", {{"app", "fe"}}));
  w.kernel.fail_next_element_batch();
  w.kernel.fail_next_commit();
  auto r = w.sync();
  CHECK_FALSE(r.status.ok());
  CHECK(w.syncer.needs_full_sync());
  r = w.sync();  // the retry
  REQUIRE(r.status.ok());
  CHECK(w.kernel.render().find("10.244.2.9") != std::string::npos);
}

TEST_CASE("a policy change programs only its own chains, re-rendering unchanged chains is no change") {
  World w;
  w.calc.upsert_endpoint(ep("db", "node1", "10.244.1.2/32", {{"app", "db"}}));
  w.calc.upsert_policy(kPolicy, allow_db_from_fe());
  REQUIRE(w.sync().status.ok());

  // Same policy again: the calculation re-renders it and the pod chains, all
  // identical, so nothing reaches the kernel.
  model::Policy same = allow_db_from_fe();
  w.calc.upsert_policy(kPolicy, same);
  CHECK(w.sync().path == SyncResult::Path::Nothing);

  model::Policy changed = allow_db_from_fe();
  changed.ingress[0].destination.ports = {{6432, 6432, ""}};
  w.calc.upsert_policy(kPolicy, changed);
  w.calc.recompute();
  CHECK(w.calc.desired().chains.changed() == std::set<std::string>{"gnp-allow-fe-ingress"});
  auto r = w.syncer.sync(w.calc.desired());
  REQUIRE(r.status.ok());
  CHECK(r.path == SyncResult::Path::Transaction);
  CHECK(w.calc.desired().chains.changed().empty());
  CHECK(w.kernel.render().find("th dport 6432") != std::string::npos);
  CHECK(w.kernel.render().find("th dport 5432") == std::string::npos);

  // Removing the policy deletes its chain and leaves the pod chain without a jump.
  w.calc.remove_policy(kPolicy);
  REQUIRE(w.sync().status.ok());
  CHECK(w.kernel.render().find("gnp-allow-fe-ingress") == std::string::npos);
}

TEST_CASE("after a failed incremental sync the full sync programs every change, not only the last") {
  World w;
  w.calc.upsert_endpoint(ep("db", "node1", "10.244.1.2/32", {{"app", "db"}}));
  REQUIRE(w.sync().status.ok());
  w.calc.upsert_policy(kPolicy, allow_db_from_fe());
  w.kernel.fail_next_commit("injected");
  auto r = w.sync();  // incremental fails, full reconcile follows at once
  REQUIRE(r.status.ok());
  CHECK(r.path == SyncResult::Path::Full);
  CHECK(w.kernel.render().find("chain gnp-allow-fe-ingress") != std::string::npos);
  CHECK(w.sync().path == SyncResult::Path::Nothing);
}
