#include <catch2/catch.hpp>

#include "agent/host_port.h"

using namespace wac;
using namespace wac::agent;

TEST_CASE("listen addresses are IP:PORT or [IPv6]:PORT") {
  auto v4 = parse_host_port("127.0.0.1:9475");
  REQUIRE(v4);
  CHECK(v4->host == *IpAddr::parse("127.0.0.1"));
  CHECK(v4->port == 9475);
  CHECK(v4->str() == "127.0.0.1:9475");

  auto v6 = parse_host_port("[::1]:443");
  REQUIRE(v6);
  CHECK(v6->host == *IpAddr::parse("::1"));
  CHECK(v6->str() == "[::1]:443");
  CHECK(parse_host_port("0.0.0.0:1"));
  CHECK(parse_host_port("[::]:65535"));
}

TEST_CASE("bad listen addresses say what is wrong") {
  auto why = [](const char* text) {
    std::string w;
    CHECK_FALSE(parse_host_port(text, &w));
    return w;
  };
  CHECK(why("localhost:80") == "\"localhost\" is not an IP address");
  CHECK(why("127.0.0.1") == "expected IP:PORT");
  CHECK(why("127.0.0.1:") == "\"\" is not a port number");
  CHECK(why("127.0.0.1:65536") == "\"65536\" is not a port number");
  CHECK(why("127.0.0.1:80x") == "\"80x\" is not a port number");
  CHECK(why("127.0.0.1:-1") == "\"-1\" is not a port number");
  CHECK(why("127.0.0.1:0") == "port 0 is not allowed");
  CHECK(why("::1:80") == "an IPv6 address must be in brackets: [ADDRESS]:PORT");
  CHECK(why("[::1]80") == "expected ':PORT' after ']'");
  CHECK(why("[::1:80") == "missing ']' after the IPv6 address");
  CHECK(why("[127.0.0.1]:80") == "brackets are for IPv6 addresses only");
  CHECK(why(":80") == "\"\" is not an IP address");
}
