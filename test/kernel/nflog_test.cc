// nfnetlink_log listener against real `log group N` rules, each test in a
// fresh network namespace.
#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "netlink/nflog.h"
#include "test/kernel/netns.h"

using namespace wac::netlink;
using wac::test::nft;
using wac::test::ScopedNetns;

namespace {

constexpr uint16_t kGroup = 7;
constexpr uint16_t kPort = 5353;

void log_rule(const std::string& extra = "") {
  nft("add table inet wac\n"
      "add chain inet wac output { type filter hook output priority 0; policy accept; }\n"
      "add rule inet wac output ip daddr 192.0.2.1 udp dport 5353 " + extra +
      " log prefix \"wac-dns\" group 7\n");
}

struct Captured {
  std::vector<uint8_t> payload;
  std::string prefix;
  uint32_t indev, outdev;
  uint16_t hw_protocol;
  uint32_t mark;
  bool kernel_timestamp;
};

// Reads until `want` packets arrived or two seconds passed.
std::vector<Captured> read_packets(NflogListener& l, size_t want) {
  std::vector<Captured> got;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (got.size() < want && std::chrono::steady_clock::now() < deadline) {
    REQUIRE(l.read_batch([&](const NflogPacket& p) {
      got.push_back({{p.payload.begin(), p.payload.end()}, std::string(p.prefix), p.indev, p.outdev,
                     p.hw_protocol, p.mark, p.kernel_timestamp});
    }).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return got;
}

}  // namespace

TEST_CASE("nflog delivers the logged packet with its bytes, prefix, device and mark") {
  ScopedNetns ns;
  NflogListener listener;
  auto st = listener.open(kGroup);
  INFO(st.message());
  REQUIRE(st.ok());
  log_rule("meta mark set 0x2a");
  wac::test::send_udp(kPort, "hello-wac");

  auto packets = read_packets(listener, 1);
  REQUIRE(packets.size() == 1);
  const Captured& p = packets[0];
  CHECK(p.prefix == "wac-dns");
  CHECK(p.hw_protocol == 0x0800);
  CHECK(p.outdev == if_nametoindex("lo"));
  CHECK(p.indev == 0);
  CHECK(p.mark == 0x2a);
  // The L3 packet: IPv4 header, UDP header, then our bytes.
  REQUIRE(p.payload.size() == sizeof(iphdr) + sizeof(udphdr) + 9);
  iphdr ip;
  std::memcpy(&ip, p.payload.data(), sizeof ip);
  CHECK(ip.version == 4);
  CHECK(ip.protocol == IPPROTO_UDP);
  char dst[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &ip.daddr, dst, sizeof dst);
  CHECK(std::string(dst) == wac::test::kTestAddress);
  udphdr udp;
  std::memcpy(&udp, p.payload.data() + sizeof ip, sizeof udp);
  CHECK(ntohs(udp.dest) == kPort);
  CHECK(std::string(p.payload.end() - 9, p.payload.end()) == "hello-wac");
  CHECK(listener.stats().packets == 1);
  CHECK(listener.stats().enobufs == 0);
}

TEST_CASE("nflog copy range limits the bytes copied") {
  ScopedNetns ns;
  NflogListener listener;
  NflogOptions o;
  o.copy_range = 20;
  REQUIRE(listener.open(kGroup, o).ok());
  log_rule();
  wac::test::send_udp(kPort, std::string(200, 'x'));
  auto packets = read_packets(listener, 1);
  REQUIRE(packets.size() == 1);
  CHECK(packets[0].payload.size() == 20);
}

TEST_CASE("nflog batches packets with a queue threshold") {
  ScopedNetns ns;
  NflogListener listener;
  NflogOptions o;
  o.queue_threshold = 5;
  o.flush_timeout_cs = 100;  // 1 s: the threshold, not the timer, must send them
  REQUIRE(listener.open(kGroup, o).ok());
  log_rule();
  wac::test::send_udp(kPort, "batched", 5);
  auto packets = read_packets(listener, 5);
  CHECK(packets.size() == 5);
  CHECK(listener.stats().datagrams == 1);
}

TEST_CASE("nflog reports a group another socket already has") {
  ScopedNetns ns;
  NflogListener first, second;
  REQUIRE(first.open(kGroup).ok());
  auto st = second.open(kGroup);
  REQUIRE_FALSE(st.ok());
  CHECK(st.errno_value() == EPERM);  // the kernel's answer for a group bound by another port
  CHECK_THAT(st.message(), Catch::Contains("group 7") && Catch::Contains("bind"));
  CHECK_FALSE(second.is_open());
}

TEST_CASE("nflog counts ENOBUFS when its buffer overflows and keeps reading") {
  ScopedNetns ns;
  NflogListener listener;
  NflogOptions o;
  o.receive_buffer = 1;  // the kernel's minimum: a handful of packets
  REQUIRE(listener.open(kGroup, o).ok());
  log_rule();
  wac::test::send_udp(kPort, std::string(512, 'y'), 500);

  size_t first_round = 0;
  REQUIRE(listener.read_batch([&](const NflogPacket&) { ++first_round; }).ok());
  CHECK(listener.stats().enobufs > 0);
  CHECK(first_round < 500);

  wac::test::send_udp(kPort, "after-overrun");
  auto packets = read_packets(listener, 1);
  REQUIRE(packets.size() == 1);
  CHECK(std::string(packets[0].payload.end() - 13, packets[0].payload.end()) == "after-overrun");
}

TEST_CASE("nflog run() delivers packets on its own thread and stops on request") {
  ScopedNetns ns;
  NflogListener listener;
  REQUIRE(listener.open(kGroup).ok());
  log_rule();
  std::atomic<int> seen{0};
  wac::Status result;
  std::jthread thread([&](std::stop_token stop) { result = listener.run(stop, [&](const NflogPacket&) { ++seen; }); });
  wac::test::send_udp(kPort, "threaded", 3);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (seen < 3 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  thread.request_stop();
  thread.join();
  CHECK(seen == 3);
  CHECK(result.ok());
}
