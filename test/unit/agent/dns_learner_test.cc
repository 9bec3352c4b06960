// DnsLearner: answers in, element changes for the domain sets out.
#include <catch2/catch.hpp>

#include <algorithm>

#include "agent/dns_learner.h"

using namespace wac;
using namespace wac::agent;
using namespace std::chrono_literals;

namespace {

using Time = dns::SteadyTime;
const Time T0 = Time{} + 1000h;  // far from the epoch, which the learner uses as "never programmed"

dns::CacheConfig config(size_t cap = 256) {
  dns::CacheConfig c;
  c.grace = 5s;
  c.min_timeout = 10s;
  c.max_timeout = 3600s;
  c.max_addrs_per_key = cap;
  c.refresh_threshold = 5s;
  return c;
}

IpAddr ip(const char* s) { return *IpAddr::parse(s); }
dns::Answer ans(const char* name, const char* addr, uint32_t ttl) { return {name, ip(addr), ttl}; }

DomainSetMap map_of(std::initializer_list<std::pair<const char*, const char*>> patterns) {
  DomainSetMap m;
  for (auto [pattern, id] : patterns) m[pattern] = {std::string("fqdn4-") + id, std::string("fqdn6-") + id};
  return m;
}

// What one batch does, flattened: "add fqdn4-a 192.0.2.1 65000", "refresh ...", "remove ...".
std::vector<std::string> ops(const nft::ElementBatch& batch) {
  std::vector<std::string> out;
  for (const auto& c : batch) {
    for (const auto& e : c.remove) out.push_back("remove " + c.set.name + " " + e.key);
    for (const auto& e : c.add) out.push_back("add " + c.set.name + " " + e.key + " " + std::to_string(*e.timeout_ms));
    for (const auto& e : c.refresh)
      out.push_back("refresh " + c.set.name + " " + e.key + " " + std::to_string(*e.timeout_ms));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> learn(DnsLearner& l, std::vector<dns::Answer> answers, Time now) {
  nft::ElementBatch b;
  l.learn(answers, now, b);
  for (const auto& c : b) {
    CHECK(c.set.timeout);
    CHECK(c.set.key == (c.set.name.starts_with("fqdn4-") ? nft::KeyType::Ipv4Addr : nft::KeyType::Ipv6Addr));
  }
  return ops(b);
}

std::vector<std::string> publish(DnsLearner& l, const DomainSetMap& m, Time now, bool reconcile = false) {
  nft::ElementBatch b;
  l.set_domain_sets(m, now, reconcile, b);
  return ops(b);
}

using V = std::vector<std::string>;

}  // namespace

TEST_CASE("learner: a matching answer adds the address with timeout = TTL + grace") {
  DnsLearner l(config());
  CHECK(publish(l, map_of({{"api.example.com", "a"}}), T0).empty());
  CHECK(learn(l, {ans("api.example.com", "192.0.2.1", 60)}, T0) == V{"add fqdn4-a 192.0.2.1 65000"});
  CHECK(l.elements_in("fqdn4-a") == 1);
  CHECK(l.stats().elements_added == 1);

  SECTION("the same answer again changes nothing") {
    CHECK(learn(l, {ans("api.example.com", "192.0.2.1", 60)}, T0 + 2s).empty());
  }
  SECTION("a re-resolution that moves expiry by more than the threshold refreshes it") {
    CHECK(learn(l, {ans("api.example.com", "192.0.2.1", 60)}, T0 + 30s) == V{"refresh fqdn4-a 192.0.2.1 65000"});
    CHECK(l.stats().elements_refreshed == 1);
  }
  SECTION("TTLs are clamped: 0 gets the minimum, a huge TTL the maximum") {
    CHECK(learn(l, {ans("api.example.com", "192.0.2.2", 0)}, T0) == V{"add fqdn4-a 192.0.2.2 10000"});
    CHECK(learn(l, {ans("api.example.com", "192.0.2.3", 4000000000u)}, T0) == V{"add fqdn4-a 192.0.2.3 3600000"});
  }
}

TEST_CASE("learner: families go to their own set, names no pattern matches are not kept") {
  DnsLearner l(config());
  publish(l, map_of({{"*.example.com", "w"}}), T0);
  CHECK(learn(l, {ans("v6.example.com", "2001:db8::5", 100), ans("other.test", "192.0.2.9", 100),
                  ans("example.com", "192.0.2.8", 100)},
              T0) == V{"add fqdn6-w 2001:db8::5 105000"});
  CHECK(l.stats().unmatched == 2);
  CHECK(l.cache().key_count() == 1);
}

TEST_CASE("learner: a pattern with only an IPv4 set ignores IPv6 answers") {
  DnsLearner l(config());
  DomainSetMap m{{"api.example.com", {"fqdn4-a", ""}}};
  publish(l, m, T0);
  CHECK(learn(l, {ans("api.example.com", "2001:db8::1", 60)}, T0).empty());
  CHECK(learn(l, {ans("api.example.com", "192.0.2.1", 60)}, T0) == V{"add fqdn4-a 192.0.2.1 65000"});
}

TEST_CASE("learner: every name of a CNAME chain feeds the patterns it matches") {
  DnsLearner l(config());
  publish(l, map_of({{"www.example.com", "w"}, {"*.cdn.example.net", "c"}}), T0);
  // The parser emits the chain's end address for each name on the chain.
  CHECK(learn(l, {ans("www.example.com", "198.51.100.7", 30), ans("edge.cdn.example.net", "198.51.100.7", 30)}, T0) ==
        V{"add fqdn4-c 198.51.100.7 35000", "add fqdn4-w 198.51.100.7 35000"});
}

TEST_CASE("learner: two names sharing an address share the element, it lives until the later expiry") {
  DnsLearner l(config(1));
  publish(l, map_of({{"*.example.com", "w"}}), T0);
  CHECK(learn(l, {ans("a.example.com", "192.0.2.1", 100)}, T0) == V{"add fqdn4-w 192.0.2.1 105000"});
  // b's answer expires later: the element is extended to b's expiry.
  CHECK(learn(l, {ans("b.example.com", "192.0.2.1", 200)}, T0) == V{"refresh fqdn4-w 192.0.2.1 205000"});
  // a moves to another address (cap 1 evicts 192.0.2.1 from a): b still holds it, no delete.
  CHECK(learn(l, {ans("a.example.com", "192.0.2.2", 100)}, T0 + 1s) == V{"add fqdn4-w 192.0.2.2 105000"});
  // b moves too: nobody holds 192.0.2.1 any more, and it is far from expiry: deleted.
  CHECK(learn(l, {ans("b.example.com", "192.0.2.3", 100)}, T0 + 2s) ==
        V{"add fqdn4-w 192.0.2.3 105000", "remove fqdn4-w 192.0.2.1"});
  CHECK(l.stats().elements_removed == 1);
}

TEST_CASE("learner: the per-name cap evicts the earliest-expiring address and counts it") {
  dns::DnsStats stats;
  DnsLearner l(config(2), &stats);
  publish(l, map_of({{"api.example.com", "a"}}), T0);
  learn(l, {ans("api.example.com", "192.0.2.1", 50), ans("api.example.com", "192.0.2.2", 100)}, T0);
  CHECK(learn(l, {ans("api.example.com", "192.0.2.3", 100)}, T0 + 1s) ==
        V{"add fqdn4-a 192.0.2.3 105000", "remove fqdn4-a 192.0.2.1"});
  CHECK(stats.evictions == 1);
  CHECK(l.elements_in("fqdn4-a") == 2);

  SECTION("what is evicted and re-added within one batch nets out") {
    // A hostile server's 4 addresses in one response with cap 2: only the
    // survivors are written, nothing is added and removed in one go.
    auto out = learn(l, {ans("api.example.com", "192.0.2.10", 200), ans("api.example.com", "192.0.2.11", 300),
                         ans("api.example.com", "192.0.2.12", 400)},
                     T0 + 2s);
    CHECK(out == V{"add fqdn4-a 192.0.2.11 305000", "add fqdn4-a 192.0.2.12 405000", "remove fqdn4-a 192.0.2.2",
                   "remove fqdn4-a 192.0.2.3"});
    CHECK(l.elements_in("fqdn4-a") == 2);
  }
}

TEST_CASE("learner: an address about to expire is not deleted on eviction (the delete could fail the batch)") {
  DnsLearner l(config(1));
  publish(l, map_of({{"api.example.com", "a"}}), T0);
  learn(l, {ans("api.example.com", "192.0.2.1", 5)}, T0);  // min timeout 10s
  CHECK(learn(l, {ans("api.example.com", "192.0.2.2", 60)}, T0 + 9s) == V{"add fqdn4-a 192.0.2.2 65000"});
  // Learned again while the kernel may still hold it: refreshed, not added
  // (an add would leave the old, nearly expired timeout in place).
  CHECK(learn(l, {ans("api.example.com", "192.0.2.1", 60)}, T0 + 9500ms) ==
        V{"refresh fqdn4-a 192.0.2.1 65000", "remove fqdn4-a 192.0.2.2"});
}

TEST_CASE("learner: a set created later is filled from the cache with the remaining lifetime") {
  DnsLearner l(config());
  SECTION("names learned before the first pattern map are kept for it") {
    CHECK(learn(l, {ans("api.example.com", "192.0.2.1", 60)}, T0).empty());
    CHECK(publish(l, map_of({{"api.example.com", "a"}}), T0 + 20s) == V{"add fqdn4-a 192.0.2.1 45000"});
  }
  SECTION("reconciling (after a restart) writes them as refreshes: the kernel may hold older copies") {
    learn(l, {ans("api.example.com", "192.0.2.1", 60)}, T0);
    CHECK(publish(l, map_of({{"api.example.com", "a"}}), T0 + 20s, true) == V{"refresh fqdn4-a 192.0.2.1 45000"});
  }
  SECTION("a second pattern that matches known names") {
    publish(l, map_of({{"api.example.com", "a"}}), T0);
    learn(l, {ans("api.example.com", "192.0.2.1", 60)}, T0);
    CHECK(publish(l, map_of({{"api.example.com", "a"}, {"*.example.com", "w"}}), T0 + 20s) ==
          V{"add fqdn4-w 192.0.2.1 45000"});
  }
}

TEST_CASE("learner: the first map reconciles, sets that go are forgotten with their names") {
  DnsLearner l(config());
  publish(l, map_of({{"api.example.com", "a"}, {"x.test", "x"}}), T0);
  learn(l, {ans("api.example.com", "192.0.2.1", 60), ans("x.test", "192.0.2.5", 60)}, T0);
  CHECK(publish(l, map_of({{"api.example.com", "a"}, {"x.test", "x"}}), T0 + 1s, true) ==
        V{"refresh fqdn4-a 192.0.2.1 64000", "refresh fqdn4-x 192.0.2.5 64000"});
  CHECK(publish(l, map_of({{"api.example.com", "a"}}), T0 + 2s).empty());
  CHECK(l.elements_in("fqdn4-x") == 0);
  CHECK(l.cache().key_count() == 1);  // x.test matches nothing now
  auto names = l.names(T0 + 2s);
  REQUIRE(names.size() == 1);
  CHECK(names[0].name == "api.example.com");
  CHECK(names[0].patterns == V{"api.example.com"});
  CHECK(names[0].addresses[0].remaining == 63s);
  auto patterns = l.patterns();
  REQUIRE(patterns.size() == 1);
  CHECK(patterns[0].elements4 == 1);
  CHECK(patterns[0].elements6 == 0);
}

TEST_CASE("learner: expiry mirrors the kernel, after it, the address is added again") {
  DnsLearner l(config());
  publish(l, map_of({{"api.example.com", "a"}}), T0);
  learn(l, {ans("api.example.com", "192.0.2.1", 5)}, T0);  // 10s (minimum)
  l.expire(T0 + 11s);
  CHECK(l.cache().key_count() == 0);
  CHECK(l.elements_in("fqdn4-a") == 1);  // may still be in the kernel: kept, as a tombstone
  // Within the slack a new answer refreshes (works whether or not the kernel still has it).
  CHECK(learn(l, {ans("api.example.com", "192.0.2.1", 60)}, T0 + 11s) == V{"refresh fqdn4-a 192.0.2.1 65000"});
  l.expire(T0 + 100s);
  CHECK(l.elements_in("fqdn4-a") == 0);
  CHECK(learn(l, {ans("api.example.com", "192.0.2.1", 60)}, T0 + 100s) == V{"add fqdn4-a 192.0.2.1 65000"});
}

TEST_CASE("learner: a failed commit is retried as a refresh") {
  DnsLearner l(config());
  publish(l, map_of({{"api.example.com", "a"}}), T0);
  nft::ElementBatch b;
  l.learn({ans("api.example.com", "192.0.2.1", 60)}, T0, b);
  REQUIRE(b.size() == 1);
  l.commit_failed(b[0], T0);
  CHECK(l.stats().elements_forgotten == 1);
  nft::ElementBatch retry;
  l.retry(T0 + 1s, retry);
  CHECK(ops(retry) == V{"refresh fqdn4-a 192.0.2.1 64000"});
  nft::ElementBatch again;
  l.retry(T0 + 2s, again);
  CHECK(again.empty());  // done once it went out
  SECTION("or by the next answer, also as a refresh") {
    l.commit_failed(retry[0], T0 + 1s);
    // The repeat answer leaves the name's expiry (T0 + 65s) as it was.
    CHECK(learn(l, {ans("api.example.com", "192.0.2.1", 60)}, T0 + 3s) == V{"refresh fqdn4-a 192.0.2.1 62000"});
  }
}

TEST_CASE("learner: a retry that fails again is retried again, and nothing is retried without a failure") {
  DnsLearner l(config());
  publish(l, map_of({{"api.example.com", "a"}}), T0);
  nft::ElementBatch none;
  l.retry(T0, none);
  CHECK(none.empty());
  nft::ElementBatch b;
  l.learn({ans("api.example.com", "192.0.2.1", 60)}, T0, b);
  REQUIRE(b.size() == 1);
  l.commit_failed(b[0], T0);
  nft::ElementBatch first;
  l.retry(T0 + 1s, first);
  REQUIRE(first.size() == 1);
  l.commit_failed(first[0], T0 + 1s);
  nft::ElementBatch second;
  l.retry(T0 + 2s, second);
  CHECK(ops(second) == V{"refresh fqdn4-a 192.0.2.1 63000"});
}

TEST_CASE("learner: elements carry the name that put them there as a comment") {
  DnsLearner l(config());
  publish(l, map_of({{"*.example.com", "w"}}), T0);
  nft::ElementBatch b;
  l.learn({ans("www.example.com", "192.0.2.1", 60)}, T0, b);
  REQUIRE(b.size() == 1);
  REQUIRE(b[0].add.size() == 1);
  CHECK(b[0].add[0].comment == "www.example.com");
  CHECK(b[0].set.comment == "*.example.com");
}
