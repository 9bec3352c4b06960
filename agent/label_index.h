// Indexes that keep selector matching cheap at cluster scale.
//
// A node sees every endpoint and network set of the cluster (100k+) and
// every selector its active policies use (thousands).  Testing each pair is
// quadratic; instead each selector is filed under its index hint (a label it
// requires, see Selector::index_hint) and each label map under its labels,
// so a change only tests the pairs that share a label.  Both indexes return
// candidates; the caller still evaluates the selector on each.
#pragma once
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "agent/model.h"
#include "agent/selector.h"

namespace wac::agent {

namespace detail {

// Erases `id` from a nested bucket and drops buckets that become empty, so
// an index does not grow with label values that no longer exist.
template <class Outer, class Id>
void erase_from(Outer& outer, const std::string& key, const std::string& value, const Id& id) {
  auto k = outer.find(key);
  if (k == outer.end()) return;
  auto v = k->second.find(value);
  if (v == k->second.end()) return;
  v->second.erase(id);
  if (v->second.empty()) k->second.erase(v);
  if (k->second.empty()) outer.erase(k);
}

}  // namespace detail

// Selectors by their hint: which selectors could match a given label map?
// Id is a cheap, hashable handle (a pointer or a number).
template <class Id>
class SelectorIndex {
 public:
  void add(const Id& id, const selector::Selector& sel) {
    auto hint = sel.index_hint();
    if (!hint) unindexed_.insert(id);
    else if (hint->values.empty()) by_key_[hint->key].insert(id);
    else
      for (const auto& value : hint->values) by_value_[hint->key][value].insert(id);
  }

  void remove(const Id& id, const selector::Selector& sel) {
    auto hint = sel.index_hint();
    if (!hint) {
      unindexed_.erase(id);
    } else if (hint->values.empty()) {
      if (auto k = by_key_.find(hint->key); k != by_key_.end()) {
        k->second.erase(id);
        if (k->second.empty()) by_key_.erase(k);
      }
    } else {
      for (const auto& value : hint->values) detail::erase_from(by_value_, hint->key, value, id);
    }
  }

  // Calls f(id) once for every selector that might match `labels`.
  template <class F>
  void for_candidates(const model::Labels& labels, F&& f) const {
    for (const auto& id : unindexed_) f(id);
    for (const auto& [key, value] : labels) {
      if (auto k = by_key_.find(key); k != by_key_.end())
        for (const auto& id : k->second) f(id);
      auto k = by_value_.find(key);
      if (k == by_value_.end()) continue;
      if (auto v = k->second.find(value); v != k->second.end())
        for (const auto& id : v->second) f(id);
    }
  }

 private:
  using Ids = std::unordered_set<Id>;
  std::unordered_map<std::string, std::unordered_map<std::string, Ids>> by_value_;  // key -> value -> ids
  std::unordered_map<std::string, Ids> by_key_;                                      // key present, any value
  Ids unindexed_;
};

// Label maps by their labels: which label maps could a selector match?
template <class Id>
class LabelsIndex {
 public:
  void add(const Id& id, const model::Labels& labels) {
    all_.insert(id);
    for (const auto& [key, value] : labels) by_value_[key][value].insert(id);
  }

  void remove(const Id& id, const model::Labels& labels) {
    all_.erase(id);
    for (const auto& [key, value] : labels) detail::erase_from(by_value_, key, value, id);
  }

  // Calls f(id) once for every label map `sel` might match.
  template <class F>
  void for_candidates(const selector::Selector& sel, F&& f) const {
    auto hint = sel.index_hint();
    if (!hint) {
      for (const auto& id : all_) f(id);
      return;
    }
    auto k = by_value_.find(hint->key);
    if (k == by_value_.end()) return;
    if (hint->values.empty()) {
      for (const auto& [value, ids] : k->second)
        for (const auto& id : ids) f(id);
      return;
    }
    for (const auto& value : hint->values)
      if (auto v = k->second.find(value); v != k->second.end())
        for (const auto& id : v->second) f(id);
  }

 private:
  using Ids = std::unordered_set<Id>;
  std::unordered_map<std::string, std::unordered_map<std::string, Ids>> by_value_;  // key -> value -> ids
  Ids all_;
};

}  // namespace wac::agent
