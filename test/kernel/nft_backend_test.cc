// The kernel Backend and element writer against the real nf_tables, each
// test in a fresh network namespace.
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "nft/backend.h"
#include "nft/element_io.h"
#include "nft/fake.h"
#include "test/kernel/netns.h"
#include "test/unit/nft/golden.h"

using namespace wac::nft;
using wac::test::nft;
using wac::test::ScopedNetns;
using wac::Status;

namespace {

SetDecl set_decl(const std::string& name, KeyType key, bool interval, bool timeout, const std::string& comment = "") {
  SetDecl s;
  s.name = name;
  s.key = key;
  s.interval = interval;
  s.timeout = timeout;
  s.comment = comment;
  return s;
}

SetDecl map_decl(const std::string& name) {
  SetDecl s = set_decl(name, KeyType::Ifname, false, false);
  s.verdict_map = true;
  return s;
}

Element elem(const std::string& key, const std::string& comment = "", std::optional<uint32_t> timeout = {}) {
  Element e;
  e.key = key;
  e.comment = comment;
  e.timeout_ms = timeout;
  return e;
}

Element jump(const std::string& ifname, const std::string& chain) {
  Element e;
  e.key = ifname;
  e.verdict = "jump " + chain;
  return e;
}

Chain chain(const std::string& name, std::vector<std::string> rules = {}, const std::string& comment = "") {
  Chain c;
  c.name = name;
  c.rules = std::move(rules);
  c.comment = comment;
  return c;
}

Chain base_chain(const std::string& name, const std::string& hook, std::vector<std::string> rules = {}) {
  Chain c = chain(name, std::move(rules));
  c.hook = BaseHook{"filter", hook, 0, "accept"};
  return c;
}

// The structure every test starts from.
Transaction base_ruleset() {
  Transaction tx;
  tx.add_table();
  tx.add_set(set_decl("sel-3f2a1b9c", KeyType::Ipv4Addr, true, false, "app == 'db'"));
  tx.add_set(set_decl("sel6-3f2a1b9c", KeyType::Ipv6Addr, true, false));
  tx.add_set(set_decl("fqdn-9a8b7c6d", KeyType::Ipv4Addr, false, true, "*.example.com"));
  tx.add_set(map_decl("from-pod"));
  tx.replace_chain(chain("pod-default/web-7f9c.egress", {"ip daddr @sel-3f2a1b9c accept", "counter drop comment \"default deny\""},
                         "pod default/web"));
  tx.replace_chain(base_chain("forward", "forward", {"ct state established,related accept", "iifname vmap @from-pod"}));
  return tx;
}

std::vector<Element> elements_of(Backend& b, const std::string& set) {
  Snapshot snap;
  REQUIRE(b.read(snap).ok());
  return snap.elements[set];
}

std::vector<std::string> keys(const std::vector<Element>& elements) {
  std::vector<std::string> out;
  for (const auto& e : elements) out.push_back(e.key);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("a committed transaction reads back as written, and as the fake holds it") {
  ScopedNetns ns;
  auto kernel = make_kernel_backend();
  FakeBackend fake;
  Transaction tx = base_ruleset();
  tx.add_element("sel-3f2a1b9c", elem("10.0.0.0/8", "corp"));
  tx.add_element("sel-3f2a1b9c", elem("192.0.2.7"));
  tx.add_element("sel6-3f2a1b9c", elem("2001:db8::/32"));
  tx.add_element("from-pod", jump("cali1a2b", "pod-default/web-7f9c.egress"));
  REQUIRE(kernel->commit(tx).ok());
  REQUIRE(fake.commit(tx).ok());

  Snapshot k, f;
  REQUIRE(kernel->read(k).ok());
  REQUIRE(fake.read(f).ok());
  CHECK(k.table_exists);
  CHECK(k.sets == f.sets);
  CHECK(k.chains == f.chains);
  CHECK(k.elements == f.elements);
  // Spot checks, so a shared mistake in both cannot hide.
  CHECK(k.chains.at("forward").hook->hook == "forward");
  CHECK(k.chains.at("pod-default/web-7f9c.egress").comment == "pod default/web");
  CHECK(k.chains.at("pod-default/web-7f9c.egress").rules ==
        std::vector<std::string>{"ip daddr @sel-3f2a1b9c accept", "counter drop comment \"default deny\""});
  CHECK(k.sets.at("sel-3f2a1b9c").comment == "app == 'db'");
  CHECK(k.elements.at("from-pod").at(0).verdict == "jump pod-default/web-7f9c.egress");
}

TEST_CASE("reading a namespace without the table gives an empty snapshot") {
  ScopedNetns ns;
  auto kernel = make_kernel_backend();
  Snapshot snap;
  snap.table_exists = true;
  REQUIRE(kernel->read(snap).ok());
  CHECK_FALSE(snap.table_exists);
  CHECK(snap.chains.empty());
}

TEST_CASE("a failed transaction changes nothing and reports nft's error") {
  ScopedNetns ns;
  auto kernel = make_kernel_backend();
  REQUIRE(kernel->commit(base_ruleset()).ok());
  Snapshot before;
  REQUIRE(kernel->read(before).ok());

  Transaction tx;
  tx.add_set(set_decl("sel-new", KeyType::Ipv4Addr, false, false));
  tx.replace_chain(chain("pod-x", {"jump no-such-chain"}));
  Status st = kernel->commit(tx);
  REQUIRE_FALSE(st.ok());
  CHECK(st.errno_value() == ENOENT);
  // nft 1.0.6 points its caret at the wrong command of a batch, so only
  // the kernel's reason is reliable.
  CHECK_THAT(st.message(), Catch::StartsWith("nft: Error: Could not process rule: No such file or directory"));

  Snapshot after;
  REQUIRE(kernel->read(after).ok());
  CHECK(after.sets == before.sets);
  CHECK(after.chains == before.chains);
}

TEST_CASE("an invalid name is refused before reaching nft") {
  ScopedNetns ns;
  auto kernel = make_kernel_backend();
  Transaction tx;
  tx.add_table();
  tx.add_chain(chain("fwd"));
  Status st = kernel->commit(tx);
  REQUIRE_FALSE(st.ok());
  CHECK_THAT(st.message(), Catch::Contains("keyword"));
  Snapshot snap;
  REQUIRE(kernel->read(snap).ok());
  CHECK_FALSE(snap.table_exists);
}

TEST_CASE("names with '/', '-', '.', '_' work everywhere nft takes a name") {
  ScopedNetns ns;
  auto kernel = make_kernel_backend();
  Transaction tx;
  tx.add_table();
  tx.add_set(set_decl("netset-global/corp.nets_v4", KeyType::Ipv4Addr, true, false));
  tx.add_set(map_decl("to-pod/v1.map"));
  tx.replace_chain(chain("policy-default/allow-api.egress_1", {"ip saddr @netset-global/corp.nets_v4 accept"}));
  tx.replace_chain(chain("pod-a", {"jump policy-default/allow-api.egress_1", "oifname vmap @to-pod/v1.map"}));
  tx.add_element("to-pod/v1.map", jump("veth0", "policy-default/allow-api.egress_1"));
  tx.flush_set(map_decl("to-pod/v1.map"));
  tx.delete_chain("pod-a");
  tx.delete_chain("policy-default/allow-api.egress_1");
  tx.delete_set("to-pod/v1.map");
  tx.delete_set("netset-global/corp.nets_v4");
  Status st = kernel->commit(tx);
  INFO(tx.render());
  CHECK(st.ok());
  INFO(st.message());
}

TEST_CASE("element batches add, delete and refresh with timeouts and comments") {
  ScopedNetns ns;
  auto kernel = make_kernel_backend();
  REQUIRE(kernel->commit(base_ruleset()).ok());
  const SetDecl fqdn = set_decl("fqdn-9a8b7c6d", KeyType::Ipv4Addr, false, true, "*.example.com");

  SetChange add{fqdn, {elem("192.0.2.10", "api.example.com", 30000), elem("192.0.2.11", "", 1500)}, {}, {}};
  REQUIRE(kernel->commit_elements({add}).ok());
  std::string listed = nft("list set inet wac fqdn-9a8b7c6d");
  CHECK_THAT(listed, Catch::Contains("192.0.2.10 timeout 30s expires"));
  CHECK_THAT(listed, Catch::Contains("comment \"api.example.com\""));
  CHECK_THAT(listed, Catch::Contains("192.0.2.11 timeout 1s500ms"));

  auto read = elements_of(*kernel, "fqdn-9a8b7c6d");
  REQUIRE(read.size() == 2);
  auto api = std::find_if(read.begin(), read.end(), [](const Element& e) { return e.key == "192.0.2.10"; });
  REQUIRE(api != read.end());
  CHECK(api->comment == "api.example.com");
  REQUIRE(api->timeout_ms);
  CHECK(*api->timeout_ms <= 30000);
  CHECK(*api->timeout_ms > 25000);

  SetChange remove{fqdn, {}, {elem("192.0.2.11")}, {}};
  REQUIRE(kernel->commit_elements({remove}).ok());
  CHECK(keys(elements_of(*kernel, "fqdn-9a8b7c6d")) == std::vector<std::string>{"192.0.2.10"});

  // Refresh of a present element (new timeout) and of an absent one.
  SetChange refresh{fqdn, {}, {}, {elem("192.0.2.10", "api.example.com", 600000), elem("192.0.2.12", "", 600000)}};
  REQUIRE(kernel->commit_elements({refresh}).ok());
  read = elements_of(*kernel, "fqdn-9a8b7c6d");
  REQUIRE(keys(read) == std::vector<std::string>{"192.0.2.10", "192.0.2.12"});
  for (const auto& e : read) CHECK(*e.timeout_ms > 590000);
}

TEST_CASE("refresh succeeds for an element that expired but is still in the kernel") {
  ScopedNetns ns;
  auto kernel = make_kernel_backend();
  // A long gc-interval keeps the expired element in the set.
  nft("add table inet wac\nadd set inet wac fq { type ipv4_addr; flags timeout; gc-interval 1h; }\n"
      "add set inet wac fqi { type ipv4_addr; flags interval,timeout; gc-interval 1h; }");
  const SetDecl fq = set_decl("fq", KeyType::Ipv4Addr, false, true);
  const SetDecl fqi = set_decl("fqi", KeyType::Ipv4Addr, true, true);
  REQUIRE(kernel->commit_elements({{fq, {elem("192.0.2.20", "", 1000), elem("192.0.2.21", "", 1000)}, {}, {}},
                                   {fqi, {elem("198.51.100.0/24", "", 1000)}, {}, {}}})
              .ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));

  // The failure refresh avoids: deleting an expired element fails.
  Status plain_delete = kernel->commit_elements({{fq, {}, {elem("192.0.2.21")}, {}}});
  CHECK(plain_delete.errno_value() == ENOENT);

  Status st = kernel->commit_elements({{fq, {}, {}, {elem("192.0.2.20", "", 60000)}},
                                       {fqi, {}, {}, {elem("198.51.100.0/24", "", 60000)}}});
  INFO(st.message());
  REQUIRE(st.ok());
  auto read = elements_of(*kernel, "fq");
  REQUIRE(keys(read) == std::vector<std::string>{"192.0.2.20"});
  CHECK(*read[0].timeout_ms > 55000);
  read = elements_of(*kernel, "fqi");
  REQUIRE(keys(read) == std::vector<std::string>{"198.51.100.0/24"});
  CHECK(*read[0].timeout_ms > 55000);
}

TEST_CASE("interval sets take CIDRs including /0 and host addresses, as nft writes them") {
  ScopedNetns ns;
  auto kernel = make_kernel_backend();
  nft("add table inet wac\n"
      "add set inet wac by-nft { type ipv4_addr; flags interval; }\n"
      "add set inet wac by-wac { type ipv4_addr; flags interval; }\n"
      "add set inet wac all4 { type ipv4_addr; flags interval; }\n"
      "add set inet wac by-nft6 { type ipv6_addr; flags interval; }\n"
      "add set inet wac by-wac6 { type ipv6_addr; flags interval; }\n"
      "add set inet wac all6 { type ipv6_addr; flags interval; }\n");
  const std::vector<std::string> v4 = {"10.0.0.0/8", "11.0.0.0/8", "192.0.2.7", "198.51.100.0/24",
                                       "203.0.113.1-203.0.113.5", "255.255.255.255"};
  const std::vector<std::string> v6 = {"2001:db8::/32", "fd00:244::1", "ffff::/16"};
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& k : v) s += (s.empty() ? "" : ", ") + k;
    return s;
  };
  nft("add element inet wac by-nft { " + join(v4) + " }\nadd element inet wac by-nft6 { " + join(v6) + " }");

  ElementBatch batch;
  SetChange c4{set_decl("by-wac", KeyType::Ipv4Addr, true, false), {}, {}, {}};
  for (const auto& k : v4) c4.add.push_back(elem(k));
  SetChange c6{set_decl("by-wac6", KeyType::Ipv6Addr, true, false), {}, {}, {}};
  for (const auto& k : v6) c6.add.push_back(elem(k));
  batch.push_back(c4);
  batch.push_back(c6);
  batch.push_back({set_decl("all4", KeyType::Ipv4Addr, true, false), {elem("0.0.0.0/0")}, {}, {}});
  batch.push_back({set_decl("all6", KeyType::Ipv6Addr, true, false), {elem("::/0")}, {}, {}});
  Status st = kernel->commit_elements(batch);
  INFO(st.message());
  REQUIRE(st.ok());

  // nft prints both sets identically...
  auto elements_line = [](std::string listing) {
    auto start = listing.find("elements = ");
    REQUIRE(start != std::string::npos);
    return listing.substr(start, listing.find('}', start) - start);
  };
  CHECK(elements_line(nft("list set inet wac by-wac")) == elements_line(nft("list set inet wac by-nft")));
  CHECK(elements_line(nft("list set inet wac by-wac6")) == elements_line(nft("list set inet wac by-nft6")));
  CHECK_THAT(nft("list set inet wac all4"), Catch::Contains("elements = { 0.0.0.0/0 }"));
  CHECK_THAT(nft("list set inet wac all6"), Catch::Contains("elements = { ::/0 }"));

  // ...and both read back as the text written.
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  CHECK(keys(elements_of(*kernel, "by-wac")) == sorted(v4));
  CHECK(keys(elements_of(*kernel, "by-nft")) == sorted(v4));
  CHECK(keys(elements_of(*kernel, "by-wac6")) == sorted(v6));
  CHECK(keys(elements_of(*kernel, "all4")) == std::vector<std::string>{"0.0.0.0/0"});
  CHECK(keys(elements_of(*kernel, "all6")) == std::vector<std::string>{"::/0"});

  // Deleting intervals, including the open-ended one.
  st = kernel->commit_elements({{set_decl("by-wac", KeyType::Ipv4Addr, true, false), {},
                                 {elem("255.255.255.255"), elem("10.0.0.0/8"), elem("203.0.113.1-203.0.113.5")}, {}},
                                {set_decl("all4", KeyType::Ipv4Addr, true, false), {}, {elem("0.0.0.0/0")}, {}}});
  INFO(st.message());
  REQUIRE(st.ok());
  CHECK(keys(elements_of(*kernel, "by-wac")) == std::vector<std::string>{"11.0.0.0/8", "192.0.2.7", "198.51.100.0/24"});
  CHECK(elements_of(*kernel, "all4").empty());
}

TEST_CASE("verdict map elements jump to their chain") {
  ScopedNetns ns;
  auto kernel = make_kernel_backend();
  Transaction tx;
  tx.add_table();
  tx.add_set(map_decl("to-pod"));
  // Only the test datagrams, not the ICMP errors they cause.
  tx.replace_chain(chain("pod-lo-ingress", {"udp dport 9 counter"}));
  tx.replace_chain(chain("pod-other-ingress", {"udp dport 9 counter"}));
  tx.replace_chain(base_chain("output", "output", {"oifname vmap @to-pod"}));
  REQUIRE(kernel->commit(tx).ok());
  REQUIRE(kernel->commit_elements({{map_decl("to-pod"), {jump("lo", "pod-lo-ingress"), jump("cali0", "pod-other-ingress")}, {}, {}}})
              .ok());
  CHECK_THAT(nft("list map inet wac to-pod"), Catch::Contains("\"lo\" : jump pod-lo-ingress"));

  wac::test::send_udp(9, "ping", 3);
  CHECK_THAT(nft("list chain inet wac pod-lo-ingress"), Catch::Contains("counter packets 3"));
  CHECK_THAT(nft("list chain inet wac pod-other-ingress"), Catch::Contains("counter packets 0"));

  // Re-pointing an element: remove the old verdict and add the new one in one batch.
  REQUIRE(kernel->commit_elements({{map_decl("to-pod"), {jump("lo", "pod-other-ingress")}, {jump("lo", "pod-lo-ingress")}, {}}})
              .ok());
  wac::test::send_udp(9, "ping", 2);
  CHECK_THAT(nft("list chain inet wac pod-other-ingress"), Catch::Contains("counter packets 2"));

  // A chain a map element jumps to cannot be deleted.
  Transaction del;
  del.delete_chain("pod-other-ingress");
  CHECK(kernel->commit(del).errno_value() == EBUSY);
}

TEST_CASE("a failed element batch changes nothing and names the set and element") {
  ScopedNetns ns;
  auto kernel = make_kernel_backend();
  REQUIRE(kernel->commit(base_ruleset()).ok());
  const SetDecl sel = set_decl("sel-3f2a1b9c", KeyType::Ipv4Addr, true, false);
  const SetDecl fqdn = set_decl("fqdn-9a8b7c6d", KeyType::Ipv4Addr, false, true);
  REQUIRE(kernel->commit_elements({{sel, {elem("10.0.0.0/8")}, {}, {}}}).ok());

  SECTION("overlapping interval") {
    std::vector<Element> many;
    for (int i = 0; i < 250; ++i) many.push_back(elem("198.51.100." + std::to_string(i), "", 60000 + i));
    Status st = kernel->commit_elements({{fqdn, many, {}, {}},
                                         {sel, {elem("192.0.2.0/24"), elem("10.1.0.0/16"), elem("203.0.113.0/24")}, {}, {}}});
    REQUIRE_FALSE(st.ok());
    CHECK_THAT(st.message(), Catch::Contains("sel-3f2a1b9c") && Catch::Contains("10.1.0.0/16"));
    CHECK(elements_of(*kernel, "fqdn-9a8b7c6d").empty());
    CHECK(keys(elements_of(*kernel, "sel-3f2a1b9c")) == std::vector<std::string>{"10.0.0.0/8"});
  }
  SECTION("deleting a missing element") {
    Status st = kernel->commit_elements({{fqdn, {elem("192.0.2.1", "", 1000)}, {}, {}},
                                         {sel, {}, {elem("10.0.0.0/8"), elem("172.16.0.0/12")}, {}}});
    REQUIRE_FALSE(st.ok());
    CHECK(st.errno_value() == ENOENT);
    CHECK_THAT(st.message(), Catch::Contains("sel-3f2a1b9c") && Catch::Contains("172.16.0.0/12"));
    CHECK(elements_of(*kernel, "fqdn-9a8b7c6d").empty());
    CHECK(keys(elements_of(*kernel, "sel-3f2a1b9c")) == std::vector<std::string>{"10.0.0.0/8"});
  }
  SECTION("a missing set") {
    Status st = kernel->commit_elements({{set_decl("no-such-set", KeyType::Ipv4Addr, false, false), {elem("192.0.2.1")}, {}, {}}});
    REQUIRE_FALSE(st.ok());
    CHECK(st.errno_value() == ENOENT);
    CHECK_THAT(st.message(), Catch::Contains("no-such-set"));
  }
  SECTION("a key of the wrong family is refused before sending") {
    Status st = kernel->commit_elements({{sel, {elem("2001:db8::1")}, {}, {}}});
    REQUIRE_FALSE(st.ok());
    CHECK_THAT(st.message(), Catch::Contains("2001:db8::1"));
  }
}

TEST_CASE("large element batches are split into messages but stay one transaction") {
  ScopedNetns ns;
  auto kernel = make_kernel_backend();
  REQUIRE(kernel->commit(base_ruleset()).ok());
  const SetDecl fqdn = set_decl("fqdn-9a8b7c6d", KeyType::Ipv4Addr, false, true);
  SetChange big{fqdn, {}, {}, {}};
  for (int i = 0; i < 20000; ++i) {
    big.add.push_back(elem("10." + std::to_string(i >> 16) + "." + std::to_string((i >> 8) & 255) + "." +
                               std::to_string(i & 255),
                           "name-" + std::to_string(i) + ".example.com", 600000));
  }
  Status st = kernel->commit_elements({big});
  INFO(st.message());
  REQUIRE(st.ok());
  CHECK(elements_of(*kernel, "fqdn-9a8b7c6d").size() == 20000);

  // Another large batch with one failing delete at its very end: none of it stays.
  SetChange more{fqdn, {}, {}, {}};
  for (int i = 0; i < 20000; ++i) {
    more.add.push_back(elem("11.0." + std::to_string(i >> 8) + "." + std::to_string(i & 255), "", 1000));
  }
  SetChange failing{set_decl("sel-3f2a1b9c", KeyType::Ipv4Addr, true, false), {}, {elem("192.0.2.99")}, {}};
  st = kernel->commit_elements({more, failing});
  REQUIRE_FALSE(st.ok());
  CHECK_THAT(st.message(), Catch::Contains("192.0.2.99"));
  CHECK(elements_of(*kernel, "fqdn-9a8b7c6d").size() == 20000);
}

namespace {

// `count` adjacent /32 nets from 10.0.0.0, as a network set's.
std::vector<Element> host_nets(int count) {
  std::vector<Element> out;
  for (int i = 0; i < count; ++i) {
    out.push_back(elem("10." + std::to_string(i >> 16) + "." + std::to_string((i >> 8) & 255) + "." +
                           std::to_string(i & 255) + "/32",
                       "netset big"));
  }
  return out;
}

std::vector<const Element*> pointers(const std::vector<Element>& elements) {
  std::vector<const Element*> out;
  for (const auto& e : elements) out.push_back(&e);
  return out;
}

}  // namespace

TEST_CASE("a fill of an unused set goes as several bounded batches") {
  ScopedNetns ns;
  auto kernel = make_kernel_backend();
  Transaction tx;
  tx.add_table();
  const SetDecl big = set_decl("sel4-big", KeyType::Ipv4Addr, true, false, "set == 'big'");
  tx.add_set(big);
  REQUIRE(kernel->commit(tx).ok());
  const std::vector<Element> nets = host_nets(150000);  // 300,000 kernel elements, ~13 MB on the wire
  NftnlElementIo io;
  Status st = io.fill({{big, pointers(nets), {}}});
  INFO(st.message());
  REQUIRE(st.ok());
  CHECK(io.stats().batches >= 3);
  auto have = elements_of(*kernel, "sel4-big");
  REQUIRE(have.size() == nets.size());
  CHECK(have.front().comment == "netset big");

  // Stale elements go first; a failure in a later batch (deleting an element
  // another set does not have) keeps the earlier batches.
  const std::vector<Element> more = host_nets(300000);
  const SetDecl other = set_decl("sel4-other", KeyType::Ipv4Addr, true, false);
  Transaction declare_other;
  declare_other.add_set(other);
  REQUIRE(kernel->commit(declare_other).ok());
  st = io.fill({{big, pointers(more), {nets[0]}}, {other, {}, {elem("192.0.2.99")}}});
  REQUIRE_FALSE(st.ok());
  CHECK_THAT(st.message(), Catch::Contains("192.0.2.99"));
  have = elements_of(*kernel, "sel4-big");
  CHECK(have.size() > nets.size());
  CHECK(have.size() < more.size());
}

TEST_CASE("the standalone element writer works on its own socket") {
  ScopedNetns ns;
  auto kernel = make_kernel_backend();
  REQUIRE(kernel->commit(base_ruleset()).ok());
  auto writer = make_element_writer();
  const SetDecl fqdn = set_decl("fqdn-9a8b7c6d", KeyType::Ipv4Addr, false, true);
  REQUIRE(writer->commit({{fqdn, {elem("192.0.2.30", "learned", 5000)}, {}, {}}}).ok());
  CHECK(keys(elements_of(*kernel, "fqdn-9a8b7c6d")) == std::vector<std::string>{"192.0.2.30"});
}

TEST_CASE("set and chain deletion follow the kernel's reference rules") {
  ScopedNetns ns;
  auto kernel = make_kernel_backend();
  REQUIRE(kernel->commit(base_ruleset()).ok());
  Transaction del_set;
  del_set.delete_set("sel-3f2a1b9c");
  CHECK(kernel->commit(del_set).errno_value() == EBUSY);

  Transaction del_chain;
  del_chain.replace_chain(chain("jumper", {"jump pod-default/web-7f9c.egress"}));
  del_chain.delete_chain("pod-default/web-7f9c.egress");
  CHECK(kernel->commit(del_chain).errno_value() == EBUSY);

  Transaction ok;
  ok.delete_chain("pod-default/web-7f9c.egress");
  ok.delete_set("sel-3f2a1b9c");
  CHECK(kernel->commit(ok).ok());

  Transaction missing;
  missing.delete_set("sel-3f2a1b9c");
  CHECK(kernel->commit(missing).errno_value() == ENOENT);
}

TEST_CASE("the golden transaction is accepted by nft and reads back as the fake holds it") {
  ScopedNetns ns;
  auto kernel = make_kernel_backend();
  FakeBackend fake;
  Transaction tx = wac::test::golden_transaction();
  Status st = kernel->commit(tx);
  INFO(st.message());
  REQUIRE(st.ok());
  REQUIRE(fake.commit(tx).ok());
  Snapshot k, f;
  REQUIRE(kernel->read(k).ok());
  REQUIRE(fake.read(f).ok());
  CHECK(k.sets == f.sets);
  CHECK(k.chains == f.chains);
  // Timeouts have run down a little in the kernel; everything else is equal.
  for (auto& [name, elements] : k.elements) {
    for (auto& e : elements) {
      if (e.timeout_ms) e.timeout_ms = 1;
    }
  }
  for (auto& [name, elements] : f.elements) {
    for (auto& e : elements) {
      if (e.timeout_ms) e.timeout_ms = 1;
    }
  }
  CHECK(k.elements == f.elements);
}

TEST_CASE("interval verdict maps: CIDR keys that jump") {
  ScopedNetns ns;
  auto kernel = make_kernel_backend();
  SetDecl dispatch = set_decl("by-dst", KeyType::Ipv4Addr, true, false);
  dispatch.verdict_map = true;
  SetDecl by_nft = dispatch;
  by_nft.name = "by-dst-nft";
  Transaction tx;
  tx.add_table();
  tx.add_set(dispatch);
  tx.add_set(by_nft);
  tx.replace_chain(chain("to-test-net", {"udp dport 9 counter"}));
  tx.replace_chain(base_chain("output", "output", {"ip daddr vmap @by-dst"}));
  tx.add_element("by-dst-nft", {"192.0.2.0/24", "jump to-test-net", "", std::nullopt});
  tx.add_element("by-dst-nft", {"0.0.0.0/0", "", "", std::nullopt});
  // 0.0.0.0/0 overlaps: the second add must fail and take the whole transaction with it.
  CHECK(kernel->commit(tx).errno_value() != 0);
  // nft 1.0.6 sends the elements of an interval map declared in the same
  // transaction together with the declaration, so the chains they jump to
  // must be declared before the map.
  tx = Transaction();
  tx.add_table();
  tx.replace_chain(chain("to-test-net", {"udp dport 9 counter"}));
  tx.add_set(dispatch);
  tx.add_set(by_nft);
  tx.replace_chain(base_chain("output", "output", {"ip daddr vmap @by-dst"}));
  tx.add_element("by-dst-nft", {"192.0.2.0/24", "jump to-test-net", "", std::nullopt});
  tx.add_element("by-dst-nft", {"198.51.100.0/24", "accept", "", std::nullopt});
  Status committed = kernel->commit(tx);
  INFO(committed.message());
  REQUIRE(committed.ok());

  Element jump_net{"192.0.2.0/24", "jump to-test-net", "", std::nullopt};
  Element accept_net{"198.51.100.0/24", "accept", "", std::nullopt};
  Status st = kernel->commit_elements({{dispatch, {jump_net, accept_net}, {}, {}}});
  INFO(st.message());
  REQUIRE(st.ok());
  auto elements_line = [](std::string listing) { return listing.substr(listing.find("elements = ")); };
  CHECK(elements_line(nft("list map inet wac by-dst")) == elements_line(nft("list map inet wac by-dst-nft")));
  auto read = elements_of(*kernel, "by-dst");
  REQUIRE(read.size() == 2);
  CHECK(read[0] == jump_net);
  CHECK(read[1] == accept_net);
  wac::test::send_udp(9, "x", 2);
  CHECK_THAT(nft("list chain inet wac to-test-net"), Catch::Contains("counter packets 2"));
}
