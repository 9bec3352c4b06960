// FakeBackend: every kernel failure rule it promises, one test each.
#include "nft/fake.h"

#include <catch2/catch.hpp>

#include "test/unit/nft/golden.h"

using namespace wac::nft;

namespace {

SetDecl set(const std::string& name, bool interval = false, bool timeout = false, KeyType key = KeyType::Ipv4Addr) {
  return {name, key, false, interval, timeout, ""};
}
SetDecl vmap(const std::string& name) { return {name, KeyType::Ifname, true, false, false, ""}; }
Chain chain(const std::string& name, std::vector<std::string> rules = {}) { return {name, "", std::nullopt, std::move(rules)}; }
Chain base(const std::string& name, const std::string& hook, int prio = 0, const std::string& policy = "accept") {
  return {name, "", BaseHook{"filter", hook, prio, policy}, {}};
}
Element e(const std::string& key, std::optional<uint32_t> timeout = {}) { return {key, "", "", timeout}; }
Element jump(const std::string& ifname, const std::string& target) { return {ifname, "jump " + target, "", std::nullopt}; }

// A backend holding the table, a few sets and chains.
FakeBackend populated() {
  FakeBackend f;
  Transaction tx;
  tx.add_table();
  tx.add_set(set("sel", true));
  tx.add_set(set("fq", false, true));
  tx.add_set(vmap("from-pod"));
  tx.replace_chain(chain("pod-a", {"ip daddr @sel accept"}));
  tx.replace_chain(chain("pod-b"));
  tx.add_chain(base("forward", "forward"));
  tx.add_element("sel", e("10.0.0.0/8"));
  tx.add_element("from-pod", jump("cali1", "pod-b"));
  REQUIRE(f.commit(tx).ok());
  return f;
}

wac::Status commit_one(FakeBackend& f, const std::function<void(Transaction&)>& build) {
  Transaction tx;
  build(tx);
  return f.commit(tx);
}

}  // namespace

TEST_CASE("fake: a transaction applies all or nothing") {
  FakeBackend f = populated();
  const std::string before = f.render();
  auto st = commit_one(f, [](Transaction& tx) {
    tx.add_set(set("new-set"));
    tx.add_element("sel", e("192.0.2.0/24"));
    tx.delete_chain("no-such-chain");
  });
  REQUIRE_FALSE(st.ok());
  CHECK(st.errno_value() == ENOENT);
  CHECK_THAT(st.message(), Catch::StartsWith("transaction op 2:") && Catch::Contains("no-such-chain"));
  CHECK(f.render() == before);
}

TEST_CASE("fake: deleting what does not exist fails") {
  FakeBackend f = populated();
  CHECK(commit_one(f, [](Transaction& tx) { tx.delete_chain("nope"); }).errno_value() == ENOENT);
  CHECK(commit_one(f, [](Transaction& tx) { tx.delete_set("nope"); }).errno_value() == ENOENT);
  CHECK(commit_one(f, [](Transaction& tx) { tx.delete_element("sel", e("11.0.0.0/8")); }).errno_value() == ENOENT);
  // An interval must be deleted exactly as it was added.
  CHECK(commit_one(f, [](Transaction& tx) { tx.delete_element("sel", e("10.0.0.0/9")); }).errno_value() == ENOENT);
  FakeBackend empty;
  CHECK(commit_one(empty, [](Transaction& tx) { tx.delete_table(); }).errno_value() == ENOENT);
  CHECK(commit_one(empty, [](Transaction& tx) { tx.add_chain(chain("c")); }).errno_value() == ENOENT);
  CHECK(empty.commit_elements({{set("sel", true), {e("10.0.0.1")}, {}, {}}}).errno_value() == ENOENT);
}

TEST_CASE("fake: interval elements may not overlap, identical re-adds are no-ops") {
  FakeBackend f = populated();
  auto add = [&](const std::string& key) { return commit_one(f, [&](Transaction& tx) { tx.add_element("sel", e(key)); }); };
  auto st = add("10.1.0.0/16");
  CHECK(st.errno_value() == EEXIST);
  CHECK_THAT(st.message(), Catch::Contains("overlaps existing interval '10.0.0.0/8'"));
  CHECK(add("0.0.0.0/0").errno_value() == EEXIST);
  CHECK(add("9.255.255.255-10.0.0.0").errno_value() == EEXIST);
  CHECK(add("10.0.0.0/8").ok());
  CHECK(add("11.0.0.0/8").ok());  // adjacent is fine
  CHECK(add("9.0.0.0/8").ok());
  // Overlap inside one transaction fails as well.
  auto both = commit_one(f, [](Transaction& tx) {
    tx.add_element("sel", e("192.0.2.0/24"));
    tx.add_element("sel", e("192.0.2.128/25"));
  });
  CHECK(both.errno_value() == EEXIST);
  Snapshot snap;
  REQUIRE(f.read(snap).ok());
  CHECK(snap.elements["sel"].size() == 3);
}

TEST_CASE("fake: a chain referenced by a jump or a map element cannot be deleted") {
  FakeBackend f = populated();
  REQUIRE(commit_one(f, [](Transaction& tx) { tx.replace_chain(chain("jumper", {"jump pod-a"})); }).ok());
  auto st = commit_one(f, [](Transaction& tx) { tx.delete_chain("pod-a"); });
  CHECK(st.errno_value() == EBUSY);
  CHECK_THAT(st.message(), Catch::Contains("a rule in chain 'jumper'"));
  st = commit_one(f, [](Transaction& tx) { tx.delete_chain("pod-b"); });
  CHECK(st.errno_value() == EBUSY);
  CHECK_THAT(st.message(), Catch::Contains("element 'cali1' of map 'from-pod'"));
  // Dropping the references first in the same transaction makes it work.
  CHECK(commit_one(f, [](Transaction& tx) {
          tx.replace_chain(chain("jumper"));
          tx.delete_chain("pod-a");
          tx.delete_element("from-pod", e("cali1"));
          tx.delete_chain("pod-b");
        }).ok());
}

TEST_CASE("fake: a set referenced by a rule cannot be deleted") {
  FakeBackend f = populated();
  auto st = commit_one(f, [](Transaction& tx) { tx.delete_set("sel"); });
  CHECK(st.errno_value() == EBUSY);
  CHECK_THAT(st.message(), Catch::Contains("a rule in chain 'pod-a'"));
  CHECK(commit_one(f, [](Transaction& tx) {
          tx.delete_chain("pod-a");
          tx.delete_set("sel");
        }).ok());
}

TEST_CASE("fake: rules must name existing sets and non-base chains") {
  FakeBackend f = populated();
  auto rule = [&](const std::string& text) {
    return commit_one(f, [&](Transaction& tx) { tx.replace_chain(chain("pod-c", {text})); });
  };
  auto st = rule("ip saddr @nope accept");
  CHECK(st.errno_value() == ENOENT);
  CHECK_THAT(st.message(), Catch::Contains("undefined set 'nope'"));
  CHECK(rule("jump nope").errno_value() == ENOENT);
  CHECK(rule("goto nope").errno_value() == ENOENT);
  CHECK(rule("jump forward").errno_value() == EOPNOTSUPP);
  CHECK(rule("ip saddr @sel counter jump pod-b comment \"jump nope @nope\"").ok());
  CHECK(rule("iifname vmap @from-pod").ok());
  // Adding to a missing chain.
  CHECK(commit_one(f, [](Transaction& tx) { tx.add_chain(chain("x")); }).ok());
}

TEST_CASE("fake: map elements and element data follow the kernel") {
  FakeBackend f = populated();
  auto add = [&](const std::string& set_name, const Element& el) {
    return commit_one(f, [&](Transaction& tx) { tx.add_element(set_name, el); });
  };
  CHECK(add("from-pod", jump("cali1", "pod-b")).ok());  // identical: no-op
  CHECK(add("from-pod", jump("cali1", "pod-a")).errno_value() == EEXIST);
  CHECK(add("from-pod", jump("cali2", "nope")).errno_value() == ENOENT);
  CHECK(add("from-pod", jump("cali2", "forward")).errno_value() == EOPNOTSUPP);
  CHECK(add("from-pod", e("cali2")).errno_value() == EINVAL);  // map element without verdict
  CHECK(add("sel", e("192.0.2.1", 1000)).errno_value() == EINVAL);  // no flags timeout
  CHECK(add("sel", e("2001:db8::1")).errno_value() == EINVAL);
  CHECK(add("fq", e("10.0.0.0/8")).errno_value() == EINVAL);  // prefix without flags interval
  CHECK(add("fq", e("192.0.2.1", 1000)).ok());
  CHECK(add("fq", e("192.0.2.1", 9000)).ok());  // present: no-op
  Snapshot snap;
  REQUIRE(f.read(snap).ok());
  CHECK(snap.elements["fq"].at(0).timeout_ms == 1000u);
}

TEST_CASE("fake: re-adding chains and sets") {
  FakeBackend f = populated();
  auto add_chain = [&](const Chain& c) { return commit_one(f, [&](Transaction& tx) { tx.add_chain(c); }); };
  CHECK(add_chain(base("forward", "forward")).ok());
  CHECK(add_chain(base("forward", "forward", 0, "drop")).ok());
  Snapshot snap;
  REQUIRE(f.read(snap).ok());
  CHECK(snap.chains["forward"].hook->policy == "drop");
  CHECK(add_chain(base("forward", "input")).errno_value() == EOPNOTSUPP);
  CHECK(add_chain(base("forward", "forward", 10)).errno_value() == EOPNOTSUPP);
  CHECK(add_chain(base("pod-a", "forward")).errno_value() == EOPNOTSUPP);
  CHECK(add_chain(chain("forward")).ok());  // a plain re-declaration leaves the base chain alone
  Chain commented = chain("pod-a");
  commented.comment = "new comment";
  CHECK(add_chain(commented).ok());
  REQUIRE(f.read(snap).ok());
  CHECK(snap.chains["pod-a"].comment.empty());  // the kernel ignores it too
  CHECK(snap.chains["pod-a"].rules.size() == 1);  // add_chain does not touch rules

  auto add_set = [&](const SetDecl& s) { return commit_one(f, [&](Transaction& tx) { tx.add_set(s); }); };
  CHECK(add_set(set("sel", true)).ok());
  CHECK(add_set(set("sel", false)).errno_value() == EEXIST);
  SetDecl with_comment = set("sel", true);
  with_comment.comment = "x";
  CHECK(add_set(with_comment).errno_value() == EEXIST);
}

TEST_CASE("fake: flush set vs flush map") {
  FakeBackend f = populated();
  CHECK(commit_one(f, [](Transaction& tx) { tx.flush_set("from-pod"); }).errno_value() == ENOENT);
  CHECK(commit_one(f, [](Transaction& tx) { tx.flush_set(vmap("sel")); }).errno_value() == ENOENT);
  CHECK(commit_one(f, [](Transaction& tx) { tx.flush_set(vmap("from-pod")); }).ok());
  CHECK(commit_one(f, [](Transaction& tx) { tx.flush_set("sel"); }).ok());
  Snapshot snap;
  REQUIRE(f.read(snap).ok());
  CHECK(snap.elements["from-pod"].empty());
  CHECK(snap.elements["sel"].empty());
}

TEST_CASE("fake: element batches remove, add, then refresh, atomically") {
  FakeBackend f = populated();
  // Re-pointing a map element: old one in remove, new one in add.
  REQUIRE(f.commit_elements({{vmap("from-pod"), {jump("cali1", "pod-a")}, {jump("cali1", "pod-b")}, {}}}).ok());
  Snapshot snap;
  REQUIRE(f.read(snap).ok());
  CHECK(snap.elements["from-pod"].at(0).verdict == "jump pod-a");

  // Refresh works whether or not the element is there and resets its timeout.
  REQUIRE(f.commit_elements({{set("fq", false, true), {e("192.0.2.1", 1000)}, {}, {}}}).ok());
  REQUIRE(f.commit_elements({{set("fq", false, true), {}, {}, {e("192.0.2.1", 5000), e("192.0.2.2", 5000)}}}).ok());
  REQUIRE(f.read(snap).ok());
  REQUIRE(snap.elements["fq"].size() == 2);
  CHECK(snap.elements["fq"][0].timeout_ms == 5000u);

  const std::string before = f.render();
  auto st = f.commit_elements({{set("fq", false, true), {e("192.0.2.3", 1000)}, {}, {}},
                               {set("sel", true), {}, {e("172.16.0.0/12")}, {}}});
  CHECK(st.errno_value() == ENOENT);
  CHECK_THAT(st.message(), Catch::Contains("'172.16.0.0/12'") && Catch::Contains("'sel'"));
  CHECK(f.render() == before);

  st = f.commit_elements({{set("sel", false), {e("192.0.2.9")}, {}, {}}});
  CHECK(st.errno_value() == EINVAL);
  CHECK_THAT(st.message(), Catch::Contains("does not match"));
  CHECK(f.element_batch_calls() == 5);
}

TEST_CASE("fake: injected failures fail once and change nothing") {
  FakeBackend f = populated();
  const std::string before = f.render();
  f.fail_next_commit("boom");
  auto st = commit_one(f, [](Transaction& tx) { tx.add_set(set("x")); });
  CHECK_FALSE(st.ok());
  CHECK(st.message() == "boom");
  CHECK(f.render() == before);
  CHECK(commit_one(f, [](Transaction& tx) { tx.add_set(set("x")); }).ok());

  f.fail_next_element_batch();
  CHECK_FALSE(f.commit_elements({{set("fq", false, true), {e("192.0.2.1")}, {}, {}}}).ok());
  CHECK(f.commit_elements({{set("fq", false, true), {e("192.0.2.1")}, {}, {}}}).ok());
  CHECK(f.commit_calls() == 3);
  CHECK(f.element_batch_calls() == 2);
  CHECK(f.failed_calls() == 2);
  CHECK_THAT(f.last_transaction_text(), Catch::Contains("add set inet wac x"));
}

TEST_CASE("fake: timeouts run down and elements expire") {
  FakeBackend f = populated();
  REQUIRE(f.commit_elements({{set("fq", false, true), {e("192.0.2.1", 1000), e("192.0.2.2", 3000), e("192.0.2.3")}, {}, {}}}).ok());
  f.advance_time(1000);
  Snapshot snap;
  REQUIRE(f.read(snap).ok());
  REQUIRE(snap.elements["fq"].size() == 2);
  CHECK(snap.elements["fq"][0].key == "192.0.2.2");
  CHECK(snap.elements["fq"][0].timeout_ms == 2000u);
  CHECK_FALSE(snap.elements["fq"][1].timeout_ms);
}

TEST_CASE("fake: keys are stored in canonical form") {
  FakeBackend f = populated();
  REQUIRE(commit_one(f, [](Transaction& tx) {
            tx.add_element("sel", e("192.0.2.7/32"));
            tx.add_element("sel", e("203.0.113.0-203.0.113.255"));
          }).ok());
  Snapshot snap;
  REQUIRE(f.read(snap).ok());
  std::vector<std::string> keys;
  for (const auto& el : snap.elements["sel"]) keys.push_back(el.key);
  CHECK(keys == std::vector<std::string>{"10.0.0.0/8", "192.0.2.7", "203.0.113.0/24"});
  // ...and deleted by any spelling of the same key.
  CHECK(commit_one(f, [](Transaction& tx) { tx.delete_element("sel", e("192.0.2.7")); }).ok());
}

TEST_CASE("fake: the state after the golden transaction renders as the golden listing") {
  FakeBackend f;
  auto st = f.commit(wac::test::golden_transaction());
  INFO(st.message());
  REQUIRE(st.ok());
  wac::test::check_golden("fake_state.txt", f.render());
  Snapshot snap;
  REQUIRE(f.read(snap).ok());
  CHECK(snap.table_exists);
  CHECK(snap.sets.size() == 4);
  CHECK(snap.chains.size() == 2);
  CHECK(snap.sets["sel-3f2a1b9c"].comment == "app == 'db' and more");
}

TEST_CASE("fake: an empty table renders as nothing") {
  FakeBackend f;
  CHECK(f.render().empty());
  Snapshot snap;
  REQUIRE(f.read(snap).ok());
  CHECK_FALSE(snap.table_exists);
}

TEST_CASE("rule references are found outside quotes only") {
  auto refs = rule_references("ip saddr @sel-1 ip daddr != @sel/2 jump pod-a comment \"goto x @y\"");
  CHECK(refs.sets == std::vector<std::string>{"sel-1", "sel/2"});
  CHECK(refs.chains == std::vector<std::string>{"pod-a"});
  refs = rule_references("tcp dport vmap { 80 : jump web, 443 : goto tls }");
  CHECK(refs.chains == std::vector<std::string>{"web", "tls"});
  refs = rule_references("@nh,16,8 0x10 accept");  // raw payload, not a set
  CHECK(refs.sets.empty());
}

TEST_CASE("fake: fill_sets loads an unused set, removals first") {
  FakeBackend f = populated();
  Transaction tx;
  tx.add_set(set("fresh", true));
  tx.add_element("fresh", e("192.0.2.0/24"));
  REQUIRE(f.commit(tx).ok());
  Element a = e("10.1.0.0/16"), b = e("192.0.2.0/25");
  REQUIRE(f.fill_sets({{set("fresh", true), {&a, &b}, {e("192.0.2.0/24")}}}).ok());
  CHECK(f.fill_calls() == 1);
  CHECK(f.filled_elements() == 3);
  std::string text = f.render();
  CHECK(text.find("10.1.0.0/16") != std::string::npos);
  CHECK(text.find("192.0.2.0/25") != std::string::npos);
  CHECK(text.find("192.0.2.0/24") == std::string::npos);
}

TEST_CASE("fake: fill_sets refuses a set a rule uses, and a missing set") {
  FakeBackend f = populated();
  Element a = e("10.0.0.0/8");
  auto st = f.fill_sets({{set("sel", true), {&a}, {}}});
  CHECK(st.errno_value() == EPERM);
  CHECK_THAT(st.message(), Catch::Contains("pod-a"));
  CHECK(f.fill_sets({{set("nope", true), {&a}, {}}}).errno_value() == ENOENT);
  CHECK(f.failed_calls() == 2);
}

TEST_CASE("fake: an injected fill failure leaves the elements before it applied") {
  FakeBackend f = populated();
  Transaction tx;
  tx.add_set(set("one"));
  tx.add_set(set("two"));
  REQUIRE(f.commit(tx).ok());
  Element a = e("192.0.2.1"), b = e("192.0.2.2"), c = e("192.0.2.3");
  SetFills fills{{set("one"), {&a, &b}, {}}, {set("two"), {&c}, {}}};
  f.fail_next_fill(3 - 1, "boom");
  auto st = f.fill_sets(fills);
  CHECK_FALSE(st.ok());
  CHECK(st.message() == "boom");
  CHECK(f.filled_elements() == 2);
  Snapshot snap;
  REQUIRE(f.read(snap).ok());
  CHECK(snap.elements["one"].size() == 2);
  CHECK(snap.elements["two"].empty());
  // Only the next fill fails; applying everything then failing is a lost ack.
  REQUIRE(f.fill_sets(fills).ok());
  f.fail_next_fill(100);
  CHECK_FALSE(f.fill_sets(fills).ok());
}

TEST_CASE("fake: fail_commit fails only the nth commit from now") {
  FakeBackend f;
  Transaction tx;
  tx.add_table();
  f.fail_commit(2, "second");
  CHECK(f.commit(tx).ok());
  auto st = f.commit(tx);
  CHECK(st.message() == "second");
  CHECK(f.commit(tx).ok());
  CHECK(f.transaction_texts().size() == 3);
}
