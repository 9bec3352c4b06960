#include "nft/element_key.h"

#include <catch2/catch.hpp>

using namespace wac;
using namespace wac::nft;

namespace {

IpAddr ip(const char* text) { return *IpAddr::parse(text); }

SetDecl decl(KeyType key, bool interval) {
  SetDecl d;
  d.name = "s";
  d.key = key;
  d.interval = interval;
  return d;
}

std::string encoded(const char* cidr) {
  auto iv = parse_ip_key(cidr);
  REQUIRE(iv);
  auto enc = encode_interval(*iv);
  return enc.start.str() + " .. " + (enc.end ? enc.end->str() : std::string("open"));
}

}  // namespace

TEST_CASE("address arithmetic at the edges") {
  CHECK(next_address(ip("10.0.0.255"))->str() == "10.0.1.0");
  CHECK_FALSE(next_address(ip("255.255.255.255")));
  CHECK_FALSE(next_address(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
  CHECK(next_address(ip("2001:db8::ffff"))->str() == "2001:db8::1:0");
  CHECK(previous_address(ip("11.0.0.0"))->str() == "10.255.255.255");
  CHECK_FALSE(previous_address(ip("0.0.0.0")));
  CHECK_FALSE(previous_address(ip("::")));
}

TEST_CASE("CIDRs encode as start + exclusive end, open when the end overflows") {
  CHECK(encoded("10.0.0.0/8") == "10.0.0.0 .. 11.0.0.0");
  CHECK(encoded("192.0.2.7") == "192.0.2.7 .. 192.0.2.8");
  CHECK(encoded("192.0.2.7/32") == "192.0.2.7 .. 192.0.2.8");
  CHECK(encoded("0.0.0.0/0") == "0.0.0.0 .. open");
  CHECK(encoded("255.255.255.255") == "255.255.255.255 .. open");
  CHECK(encoded("240.0.0.0/4") == "240.0.0.0 .. open");
  CHECK(encoded("::/0") == ":: .. open");
  CHECK(encoded("2001:db8::/32") == "2001:db8:: .. 2001:db9::");
  CHECK(encoded("fd00:244::1") == "fd00:244::1 .. fd00:244::2");
  CHECK(encoded("203.0.113.1-203.0.113.5") == "203.0.113.1 .. 203.0.113.6");
}

TEST_CASE("intervals print as nft prints them") {
  auto text = [](const char* key) { return interval_text(*parse_ip_key(key)); };
  CHECK(text("10.0.0.0/8") == "10.0.0.0/8");
  CHECK(text("10.0.0.0-10.255.255.255") == "10.0.0.0/8");
  CHECK(text("192.0.2.7/32") == "192.0.2.7");
  CHECK(text("0.0.0.0/0") == "0.0.0.0/0");
  CHECK(text("::/0") == "::/0");
  CHECK(text("10.0.0.1-10.0.0.5") == "10.0.0.1-10.0.0.5");
  CHECK(text("10.0.0.0-10.0.0.2") == "10.0.0.0-10.0.0.2");
  CHECK(text("10.0.0.1-10.0.0.2") == "10.0.0.1-10.0.0.2");  // two addresses, not aligned to a /31
  CHECK(text("10.0.0.2-10.0.0.3") == "10.0.0.2/31");
}

TEST_CASE("decoding kernel interval elements gives back the intervals") {
  // What the kernel dumps for { 10.0.0.0/8, 11.0.0.0/8, 192.0.2.7, 240.0.0.0/4 } written by nft:
  // a leading end at 0.0.0.0, adjacent intervals sharing a key, an open top interval.
  std::vector<IntervalPoint> points = {
      {ip("240.0.0.0"), false, 0}, {ip("192.0.2.8"), true, 1}, {ip("192.0.2.7"), false, 2},
      {ip("12.0.0.0"), true, 3},   {ip("11.0.0.0"), false, 4}, {ip("11.0.0.0"), true, 5},
      {ip("10.0.0.0"), false, 6},  {ip("0.0.0.0"), true, 7},
  };
  auto decoded = decode_intervals(points);
  REQUIRE(decoded.size() == 4);
  CHECK(interval_text(decoded[0].interval) == "10.0.0.0/8");
  CHECK(decoded[0].source == 6);
  CHECK(interval_text(decoded[1].interval) == "11.0.0.0/8");
  CHECK(decoded[1].source == 4);
  CHECK(interval_text(decoded[2].interval) == "192.0.2.7");
  CHECK(interval_text(decoded[3].interval) == "240.0.0.0/4");
  CHECK(decoded[3].source == 0);
}

TEST_CASE("decoding /0 and an empty set") {
  CHECK(decode_intervals({}).empty());
  auto all = decode_intervals({{ip("::"), false, 0}});
  REQUIRE(all.size() == 1);
  CHECK(interval_text(all[0].interval) == "::/0");
}

TEST_CASE("element keys are checked against the set type") {
  ElementKey k;
  REQUIRE(parse_element_key(decl(KeyType::Ipv4Addr, true), "10.0.0.0/8", k).ok());
  CHECK(k.text() == "10.0.0.0/8");
  REQUIRE(parse_element_key(decl(KeyType::Ipv4Addr, false), "10.1.2.3", k).ok());
  CHECK(k.text() == "10.1.2.3");
  REQUIRE(parse_element_key(decl(KeyType::Ipv4Addr, false), "10.1.2.3/32", k).ok());
  CHECK(k.text() == "10.1.2.3");
  REQUIRE(parse_element_key(decl(KeyType::Ifname, false), "cali12ab", k).ok());
  CHECK(k.text() == "cali12ab");
  CHECK_FALSE(k.ip);

  auto error = [](KeyType t, bool interval, const char* text) {
    ElementKey key;
    return parse_element_key(decl(t, interval), text, key).message();
  };
  CHECK_THAT(error(KeyType::Ipv4Addr, false, "10.0.0.0/8"), Catch::Contains("need a set with flags interval"));
  CHECK_THAT(error(KeyType::Ipv4Addr, true, "2001:db8::1"), Catch::Contains("family does not match set type ipv4_addr"));
  CHECK_THAT(error(KeyType::Ipv6Addr, true, "10.0.0.1"), Catch::Contains("ipv6_addr"));
  CHECK_THAT(error(KeyType::Ipv4Addr, true, "10.0.0.1/8"), Catch::Contains("without host bits"));
  CHECK_THAT(error(KeyType::Ipv4Addr, true, "10.0.0.5-10.0.0.1"), Catch::Contains("'10.0.0.5-10.0.0.1'"));
  CHECK_THAT(error(KeyType::Ipv4Addr, true, "example.com"), Catch::Contains("not an IP address"));
  CHECK_THAT(error(KeyType::Ifname, false, "much-too-long-ifname"), Catch::Contains("longer than 15"));
}

TEST_CASE("overlap") {
  auto iv = [](const char* t) { return *parse_ip_key(t); };
  CHECK(iv("10.0.0.0/8").overlaps(iv("10.1.0.0/16")));
  CHECK(iv("10.1.0.0/16").overlaps(iv("10.0.0.0/8")));
  CHECK_FALSE(iv("10.0.0.0/8").overlaps(iv("11.0.0.0/8")));
  CHECK(iv("10.0.0.0-10.0.0.9").overlaps(iv("10.0.0.9-10.0.0.20")));
  CHECK_FALSE(iv("0.0.0.0/0").overlaps(iv("::/0")));
}
