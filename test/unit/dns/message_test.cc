#include <catch2/catch.hpp>

#include <algorithm>

#include "dns/message.h"
#include "wire_builder.h"

using namespace wac;
using namespace wac::dns;
using namespace wac::dns::testing;

namespace {
Response parse(const Wire& w, MessageLimits limits = {}) {
  Response r = parse_response({w.data(), w.size()}, limits);
  INFO("reason: " << r.reason);
  return r;
}

Answer ans(std::string name, std::string_view addr, uint32_t ttl) { return {std::move(name), *IpAddr::parse(addr), ttl}; }

// Order of answers is an implementation detail; compare as sets.
std::vector<Answer> sorted(std::vector<Answer> v) {
  std::sort(v.begin(), v.end(), [](const Answer& a, const Answer& b) {
    return std::tie(a.name, a.addr, a.ttl) < std::tie(b.name, b.addr, b.ttl);
  });
  return v;
}
}  // namespace

namespace Catch {
template <>
struct StringMaker<Answer> {
  static std::string convert(const Answer& a) { return a.name + "=" + a.addr.str() + "/" + std::to_string(a.ttl); }
};
}  // namespace Catch

TEST_CASE("A and AAAA answers") {
  Wire w = DnsBuilder()
               .question("API.Example.COM.")
               .a("api.example.com", "192.0.2.1", 300)
               .a("API.example.com", "192.0.2.2", 200)
               .aaaa("api.example.com", "2001:db8::1", 100)
               .build();
  Response r = parse(w);
  REQUIRE(r.ok());
  CHECK(r.question == "api.example.com");
  CHECK(r.rcode == 0);
  CHECK(sorted(r.answers) == sorted({ans("api.example.com", "192.0.2.1", 300), ans("api.example.com", "192.0.2.2", 200),
                                     ans("api.example.com", "2001:db8::1", 100)}));
  CHECK_FALSE(r.cname_loop);
  CHECK_FALSE(r.truncated_answers);
}

TEST_CASE("CNAME chain gives every name on it the final addresses with the minimum TTL") {
  Wire w = DnsBuilder()
               .question("www.example.com")
               .cname("www.example.com", "edge.cdn.example.net", 3600)
               .cname("edge.cdn.example.net", "node7.cdn.example.net", 120)
               .a("node7.cdn.example.net", "203.0.113.7", 600)
               .a("node7.cdn.example.net", "203.0.113.8", 30)
               .build();
  Response r = parse(w);
  REQUIRE(r.ok());
  CHECK(sorted(r.answers) == sorted({
                                 ans("www.example.com", "203.0.113.7", 120),
                                 ans("www.example.com", "203.0.113.8", 30),
                                 ans("edge.cdn.example.net", "203.0.113.7", 120),
                                 ans("edge.cdn.example.net", "203.0.113.8", 30),
                                 ans("node7.cdn.example.net", "203.0.113.7", 600),
                                 ans("node7.cdn.example.net", "203.0.113.8", 30),
                             }));
}

TEST_CASE("CNAME chain in scrambled order resolves the same") {
  Wire w = DnsBuilder()
               .question("www.example.com")
               .a("c.example.org", "192.0.2.9", 50)
               .cname("b.example.org", "c.example.org", 70)
               .cname("www.example.com", "b.example.org", 90)
               .build();
  Response r = parse(w);
  REQUIRE(r.ok());
  CHECK(sorted(r.answers) == sorted({ans("www.example.com", "192.0.2.9", 50), ans("b.example.org", "192.0.2.9", 50),
                                     ans("c.example.org", "192.0.2.9", 50)}));
}

TEST_CASE("CNAME whose target has no address yields nothing") {
  Wire w = DnsBuilder().question("www.example.com").cname("www.example.com", "gone.example.com", 60).build();
  Response r = parse(w);
  REQUIRE(r.ok());
  CHECK(r.answers.empty());
}

TEST_CASE("CNAME loop is detected and the back edge not followed") {
  Wire w = DnsBuilder()
               .question("q.example.com")
               .cname("q.example.com", "a.example.com", 60)
               .cname("a.example.com", "b.example.com", 60)
               .cname("b.example.com", "a.example.com", 60)
               .a("b.example.com", "192.0.2.66", 60)  // bogus but present: reachable before the loop closes
               .build();
  Response r = parse(w);
  REQUIRE(r.ok());
  CHECK(r.cname_loop);
  CHECK(sorted(r.answers) == sorted({ans("q.example.com", "192.0.2.66", 60), ans("a.example.com", "192.0.2.66", 60),
                                     ans("b.example.com", "192.0.2.66", 60)}));
}

TEST_CASE("self-referencing CNAME is a loop") {
  Wire w = DnsBuilder().question("q.example.com").cname("q.example.com", "q.example.com", 60).build();
  Response r = parse(w);
  REQUIRE(r.ok());
  CHECK(r.cname_loop);
  CHECK(r.answers.empty());
}

TEST_CASE("CNAME chain longer than the limit is cut") {
  DnsBuilder b;
  b.question("n0.example.com");
  for (int i = 0; i < 20; ++i)
    b.cname("n" + std::to_string(i) + ".example.com", "n" + std::to_string(i + 1) + ".example.com", 60);
  b.a("n20.example.com", "192.0.2.20", 60);
  Response r = parse(b.build(), {.max_chain_length = 16});
  REQUIRE(r.ok());
  CHECK(r.chain_too_long);
  CHECK_FALSE(r.cname_loop);
  auto has = [&](const std::string& n) {
    return std::any_of(r.answers.begin(), r.answers.end(), [&](const Answer& a) { return a.name == n; });
  };
  CHECK_FALSE(has("n0.example.com"));  // 20 hops away
  CHECK_FALSE(has("n3.example.com"));  // 17 hops away
  CHECK(has("n4.example.com"));        // exactly 16 hops
  CHECK(has("n20.example.com"));
}

TEST_CASE("only answer section, class IN, A/AAAA/CNAME are used") {
  DnsBuilder b;
  b.question("x.example.com")
      .a("x.example.com", "192.0.2.1", 60)
      .rr(name("x.example.com"), kTxt, 60, {3, 'a', 'b', 'c'})
      .rr(name("x.example.com"), kA, 60, ip_bytes("192.0.2.99"), /*CHAOS*/ 3);
  // An additional-section glue record must not be learned.
  Wire glue;
  append(glue, name("x.example.com"));
  put16(glue, kA), put16(glue, 1), put32(glue, 60), put16(glue, 4);
  append(glue, ip_bytes("192.0.2.77"));
  b.raw(glue);
  b.arcount = 1;
  Response r = parse(b.build());
  REQUIRE(r.ok());
  CHECK(r.answers == std::vector<Answer>{ans("x.example.com", "192.0.2.1", 60)});
}

TEST_CASE("compression pointers are followed") {
  DnsBuilder b;
  uint16_t qname_at = b.here();
  b.question("www.example.com");
  uint16_t cname_owner_at = b.here();
  b.rr(ptr(qname_at), kCname, 300, labels_then_ptr("edge", uint16_t(qname_at + 4)));  // edge.example.com
  // The CNAME target starts 12 bytes after its owner pointer (2 + 2+2+4+2).
  uint16_t target_at = uint16_t(cname_owner_at + 12);
  b.rr(ptr(target_at), kA, 60, ip_bytes("198.51.100.4"));
  Response r = parse(b.build());
  REQUIRE(r.ok());
  CHECK(r.question == "www.example.com");
  CHECK(sorted(r.answers) ==
        sorted({ans("www.example.com", "198.51.100.4", 60), ans("edge.example.com", "198.51.100.4", 60)}));
}

TEST_CASE("compression pointer loop is malformed, not a hang") {
  DnsBuilder b;
  uint16_t at = b.here();
  b.question(ptr(at));  // points at itself
  Response r = parse(b.build());
  CHECK(r.status == MessageStatus::Malformed);
  CHECK_FALSE(r.reason.empty());

  DnsBuilder b2;
  uint16_t first = b2.here();
  b2.question(labels_then_ptr("a", uint16_t(first + 2)));  // "a" then pointer to the pointer itself
  CHECK(parse(b2.build()).status == MessageStatus::Malformed);
}

TEST_CASE("forward pointer past the end is malformed") {
  DnsBuilder b;
  b.question(ptr(0x3fff));
  CHECK(parse(b.build()).status == MessageStatus::Malformed);
}

TEST_CASE("truncated messages are malformed") {
  Wire w = simple_response("api.example.com", "192.0.2.1", 60);
  for (size_t cut : {size_t(0), size_t(5), size_t(11), size_t(12), size_t(20), w.size() - 1}) {
    Wire part(w.begin(), w.begin() + cut);
    Response r = parse(part);
    INFO("cut at " << cut << ": " << r.reason);
    CHECK(r.status == MessageStatus::Malformed);
  }
}

TEST_CASE("answer count larger than the records present is malformed") {
  DnsBuilder b;
  b.question("api.example.com").a("api.example.com", "192.0.2.1", 60);
  b.ancount = 3;
  Response r = parse(b.build());
  CHECK(r.status == MessageStatus::Malformed);
  CHECK(r.reason.find("DNS message") != std::string::npos);
}

TEST_CASE("question count larger than present is malformed") {
  DnsBuilder b;
  b.question("api.example.com").a("api.example.com", "192.0.2.1", 60);
  b.qdcount = 2;
  CHECK(parse(b.build()).status == MessageStatus::Malformed);
}

TEST_CASE("a query is not a response") {
  DnsBuilder b;
  b.qr = false;
  b.question("api.example.com");
  Response r = parse(b.build());
  CHECK(r.status == MessageStatus::NotResponse);
  CHECK(r.reason.find("QR") != std::string::npos);
}

TEST_CASE("a non-QUERY opcode is not a response we use") {
  DnsBuilder b;
  b.opcode = 5;  // UPDATE
  b.question("api.example.com");
  Response r = parse(b.build());
  CHECK(r.status == MessageStatus::NotResponse);
  CHECK(r.reason.find("opcode 5") != std::string::npos);
}

TEST_CASE("rcode and TC flag are reported") {
  DnsBuilder b;
  b.rcode = 3;
  b.tc = true;
  b.question("nope.example.com");
  Response r = parse(b.build());
  REQUIRE(r.ok());
  CHECK(r.rcode == 3);
  CHECK(r.truncated_flag);
  CHECK(r.answers.empty());
}

TEST_CASE("TTL with the top bit set counts as zero") {
  Response r = parse(simple_response("api.example.com", "192.0.2.1", 0x80000001u));
  REQUIRE(r.ok());
  REQUIRE(r.answers.size() == 1);
  CHECK(r.answers[0].ttl == 0);
}

TEST_CASE("answer records beyond the cap are ignored and reported") {
  DnsBuilder b;
  b.question("many.example.com");
  for (int i = 0; i < 20; ++i) b.a("many.example.com", "192.0.2." + std::to_string(i + 1), 60);
  Response r = parse(b.build(), {.max_answer_records = 8});
  REQUIRE(r.ok());
  CHECK(r.truncated_answers);
  CHECK(r.answers.size() == 8);

  Response r2 = parse(b.build(), {.max_answers_out = 5});
  CHECK(r2.truncated_answers);
  CHECK(r2.answers.size() == 5);
}

TEST_CASE("A record with a wrong rdata length is skipped") {
  DnsBuilder b;
  b.question("x.example.com").rr(name("x.example.com"), kA, 60, {1, 2, 3, 4, 5, 6}).a("x.example.com", "192.0.2.3", 9);
  Response r = parse(b.build());
  // ldns may reject the record outright; either way no bogus address appears.
  if (r.ok()) CHECK(r.answers == std::vector<Answer>{ans("x.example.com", "192.0.2.3", 9)});
  else CHECK(r.status == MessageStatus::Malformed);
}

TEST_CASE("unusual bytes in names are escaped") {
  Wire owner = {5, 'a', '.', 'B', ' ', 'c', 3, 'c', 'o', 'm', 0};
  DnsBuilder b;
  b.question(owner).rr(owner, kA, 60, ip_bytes("192.0.2.5"));
  Response r = parse(b.build());
  REQUIRE(r.ok());
  CHECK(r.question == "a\\046b\\032c.com");
  REQUIRE(r.answers.size() == 1);
  CHECK(r.answers[0].name == "a\\046b\\032c.com");
}

TEST_CASE("parser object can be reused across messages") {
  ResponseParser parser;
  Response out;
  Wire big = DnsBuilder()
                 .question("www.example.com")
                 .cname("www.example.com", "a-very-long-canonical-name.cdn.example.net", 60)
                 .a("a-very-long-canonical-name.cdn.example.net", "192.0.2.1", 60)
                 .build();
  Wire small = simple_response("x.example.com", "192.0.2.2", 30);
  REQUIRE(parser.parse({big.data(), big.size()}, out) == MessageStatus::Ok);
  CHECK(out.answers.size() == 2);
  REQUIRE(parser.parse({small.data(), small.size()}, out) == MessageStatus::Ok);
  CHECK(out.answers == std::vector<Answer>{ans("x.example.com", "192.0.2.2", 30)});
  Wire junk = {1, 2, 3};
  CHECK(parser.parse({junk.data(), junk.size()}, out) == MessageStatus::Malformed);
  CHECK(out.answers.empty());
}

TEST_CASE("append_canonical_name rejects malformed wire names") {
  std::string s;
  Wire no_end = {3, 'a', 'b', 'c'};
  CHECK_FALSE(append_canonical_name({no_end.data(), no_end.size()}, s));
  Wire overlong = {70, 'a'};
  CHECK_FALSE(append_canonical_name({overlong.data(), overlong.size()}, s));
  Wire root = {0};
  s.clear();
  CHECK(append_canonical_name({root.data(), root.size()}, s));
  CHECK(s.empty());
}
