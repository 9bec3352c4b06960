#include "agent/element_table.h"

namespace wac::agent {

void ElementTable::put(const nft::Element& e) {
  auto it = desired_.find(e.key);
  if (it != desired_.end() && it->second == e) return;
  std::optional<nft::Element> before;
  if (it != desired_.end()) before = it->second;
  changed_.try_emplace(e.key, before);
  desired_[e.key] = e;
}

void ElementTable::erase(const std::string& key) {
  auto it = desired_.find(key);
  if (it == desired_.end()) return;
  changed_.try_emplace(key, it->second);
  desired_.erase(it);
}

void ElementTable::changes(std::vector<nft::Element>& add, std::vector<nft::Element>& remove) const {
  for (const auto& [key, before] : changed_) {
    auto now = desired_.find(key);
    bool present = now != desired_.end();
    if (before && present && *before == now->second) continue;  // changed back
    if (before) remove.push_back(*before);
    if (present) add.push_back(now->second);
  }
}

void ElementTable::mark_synced() { changed_.clear(); }

}  // namespace wac::agent
