// Flow logs without the kernel: the rate limiter, the record's JSON and
// text forms, the logger's pipeline from a logged packet to a file line and
// a watcher, the file's rotation and errors, and slow watchers.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "agent/flow_hub.h"
#include "agent/flow_log.h"
#include "agent/token_bucket.h"

using namespace wac;
using namespace wac::agent;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<uint8_t> tcp_syn(uint8_t src_last, uint8_t dst_last, uint16_t sport, uint16_t dport) {
  std::vector<uint8_t> b(40, 0);
  b[0] = 0x45;
  b[3] = 40;
  b[9] = 6;
  const uint8_t src[] = {10, 244, 1, src_last}, dst[] = {10, 244, 1, dst_last};
  std::copy(src, src + 4, b.begin() + 12);
  std::copy(dst, dst + 4, b.begin() + 16);
  b[20] = uint8_t(sport >> 8), b[21] = uint8_t(sport), b[22] = uint8_t(dport >> 8), b[23] = uint8_t(dport);
  b[32] = 0x50;
  return b;
}

netlink::NflogPacket logged(const std::vector<uint8_t>& payload, std::string_view prefix, uint32_t mark) {
  netlink::NflogPacket p;
  p.payload = payload;
  p.prefix = prefix;
  p.mark = mark;
  p.timestamp = std::chrono::system_clock::time_point(std::chrono::seconds(1717236000)) + std::chrono::microseconds(123456);
  return p;
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/wac-flowlog-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

std::vector<std::string> lines_of(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

FlowDecision deny_bad() {
  FlowDecision d;
  d.direction = model::Direction::Ingress;
  d.policy = model::Key{model::Kind::GlobalNetworkPolicy, "", "deny-bad"};
  d.rule_index = 0;
  d.rule_action = model::Action::Deny;
  return d;
}

}  // namespace

TEST_CASE("the token bucket allows the burst, then the rate") {
  TokenBucket bucket(100, 200);
  auto t = Clock::now();
  int passed = 0;
  for (int i = 0; i < 5000; ++i) passed += bucket.take(t);
  CHECK(passed == 200);
  t += std::chrono::milliseconds(500);
  passed = 0;
  for (int i = 0; i < 5000; ++i) passed += bucket.take(t);
  CHECK(passed == 50);
  t += std::chrono::seconds(60);  // idle: the bucket fills up to the burst, not beyond
  passed = 0;
  for (int i = 0; i < 5000; ++i) passed += bucket.take(t);
  CHECK(passed == 200);
}

TEST_CASE("a flow record's JSON line has the documented shape") {
  FlowRecord r;
  r.time = std::chrono::system_clock::time_point(std::chrono::seconds(1717236000)) + std::chrono::microseconds(123456);
  r.node = "node1";
  r.tuple = *parse_flow_tuple(tcp_syn(9, 2, 40312, 5432));
  apply_decision(deny_bad(), r);
  r.ns = "shop";
  r.pod = "db";
  r.endpoint = "node1-k8s-db-eth0";
  r.interface = "calidb";
  CHECK(to_json_line(r) ==
        R"({"time":"2024-06-01T10:00:00.123456Z","node":"node1","action":"deny","direction":"ingress",)"
        R"("namespace":"shop","pod":"db","endpoint":"node1-k8s-db-eth0","interface":"calidb","protocol":"tcp",)"
        R"("src":"10.244.1.9","srcPort":40312,"dst":"10.244.1.2","dstPort":5432,"reason":"policy",)"
        R"("policy":{"kind":"GlobalNetworkPolicy","name":"deny-bad"},"rule":{"index":0,"action":"Deny"}})");
  CHECK(to_text_line(r) ==
        "2024-06-01T10:00:00.123Z DENY  ingress shop/db  tcp 10.244.1.9:40312 -> 10.244.1.2:5432  "
        "GlobalNetworkPolicy deny-bad rule 0");

  FlowRecord icmp;  // no pod, no policy, ICMP: those fields are left out
  icmp.tuple.protocol = 58;
  icmp.tuple.src = *IpAddr::parse("fd00::9");
  icmp.tuple.dst = *IpAddr::parse("fd00::2");
  icmp.tuple.icmp_type = 128;
  icmp.tuple.icmp_code = 0;
  icmp.reason = "no-endpoint";
  icmp.direction = "egress";
  icmp.domain = "api.example.com";
  auto j = nlohmann::json::parse(to_json_line(icmp));
  CHECK(j["protocol"] == "icmpv6");
  CHECK(j["icmpType"] == 128);
  CHECK(j["domain"] == "api.example.com");
  for (const char* absent : {"pod", "namespace", "policy", "rule", "srcPort", "dstPort", "node"})
    CHECK_FALSE(j.contains(absent));
}

TEST_CASE("a logged packet becomes a file line and a watcher's record") {
  TempDir dir;
  auto decisions = std::make_shared<FlowDecisions>();
  uint32_t id = decisions->add("gnp-deny-bad-ingress", "rule 0", deny_bad());
  FlowHub hub;
  FlowLogger logger({"node1", 5354, (dir.path / "flows.log").string(), 1 << 20, 100, 200}, decisions, hub);
  logger.set_endpoints({{*IpAddr::parse("10.244.1.2"), {"shop", "db", "node1-k8s-db-eth0"}}});
  logger.domain_of = [](const IpAddr& a) { return a.str() == "10.244.1.9" ? "client.example" : ""; };
  int wakes = 0;
  auto watch = hub.watch(0, true, [&] { ++wakes; });

  auto packet = tcp_syn(9, 2, 40312, 5432);
  logger.handle(logged(packet, "wac-flow", id), Clock::now());

  auto lines = lines_of(dir.path / "flows.log");
  REQUIRE(lines.size() == 1);
  auto j = nlohmann::json::parse(lines[0]);
  CHECK(j["namespace"] == "shop");
  CHECK(j["pod"] == "db");
  CHECK(j["direction"] == "ingress");
  CHECK(j["src"] == "10.244.1.9");
  CHECK(j["dstPort"] == 5432);
  CHECK(j["policy"]["name"] == "deny-bad");
  CHECK(j["rule"]["index"] == 0);
  CHECK(j["domain"] == "client.example");  // the remote end of an ingress flow is its source
  CHECK(wakes == 1);
  FlowWatch::Item item;
  REQUIRE(watch->pop(item));
  CHECK(to_json_line(*item.record) == lines[0]);
  CHECK(logger.stats().written == 1);

  SECTION("an id the table does not know still makes a record") {
    logger.handle(logged(packet, "wac-flow", id + 1), Clock::now());
    auto j2 = nlohmann::json::parse(lines_of(dir.path / "flows.log").at(1));
    CHECK(j2["reason"] == "unknown");
    CHECK(logger.stats().unknown_decisions == 1);
  }
  SECTION("unreadable headers and foreign prefixes are counted, not written") {
    std::vector<uint8_t> junk{0x45, 0, 0};
    logger.handle(logged(junk, "wac-flow", id), Clock::now());
    logger.handle(logged(packet, "somebody else", id), Clock::now());
    CHECK(logger.stats().unparsed == 2);
    CHECK(lines_of(dir.path / "flows.log").size() == 1);
  }
}

TEST_CASE("a flood is cut to the rate limit and the rest counted") {
  TempDir dir;
  auto decisions = std::make_shared<FlowDecisions>();
  uint32_t id = decisions->add("gnp-deny-bad-ingress", "rule 0", deny_bad());
  FlowHub hub;
  FlowLogger logger({"node1", 5354, (dir.path / "flows.log").string(), 1 << 20, 100, 200}, decisions, hub);
  auto packet = tcp_syn(9, 2, 40312, 5432);
  auto t = Clock::now();
  for (int i = 0; i < 5000; ++i) logger.handle(logged(packet, "wac-flow", id), t + std::chrono::microseconds(200 * i));
  // one second: the burst of 200 plus 100 per second
  auto s = logger.stats();
  CHECK(s.written >= 299);
  CHECK(s.written <= 300);
  CHECK(s.rate_limited == 5000 - s.written);
  CHECK(lines_of(dir.path / "flows.log").size() == s.written);
}

TEST_CASE("the file rotates past its size and survives write errors") {
  TempDir dir;
  FlowLogFile file((dir.path / "sub" / "flows.log").string(), 100);
  REQUIRE(file.write(std::string(60, 'a') + "\n"));  // creates the directory too
  REQUIRE(file.write(std::string(60, 'b') + "\n"));  // would pass 100 bytes: rotated first
  CHECK(lines_of(dir.path / "sub" / "flows.log.1") == std::vector<std::string>{std::string(60, 'a')});
  CHECK(lines_of(dir.path / "sub" / "flows.log") == std::vector<std::string>{std::string(60, 'b')});

  if (::geteuid() != 0) {  // root writes anywhere; the directory trick below needs an ordinary user
    std::filesystem::permissions(dir.path / "sub", std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
    FlowLogFile denied((dir.path / "sub" / "other.log").string(), 100);
    CHECK_FALSE(denied.write("x\n"));
    std::filesystem::permissions(dir.path / "sub", std::filesystem::perms::owner_all);
  }
  FlowLogFile bad("/proc/wac-no-such-dir/flows.log", 100);
  Status s = bad.write("x\n");
  CHECK_FALSE(s);
  CHECK(s.message().find("/proc/wac-no-such-dir") != std::string::npos);
}

TEST_CASE("an unwritable file is counted and the stream goes on") {
  auto decisions = std::make_shared<FlowDecisions>();
  uint32_t id = decisions->add("gnp-deny-bad-ingress", "rule 0", deny_bad());
  FlowHub hub;
  FlowLogger logger({"node1", 5354, "/proc/wac-no-such-dir/flows.log", 1 << 20, 100, 200}, decisions, hub);
  auto watch = hub.watch(0, true, [] {});
  auto packet = tcp_syn(9, 2, 40312, 5432);
  logger.handle(logged(packet, "wac-flow", id), Clock::now());
  logger.handle(logged(packet, "wac-flow", id), Clock::now());
  CHECK(logger.stats().write_errors == 2);
  CHECK(logger.stats().written == 0);
  FlowWatch::Item item;
  CHECK(watch->pop(item));
  CHECK(watch->pop(item));
}

TEST_CASE("watchers get the recent records, then new ones, a slow one is told what it lost") {
  FlowHub hub(/*history=*/3, /*queue_capacity=*/2);
  FlowRecord r;
  for (int i = 0; i < 5; ++i) {
    r.rule_index = size_t(i);
    hub.publish(r);
  }
  auto once = hub.watch(10, false, [] {});  // the 3 kept, then the end
  FlowWatch::Item item;
  std::vector<size_t> seen;
  while (once->pop(item)) seen.push_back(*item.record->rule_index);
  CHECK(seen == std::vector<size_t>{2, 3, 4});
  CHECK(once->ended());

  auto slow = hub.watch(1, true, [] {});  // backlog of 1, then room for 2
  for (int i = 5; i < 10; ++i) {
    r.rule_index = size_t(i);
    hub.publish(r);
  }
  CHECK(hub.lost() == 3);
  REQUIRE(slow->pop(item));
  CHECK(*item.record->rule_index == 4);
  REQUIRE(slow->pop(item));
  CHECK(*item.record->rule_index == 5);
  REQUIRE(slow->pop(item));
  CHECK(*item.record->rule_index == 6);
  CHECK_FALSE(slow->pop(item));
  r.rule_index = 10;
  hub.publish(r);
  REQUIRE(slow->pop(item));
  CHECK(*item.record->rule_index == 10);
  CHECK(item.lost_before == 3);  // 7, 8, 9 went by
  CHECK(hub.watchers() == 1);

  for (int i = 0; i < 4; ++i) hub.publish(r);  // the last is lost, with no record after it:
  hub.shutdown();                                // reported when the hub ends
  for (int i = 0; i < 3; ++i) {
    REQUIRE(slow->pop(item));
    CHECK(item.record);
  }
  REQUIRE(slow->pop(item));
  CHECK_FALSE(item.record);
  CHECK(item.lost_before == 1);
  CHECK(slow->ended());
  slow->close();
  CHECK(hub.watchers() == 0);
}
