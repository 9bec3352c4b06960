#include "agent/cidr_set.h"

namespace wac::agent {

template <class F>
void CidrSet::for_each_inside(const Cidr& c, F&& f) {
  // Entries sort by address, then prefix: everything inside c lies between
  // c itself and the last address of c.
  IpAddr last = c.last();
  for (auto it = entries_.lower_bound(c); it != entries_.end() && it->first.addr <= last; ++it) {
    if (it->first != c && c.contains(it->first)) f(it->first, it->second);
  }
}

bool CidrSet::covered(const Cidr& c) const {
  for (const auto& [len, count] : prefix_lengths_) {
    if (len >= c.prefix) break;
    if (entries_.count(c.parent(len))) return true;
  }
  return false;
}

void CidrSet::show(const Cidr& c, Entry& e) {
  e.visible = true;
  out_.put({c.str(), "", e.comment, std::nullopt});
}

void CidrSet::hide(const Cidr& c, Entry& e) {
  e.visible = false;
  out_.erase(c.str());
}

void CidrSet::add(const Cidr& c, const std::string& comment) {
  auto [it, inserted] = entries_.try_emplace(c);
  Entry& e = it->second;
  if (e.refs++ > 0) return;
  e.comment = comment;
  ++prefix_lengths_[c.prefix];
  if (covered(c)) return;
  for_each_inside(c, [&](const Cidr& inner, Entry& ie) {
    if (ie.visible) hide(inner, ie);
  });
  show(c, e);
}

void CidrSet::remove(const Cidr& c) {
  auto it = entries_.find(c);
  if (it == entries_.end()) return;
  if (--it->second.refs > 0) return;
  bool was_visible = it->second.visible;
  if (was_visible) hide(c, it->second);
  entries_.erase(it);
  if (--prefix_lengths_[c.prefix] == 0) prefix_lengths_.erase(c.prefix);
  if (!was_visible) return;
  // In address-then-prefix order an outer CIDR is visited before the ones it
  // covers, so covered() already sees it when the inner ones are checked.
  for_each_inside(c, [&](const Cidr& inner, Entry& ie) {
    if (!covered(inner)) show(inner, ie);
  });
}

}  // namespace wac::agent
