#include "netlink/ip.h"

#include <catch2/catch.hpp>

using wac::Cidr;
using wac::IpAddr;

TEST_CASE("addresses parse strictly and print canonically") {
  CHECK(IpAddr::parse("192.0.2.1")->str() == "192.0.2.1");
  CHECK(IpAddr::parse("2001:DB8:0::1")->str() == "2001:db8::1");
  CHECK_FALSE(IpAddr::parse("192.0.2"));
  CHECK_FALSE(IpAddr::parse("0x7f.1"));
  CHECK_FALSE(IpAddr::parse("192.0.2.1 "));
  CHECK_FALSE(IpAddr::parse(""));
  CHECK_FALSE(IpAddr::parse("::g"));
}

TEST_CASE("prefixes") {
  auto c = Cidr::parse("10.1.2.3/8");
  REQUIRE(c);
  CHECK(c->str() == "10.0.0.0/8");  // host bits masked when allowed
  CHECK_FALSE(Cidr::parse("10.1.2.3/8", false));
  CHECK(Cidr::parse("192.0.2.7/32")->str() == "192.0.2.7");
  CHECK(Cidr::parse("0.0.0.0/0")->last().str() == "255.255.255.255");
  CHECK(Cidr::parse("::/0")->last().str() == "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
  CHECK_FALSE(Cidr::parse("10.0.0.0/33"));
  CHECK_FALSE(Cidr::parse("10.0.0.0/"));
  CHECK_FALSE(Cidr::parse("10.0.0.0/x"));
  CHECK(Cidr::parse("10.0.0.0/8")->contains(*Cidr::parse("10.1.0.0/16")));
  CHECK_FALSE(Cidr::parse("10.0.0.0/8")->contains(*IpAddr::parse("2001:db8::1")));
}
