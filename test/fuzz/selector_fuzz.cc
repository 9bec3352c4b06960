// libFuzzer target: the Calico selector parser and evaluator.  Input is the
// selector text.  Beyond "no crash, no sanitizer report", it checks that
// errors carry their offset, that canonical() re-parses to itself with the
// same meaning, and that with_label_prefix() and both() keep the meaning,
// on label maps built from the keys and quoted values the selector uses.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "agent/selector.h"

namespace {

using wac::model::Labels;
using wac::selector::ParseError;
using wac::selector::Selector;

void check(bool ok) {
  if (!ok) std::abort();
}

void check_error(const ParseError& e, std::string_view text) {
  check(!e.message.empty());
  check(e.offset <= text.size());
  check(e.message.find(" at offset " + std::to_string(e.offset)) != std::string::npos);
}

// The contents of every '...' and "..." in the text: values likely to make
// comparisons true.
std::vector<std::string> quoted_strings(std::string_view text) {
  std::vector<std::string> out{""};
  for (size_t i = 0; i < text.size() && out.size() < 16; ++i) {
    if (text[i] != '\'' && text[i] != '"') continue;
    size_t close = text.find(text[i], i + 1);
    if (close == std::string_view::npos) break;
    out.emplace_back(text.substr(i + 1, close - i - 1));
    i = close;
  }
  return out;
}

std::vector<Labels> label_maps(const Selector& sel, std::string_view text) {
  const std::string ns_label = wac::model::kNamespaceLabel;
  std::vector<Labels> maps{{}, {{ns_label, "default"}}};
  std::vector<std::string> keys = sel.label_keys();
  std::vector<std::string> values = quoted_strings(text);
  for (size_t shift = 0; shift < values.size() && shift < 4; ++shift) {
    Labels all_keys, half_keys;
    for (size_t i = 0; i < keys.size(); ++i) {
      const std::string& v = values[(i + shift) % values.size()];
      all_keys[keys[i]] = v;
      if ((i + shift) % 2 == 0) half_keys[keys[i]] = v + "x";
    }
    maps.push_back(std::move(all_keys));
    maps.push_back(std::move(half_keys));
  }
  return maps;
}

// An endpoint's view of namespace labels: prefixed, next to its own
// (unprefixed) namespace label, which global() reads.
Labels prefixed(const Labels& labels, const std::string& prefix) {
  Labels out;
  for (const auto& [k, v] : labels) out[prefix + k] = v;
  if (auto it = labels.find(wac::model::kNamespaceLabel); it != labels.end()) out.insert(*it);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = Selector::parse(text);
  if (auto* err = std::get_if<ParseError>(&parsed)) {
    check_error(*err, text);
    return 0;
  }
  const Selector& sel = std::get<Selector>(parsed);
  check(size <= wac::selector::kMaxSelectorLength);
  check(!sel.canonical().empty());

  auto reparsed = Selector::parse(sel.canonical());
  check(std::holds_alternative<Selector>(reparsed));
  const Selector& again = std::get<Selector>(reparsed);
  check(again.canonical() == sel.canonical());
  check(again.label_keys() == sel.label_keys());
  check(again.uses_global() == sel.uses_global());

  const std::string prefix = "pcns.";
  Selector with_prefix = sel.with_label_prefix(prefix);
  Selector twice = Selector::both(sel, again);
  check(Selector::both(Selector::all(), sel) == sel);
  check(Selector::both(sel, Selector::all()) == sel);

  for (const Labels& labels : label_maps(sel, text)) {
    bool expected = sel.matches(labels);
    check(!sel.is_all() || expected);
    check(again.matches(labels) == expected);
    check(twice.matches(labels) == expected);
    check(with_prefix.matches(prefixed(labels, prefix)) == expected);
  }
  return 0;
}
