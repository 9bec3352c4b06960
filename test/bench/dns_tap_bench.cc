// The DNS tap against the kernel: how long from a DNS response leaving its
// sender until the learned address is committed in the nftables set, and
// how many responses a second the tap takes without losing any, with
// 10,000 addresses already learned.
//
// Needs root. Runs in a private network namespace it creates: a veth
// "calib0" stands for a pod interface, the sender (10.99.0.1, source port
// 53, a trusted server) sends responses to a "pod" (10.99.0.2) through it,
// so they pass wacd's real tap chain (postrouting, oifname "cali*", log
// group) and, unless --no-hold, the DNS hold (NFQUEUE): the same path a
// response to a pod takes. Every response names a new name and address.
//
//   dns_tap_bench [--learned 10000] [--latency 2000] [--rates 5000,10000,...] [--seconds 2] [--no-hold]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "../unit/dns/wire_builder.h"
#include "agent/dns_rules.h"
#include "agent/dns_tap.h"
#include "nft/backend.h"
#include "nft/element_io.h"

using namespace wac;
using namespace wac::dns::testing;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint16_t kGroup = 5353;
constexpr const char* kSet4 = "fqdn4-bench";
constexpr const char* kPattern = "*.bench.test";

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "dns_tap_bench: %s\n", why.c_str());
  std::exit(1);
}

void sh(const std::string& cmd) {
  if (std::system(cmd.c_str()) != 0) die("command failed: " + cmd);
}

// Address number n -> 10.(64 + n / 65536 % 64).(n / 256 % 256).(n % 256):
// 4 million distinct addresses, none of them the namespace's own.
IpAddr address(uint32_t n) { return IpAddr::v4((10u << 24) | ((64 + (n >> 16) % 64) << 16) | (n & 0xffff)); }
uint32_t number_of(const IpAddr& a) {
  return (uint32_t(a.bytes[1] - 64) << 16) | (uint32_t(a.bytes[2]) << 8) | a.bytes[3];
}
std::string name(uint32_t n) { return "n" + std::to_string(n) + (kPattern + 1); }  // "n7.bench.test"

Wire response(uint32_t n) {
  std::string q = name(n);
  return DnsBuilder().question(q).a(q, address(n).str(), 300).build();
}

void setup_namespace() {
  if (unshare(CLONE_NEWNET) != 0) die(std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno) + " (run as root)");
  sh("ip link set lo up");
  sh("ip link add calib0 type veth peer name calib1");
  sh("ip link set calib0 up && ip link set calib1 up");
  sh("ip addr add 10.99.0.1/24 dev calib0");
  sh("ip neigh add 10.99.0.2 lladdr 02:00:00:00:00:02 dev calib0 nud permanent");

  nft::SetDecl set{kSet4, nft::KeyType::Ipv4Addr, false, false, true, kPattern};
  nft::Transaction tx;
  tx.add_table();
  tx.add_set(set);
  tx.replace_chain(agent::dns_tap_chain({"cali"}, kGroup));
  auto backend = nft::make_kernel_backend();
  if (Status s = backend->commit(tx); !s) die("ruleset: " + s.message());
}

size_t kernel_elements() {
  nft::NftnlElementIo io;
  std::vector<nft::Element> out;
  if (Status s = io.dump({kSet4, nft::KeyType::Ipv4Addr, false, false, true, ""}, out); !s) die(s.message());
  return out.size();
}

class Sender {
 public:
  Sender() {
    fd_ = socket(AF_INET, SOCK_DGRAM, 0);
    int big = 32 << 20;
    setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_port = htons(53);
    inet_pton(AF_INET, "10.99.0.1", &src.sin_addr);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) die("bind 10.99.0.1:53");
    dst_.sin_family = AF_INET;
    dst_.sin_port = htons(40000);
    inet_pton(AF_INET, "10.99.0.2", &dst_.sin_addr);
  }
  ~Sender() { close(fd_); }
  void send(const Wire& w) {
    while (sendto(fd_, w.data(), w.size(), 0, reinterpret_cast<const sockaddr*>(&dst_), sizeof dst_) < 0) {
      if (errno != ENOBUFS && errno != EAGAIN) die(std::string("sendto: ") + std::strerror(errno));
    }
  }

 private:
  int fd_;
  sockaddr_in dst_{};
};

// When each address was sent and committed (by address number).
struct Timeline {
  explicit Timeline(size_t n) : sent(n), committed(n) {}
  std::vector<Clock::time_point> sent;
  std::vector<std::atomic<int64_t>> committed;  // steady ns, 0 = not yet
  std::atomic<uint64_t> commits{0};
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p / 100 * double(v.size())))];
}

// CPU seconds used by every thread but the calling one (the sender spins):
// the tap's thread, plus the kernel work its syscalls carry (verdicts
// reinject and forward the held packets). On a shared machine the tap may
// get less than a core; CPU per response is the figure that does not
// depend on how much it got.
double cpu_seconds(int who) {
  rusage ru{};
  getrusage(who, &ru);
  auto secs = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}
double cpu_of_other_threads() { return cpu_seconds(RUSAGE_SELF) - cpu_seconds(RUSAGE_THREAD); }

std::vector<uint32_t> parse_rates(const char* text) {
  std::vector<uint32_t> out;
  for (const char* p = text; *p;) {
    out.push_back(uint32_t(std::strtoul(p, const_cast<char**>(&p), 10)));
    if (*p == ',') ++p;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  uint32_t learned = 10000, latency_samples = 2000, seconds = 2;
  bool hold = true;
  std::vector<uint32_t> rates{2000, 5000, 10000, 20000, 40000, 80000};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? argv[++i] : (die("missing value for " + a), ""); };
    if (a == "--learned") learned = uint32_t(std::atoi(next()));
    else if (a == "--latency") latency_samples = uint32_t(std::atoi(next()));
    else if (a == "--seconds") seconds = uint32_t(std::atoi(next()));
    else if (a == "--rates") rates = parse_rates(next());
    else if (a == "--no-hold") hold = false;
    else die("usage: dns_tap_bench [--learned N] [--latency N] [--rates R1,R2,...] [--seconds S] [--no-hold]");
  }
  setup_namespace();

  agent::DnsTapOptions opts;
  opts.nflog_group = kGroup;
  opts.hold = hold;
  opts.hold_queue = kGroup;
  opts.trusted_servers = {*IpAddr::parse("10.99.0.1")};
  opts.cache.max_timeout = std::chrono::seconds(3600);
  agent::DnsTap tap(opts);
  size_t total = learned + latency_samples + size_t(seconds) * std::accumulate(rates.begin(), rates.end(), size_t(0)) + 1;
  Timeline tl(total);
  tap.on_committed = [&](const std::vector<dns::Answer>& answers) {
    int64_t now = Clock::now().time_since_epoch().count();
    for (const auto& a : answers) {
      uint32_t n = number_of(a.addr);
      if (n < total) tl.committed[n].store(now, std::memory_order_relaxed);
    }
    tl.commits.fetch_add(answers.size(), std::memory_order_relaxed);
  };
  tap.publish({{kPattern, {kSet4, ""}}}, false);

  // Already learned: fed straight into the pipeline, committed in batches.
  for (uint32_t n = 0; n < learned; ++n) {
    Wire pkt = ipv4("10.99.0.1", "10.99.0.2", udp(53, 40000, response(n)));
    tap.ingest(pkt);
    if (n % 500 == 499) tap.flush();
  }
  tap.flush();
  if (Status s = tap.start(); !s) die(s.message());
  std::printf("learned before measuring: %zu addresses in %s (hold %s)\n", kernel_elements(), kSet4,
              tap.stats().hold_active ? "on" : ("off: " + tap.stats().hold_status).c_str());

  Sender sender;
  uint32_t next = learned;
  // 1. Latency, one response at a time: sent -> committed in the kernel set.
  std::vector<double> lat;
  for (uint32_t i = 0; i < latency_samples; ++i, ++next) {
    Wire msg = response(next);
    tl.sent[next] = Clock::now();
    sender.send(msg);
    auto deadline = Clock::now() + std::chrono::seconds(2);
    while (tl.committed[next].load(std::memory_order_relaxed) == 0 && Clock::now() < deadline) std::this_thread::yield();
    int64_t c = tl.committed[next].load();
    if (c) lat.push_back(double(c - tl.sent[next].time_since_epoch().count()) / 1000.0);
  }
  std::printf("\nresponse sent -> address committed (us), %u responses, %zu committed:\n", latency_samples, lat.size());
  std::printf("  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n", percentile(lat, 50), percentile(lat, 90),
              percentile(lat, 99), percentile(lat, 99.9), percentile(lat, 100));

  // 2. Sustained rates: every response must be learned, no overrun.
  std::printf("\n%-10s %-10s %-10s %-14s %-14s %-10s %-12s %-12s %s\n", "rate/s", "sent", "learned", "nflog overruns",
              "hold overruns", "unheld", "p99 us", "tap us/resp", "result");
  for (uint32_t rate : rates) {
    auto before = tap.stats();
    double cpu_before = cpu_of_other_threads();
    uint32_t first = next, count = rate * seconds;
    auto start = Clock::now();
    for (uint32_t i = 0; i < count; ++i, ++next) {
      auto due = start + std::chrono::nanoseconds(uint64_t(i) * 1'000'000'000ull / rate);
      while (Clock::now() < due) {
      }
      Wire msg = response(next);
      tl.sent[next] = Clock::now();
      sender.send(msg);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    uint32_t got = 0;
    std::vector<double> rl;
    for (uint32_t n = first; n < next; ++n) {
      int64_t c = tl.committed[n].load();
      if (!c) continue;
      ++got;
      rl.push_back(double(c - tl.sent[n].time_since_epoch().count()) / 1000.0);
    }
    double tap_cpu = cpu_of_other_threads() - cpu_before;
    auto after = tap.stats();
    uint64_t nflog_over = after.nflog_enobufs - before.nflog_enobufs;
    uint64_t hold_over = after.hold_enobufs - before.hold_enobufs;
    bool lossless = got == count && nflog_over == 0 && hold_over == 0;
    std::printf("%-10u %-10u %-10u %-14llu %-14llu %-10llu %-12.1f %-12.2f %s\n", rate, count, got,
                (unsigned long long)nflog_over, (unsigned long long)hold_over,
                (unsigned long long)(after.unheld - before.unheld), percentile(rl, 99),
                got ? tap_cpu * 1e6 / got : 0.0, lossless ? "no loss" : "LOSS");
  }
  auto st = tap.stats();
  std::printf("\nset %s now holds %zu elements; %llu batches, max commit %lld us, %llu write errors\n", kSet4,
              kernel_elements(), (unsigned long long)st.batches, (long long)st.max_commit.count(),
              (unsigned long long)st.write_errors);
  tap.stop();
  return 0;
}
