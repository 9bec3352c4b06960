#include "agent/label_index.h"

#include <catch2/catch.hpp>

#include <random>
#include <set>

using wac::agent::LabelsIndex;
using wac::agent::SelectorIndex;
using wac::model::Labels;
using wac::selector::Selector;

namespace {

Selector sel(const std::string& text) {
  auto r = Selector::parse(text);
  REQUIRE(std::holds_alternative<Selector>(r));
  return std::get<Selector>(r);
}

std::string hint_text(const std::string& text) {
  auto h = sel(text).index_hint();
  if (!h) return "none";
  std::string out = h->key;
  if (h->values.empty()) return out + "=*";
  out += "=";
  for (size_t i = 0; i < h->values.size(); ++i) out += (i ? "|" : "") + h->values[i];
  return out;
}

}  // namespace

TEST_CASE("index hints name a label every match must carry") {
  CHECK(hint_text("app == 'web'") == "app=web");
  CHECK(hint_text("app in {'b', 'a'}") == "app=a|b");
  CHECK(hint_text("has(tier)") == "tier=*");
  CHECK(hint_text("app starts with 'w'") == "app=*");
  CHECK(hint_text("app ends with 'w'") == "app=*");
  CHECK(hint_text("app contains 'w'") == "app=*");
  // && picks the most selective operand, and avoids the namespace label.
  CHECK(hint_text("has(tier) && app == 'web'") == "app=web");
  CHECK(hint_text("projectcalico.org/namespace == 'ns' && app == 'web'") == "app=web");
  CHECK(hint_text("projectcalico.org/namespace == 'ns' && has(app)") == "projectcalico.org/namespace=ns");
  CHECK(hint_text("app in {'a','b','c'} && tier == 'x'") == "tier=x");
  // || only when every operand requires the same key.
  CHECK(hint_text("app == 'a' || app == 'b'") == "app=a|b");
  CHECK(hint_text("app == 'a' || has(app)") == "app=*");
  CHECK(hint_text("app == 'a' || tier == 'b'") == "none");
  CHECK(hint_text("app == 'a' || all()") == "none");
  // Nothing is required by negations, all() or global().
  CHECK(hint_text("") == "none");
  CHECK(hint_text("global()") == "none");
  CHECK(hint_text("app != 'a'") == "none");
  CHECK(hint_text("app not in {'a'}") == "none");
  CHECK(hint_text("!has(app)") == "none");
  CHECK(hint_text("!(app == 'a' && tier == 'b')") == "none");
  CHECK(hint_text("app in {}") == "none");
  CHECK(hint_text("(app == 'a' || app == 'b') && !has(x)") == "app=a|b");
}

// Random selectors over a small label vocabulary: both indexes must offer
// every pair that matches (no false negatives), each candidate once.
TEST_CASE("indexes never miss a match") {
  const std::vector<std::string> keys = {"app", "tier", "env", "projectcalico.org/namespace"};
  const std::vector<std::string> values = {"a", "b", "c"};
  std::mt19937 rng(42);
  auto pick = [&](const std::vector<std::string>& from) { return from[rng() % from.size()]; };
  std::function<std::string(int)> expr = [&](int depth) -> std::string {
    switch (depth > 2 ? rng() % 6 : rng() % 9) {
      case 0: return pick(keys) + " == '" + pick(values) + "'";
      case 1: return pick(keys) + " != '" + pick(values) + "'";
      case 2: return "has(" + pick(keys) + ")";
      case 3: return pick(keys) + " in {'" + pick(values) + "', '" + pick(values) + "'}";
      case 4: return pick(keys) + " starts with '" + pick(values) + "'";
      case 5: return "!has(" + pick(keys) + ")";
      case 6: return "(" + expr(depth + 1) + " && " + expr(depth + 1) + ")";
      case 7: return "(" + expr(depth + 1) + " || " + expr(depth + 1) + ")";
      default: return "!(" + expr(depth + 1) + ")";
    }
  };
  std::vector<Selector> selectors;
  SelectorIndex<int> by_selector;
  for (int i = 0; i < 300; ++i) {
    selectors.push_back(sel(expr(0)));
    by_selector.add(i, selectors.back());
  }
  std::vector<Labels> label_maps;
  LabelsIndex<int> by_labels;
  for (int i = 0; i < 300; ++i) {
    Labels l;
    for (const auto& k : keys)
      if (rng() % 2) l[k] = pick(values);
    label_maps.push_back(l);
    by_labels.add(i, l);
  }
  // Remove and re-add some, to exercise removal.
  for (int i = 0; i < 300; i += 7) {
    by_selector.remove(i, selectors[i]);
    by_labels.remove(i, label_maps[i]);
  }
  for (int i = 0; i < 300; i += 14) {
    by_selector.add(i, selectors[i]);
    by_labels.add(i, label_maps[i]);
  }
  auto present = [](int i) { return i % 7 != 0 || i % 14 == 0; };

  size_t pruned = 0;
  for (int l = 0; l < 300; ++l) {
    std::multiset<int> offered;
    by_selector.for_candidates(label_maps[l], [&](int id) { offered.insert(id); });
    for (int s = 0; s < 300; ++s) {
      int id = s;
      INFO(selectors[s].canonical());
      if (!present(s)) {
        CHECK(offered.count(id) == 0);
        continue;
      }
      CHECK(offered.count(id) <= 1);
      if (selectors[s].matches(label_maps[l])) CHECK(offered.count(id) == 1);
      else pruned += offered.count(id) == 0;
    }
  }
  CHECK(pruned > 0);  // the index does prune

  for (int s = 0; s < 300; ++s) {
    std::multiset<int> offered;
    by_labels.for_candidates(selectors[s], [&](int id) { offered.insert(id); });
    for (int l = 0; l < 300; ++l) {
      int id = l;
      if (!present(l)) {
        CHECK(offered.count(id) == 0);
        continue;
      }
      CHECK(offered.count(id) <= 1);
      if (selectors[s].matches(label_maps[l])) CHECK(offered.count(id) == 1);
    }
  }
}
