// The DNS hold against the kernel: tables ip/ip6 wac-dns with the xtables
// NFQUEUE target, and the nfnetlink_queue listener, each test in a fresh
// network namespace. A veth "cali0" stands for a pod interface.
#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "netlink/nflog.h"
#include "netlink/nfqueue.h"
#include "nft/dns_hold.h"
#include "test/kernel/netns.h"

using namespace wac;
using wac::test::ScopedNetns;

namespace {

constexpr uint16_t kQueue = 9;
constexpr uint16_t kLogGroup = 11;

void pod_interface() {
  wac::test::create_veth("cali0", "peer0");
  for (const char* cmd : {"ip link set cali0 up", "ip link set peer0 up", "ip addr add 10.0.0.1/24 dev cali0",
                          "ip neigh add 10.0.0.2 lladdr 02:00:00:00:00:02 dev cali0 nud permanent"})
    REQUIRE(std::system(cmd) == 0);
}

// A "DNS response": UDP from port `sport` on 10.0.0.1 to the pod at 10.0.0.2.
void send_from_port(uint16_t sport, const std::string& payload) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in src{}, dst{};
  src.sin_family = dst.sin_family = AF_INET;
  src.sin_port = htons(sport);
  dst.sin_port = htons(40000);
  inet_pton(AF_INET, "10.0.0.1", &src.sin_addr);
  inet_pton(AF_INET, "10.0.0.2", &dst.sin_addr);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) == 0);
  REQUIRE(sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst) ==
          ssize_t(payload.size()));
  close(fd);
}

// A log rule after the hold: what it sees got past the hold.
void log_after_hold() {
  wac::test::nft("add table inet t\n"
                 "add chain inet t post { type filter hook postrouting priority 110; }\n"
                 "add rule inet t post udp sport 53 log group 11\n");
}

template <class Listener, class Packet>
std::vector<std::vector<uint8_t>> read(Listener& l, size_t want, std::vector<uint32_t>* ids = nullptr) {
  std::vector<std::vector<uint8_t>> got;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (got.size() < want && std::chrono::steady_clock::now() < deadline) {
    REQUIRE(l.read_batch([&](const Packet& p) {
      got.emplace_back(p.payload.begin(), p.payload.end());
      if constexpr (std::is_same_v<Packet, netlink::NfqueuePacket>)
        if (ids) ids->push_back(p.id);
    }).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return got;
}

}  // namespace

TEST_CASE("dns hold: tables list as `queue num N bypass`, replace themselves, and go") {
  ScopedNetns ns;
  REQUIRE(nft::install_dns_hold({kQueue, {"cali", "tap"}}));
  REQUIRE(nft::install_dns_hold({kQueue, {"cali"}}));  // replaces, not appends
  for (const char* family : {"ip", "ip6"}) {
    std::string listing = wac::test::nft(std::string("list table ") + family + " wac-dns", true);
    INFO(listing);
    CHECK(listing.find("hook postrouting priority srcnat + 1") != std::string::npos);
    CHECK(listing.find("oifname \"cali*\" udp sport 53 counter queue num 9 bypass") !=
          std::string::npos);
    CHECK(listing.find("tcp sport 53") != std::string::npos);
    CHECK(listing.find("tap*") == std::string::npos);
  }
  REQUIRE(nft::remove_dns_hold());
  CHECK(wac::test::nft_error("list table ip wac-dns") != "");
  CHECK(nft::install_dns_hold({kQueue, {}}).errno_value() == EINVAL);
}

TEST_CASE("dns hold: a response to a pod waits in the queue until accepted") {
  ScopedNetns ns;
  pod_interface();
  netlink::NfqueueListener queue;
  REQUIRE(queue.open(kQueue));
  REQUIRE(nft::install_dns_hold({kQueue, {"cali"}}));
  netlink::NflogListener after;
  REQUIRE(after.open(kLogGroup));
  log_after_hold();

  send_from_port(53, "response-1");
  send_from_port(5353, "not-dns");  // not from port 53: never held
  std::vector<uint32_t> ids;
  auto held = read<netlink::NfqueueListener, netlink::NfqueuePacket>(queue, 1, &ids);
  REQUIRE(held.size() == 1);
  CHECK(held[0].size() == sizeof(iphdr) + sizeof(udphdr) + 10);
  CHECK(std::memcmp(held[0].data() + sizeof(iphdr) + sizeof(udphdr), "response-1", 10) == 0);
  // Held: nothing got past it yet.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(read<netlink::NflogListener, netlink::NflogPacket>(after, 1).empty());
  REQUIRE(queue.accept_up_to(ids.back()));
  CHECK(read<netlink::NflogListener, netlink::NflogPacket>(after, 1).size() == 1);
  CHECK(queue.stats().verdicts == 1);
  CHECK(queue.stats().verdict_errors == 0);
}

TEST_CASE("dns hold: with nobody listening, responses pass (bypass)") {
  ScopedNetns ns;
  pod_interface();
  REQUIRE(nft::install_dns_hold({kQueue, {"cali"}}));
  netlink::NflogListener after;
  REQUIRE(after.open(kLogGroup));
  log_after_hold();
  send_from_port(53, "response-2");
  CHECK(read<netlink::NflogListener, netlink::NflogPacket>(after, 1).size() == 1);
}

TEST_CASE("dns hold: a second listener on the same queue is refused") {
  ScopedNetns ns;
  netlink::NfqueueListener a, b;
  REQUIRE(a.open(kQueue));
  Status s = b.open(kQueue);
  CHECK_FALSE(s);
  CHECK(s.message().find("nfqueue 9") != std::string::npos);
}
