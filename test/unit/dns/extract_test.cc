#include <catch2/catch.hpp>

#include "dns/extract.h"
#include "wire_builder.h"

using namespace wac;
using namespace wac::dns;
using namespace wac::dns::testing;

namespace {
Bytes bytes(const Wire& w) { return {w.data(), w.size()}; }
Wire udp4(const Wire& msg) { return ipv4("198.51.100.53", "10.244.0.9", udp(53, 33333, msg)); }
Wire tcp4(const Wire& seg) { return ipv4("198.51.100.53", "10.244.0.9", tcp(53, 44444, seg), {.proto = 6}); }
}  // namespace

TEST_CASE("extractor: UDP response end to end") {
  DnsStats stats;
  AnswerExtractor ex(stats);
  std::vector<Answer> out;
  CHECK(ex.process(bytes(udp4(simple_response("api.example.com", "192.0.2.1", 60))), out) == 1);
  REQUIRE(out.size() == 1);
  CHECK(out[0].name == "api.example.com");
  CHECK(out[0].addr.str() == "192.0.2.1");
  CHECK(ex.last_packet().dst.str() == "10.244.0.9");
  CHECK(stats.responses_seen == 1);
  CHECK(stats.parsed == 1);
}

TEST_CASE("extractor: IPv6 response with extension headers") {
  DnsStats stats;
  AnswerExtractor ex(stats);
  std::vector<Answer> out;
  Wire msg = DnsBuilder().question("v6.example.com", kAaaa).aaaa("v6.example.com", "2001:db8::5", 90).build();
  Wire pkt = ipv6("2001:db8::53", "fd00:244::9", udp(53, 1000, msg), 17, {{0, 1}, {60, 1}});
  CHECK(ex.process(bytes(pkt), out) == 1);
  REQUIRE(out.size() == 1);
  CHECK(out[0].addr.str() == "2001:db8::5");
  CHECK(out[0].ttl == 90);
}

TEST_CASE("extractor: TCP with two messages, then a split one") {
  DnsStats stats;
  AnswerExtractor ex(stats);
  std::vector<Answer> out;
  Wire seg = tcp_framed(simple_response("a.example.com", "192.0.2.1", 60));
  append(seg, tcp_framed(simple_response("b.example.com", "192.0.2.2", 60)));
  CHECK(ex.process(bytes(tcp4(seg)), out) == 2);
  CHECK(out.size() == 2);
  CHECK(stats.tcp_incomplete == 0);

  Wire big = tcp_framed(simple_response("c.example.com", "192.0.2.3", 60));
  Wire first_half(big.begin(), big.begin() + 20);
  Wire second_half(big.begin() + 20, big.end());
  CHECK(ex.process(bytes(tcp4(first_half)), out) == 0);
  CHECK(stats.tcp_incomplete == 1);
  // The continuation segment is read as if it started a message: it never
  // yields answers.
  ex.process(bytes(tcp4(second_half)), out);
  CHECK(out.size() == 2);
  CHECK(stats.parsed == 2);
}

TEST_CASE("extractor: every reject is counted") {
  DnsStats stats;
  AnswerExtractor ex(stats);
  std::vector<Answer> out;

  ex.process(bytes(ipv4("198.51.100.53", "10.244.0.9", udp(53, 1, Wire(20, 0)), {.frag_field = 0x2000})), out);
  CHECK(stats.fragments == 1);
  CHECK(ex.last_error().find("fragment") != std::string::npos);

  Wire truncated = udp4(simple_response("a.example.com", "192.0.2.1", 60));
  truncated.resize(truncated.size() - 3);
  ex.process(bytes(truncated), out);
  CHECK(stats.packet_errors == 1);

  ex.process(bytes(udp4(Wire{1, 2, 3, 4})), out);
  CHECK(stats.malformed == 1);

  DnsBuilder query;
  query.qr = false;
  query.question("a.example.com");
  ex.process(bytes(udp4(query.build())), out);
  CHECK(stats.not_response == 1);

  Wire loop = DnsBuilder()
                  .question("l.example.com")
                  .cname("l.example.com", "m.example.com", 5)
                  .cname("m.example.com", "l.example.com", 5)
                  .build();
  ex.process(bytes(udp4(loop)), out);
  CHECK(stats.cname_loops == 1);

  DnsBuilder many;
  many.question("m.example.com");
  for (int i = 0; i < 600; ++i) many.a("m.example.com", "192.0.2.1", 5);
  ex.process(bytes(udp4(many.build())), out);
  CHECK(stats.answers_truncated == 1);

  CHECK(stats.responses_seen == 6);
  CHECK(stats.parsed == 2);
  CHECK(out.size() == 512);
}
