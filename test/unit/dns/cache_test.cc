#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "dns/cache.h"

using namespace wac;
using namespace wac::dns;
using namespace std::chrono_literals;

namespace {
IpAddr ip(std::string_view s) { return *IpAddr::parse(s); }

// A fixed pair of clock readings; tests move both together.
Now at(int64_t second) {
  return {SteadyTime(std::chrono::seconds(1000 + second)), WallTime(std::chrono::seconds(1700000000 + second))};
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/wac-dns-cache-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string file(const char* name) const { return (path / name).string(); }
};

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}
}  // namespace

TEST_CASE("timeout = clamp(ttl + grace, min, max)") {
  CacheConfig c{.grace = 10s, .min_timeout = 30s, .max_timeout = 3600s};
  CHECK(timeout_for(c, 0) == 30s);       // below min
  CHECK(timeout_for(c, 19) == 30s);      // 29 -> min
  CHECK(timeout_for(c, 20) == 30s);      // exactly min
  CHECK(timeout_for(c, 21) == 31s);
  CHECK(timeout_for(c, 300) == 310s);
  CHECK(timeout_for(c, 3590) == 3600s);  // exactly max
  CHECK(timeout_for(c, 3591) == 3600s);
  CHECK(timeout_for(c, 0xffffffffu) == 3600s);  // no overflow
  CacheConfig inverted{.grace = 0s, .min_timeout = 100s, .max_timeout = 50s};
  CHECK(timeout_for(inverted, 10) == 100s);  // min wins over a max set below it
}

TEST_CASE("learn: new, unchanged, refreshed") {
  CacheConfig c{.grace = 10s, .min_timeout = 30s, .max_timeout = 3600s, .refresh_threshold = 5s};
  FqdnCache cache(c);
  auto t0 = at(0).steady;

  LearnResult r = cache.learn("api.example.com", ip("192.0.2.1"), 100, t0);
  CHECK(r.outcome == LearnOutcome::New);
  CHECK(r.timeout == 110s);
  CHECK_FALSE(r.evicted);

  // 3 s later, same TTL: expiry would move only 3 s -> unchanged.
  r = cache.learn("api.example.com", ip("192.0.2.1"), 100, t0 + 3s);
  CHECK(r.outcome == LearnOutcome::Unchanged);
  CHECK(r.timeout == 107s);  // what is left in the kernel

  // 6 s later: moves 6 s > threshold -> refreshed with the full timeout.
  r = cache.learn("api.example.com", ip("192.0.2.1"), 100, t0 + 6s);
  CHECK(r.outcome == LearnOutcome::Refreshed);
  CHECK(r.timeout == 110s);
  CHECK(cache.addresses("api.example.com", t0 + 6s)[0].remaining == 110s);

  // A shorter TTL never shortens the entry.
  r = cache.learn("api.example.com", ip("192.0.2.1"), 0, t0 + 7s);
  CHECK(r.outcome == LearnOutcome::Unchanged);
  CHECK(cache.addresses("api.example.com", t0 + 7s)[0].remaining == 109s);

  // Same address under another key is independent.
  CHECK(cache.learn("other.example.com", ip("192.0.2.1"), 100, t0).outcome == LearnOutcome::New);
  CHECK(cache.key_count() == 2);
  CHECK(cache.addr_count() == 2);
}

TEST_CASE("per-key cap evicts the earliest-expiring address") {
  DnsStats stats;
  CacheConfig c{.grace = 0s, .min_timeout = 1s, .max_timeout = 3600s, .max_addrs_per_key = 3};
  FqdnCache cache(c, &stats);
  auto t0 = at(0).steady;
  cache.learn("k", ip("192.0.2.1"), 300, t0);
  cache.learn("k", ip("192.0.2.2"), 100, t0);  // earliest expiry
  cache.learn("k", ip("192.0.2.3"), 200, t0);
  LearnResult r = cache.learn("k", ip("192.0.2.4"), 50, t0);
  CHECK(r.outcome == LearnOutcome::New);
  REQUIRE(r.evicted);
  CHECK(r.evicted_addr == ip("192.0.2.2"));
  CHECK(stats.evictions == 1);
  auto addrs = cache.addresses("k", t0);
  REQUIRE(addrs.size() == 3);
  CHECK(addrs[0].addr == ip("192.0.2.1"));
  CHECK(addrs[1].addr == ip("192.0.2.3"));
  CHECK(addrs[2].addr == ip("192.0.2.4"));
  // Learning an address already present never evicts.
  CHECK_FALSE(cache.learn("k", ip("192.0.2.4"), 50, t0).evicted);
  CHECK(stats.evictions == 1);
}

TEST_CASE("expire removes entries at or past their expiry and empty keys") {
  FqdnCache cache(CacheConfig{.grace = 0s, .min_timeout = 1s, .max_timeout = 3600s});
  auto t0 = at(0).steady;
  cache.learn("a", ip("192.0.2.1"), 10, t0);
  cache.learn("a", ip("192.0.2.2"), 20, t0);
  cache.learn("b", ip("2001:db8::1"), 10, t0);
  CHECK(cache.expire(t0 + 9s) == 0);
  CHECK(cache.expire(t0 + 10s) == 2);
  CHECK(cache.keys() == std::vector<std::string>{"a"});
  CHECK(cache.addresses("a", t0 + 10s).size() == 1);
  CHECK(cache.expire(t0 + 1h) == 1);
  CHECK(cache.key_count() == 0);
}

TEST_CASE("snapshot lists live entries sorted, remaining rounded up") {
  FqdnCache cache(CacheConfig{.grace = 0s, .min_timeout = 1s, .max_timeout = 3600s});
  auto t0 = at(0).steady;
  cache.learn("z.example.com", ip("192.0.2.9"), 60, t0);
  cache.learn("a.example.com", ip("2001:db8::2"), 30, t0);
  cache.learn("a.example.com", ip("192.0.2.1"), 30, t0);
  auto snap = cache.snapshot(t0 + 500ms);
  REQUIRE(snap.size() == 2);
  CHECK(snap[0].key == "a.example.com");
  REQUIRE(snap[0].addrs.size() == 2);
  CHECK(snap[0].addrs[0].addr == ip("192.0.2.1"));  // v4 sorts before v6
  CHECK(snap[0].addrs[0].remaining == 30s);         // 29.5 s rounds up
  CHECK(snap[1].key == "z.example.com");
  CHECK(cache.erase("z.example.com"));
  CHECK_FALSE(cache.erase("z.example.com"));
  CHECK(cache.snapshot(t0 + 31s).empty());
}

TEST_CASE("save and load keep the remaining TTL across a restart") {
  TempDir dir;
  std::string path = dir.file("dns-cache.json");
  CacheConfig c{.grace = 0s, .min_timeout = 1s, .max_timeout = 3600s};
  FqdnCache cache(c);
  Now t0 = at(0);
  cache.learn("api.example.com", ip("192.0.2.1"), 300, t0.steady);
  cache.learn("api.example.com", ip("2001:db8::1"), 60, t0.steady);
  cache.learn("short.example.com", ip("192.0.2.2"), 5, t0.steady);

  Now t_save = at(10);
  REQUIRE(cache.save(path, t_save));
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));

  // A new process: a different steady epoch, wall clock 100 s after the save.
  Now restart{SteadyTime(std::chrono::seconds(5)), t_save.wall + 100s};
  FqdnCache loaded(c);
  Status st = loaded.load(path, restart);
  REQUIRE(st);
  auto snap = loaded.snapshot(restart.steady);
  REQUIRE(snap.size() == 1);  // short.example.com and the v6 address expired meanwhile
  CHECK(snap[0].key == "api.example.com");
  REQUIRE(snap[0].addrs.size() == 1);
  CHECK(snap[0].addrs[0].addr == ip("192.0.2.1"));
  CHECK(snap[0].addrs[0].remaining == 190s);  // 300 - 10 - 100

  SECTION("remaining lifetime is capped if the wall clock went backwards") {
    FqdnCache capped(CacheConfig{.grace = 0s, .min_timeout = 1s, .max_timeout = 120s});
    REQUIRE(capped.load(path, Now{restart.steady, t_save.wall - 10000s}));
    CHECK(capped.addresses("api.example.com", restart.steady)[0].remaining == 120s);
  }
  SECTION("saving overwrites the previous file") {
    FqdnCache empty(c);
    REQUIRE(empty.save(path, t_save));
    FqdnCache again(c);
    REQUIRE(again.load(path, restart));
    CHECK(again.key_count() == 0);
  }
}

TEST_CASE("corrupt, truncated or missing cache files are reported and ignored") {
  TempDir dir;
  std::string path = dir.file("cache.json");
  CacheConfig c{.grace = 0s, .min_timeout = 1s, .max_timeout = 3600s};
  Now t0 = at(0);

  FqdnCache good(c);
  good.learn("api.example.com", ip("192.0.2.1"), 300, t0.steady);
  REQUIRE(good.save(path, t0));
  std::string text;
  {
    std::ifstream in(path);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }

  FqdnCache cache(c);
  cache.learn("keep.example.com", ip("192.0.2.50"), 300, t0.steady);
  auto expect_rejected = [&](const std::string& contents, const std::string& reason_part) {
    write_file(path, contents);
    Status st = cache.load(path, t0);
    INFO("message: " << st.message());
    CHECK_FALSE(st.ok());
    CHECK(st.message().find(reason_part) != std::string::npos);
    // Existing content untouched.
    CHECK(cache.keys() == std::vector<std::string>{"keep.example.com"});
  };

  for (size_t cut = 0; cut < text.size() - 1; cut += 7)
    expect_rejected(text.substr(0, cut), "is corrupt or truncated");
  expect_rejected("\x00\xff garbage", "is corrupt or truncated");
  expect_rejected("[]", "top level is not an object");
  expect_rejected(R"({"version":2,"entries":[]})", "unsupported version 2");
  expect_rejected(R"({"entries":[]})", "missing integer \"version\"");
  expect_rejected(R"({"version":1})", "entries");
  expect_rejected(R"({"version":1,"entries":{}})", "\"entries\" is not an array");
  expect_rejected(R"({"version":1,"entries":[{"key":"a","addrs":[{"addr":"1.2.3","expires":5}]}]})",
                  "entries[0].addrs[0].addr \"1.2.3\" is not an IP address");
  expect_rejected(R"({"version":1,"entries":[{"key":"a","addrs":[{"addr":"192.0.2.1","expires":"x"}]}]})",
                  "entries[0].addrs[0] needs a string \"addr\" and an integer \"expires\"");
  expect_rejected(R"({"version":1,"entries":[{"addrs":[]}]})", "entries[0] needs a string \"key\"");
  expect_rejected(R"({"version":1,"entries":[{"key":"","addrs":[]}]})", "entries[0].key is empty");

  std::filesystem::remove(path);
  Status missing = cache.load(path, t0);
  CHECK_FALSE(missing.ok());
  CHECK(missing.message().find("cannot open") != std::string::npos);
}

TEST_CASE("save reports an unwritable location") {
  FqdnCache cache;
  Status st = cache.save("/nonexistent-dir-wac/cache.json", at(0));
  CHECK_FALSE(st.ok());
  CHECK(st.message().find("/nonexistent-dir-wac/cache.json.tmp") != std::string::npos);
}
