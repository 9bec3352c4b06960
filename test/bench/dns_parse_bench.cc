// DNS tap throughput: captured packet -> answers -> pattern match -> cache.
// Standalone: `dns_parse_bench [iterations]`. Prints responses/s for each
// stage mix on one core; the target is >= 100k responses/s end to end.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "../unit/dns/wire_builder.h"
#include "dns/cache.h"
#include "dns/extract.h"
#include "dns/pattern.h"

using namespace wac;
using namespace wac::dns;
using namespace wac::dns::testing;

namespace {

std::vector<Wire> sample_packets() {
  std::vector<Wire> pkts;
  for (int i = 0; i < 64; ++i) {
    std::string n = std::to_string(i);
    // Plain A answer.
    pkts.push_back(ipv4("198.51.100.53", "10.244.0.9",
                        udp(53, 40000, simple_response("api" + n + ".example.com", "192.0.2." + n, 300))));
    // CDN style: two CNAMEs then four addresses.
    Wire cdn = DnsBuilder()
                   .question("www.service" + n + ".example.com")
                   .cname("www.service" + n + ".example.com", "service" + n + ".edgekey.example.net", 300)
                   .cname("service" + n + ".edgekey.example.net", "e" + n + ".a.cdn.example.net", 20)
                   .a("e" + n + ".a.cdn.example.net", "203.0.113.1", 20)
                   .a("e" + n + ".a.cdn.example.net", "203.0.113.2", 20)
                   .a("e" + n + ".a.cdn.example.net", "203.0.113.3", 20)
                   .a("e" + n + ".a.cdn.example.net", "203.0.113.4", 20)
                   .build();
    pkts.push_back(ipv4("198.51.100.53", "10.244.0.9", udp(53, 40001, cdn)));
    // IPv6 AAAA.
    Wire v6 = DnsBuilder()
                  .question("v6-" + n + ".example.org", kAaaa)
                  .aaaa("v6-" + n + ".example.org", "2001:db8::" + n, 600)
                  .aaaa("v6-" + n + ".example.org", "2001:db8::1:" + n, 600)
                  .build();
    pkts.push_back(ipv6("2001:db8::53", "fd00:244::9", udp(53, 40002, v6)));
  }
  return pkts;
}

PatternMatcher sample_matcher() {
  PatternMatcher m;
  // A few broad patterns many policies share, then thousands of specific ones.
  for (const char* text : {"*.example.org", "*.cdn.example.net", "www.*.com"}) m.add(9000, std::get<Pattern>(Pattern::parse(text)));
  for (int i = 0; i < 5000; ++i) {
    std::string n = std::to_string(i);
    std::string text = i % 3 == 0   ? "api" + n + ".example.com"
                       : i % 3 == 1 ? "*.service" + n + ".example.com"
                                    : "v6-" + n + ".*.org";
    auto p = Pattern::parse(text);
    m.add(PatternId(i), std::get<Pattern>(p));
  }
  return m;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  size_t iterations = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 300000;
  auto pkts = sample_packets();

  // Stage 1: packet + DNS parse + CNAME resolution only.
  {
    DnsStats stats;
    AnswerExtractor ex(stats);
    std::vector<Answer> out;
    size_t answers = 0;
    auto t = std::chrono::steady_clock::now();
    for (size_t i = 0; i < iterations; ++i) {
      const Wire& p = pkts[i % pkts.size()];
      out.clear();
      ex.process({p.data(), p.size()}, out);
      answers += out.size();
    }
    double s = seconds_since(t);
    std::printf("parse only:    %zu responses in %.3f s = %.0f responses/s (%.2f us each), %zu answers, parsed=%llu\n",
                iterations, s, iterations / s, s / iterations * 1e6, answers, (unsigned long long)stats.parsed);
    if (stats.parsed != iterations) return 1;
  }

  // Stage 2: everything the tap does per response: parse, match each answer
  // against 5,000 patterns, learn matches into the cache.
  {
    DnsStats stats;
    AnswerExtractor ex(stats);
    PatternMatcher matcher = sample_matcher();
    FqdnCache cache(CacheConfig{}, &stats);
    std::vector<Answer> out;
    std::vector<PatternId> ids;
    size_t learned = 0, changed = 0;
    auto t = std::chrono::steady_clock::now();
    auto now = std::chrono::steady_clock::now();
    for (size_t i = 0; i < iterations; ++i) {
      const Wire& p = pkts[i % pkts.size()];
      out.clear();
      ex.process({p.data(), p.size()}, out);
      for (const Answer& a : out) {
        matcher.match(a.name, ids);
        if (ids.empty()) continue;
        ++learned;
        if (cache.learn(a.name, a.addr, a.ttl, now).outcome != LearnOutcome::Unchanged) ++changed;
      }
    }
    double s = seconds_since(t);
    std::printf("end to end:    %zu responses in %.3f s = %.0f responses/s (%.2f us each), %zu learns (%zu kernel writes)\n",
                iterations, s, iterations / s, s / iterations * 1e6, learned, changed);
  }

  // Worst case the parser must survive: a compression pointer loop.
  {
    DnsBuilder b;
    b.question(ptr(b.here()));
    Wire msg = b.build();
    ResponseParser parser;
    Response r;
    size_t n = 2000;
    auto t = std::chrono::steady_clock::now();
    for (size_t i = 0; i < n; ++i) parser.parse({msg.data(), msg.size()}, r);
    double s = seconds_since(t);
    std::printf("pointer loop:  %.1f us per message (rejected: %s)\n", s / n * 1e6, to_string(r.status));
  }
  return 0;
}
