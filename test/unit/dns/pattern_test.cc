#include <catch2/catch.hpp>


#include "dns/pattern.h"

using namespace wac::dns;

namespace {
Pattern P(std::string_view text) {
  auto r = Pattern::parse(text);
  if (auto* err = std::get_if<std::string>(&r)) FAIL("pattern '" << text << "' rejected: " << *err);
  return std::get<Pattern>(r);
}

std::string error_of(std::string_view text) {
  auto r = Pattern::parse(text);
  if (std::holds_alternative<Pattern>(r)) return "<accepted>";
  return std::get<std::string>(r);
}
}  // namespace

TEST_CASE("pattern match table") {
  struct Row {
    const char* pattern;
    const char* name;
    bool match;
  };
  const Row rows[] = {
      // exact
      {"api.example.com", "api.example.com", true},
      {"api.example.com", "API.Example.Com", true},
      {"api.example.com", "api.example.com.", true},
      {"API.EXAMPLE.COM.", "api.example.com", true},
      {"api.example.com", "www.api.example.com", false},
      {"api.example.com", "example.com", false},
      {"google.com", "www.google.com", false},
      // leading wildcard: one or more labels
      {"*.example.com", "www.example.com", true},
      {"*.example.com", "a.b.example.com", true},
      {"*.example.com", "WWW.EXAMPLE.COM.", true},
      {"*.example.com", "example.com", false},
      {"*.example.com", "wwwexample.com", false},
      {"*.example.com", ".example.com", false},
      {"*.google.com", "www.ipv6.google.com", true},
      // middle wildcard
      {"www.*.com", "www.sun.com", true},
      {"www.*.com", "www.apple.com", true},
      {"www.*.com", "www.a.b.com", true},
      {"www.*.com", "www.com", false},
      {"www.*.com", "xwww.sun.com", false},
      {"www.*.com", "www.sun.comx", false},
      {"update.*.mycompany.com", "update.tools.mycompany.com", true},
      {"update.*.mycompany.com", "update.mycompany.com", false},
      // trailing wildcard
      {"www.example.*", "www.example.org", true},
      {"www.example.*", "www.example.co.uk", true},
      {"www.example.*", "www.example", false},
      // bare wildcard: any name with at least one label
      {"*", "com", true},
      {"*", "a.b.c", true},
      // invalid names never match
      {"*.example.com", "a..example.com", false},
      {"api.example.com", "", false},
  };
  for (const Row& row : rows) {
    INFO(row.pattern << " vs " << row.name);
    CHECK(P(row.pattern).matches(row.name) == row.match);
  }
}

TEST_CASE("pattern canonical form and parts") {
  CHECK(P("WWW.Example.COM.").canonical() == "www.example.com");
  Pattern w = P("www.*.Example.com");
  CHECK(w.is_wildcard());
  CHECK(w.canonical() == "www.*.example.com");
  CHECK(w.prefix() == "www");
  CHECK(w.suffix() == "example.com");
  CHECK(P("*.a").prefix().empty());
  CHECK(P("*.a").suffix() == "a");
  CHECK(P("a.*").prefix() == "a");
  CHECK(P("a.*").suffix().empty());
  CHECK_FALSE(P("a.b").is_wildcard());
  CHECK(P("under_score.x-y.com").canonical() == "under_score.x-y.com");
}

TEST_CASE("invalid patterns are rejected with a clear message") {
  CHECK(error_of("") == "empty domain pattern");
  CHECK(error_of(".") == "domain pattern is only a dot");
  CHECK(error_of("a..b") == "empty label at position 3 of 'a..b'");
  CHECK(error_of(".a.com") == "empty label at position 1 of '.a.com'");
  CHECK(error_of("a.com..") == "empty label at position 7 of 'a.com..'");
  CHECK(error_of("a*.com") == "'*' must be a whole label, found in 'a*' at position 2");
  CHECK(error_of("www.ex*ample.com") == "'*' must be a whole label, found in 'ex*ample' at position 7");
  CHECK(error_of("*.*.com") == "more than one '*' (positions 1 and 3); a pattern may hold one wildcard");
  CHECK(error_of(std::string(64, 'a') + ".com") ==
        "label '" + std::string(64, 'a') + "' is 64 characters long, more than 63");
  CHECK(error_of(std::string(63, 'a') + ".com") == "<accepted>");
  std::string long_name;
  while (long_name.size() < 254) long_name += "abcdefghi.";
  long_name.resize(254);
  CHECK(error_of(long_name) == "domain pattern is 254 characters long, more than 253");
  CHECK(error_of(long_name.substr(0, 253)) == "<accepted>");
  CHECK(error_of("exa mple.com") ==
        "invalid character 0x20 at position 4 (allowed: letters, digits, '-', '_', '.', '*')");
  CHECK(error_of("http://x.com") ==
        "invalid character ':' at position 5 (allowed: letters, digits, '-', '_', '.', '*')");
  CHECK(error_of("caf\xc3\xa9.com") ==
        "invalid character 0xc3 at position 4 (allowed: letters, digits, '-', '_', '.', '*')");
}

TEST_CASE("canonical_name") {
  std::string out;
  CHECK(canonical_name("WWW.Example.com.", out));
  CHECK(out == "www.example.com");
  CHECK_FALSE(canonical_name("", out));
  CHECK_FALSE(canonical_name(".", out));
  CHECK_FALSE(canonical_name("a..b", out));
  CHECK_FALSE(canonical_name("a..", out));  // found by domain_fuzz
  CHECK_FALSE(canonical_name(".a", out));
  CHECK_FALSE(canonical_name(std::string(254, 'a'), out));
}

TEST_CASE("matcher returns ids of all matching patterns") {
  PatternMatcher m;
  m.add(1, P("api.example.com"));
  m.add(2, P("*.example.com"));
  m.add(3, P("www.*.com"));
  m.add(4, P("*"));
  m.add(5, P("api.*"));
  m.add(6, P("API.example.com."));  // same pattern, other id
  m.add(2, P("*.example.org"));     // one id, two patterns
  CHECK(m.size() == 7);

  using V = std::vector<PatternId>;
  CHECK(m.match("api.example.com") == V{1, 2, 4, 5, 6});
  CHECK(m.match("API.EXAMPLE.COM.") == V{1, 2, 4, 5, 6});
  CHECK(m.match("example.com") == V{4});
  CHECK(m.match("www.example.com") == V{2, 3, 4});
  CHECK(m.match("x.y.example.org") == V{2, 4});
  CHECK(m.match("www.com") == V{4});
  CHECK(m.match("api") == V{4});
  CHECK(m.match("a..b").empty());
  CHECK(m.match("api..").empty());  // not "api." plus a wildcard label (found by domain_fuzz)

  CHECK(m.remove(2) == 2);
  CHECK(m.remove(2) == 0);
  CHECK(m.size() == 5);
  CHECK(m.match("www.example.com") == V{3, 4});
  CHECK(m.match("x.y.example.org") == V{4});
  m.remove(4);
  CHECK(m.match("example.com").empty());
  m.clear();
  CHECK(m.size() == 0);
  CHECK(m.match("api.example.com").empty());
}

TEST_CASE("matcher with many patterns agrees with Pattern::matches") {
  PatternMatcher m;
  std::vector<Pattern> all;
  for (int i = 0; i < 5000; ++i) {
    std::string n = std::to_string(i);
    std::string text;
    switch (i % 5) {
      case 0: text = "svc" + n + ".example.com"; break;
      case 1: text = "*.tenant" + n + ".example.com"; break;
      case 2: text = "api" + n + ".*.com"; break;
      case 3: text = "*.r" + n + ".s.example.net"; break;
      case 4: text = "host" + n + ".*"; break;
    }
    all.push_back(P(text));
    m.add(PatternId(i), all.back());
  }
  std::vector<std::string> names = {"svc0.example.com",       "x.tenant1.example.com", "a.b.tenant6.example.com",
                                    "api2.foo.com",           "api2.com",              "q.r3.s.example.net",
                                    "host4.anything.example", "nothing.example.com",   "svc5.example.com",
                                    "tenant1.example.com"};
  for (const auto& name : names) {
    std::vector<PatternId> expect;
    for (size_t i = 0; i < all.size(); ++i)
      if (all[i].matches(name)) expect.push_back(PatternId(i));
    INFO(name);
    CHECK(m.match(name) == expect);
  }
  CHECK(m.match("svc0.example.com") == std::vector<PatternId>{0});
  CHECK(m.match("x.tenant1.example.com") == std::vector<PatternId>{1});

  // Its speed is a benchmark's job (dns_parse_bench matches 5,003 patterns),
  // not a timed assertion that sanitizer builds and busy machines would trip.
}

TEST_CASE("matcher handles a name of 127 one-letter labels") {
  PatternMatcher m;
  m.add(1, P("*.a"));
  m.add(2, P("a.*"));
  m.add(3, P("a.*.a"));
  std::string name = "a";
  for (int i = 0; i < 126; ++i) name += ".a";
  CHECK(name.size() == 253);
  CHECK(m.match(name) == std::vector<PatternId>{1, 2, 3});
}
