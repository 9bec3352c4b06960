#include "agent/selector.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using wac::model::Labels;
using wac::selector::kMaxNestingDepth;
using wac::selector::kMaxSelectorLength;
using wac::selector::label_key_problem;
using wac::selector::ParseError;
using wac::selector::Selector;

namespace {

Selector parsed(const std::string& text) {
  auto r = Selector::parse(text);
  if (auto* err = std::get_if<ParseError>(&r)) FAIL("'" << text << "' did not parse: " << err->message);
  return std::get<Selector>(std::move(r));
}

ParseError error_of(const std::string& text) {
  auto r = Selector::parse(text);
  if (std::holds_alternative<Selector>(r))
    FAIL("'" << text << "' parsed as '" << std::get<Selector>(r).canonical() << "' but should not");
  return std::get<ParseError>(std::move(r));
}

std::string canonical(const std::string& text) { return parsed(text).canonical(); }

bool match(const std::string& text, const Labels& labels) { return parsed(text).matches(labels); }

const Labels kNone;
const Labels kWeb{{"app", "web"}, {"tier", "frontend"}, {"projectcalico.org/namespace", "default"}};
const Labels kDb{{"app", "db"}, {"role", "primary"}};

}  // namespace

TEST_CASE("selector: all() and the empty selector match everything") {
  for (const char* text : {"", "   ", "\t\n\r ", "all()", " all( ) "}) {
    INFO(text);
    Selector s = parsed(text);
    CHECK(s.is_all());
    CHECK(s.canonical() == "all()");
    CHECK(s.matches(kNone));
    CHECK(s.matches(kWeb));
  }
  CHECK(Selector::all().is_all());
  CHECK(Selector::all().canonical() == "all()");
  CHECK_FALSE(parsed("has(app)").is_all());
  CHECK_FALSE(match("!all()", kWeb));
}

TEST_CASE("selector: equality and inequality, including absent labels") {
  CHECK(match("app == 'web'", kWeb));
  CHECK_FALSE(match("app == 'web'", kDb));
  CHECK_FALSE(match("app == 'web'", kNone));
  CHECK_FALSE(match("app == ''", kNone));  // absent is not the empty value

  CHECK(match("app != 'web'", kDb));
  CHECK_FALSE(match("app != 'web'", kWeb));
  CHECK(match("app != 'web'", kNone));  // absent label: != is true
  CHECK(match("app == ''", Labels{{"app", ""}}));
}

TEST_CASE("selector: has() and !has()") {
  CHECK(match("has(tier)", kWeb));
  CHECK_FALSE(match("has(tier)", kDb));
  CHECK(match("has(tier)", Labels{{"tier", ""}}));
  CHECK(match("!has(tier)", kDb));
  CHECK(match("! has( tier )", kNone));
  CHECK_FALSE(match("!has(tier)", kWeb));
}

TEST_CASE("selector: in and not in, including absent labels and empty sets") {
  CHECK(match("app in {'web', 'api'}", kWeb));
  CHECK_FALSE(match("app in {'web', 'api'}", kDb));
  CHECK_FALSE(match("app in {'web', 'api'}", kNone));
  CHECK_FALSE(match("app in {}", kWeb));

  CHECK(match("app not in {'web', 'api'}", kDb));
  CHECK_FALSE(match("app not in {'web', 'api'}", kWeb));
  CHECK(match("app not in {'web'}", kNone));  // absent label: not in is true
  CHECK(match("app not in {}", kWeb));
  CHECK(match("app   not \t in{'x'}", kWeb));

  SECTION("large sets are looked up correctly") {
    std::string text = "app in {";
    for (int i = 0; i < 300; ++i) text += (i ? ", '" : "'") + std::to_string(i * 7) + "'";
    text += "}";
    Selector s = parsed(text);
    CHECK(s.matches(Labels{{"app", "0"}}));
    CHECK(s.matches(Labels{{"app", "2093"}}));  // 299 * 7
    CHECK(s.matches(Labels{{"app", "700"}}));
    CHECK_FALSE(s.matches(Labels{{"app", "701"}}));
    CHECK_FALSE(s.matches(Labels{{"app", ""}}));
  }
}

TEST_CASE("selector: starts with, ends with, contains") {
  Labels l{{"image", "registry.example/web:1.2"}};
  CHECK(match("image starts with 'registry.'", l));
  CHECK_FALSE(match("image starts with 'web'", l));
  CHECK(match("image ends with ':1.2'", l));
  CHECK_FALSE(match("image ends with ':1.3'", l));
  CHECK(match("image contains '/web'", l));
  CHECK_FALSE(match("image contains 'db'", l));
  CHECK(match("image contains ''", l));
  CHECK(match("image starts with ''", l));
  // Absent labels fail every positive comparison.
  for (const char* text : {"image starts with ''", "image ends with ''", "image contains ''"}) {
    INFO(text);
    CHECK_FALSE(match(text, kNone));
    CHECK(match(std::string("!(") + text + ")", kNone));
  }
}

TEST_CASE("selector: global() means no projectcalico.org/namespace label") {
  CHECK(match("global()", kDb));
  CHECK(match("global()", kNone));
  CHECK_FALSE(match("global()", kWeb));
  CHECK(match("!global()", kWeb));
  CHECK(parsed("global()").uses_global());
  CHECK(parsed("has(a) || !global()").uses_global());
  CHECK_FALSE(parsed("app == 'global()'").uses_global());
}

TEST_CASE("selector: precedence is ! then && then ||") {
  // a || b && c  ==  a || (b && c)
  Labels only_a{{"a", "1"}};
  CHECK(match("a == '1' || b == '1' && c == '1'", only_a));
  CHECK_FALSE(match("(a == '1' || b == '1') && c == '1'", only_a));
  // !a && b  ==  (!a) && b
  Labels only_b{{"b", "1"}};
  CHECK(match("!has(a) && has(b)", only_b));
  CHECK_FALSE(match("!(has(a) && has(b))", Labels{{"a", "1"}, {"b", "1"}}));
  CHECK(match("!has(a) || has(a) && has(c)", kNone));
  CHECK_FALSE(match("!(has(a) || has(b)) && has(c)", Labels{{"c", "1"}, {"b", "1"}}));
  CHECK(match("!!has(b)", only_b));
  CHECK(match("((has(b)))", only_b));
  // ! applies to a whole comparison term.
  CHECK(match("!a == '1'", only_b));
  CHECK_FALSE(match("!a == '1'", only_a));
}

TEST_CASE("selector: quoting") {
  CHECK(canonical("app == \"web\"") == "app == 'web'");
  CHECK(canonical("app == \"it's\"") == "app == \"it's\"");
  CHECK(match("app == \"it's\"", Labels{{"app", "it's"}}));
  CHECK(match("app == 'say \"hi\"'", Labels{{"app", "say \"hi\""}}));
  CHECK(canonical("app == 'say \"hi\"'") == "app == 'say \"hi\"'");
  // No escapes: a backslash is an ordinary character, as in Calico.
  CHECK(match("app == 'a\\b'", Labels{{"app", "a\\b"}}));
  CHECK(canonical("app in {\"x\", 'y', \"it's\"}") == "app in {\"it's\", 'x', 'y'}");
  CHECK(canonical("a==''") == "a == ''");
}

TEST_CASE("selector: canonical text") {
  struct Case {
    const char* text;
    const char* canonical;
  };
  const std::vector<Case> cases = {
      {"app=='web'", "app == 'web'"},
      {"  app  ==  'web'  &&has( tier )", "app == 'web' && has(tier)"},
      {"a == '1' && (b == '2' && c == '3')", "a == '1' && b == '2' && c == '3'"},
      {"(a == '1' || b == '2') || c == '3'", "a == '1' || b == '2' || c == '3'"},
      {"(a == '1' && b == '2') || c == '3'", "a == '1' && b == '2' || c == '3'"},
      {"a == '1' && (b == '2' || c == '3')", "a == '1' && (b == '2' || c == '3')"},
      {"((((has(x)))))", "has(x)"},
      {"!(has(a) && has(b))", "!(has(a) && has(b))"},
      {"!(has(a) || has(b)) && has(c)", "!(has(a) || has(b)) && has(c)"},
      {"!(a == 'x')", "a != 'x'"},
      {"!a != 'x'", "a == 'x'"},
      {"!(a in {'x'})", "a not in {'x'}"},
      {"!(a not in {'x'})", "a in {'x'}"},
      {"!!has(a)", "has(a)"},
      {"!!!has(a)", "!has(a)"},
      {"! has(a)", "!has(a)"},
      {"!a starts with 'x'", "!(a starts with 'x')"},
      {"!(a ends with 'x')", "!(a ends with 'x')"},
      {"a contains 'x'", "a contains 'x'"},
      {"a in { 'z','a' , 'm','a' }", "a in {'a', 'm', 'z'}"},
      {"a not in{}", "a not in {}"},
      {"all() && has(a)", "has(a)"},
      {"has(a) && all() && has(b)", "has(a) && has(b)"},
      {"has(a) || all()", "all()"},
      {"all() && all()", "all()"},
      {"!all()", "!all()"},
      {"global()", "global()"},
      {"!global() && projectcalico.org/namespace == 'default'",
       "!global() && projectcalico.org/namespace == 'default'"},
      {"example.com/app-name.v1 == 'x'", "example.com/app-name.v1 == 'x'"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    std::string got = canonical(c.text);
    CHECK(got == c.canonical);
    CHECK(canonical(got) == got);  // a fixed point
  }
}

TEST_CASE("selector: canonical text round-trips and keeps the meaning") {
  const std::vector<std::string> texts = {
      "app == 'web' || app == 'db' && !has(role)",
      "!(app in {'web', 'db'}) && (tier != 'frontend' || global())",
      "!(!(has(a) || has(b)) && role starts with 'pri')",
      "app ends with 'b' || tier contains 'ont' && !(role == 'primary')",
      "(((app == 'db')) && ((role == 'primary') || (role == 'replica')))",
      "projectcalico.org/namespace not in {'default'} && !has(tier)",
  };
  const std::vector<Labels> label_sets = {kNone, kWeb, kDb, {{"role", "replica"}}, {{"a", "1"}}};
  for (const auto& text : texts) {
    INFO(text);
    Selector s = parsed(text);
    Selector again = parsed(s.canonical());
    CHECK(again.canonical() == s.canonical());
    CHECK(again == s);
    for (const auto& labels : label_sets) CHECK(again.matches(labels) == s.matches(labels));
  }
}

TEST_CASE("selector: label_keys lists every key read") {
  CHECK(parsed("all()").label_keys().empty());
  CHECK(parsed("b == '1' && (a in {'x'} || !has(b)) && c contains 'z'").label_keys() ==
        std::vector<std::string>{"a", "b", "c"});
  CHECK(parsed("global()").label_keys() == std::vector<std::string>{"projectcalico.org/namespace"});
}

TEST_CASE("selector: with_label_prefix") {
  Selector s = parsed("app == 'web' && has(tier) && !global() || example.com/x in {'1'}");
  Selector p = s.with_label_prefix("pcns.");
  CHECK(p.canonical() ==
        "pcns.app == 'web' && has(pcns.tier) && !global() || pcns.example.com/x in {'1'}");
  CHECK(canonical(p.canonical()) == p.canonical());
  CHECK(p.label_keys() ==
        std::vector<std::string>{"pcns.app", "pcns.example.com/x", "pcns.tier", "projectcalico.org/namespace"});

  Labels ns_labels{{"pcns.app", "web"}, {"pcns.tier", "x"}, {"projectcalico.org/namespace", "default"}};
  CHECK(p.matches(ns_labels));
  CHECK_FALSE(s.matches(ns_labels));
  CHECK_FALSE(p.matches(Labels{{"app", "web"}, {"tier", "x"}, {"projectcalico.org/namespace", "default"}}));

  CHECK(Selector::all().with_label_prefix("pcns.").canonical() == "all()");
  CHECK(parsed("global()").with_label_prefix("pcns.").canonical() == "global()");
  CHECK(s.with_label_prefix("").canonical() == s.canonical());
  // The original is unchanged (trees are shared, never mutated).
  CHECK(s.canonical() == "app == 'web' && has(tier) && !global() || example.com/x in {'1'}");
}

TEST_CASE("selector: both() is a conjunction that simplifies all()") {
  Selector x = parsed("app == 'web'");
  Selector y = parsed("has(tier) || has(role)");
  CHECK(Selector::both(Selector::all(), x).canonical() == x.canonical());
  CHECK(Selector::both(x, Selector::all()).canonical() == x.canonical());
  CHECK(Selector::both(Selector::all(), Selector::all()).is_all());

  Selector xy = Selector::both(x, y);
  CHECK(xy.canonical() == "app == 'web' && (has(tier) || has(role))");
  CHECK(canonical(xy.canonical()) == xy.canonical());
  CHECK(xy.matches(kWeb));
  CHECK_FALSE(xy.matches(Labels{{"app", "web"}}));
  CHECK_FALSE(xy.matches(kDb));

  Selector chained = Selector::both(Selector::both(x, parsed("has(a)")), parsed("has(b) && has(c)"));
  CHECK(chained.canonical() == "app == 'web' && has(a) && has(b) && has(c)");
}

TEST_CASE("selector: syntax errors name the position and what was expected") {
  struct Case {
    const char* text;
    size_t offset;
    std::vector<const char*> mentions;
  };
  const std::vector<Case> cases = {
      {"app == 'web' && && has(x)", 16, {"unexpected '&'", "offset 16", "expected a label key"}},
      {"app == 'web' &", 13, {"unexpected '&'", "offset 13", "'&&'"}},
      {"app == 'web' | has(x)", 13, {"unexpected '|'", "'||'"}},
      {"app == 'web' has(x)", 13, {"unexpected 'has'", "'&&', '||' or the end"}},
      {"app = 'web'", 4, {"unexpected '='", "expected an operator"}},
      {"app", 3, {"unexpected end of selector", "offset 3", "expected an operator"}},
      {"app ==", 6, {"end of selector", "expected a quoted string"}},
      {"app == web", 7, {"unexpected 'web'", "expected a quoted string"}},
      {"app == 'web", 7, {"unterminated string", "offset 7", "closing '"}},
      {"app == \"web", 7, {"unterminated string", "closing \""}},
      {"app == 'a\nb'", 9, {"byte 0x0a", "printable"}},
      {"app in 'a'", 7, {"expected '{'"}},
      {"app in {'a' 'b'}", 12, {"expected ',' or '}'"}},
      {"app in {'a',}", 12, {"unexpected '}'", "expected a quoted string"}},
      {"app in {'a'", 11, {"end of selector", "',' or '}'"}},
      {"app not 'a'", 8, {"expected 'in' after 'not'"}},
      {"app notin {'a'}", 4, {"unexpected 'notin'", "expected an operator"}},
      {"app starts 'a'", 11, {"expected 'with' after 'starts'"}},
      {"app endswith 'a'", 4, {"unexpected 'endswith'"}},
      {"(has(a)", 7, {"end of selector", "')' to close the '(' at offset 0"}},
      {"has(a))", 6, {"unexpected ')'", "end of the selector"}},
      {"has(a", 5, {"')' to close has("}},
      {"has()", 4, {"unexpected ')'", "expected a label key"}},
      {"has('a')", 4, {"unexpected \"'\"", "expected a label key"}},
      {"all(x)", 4, {"unexpected 'x'", "all() takes no arguments"}},
      {"global(a)", 7, {"global() takes no arguments"}},
      {"foo(a)", 0, {"unknown function 'foo'", "offset 0", "all(), global() or has()"}},
      {"!", 1, {"end of selector", "expected a label key"}},
      {"()", 1, {"unexpected ')'", "expected a label key"}},
      {"== 'a'", 0, {"unexpected '='", "expected a label key"}},
      {"app == 'web' && \x01", 16, {"byte 0x01"}},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    ParseError e = error_of(c.text);
    INFO(e.message);
    CHECK(e.offset == c.offset);
    CHECK_THAT(e.message, Catch::Contains("at offset " + std::to_string(c.offset)));
    for (const char* m : c.mentions) CHECK_THAT(e.message, Catch::Contains(m));
  }
}

TEST_CASE("selector: label keys follow Kubernetes syntax") {
  for (const char* key : {"a", "app", "A9", "app.kubernetes.io/name", "projectcalico.org/namespace", "x_y-z.w",
                          "example.com/Name_1", "a-b.c/d"}) {
    INFO(key);
    CHECK(label_key_problem(key).empty());
    CHECK(parsed(std::string("has(") + key + ")").label_keys() == std::vector<std::string>{key});
  }
  struct Case {
    std::string key;
    const char* why;
  };
  const std::vector<Case> bad = {
      {"-app", "begin and end with a letter or digit"},
      {"app.", "begin and end with a letter or digit"},
      {"/app", "prefix before '/' is empty"},
      {"example.com/", "name after '/' is empty"},
      {"a/b/c", "at most one '/'"},
      {"Example.com/app", "lowercase DNS subdomain"},
      {"example_x.com/app", "lowercase DNS subdomain"},
      {"example..com/app", "empty DNS label"},
      {"-example.com/app", "does not begin and end"},
      {std::string(64, 'a'), "longer than 63"},
      {std::string(64, 'a') + ".com/x", "DNS label longer than 63"},
      {std::string(60, 'a') + "." + std::string(60, 'b') + "." + std::string(60, 'c') + "." + std::string(60, 'd') +
           "." + std::string(60, 'e') + "/x",
       "prefix is longer than 253"},
  };
  for (const auto& c : bad) {
    INFO(c.key);
    CHECK_THAT(label_key_problem(c.key), Catch::Contains(c.why));
    ParseError e = error_of("x == '1' || " + c.key + " == 'v'");
    CHECK(e.offset == 12);
    CHECK_THAT(e.message, Catch::StartsWith("invalid label key '" + c.key + "' at offset 12: "));
    CHECK_THAT(e.message, Catch::Contains(c.why));
    ParseError in_has = error_of("has(" + c.key + ")");
    CHECK(in_has.offset == 4);
    CHECK_THAT(in_has.message, Catch::Contains(c.why));
  }
  // The longest valid key: 253-character prefix, 63-character name.
  std::string prefix = std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." +
                       std::string(61, 'd');
  REQUIRE(prefix.size() == 253);
  std::string longest = prefix + "/" + std::string(63, 'n');
  CHECK(label_key_problem(longest).empty());
  CHECK(match("has(" + longest + ")", Labels{{longest, ""}}));
}

TEST_CASE("selector: nesting and length limits") {
  auto nested = [](int depth) { return std::string(depth, '(') + "has(a)" + std::string(depth, ')'); };
  CHECK(canonical(nested(kMaxNestingDepth)) == "has(a)");
  CHECK(canonical(std::string(kMaxNestingDepth, '!') + "has(a)") == "has(a)");
  // "!(" counts once, so canonical "!(...)" text never costs more than its source.
  std::string bang_parens;
  for (int i = 0; i < kMaxNestingDepth; ++i) bang_parens += "!(";
  bang_parens += "a contains 'x'" + std::string(kMaxNestingDepth, ')');
  CHECK(canonical(bang_parens) == "a contains 'x'");
  std::string deep_odd = std::string(kMaxNestingDepth - 1, '!') + "a starts with 'x'";
  CHECK(canonical(canonical(deep_odd)) == "!(a starts with 'x')");

  ParseError parens = error_of(nested(kMaxNestingDepth + 1));
  CHECK(parens.offset == size_t(kMaxNestingDepth));
  CHECK_THAT(parens.message, Catch::Contains("nesting too deep at offset 64"));
  CHECK_THAT(parens.message, Catch::Contains("at most 64 levels"));

  ParseError bangs = error_of(std::string(kMaxNestingDepth + 1, '!') + "has(a)");
  CHECK(bangs.offset == size_t(kMaxNestingDepth));
  CHECK_THAT(bangs.message, Catch::Contains("nesting too deep"));

  // Hostile input: thousands of openers fail fast on depth, not the stack.
  CHECK_THAT(error_of(std::string(kMaxSelectorLength, '(')).message, Catch::Contains("nesting too deep"));
  CHECK_THAT(error_of(std::string(kMaxSelectorLength, '!')).message, Catch::Contains("nesting too deep"));
  CHECK_THAT(error_of(std::string(2000, '!') + std::string(2000, '(')).message, Catch::Contains("nesting too deep"));

  // Length: exactly the limit is fine, one byte more is rejected up front.
  std::string padded = "has(a)" + std::string(kMaxSelectorLength - 6, ' ');
  REQUIRE(padded.size() == kMaxSelectorLength);
  CHECK(canonical(padded) == "has(a)");
  ParseError too_long = error_of(padded + " ");
  CHECK(too_long.offset == kMaxSelectorLength);
  CHECK_THAT(too_long.message, Catch::Contains("too long (4097 bytes)"));
  CHECK_THAT(too_long.message, Catch::Contains("at most 4096 bytes"));

  // Within the limit as written, but not once normalized ("a=='b'" gains
  // spaces): stored selectors are canonical text, so this is rejected too.
  std::string dense = "a0=='x'";
  for (int i = 1; dense.size() + 10 <= kMaxSelectorLength; ++i) dense += "||a" + std::to_string(i) + "=='x'";
  REQUIRE(dense.size() <= kMaxSelectorLength);
  ParseError normalized_too_long = error_of(dense);
  CHECK_THAT(normalized_too_long.message, Catch::Contains("normalized form"));

  // A long but flat selector is fine and evaluates correctly.
  std::string wide = "has(k0)";
  for (int i = 1; i < 300; ++i) wide += " || has(k" + std::to_string(i) + ")";
  REQUIRE(wide.size() <= kMaxSelectorLength);
  Selector s = parsed(wide);
  CHECK(s.matches(Labels{{"k299", ""}}));
  CHECK_FALSE(s.matches(Labels{{"k300", ""}}));
  CHECK(s.label_keys().size() == 300);
}

TEST_CASE("selector: copies share and stay valid") {
  Selector a = parsed("app == 'web'");
  Selector b = a;
  a = Selector::all();
  CHECK(b.matches(kWeb));
  CHECK(b.canonical() == "app == 'web'");
  CHECK(a.is_all());
  CHECK_FALSE(a == b);
}
