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

// ---------------------------------------------------------------------------
// Structural syncs in three steps: declare (empty, unused), fill, apply.

namespace {

bool has(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

model::NetworkSet partners(int nets) {
  model::NetworkSet s{"", "partners", {{"kind", "partner"}}, {}, {}};
  for (int i = 0; i < nets; ++i) s.nets.push_back(Cidr::host(IpAddr::v4((198u << 24) | (18u << 16) | uint32_t(i))));
  return s;
}

model::Policy egress_to_partners() {
  model::Policy p;
  p.name = "to-partners";
  p.order = 5;
  p.selector = "app == 'db'";
  p.applies_egress = true;
  model::Rule r;
  r.destination.selector = "kind == 'partner'";
  p.egress = {r};
  return p;
}

const model::Key kPartners{model::Kind::GlobalNetworkPolicy, "", "to-partners"};

// The kernel a sync of `setup` onto an empty table leaves.
std::string clean_render(const std::function<void(Calculator&)>& setup) {
  World w;
  setup(w.calc);
  auto r = w.sync();
  REQUIRE(r.status.ok());
  return w.kernel.render();
}

void db_with_partners(Calculator& c) {
  c.upsert_endpoint(ep("db", "node1", "10.244.1.2/32", {{"app", "db"}}));
  c.upsert_network_set(partners(40));
  c.upsert_policy(kPartners, egress_to_partners());
}

}  // namespace

TEST_CASE("a cold sync declares, then loads sets by fill, then commits the rules") {
  World w;
  db_with_partners(w.calc);
  auto r = w.sync();
  REQUIRE(r.status.ok());
  CHECK(r.path == SyncResult::Path::Full);
  REQUIRE(w.kernel.transaction_texts().size() == 2);
  const std::string& declare = w.kernel.transaction_texts()[0];
  const std::string& apply = w.kernel.transaction_texts()[1];
  // Step 1 only adds empty objects nothing refers to; base chains wait for their rules.
  CHECK(has(declare, "add set inet wac sel4-"));
  CHECK(has(declare, "add chain inet wac gnp-to-partners-egress"));
  CHECK_FALSE(has(declare, "hook"));
  CHECK_FALSE(has(declare, "add rule"));
  CHECK_FALSE(has(declare, "add element"));
  // Step 2: every element of the new sets, none as text.
  CHECK(w.kernel.fill_calls() == 1);
  CHECK(w.kernel.filled_elements() >= 40 + 2);  // the partners' nets, the pod in the to-pod and from-pod maps
  CHECK_FALSE(has(apply, "add element"));
  CHECK(has(apply, "hook forward"));
  CHECK(has(w.kernel.render(), "198.18.0.39"));
  CHECK(r.operations == Syncer::full_plan(w.calc.desired(), nft::Snapshot{}).operations());
}

TEST_CASE("a policy with a new set loads it by fill before the rule using it") {
  World w;
  w.calc.upsert_endpoint(ep("db", "node1", "10.244.1.2/32", {{"app", "db"}}));
  w.calc.upsert_network_set(partners(40));
  REQUIRE(w.sync().status.ok());
  const size_t filled = w.kernel.filled_elements();
  const size_t commits = w.kernel.transaction_texts().size();
  w.calc.upsert_policy(kPartners, egress_to_partners());
  auto r = w.sync();
  REQUIRE(r.status.ok());
  CHECK(r.path == SyncResult::Path::Transaction);
  CHECK(w.kernel.filled_elements() == filled + 40);
  REQUIRE(w.kernel.transaction_texts().size() == commits + 2);
  CHECK_FALSE(has(w.kernel.transaction_texts().back(), "add element"));
  CHECK(w.kernel.render() == clean_render(db_with_partners));
}

TEST_CASE("a change of a set in use stays in the rules' transaction") {
  World w;
  db_with_partners(w.calc);
  REQUIRE(w.sync().status.ok());
  const int fills = w.kernel.fill_calls();
  // A new policy chain and one more net in a set the old rules use: one atomic change.
  w.calc.upsert_network_set(partners(41));
  w.calc.upsert_policy(kPolicy, allow_db_from_fe());
  auto r = w.sync();
  REQUIRE(r.status.ok());
  CHECK(r.path == SyncResult::Path::Transaction);
  CHECK(has(w.kernel.transaction_texts().back(), "198.18.0.40"));
  CHECK(w.kernel.fill_calls() == fills);  // the policy's new set is empty: nothing to fill
}

TEST_CASE("a failure in any step of a structural sync is repaired by the full sync that follows") {
  auto setup = [](Calculator& c) {
    c.upsert_endpoint(ep("db", "node1", "10.244.1.2/32", {{"app", "db"}}));
    c.upsert_network_set(partners(40));
  };
  const std::string want = clean_render(db_with_partners);
  for (int step = 1; step <= 3; ++step) {
    DYNAMIC_SECTION("failing step " << step) {
      World w;
      setup(w.calc);
      REQUIRE(w.sync().status.ok());
      w.calc.upsert_policy(kPartners, egress_to_partners());
      if (step == 1) w.kernel.fail_commit(1, "declare refused");
      if (step == 2) w.kernel.fail_next_fill(7, "fill refused");
      if (step == 3) w.kernel.fail_commit(2, "rules refused");
      auto r = w.sync();
      REQUIRE(r.status.ok());
      CHECK(r.path == SyncResult::Path::Full);
      CHECK(w.kernel.failed_calls() == 1);
      CHECK(w.kernel.render() == want);
      CHECK(w.sync().path == SyncResult::Path::Nothing);
    }
  }
}

TEST_CASE("a failed fill leaves the rules as they were and the loaded set unused") {
  World w;
  w.calc.upsert_endpoint(ep("db", "node1", "10.244.1.2/32", {{"app", "db"}}));
  w.calc.upsert_network_set(partners(40));
  REQUIRE(w.sync().status.ok());
  nft::Snapshot before;
  REQUIRE(w.kernel.read(before).ok());
  w.calc.upsert_policy(kPartners, egress_to_partners());
  w.kernel.fail_next_fill(10, "fill refused");
  w.kernel.fail_commit(2, "repair refused too");  // the full sync's rules
  auto r = w.sync();
  REQUIRE_FALSE(r.status.ok());
  CHECK(w.syncer.needs_full_sync());
  CHECK_THAT(r.status.message(), Catch::Contains("loading new sets: fill refused"));
  // The failed full sync still completed the new set (unused, so by fill),
  // but no rule uses it and every old chain has its old rules.
  nft::Snapshot now;
  REQUIRE(w.kernel.read(now).ok());
  CHECK(has(w.kernel.render(), "198.18.0.39"));
  for (const auto& [name, chain] : before.chains) CHECK(now.chains.at(name).rules == chain.rules);
  for (const auto& [name, chain] : now.chains)
    for (const auto& rule : chain.rules) CHECK_FALSE(has(rule, "to-partners"));
  r = w.sync();
  REQUIRE(r.status.ok());
  CHECK(w.kernel.render() == clean_render(db_with_partners));
}

TEST_CASE("a full sync completes an unused half-loaded set by fill and drops its stale elements") {
  World w;
  db_with_partners(w.calc);
  REQUIRE(w.sync().status.ok());
  // The kernel as a failed cold sync could leave it: the set declared and
  // partly loaded (plus an element it should not have), no rules.
  nft::Snapshot snap;
  REQUIRE(w.kernel.read(snap).ok());
  std::string set_name;
  for (const auto& [name, decl] : snap.sets)
    if (decl.comment == "kind == 'partner'" && decl.key == nft::KeyType::Ipv4Addr) set_name = name;
  REQUIRE_FALSE(set_name.empty());
  World leftover;
  nft::Transaction tx;
  tx.add_table();
  tx.add_set(snap.sets.at(set_name));
  for (size_t i = 0; i < 10; ++i) tx.add_element(set_name, snap.elements.at(set_name)[i]);
  tx.add_element(set_name, {"203.0.113.7", "", "", std::nullopt});
  REQUIRE(leftover.kernel.commit(tx).ok());
  db_with_partners(leftover.calc);
  auto r = leftover.sync();
  REQUIRE(r.status.ok());
  CHECK(leftover.kernel.fill_calls() == 1);
  const std::string& apply = leftover.kernel.transaction_texts().back();
  CHECK_FALSE(has(apply, "element inet wac " + set_name));
  CHECK(leftover.kernel.render() == w.kernel.render());
}

TEST_CASE("a full sync repairs a set in use inside the rules' transaction") {
  World w;
  db_with_partners(w.calc);
  REQUIRE(w.sync().status.ok());
  nft::Snapshot snap;
  REQUIRE(w.kernel.read(snap).ok());
  std::string set_name;
  for (const auto& [name, decl] : snap.sets)
    if (decl.comment == "kind == 'partner'" && decl.key == nft::KeyType::Ipv4Addr) set_name = name;
  REQUIRE_FALSE(set_name.empty());
  const std::string want = w.kernel.render();
  // Someone else removes a net from the set the rules use.
  REQUIRE(w.kernel.commit_elements({{snap.sets.at(set_name), {}, {snap.elements.at(set_name)[3]}, {}}}).ok());
  const int fills = w.kernel.fill_calls();
  w.syncer.request_full_sync();
  REQUIRE(w.sync().status.ok());
  CHECK(w.kernel.fill_calls() == fills);
  CHECK(has(w.kernel.transaction_texts().back(), "add element inet wac " + set_name));
  CHECK(w.kernel.render() == want);
}
