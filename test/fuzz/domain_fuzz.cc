// libFuzzer target: domain pattern parsing and matching. Input is
// "<pattern>\n<name>". Checks that parse/canonical are idempotent, that a
// pattern matches names built from it, and that PatternMatcher and
// Pattern::matches always agree.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "dns/pattern.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wac::dns;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto nl = input.find('\n');
  std::string_view text = input.substr(0, nl);
  std::string_view name = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);

  auto parsed = Pattern::parse(text);
  if (auto* err = std::get_if<std::string>(&parsed)) {
    check(!err->empty());
    return 0;
  }
  const Pattern& p = std::get<Pattern>(parsed);
  const std::string& canon = p.canonical();
  check(!canon.empty() && canon.size() <= 253);

  // Canonical form parses back to itself.
  auto again = Pattern::parse(canon);
  check(std::holds_alternative<Pattern>(again) && std::get<Pattern>(again).canonical() == canon);

  // A pattern matches the names it describes.
  if (!p.is_wildcard()) {
    check(p.matches(canon));
    check(p.matches(text));
  } else {
    std::string one = canon;
    one.replace(one.find('*'), 1, "x");
    check(p.matches(one));
    std::string stripped;  // the '*' label removed: never a match
    std::string_view pre = p.prefix(), suf = p.suffix();
    stripped.append(pre);
    if (!pre.empty() && !suf.empty()) stripped.push_back('.');
    stripped.append(suf);
    check(!p.matches(stripped));
  }

  // Matcher and Pattern::matches agree on the fuzzed name.
  PatternMatcher m;
  m.add(7, p);
  m.add(9, p);
  bool direct = p.matches(name);
  auto ids = m.match(name);
  check(direct ? ids == std::vector<PatternId>{7, 9} : ids.empty());
  check(m.remove(7) == 1);
  check(m.match(name).size() == (direct ? 1u : 0u));
  return 0;
}
