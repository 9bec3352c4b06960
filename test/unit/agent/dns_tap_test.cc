// DnsTap without its thread and sockets: captured packets in, element
// batches out through a fake writer; trust, failures, reports, the cache file.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "../dns/wire_builder.h"
#include "agent/dns_config.h"
#include "agent/dns_servers.h"
#include "agent/dns_tap.h"

using namespace wac;
using namespace wac::agent;
using namespace wac::dns::testing;

namespace {

struct FakeWriter : nft::ElementWriter {
  std::vector<nft::ElementBatch> batches;
  int fail_next = 0;                  // refuse this many commits
  std::string refuse_set;             // refuse any batch touching this set
  Status commit(const nft::ElementBatch& batch) override {
    for (const auto& c : batch)
      if (c.set.name == refuse_set) return Status::Error("set '" + c.set.name + "': No such file or directory", ENOENT);
    if (fail_next > 0) {
      --fail_next;
      return Status::Error("injected", EIO);
    }
    batches.push_back(batch);
    return Status::Ok();
  }
  std::vector<std::string> added() const {
    std::vector<std::string> out;
    for (const auto& b : batches)
      for (const auto& c : b) {
        for (const auto& e : c.add) out.push_back(c.set.name + " " + e.key);
        for (const auto& e : c.refresh) out.push_back(c.set.name + " " + e.key + " (refresh)");
      }
    return out;
  }
};

const char* kServer = "198.51.100.53";
const char* kPod = "10.244.1.5";

DnsTapOptions options(const std::string& cache_file = "") {
  DnsTapOptions o;
  o.trusted_servers = {*IpAddr::parse(kServer), *IpAddr::parse("2001:db8::53")};
  o.cache_file = cache_file;
  return o;
}

Wire response_from(const char* src, const Wire& msg) { return ipv4(src, kPod, udp(53, 40000, msg)); }
std::span<const uint8_t> bytes(const Wire& w) { return {w.data(), w.size()}; }

DomainSetMap one_pattern(const char* pattern) { return {{pattern, {"fqdn4-p", "fqdn6-p"}}}; }

using V = std::vector<std::string>;

}  // namespace

TEST_CASE("tap: a trusted response's addresses reach the set in one batch") {
  auto writer = std::make_unique<FakeWriter>();
  FakeWriter* w = writer.get();
  DnsTap tap(options(), std::move(writer));
  tap.publish(one_pattern("*.example.test"), false);
  std::vector<dns::Answer> committed;
  tap.on_committed = [&](const std::vector<dns::Answer>& a) { committed = a; };

  Wire msg = DnsBuilder()
                 .question("www.example.test")
                 .cname("www.example.test", "edge.cdn.test", 300)
                 .a("edge.cdn.test", "203.0.113.7", 60)
                 .build();
  tap.ingest(bytes(response_from(kServer, msg)));
  Wire v6 = ipv6("2001:db8::53", "fd00:244::5", udp(53, 40000, DnsBuilder().aaaa("v6.example.test", "2001:db8:7::1", 60).build()));
  tap.ingest(bytes(v6));
  REQUIRE(tap.flush());
  CHECK(w->batches.size() == 1);
  CHECK(w->added() == V{"fqdn4-p 203.0.113.7", "fqdn6-p 2001:db8:7::1"});
  CHECK(committed.size() == 3);  // www + edge (chain) + v6

  auto st = tap.stats();
  CHECK(st.parse.responses_seen == 2);
  CHECK(st.parse.parsed == 2);
  CHECK(st.learner.answers == 3);
  CHECK(st.learner.unmatched == 1);  // edge.cdn.test matches no pattern
  CHECK(st.batches == 1);

  auto report = tap.report("");
  REQUIRE(report.names.size() == 2);
  CHECK(report.names[0].name == "v6.example.test");
  CHECK(report.names[1].name == "www.example.test");
  CHECK(report.names[1].patterns == V{"*.example.test"});
  REQUIRE(report.patterns.size() == 1);
  CHECK(report.patterns[0].elements4 == 1);
  CHECK(report.patterns[0].elements6 == 1);
  CHECK(tap.report("v6").names.size() == 1);
}

TEST_CASE("tap: a response from an untrusted source opens nothing") {
  auto writer = std::make_unique<FakeWriter>();
  FakeWriter* w = writer.get();
  DnsTap tap(options(), std::move(writer));
  tap.publish(one_pattern("api.example.test"), false);
  // A pod on the node forging a response from port 53 to another pod.
  tap.ingest(bytes(response_from("10.244.1.9", simple_response("api.example.test", "203.0.113.66", 3600))));
  tap.flush();
  CHECK(w->batches.empty());
  CHECK(tap.stats().parse.untrusted == 1);
  CHECK(tap.report("").names.empty());
}

TEST_CASE("tap: malformed and truncated packets are counted, never learned") {
  auto writer = std::make_unique<FakeWriter>();
  FakeWriter* w = writer.get();
  DnsTap tap(options(), std::move(writer));
  tap.publish(one_pattern("api.example.test"), false);
  Wire good = response_from(kServer, simple_response("api.example.test", "203.0.113.5", 60));
  Wire cut(good.begin(), good.end() - 3);
  tap.ingest(bytes(cut));
  Wire garbage = response_from(kServer, Wire{1, 2, 3});
  tap.ingest(bytes(garbage));
  tap.flush();
  CHECK(w->batches.empty());
  auto st = tap.stats();
  CHECK(st.parse.packet_errors + st.parse.malformed == 2);
}

TEST_CASE("tap: a failed write is retried on the next tick, one missing set does not block others") {
  auto writer = std::make_unique<FakeWriter>();
  FakeWriter* w = writer.get();
  DnsTap tap(options(), std::move(writer));
  tap.publish({{"a.example.test", {"fqdn4-a", ""}}, {"b.example.test", {"fqdn4-b", ""}}}, false);

  SECTION("transient failure") {
    w->fail_next = 1;
    tap.ingest(bytes(response_from(kServer, simple_response("a.example.test", "203.0.113.1", 60))));
    CHECK_FALSE(tap.flush());
    CHECK(tap.stats().write_errors == 1);
    CHECK(w->added().empty());
    tap.tick();
    CHECK(w->added() == V{"fqdn4-a 203.0.113.1 (refresh)"});
  }
  SECTION("a set deleted under the tap") {
    w->refuse_set = "fqdn4-b";
    tap.ingest(bytes(response_from(kServer, simple_response("a.example.test", "203.0.113.1", 60))));
    tap.ingest(bytes(response_from(kServer, simple_response("b.example.test", "203.0.113.2", 60))));
    tap.flush();
    CHECK(w->added() == V{"fqdn4-a 203.0.113.1"});
    CHECK(tap.stats().last_write_error.find("fqdn4-b") != std::string::npos);
  }
}

TEST_CASE("tap: the cache file round-trips through save and a new tap") {
  auto dir = std::filesystem::temp_directory_path() / ("wac-dns-tap-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string file = (dir / "dns-cache.json").string();
  {
    DnsTap tap(options(file), std::make_unique<FakeWriter>());
    tap.publish(one_pattern("api.example.test"), false);
    tap.ingest(bytes(response_from(kServer, simple_response("api.example.test", "203.0.113.5", 600))));
    tap.flush();
    REQUIRE(tap.save_cache());
    CHECK(tap.stats().cache_saves == 1);
  }
  dns::FqdnCache loaded(options().cache);
  REQUIRE(loaded.load(file, dns::Now::current()));
  auto addrs = loaded.addresses("api.example.test", dns::Now::current().steady);
  REQUIRE(addrs.size() == 1);
  CHECK(addrs[0].addr.str() == "203.0.113.5");
  CHECK(addrs[0].remaining.count() > 590);
  std::filesystem::remove_all(dir);
}

TEST_CASE("tap: a failed cache save is counted and named, leaves the good file, and the next save catches up") {
  auto dir = std::filesystem::temp_directory_path() / ("wac-dns-tap-full-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string file = (dir / "dns-cache.json").string();
  DnsTap tap(options(file), std::make_unique<FakeWriter>());
  tap.publish({{"api.example.test", {"fqdn4-a", ""}}, {"www.example.test", {"fqdn4-w", ""}}}, false);
  tap.ingest(bytes(response_from(kServer, simple_response("api.example.test", "203.0.113.5", 600))));
  tap.flush();
  REQUIRE(tap.save_cache());
  std::string good = [&] { std::ifstream in(file); return std::string(std::istreambuf_iterator<char>(in), {}); }();

  tap.ingest(bytes(response_from(kServer, simple_response("www.example.test", "203.0.113.6", 600))));
  tap.flush();
  std::filesystem::create_symlink("/dev/full", file + ".tmp");  // the disk is full
  Status failed = tap.save_cache();
  CHECK_FALSE(failed);
  CHECK(failed.message().find("No space left on device") != std::string::npos);
  CHECK(tap.stats().cache_save_errors == 1);
  CHECK(tap.stats().last_cache_error == failed.message());
  CHECK(std::string([&] { std::ifstream in(file); return std::string(std::istreambuf_iterator<char>(in), {}); }()) ==
        good);
  CHECK_FALSE(std::filesystem::exists(file + ".tmp"));

  REQUIRE(tap.save_cache());  // space again
  CHECK(tap.stats().cache_saves == 2);
  dns::FqdnCache loaded(options().cache);
  REQUIRE(loaded.load(file, dns::Now::current()));
  CHECK(loaded.key_count() == 2);
  std::filesystem::remove_all(dir);
}

TEST_CASE("dns config: the cache save interval is configurable, at least one second") {
  Config cfg;
  REQUIRE(Config::from_yaml("nodeName: n1\ndns: {cacheSaveIntervalSeconds: 5}\n", cfg));
  CHECK(cfg.dns.cache_save_interval_seconds == 5);
  CHECK(dns_tap_options(cfg).cache_save_interval == std::chrono::seconds(5));
  CHECK(Config().dns.cache_save_interval_seconds == 30);
  Config bad;
  CHECK(Config::from_yaml("nodeName: n1\ndns: {cacheSaveIntervalSeconds: 0}\n", bad).message() ==
        "dns.cacheSaveIntervalSeconds: must be at least 1");
}

TEST_CASE("trusted servers: configured list wins, else resolv.conf plus the cluster DNS") {
  auto dir = std::filesystem::temp_directory_path() / ("wac-dns-servers-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto write = [&](const char* name, const char* text) {
    std::ofstream((dir / name).string()) << text;
    return (dir / name).string();
  };
  std::string resolv = write("resolv.conf", "search svc.cluster.local\nnameserver 192.0.2.53\n"
                                            "nameserver 2001:db8::53\nnameserver fe80::1%eth0\n# nameserver 192.0.2.1\n");
  std::string stub = write("stub.conf", "nameserver 127.0.0.53\noptions edns0\n");
  std::string upstream = write("upstream.conf", "nameserver 198.51.100.1\n");

  CHECK(parse_nameservers("nameserver 192.0.2.1\nnameserver  192.0.2.1\nnameserverx 1.2.3.4\n").size() == 1);
  auto strs = [](const std::vector<IpAddr>& v) {
    V out;
    for (const auto& a : v) out.push_back(a.str());
    return out;
  };
  TrustedServerSources s;
  s.resolv_conf = resolv;
  s.stub_upstream = upstream;
  s.cluster_dns = IpAddr::parse("10.96.0.10");
  CHECK(strs(trusted_dns_servers(s)) == V{"10.96.0.10", "192.0.2.53", "2001:db8::53"});
  s.resolv_conf = stub;  // only a local stub: its upstreams count too
  CHECK(strs(trusted_dns_servers(s)) == V{"10.96.0.10", "127.0.0.53", "198.51.100.1"});
  s.configured = {*IpAddr::parse("203.0.113.53")};
  CHECK(strs(trusted_dns_servers(s)) == V{"203.0.113.53"});
  std::filesystem::remove_all(dir);
}

TEST_CASE("dns config: TTL knobs, hold and cache file come from wacd's configuration") {
  Config cfg;
  REQUIRE(Config::from_yaml("nodeName: n1\nstateDir: /var/lib/x\ndns: {ttlGraceSeconds: 1, minTTLSeconds: 2, maxTTLSeconds: 60, "
                            "maxAddressesPerName: 4, holdResponses: false, holdQueue: 77, "
                            "trustedServers: [192.0.2.53]}\n",
                            cfg));
  DnsTapOptions o = dns_tap_options(cfg);
  CHECK(o.cache.grace == std::chrono::seconds(1));
  CHECK(o.cache.min_timeout == std::chrono::seconds(2));
  CHECK(o.cache.max_timeout == std::chrono::seconds(60));
  CHECK(o.cache.max_addrs_per_key == 4);
  CHECK(o.cache.refresh_threshold == std::chrono::seconds(1));  // never more than the grace
  CHECK_FALSE(o.hold);
  CHECK(o.hold_queue == 77);
  CHECK(o.cache_file == "/var/lib/x/dns-cache.json");
  REQUIRE(o.trusted_servers.size() == 1);
  Config bad;
  Status s = Config::from_yaml("nodeName: n1\ndns: {holdResponses: maybe}\n", bad);
  CHECK_FALSE(s);
  CHECK(s.message().find("holdResponses") != std::string::npos);
}

TEST_CASE("tap: a held response's passive copy is not parsed again, an unheld one is counted") {
  auto writer = std::make_unique<FakeWriter>();
  FakeWriter* w = writer.get();
  DnsTap tap(options(), std::move(writer));
  tap.publish(one_pattern("*.example.test"), false);

  Wire held = response_from(kServer, simple_response("held.example.test", "203.0.113.10", 60));
  Wire unheld = response_from(kServer, simple_response("unheld.example.test", "203.0.113.11", 60));
  tap.ingest_held(bytes(held));
  REQUIRE(tap.flush());
  tap.ingest(bytes(held));    // its passive copy, after the verdict
  tap.ingest(bytes(unheld));  // the queue was full: only the passive copy
  REQUIRE(tap.flush());

  CHECK(w->added() == V{"fqdn4-p 203.0.113.10", "fqdn4-p 203.0.113.11"});
  auto st = tap.stats();
  CHECK(st.parse.responses_seen == 2);  // each response parsed once
  CHECK(st.held_copies_skipped == 1);
  CHECK(st.unheld == 1);

  SECTION("a second copy of the same bytes is not taken for a held one") {
    tap.ingest(bytes(held));
    CHECK(tap.stats().unheld == 2);
    CHECK(tap.stats().parse.responses_seen == 3);
  }
}

TEST_CASE("tap: passive copies are not counted unheld while there is no hold") {
  DnsTap tap(options(), std::make_unique<FakeWriter>());
  tap.ingest(bytes(response_from(kServer, simple_response("a.example.test", "203.0.113.1", 60))));
  CHECK(tap.stats().unheld == 0);
  CHECK(tap.stats().parse.responses_seen == 1);
}
