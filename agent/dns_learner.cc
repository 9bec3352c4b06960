#include "agent/dns_learner.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

namespace wac::agent {

namespace {

// How long after our computed expiry the kernel may still hold an element
// (its timer started a little after ours). Within it an element counts as
// possibly present: it is refreshed (add+delete+add works either way),
// never plainly added or deleted.
constexpr std::chrono::seconds kKernelSlack{2};
constexpr dns::SteadyTime kNotProgrammed{};

nft::SetDecl decl_for(const std::string& name, Family f, const std::string& pattern) {
  nft::SetDecl d;
  d.name = name;
  d.key = f == Family::V4 ? nft::KeyType::Ipv4Addr : nft::KeyType::Ipv6Addr;
  d.timeout = true;
  d.comment = pattern;
  return d;
}

uint32_t timeout_ms(dns::SteadyTime expires, dns::SteadyTime now) {
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(expires - now).count();
  return uint32_t(std::clamp<int64_t>(ms, 1, UINT32_MAX));
}

bool may_be_in_kernel(dns::SteadyTime kernel_expires, dns::SteadyTime now) {
  return kernel_expires != kNotProgrammed && kernel_expires + kKernelSlack > now;
}

}  // namespace

DnsLearner::DnsLearner(dns::CacheConfig config, dns::DnsStats* stats) : cache_(config, stats), config_(config) {}

void DnsLearner::rebuild_matcher() {
  matcher_.clear();
  by_id_.clear();
  pattern_of_id_.clear();
  for (const auto& [text, sets] : map_) {
    auto parsed = dns::Pattern::parse(text);
    if (auto* why = std::get_if<std::string>(&parsed)) {
      // The API validated every domain; reaching this is a bug, not input.
      spdlog::error("DNS tap: ignoring invalid domain pattern \"{}\": {}", text, *why);
      continue;
    }
    matcher_.add(dns::PatternId(by_id_.size()), std::get<dns::Pattern>(parsed));
    by_id_.push_back(sets);
    pattern_of_id_.push_back(text);
  }
}

void DnsLearner::sets_for(std::string_view name, Family family, std::vector<SetState*>& out) {
  out.clear();
  matcher_.match(name, ids_);
  for (dns::PatternId id : ids_) {
    const std::string& set = family == Family::V4 ? by_id_[id].first : by_id_[id].second;
    if (set.empty()) continue;
    auto it = sets_.find(set);
    if (it != sets_.end() && std::find(out.begin(), out.end(), &it->second) == out.end()) out.push_back(&it->second);
  }
}

void DnsLearner::contribute(SetState& set, const std::string& name, const IpAddr& addr, SteadyTime expires,
                            SteadyTime now, Touched& touched) {
  if (expires <= now) return;
  SetEntry& e = set.entries[addr];
  touched.try_emplace({set.decl.name, addr}, e.kernel_expires);
  auto mine = std::find_if(e.by.begin(), e.by.end(), [&](const Contribution& c) { return c.name == name; });
  if (mine == e.by.end()) e.by.push_back({name, expires});
  else mine->expires = std::max(mine->expires, expires);
  SteadyTime want = now;
  for (const Contribution& c : e.by) want = std::max(want, c.expires);
  if (!may_be_in_kernel(e.kernel_expires, now) || want > e.kernel_expires + config_.refresh_threshold)
    e.kernel_expires = want;
}

void DnsLearner::withdraw(SetState& set, const std::string& name, const IpAddr& addr, SteadyTime now,
                          Touched& touched) {
  auto it = set.entries.find(addr);
  if (it == set.entries.end()) return;
  SetEntry& e = it->second;
  std::erase_if(e.by, [&](const Contribution& c) { return c.name == name; });
  if (!e.by.empty()) return;  // another name still holds the address
  // Delete only what is surely still there (a delete of an element the
  // kernel just expired would fail the whole batch); anything closer to its
  // expiry stays as a tombstone until the kernel drops it.
  if (e.kernel_expires > now + kKernelSlack) {
    touched.try_emplace({set.decl.name, addr}, e.kernel_expires);
    set.entries.erase(it);
  }
}

void DnsLearner::learn(const std::vector<dns::Answer>& answers, SteadyTime now, nft::ElementBatch& out) {
  Touched touched;
  std::vector<SetState*> sets, evicted_from;
  for (const dns::Answer& a : answers) {
    ++stats_.answers;
    sets_for(a.name, a.addr.family, sets);
    if (have_map_ && ids_.empty()) {
      ++stats_.unmatched;
      continue;
    }
    dns::LearnResult r = cache_.learn(a.name, a.addr, a.ttl, now);
    if (r.evicted && r.evicted_addr != a.addr) {
      sets_for(a.name, r.evicted_addr.family, evicted_from);
      for (SetState* s : evicted_from) withdraw(*s, a.name, r.evicted_addr, now, touched);
      sets_for(a.name, a.addr.family, sets);
    }
    if (r.evicted && r.evicted_addr == a.addr) continue;  // nothing may be cached for this name
    for (SetState* s : sets) contribute(*s, a.name, a.addr, now + r.timeout, now, touched);
  }
  emit(touched, now, false, out);
}

void DnsLearner::set_domain_sets(const DomainSetMap& map, SteadyTime now, bool reconcile, nft::ElementBatch& out) {
  map_ = map;
  have_map_ = true;
  rebuild_matcher();
  std::map<std::string, nft::SetDecl> wanted;
  for (const auto& [pattern, pair] : map_) {
    if (!pair.first.empty()) wanted.try_emplace(pair.first, decl_for(pair.first, Family::V4, pattern));
    if (!pair.second.empty()) wanted.try_emplace(pair.second, decl_for(pair.second, Family::V6, pattern));
  }
  std::erase_if(sets_, [&](const auto& kv) { return !wanted.count(kv.first); });
  std::vector<std::string> fresh;
  for (const auto& [name, decl] : wanted) {
    if (sets_.count(name)) continue;
    sets_[name].decl = decl;
    fresh.push_back(name);
  }
  prune_unmatched_names();
  Touched touched;
  if (reconcile) {
    fresh.clear();
    for (auto& [name, set] : sets_) {
      fresh.push_back(name);
      for (auto& [addr, e] : set.entries)
        if (e.kernel_expires > now) touched.try_emplace({name, addr}, e.kernel_expires);
    }
  }
  fill_from_cache(fresh, now, touched);
  emit(touched, now, reconcile, out);
}

void DnsLearner::fill_from_cache(const std::vector<std::string>& set_names, SteadyTime now, Touched& touched) {
  if (set_names.empty()) return;
  std::set<std::string> wanted(set_names.begin(), set_names.end());
  std::vector<SetState*> sets;
  for (const std::string& name : cache_.keys()) {
    for (const dns::CachedAddr& a : cache_.addresses(name, now)) {
      sets_for(name, a.addr.family, sets);
      for (SetState* s : sets)
        if (wanted.count(s->decl.name)) contribute(*s, name, a.addr, now + a.remaining, now, touched);
    }
  }
}

void DnsLearner::prune_unmatched_names() {
  for (const std::string& name : cache_.keys()) {
    matcher_.match(name, ids_);
    if (ids_.empty()) cache_.erase(name);
  }
}

void DnsLearner::emit(const Touched& touched, SteadyTime now, bool reconcile, nft::ElementBatch& out) {
  std::map<std::string, nft::SetChange> changes;
  for (const auto& [key, before] : touched) {
    const auto& [set_name, addr] = key;
    auto set = sets_.find(set_name);
    if (set == sets_.end()) continue;
    auto entry = set->second.entries.find(addr);
    SteadyTime after = entry == set->second.entries.end() ? kNotProgrammed : entry->second.kernel_expires;
    bool was_there = may_be_in_kernel(before, now) || (entry != set->second.entries.end() && entry->second.must_refresh);
    nft::SetChange& change = changes[set_name];
    change.set = set->second.decl;
    nft::Element el{addr.str(), "", "", std::nullopt};
    if (after == kNotProgrammed) {
      if (!may_be_in_kernel(before, now)) continue;
      change.remove.push_back(std::move(el));
      ++stats_.elements_removed;
      continue;
    }
    if ((after == before && !reconcile && !entry->second.must_refresh) || after <= now) continue;
    el.timeout_ms = timeout_ms(after, now);
    if (!entry->second.by.empty()) el.comment = entry->second.by.front().name;
    if (was_there || reconcile) {
      change.refresh.push_back(std::move(el));
      ++stats_.elements_refreshed;
    } else {
      change.add.push_back(std::move(el));
      ++stats_.elements_added;
    }
    entry->second.must_refresh = false;
  }
  for (auto& [name, change] : changes)
    if (!change.add.empty() || !change.remove.empty() || !change.refresh.empty()) out.push_back(std::move(change));
}

void DnsLearner::expire(SteadyTime now) {
  cache_.expire(now);
  for (auto& [name, set] : sets_) {
    for (auto it = set.entries.begin(); it != set.entries.end();) {
      SetEntry& e = it->second;
      std::erase_if(e.by, [&](const Contribution& c) { return c.expires <= now; });
      bool gone = e.by.empty() && !may_be_in_kernel(e.kernel_expires, now);
      it = gone ? set.entries.erase(it) : std::next(it);
    }
  }
}

void DnsLearner::commit_failed(const nft::SetChange& change, SteadyTime now) {
  auto set = sets_.find(change.set.name);
  if (set == sets_.end()) return;
  for (const auto* list : {&change.add, &change.refresh}) {
    for (const nft::Element& el : *list) {
      auto addr = IpAddr::parse(el.key);
      if (!addr) continue;
      auto entry = set->second.entries.find(*addr);
      if (entry == set->second.entries.end()) continue;
      // The kernel keeps whatever it had before (the batch was atomic):
      // write it again, as a refresh, at the next chance.
      entry->second.kernel_expires = kNotProgrammed;
      entry->second.must_refresh = true;
      retry_pending_ = true;
      ++stats_.elements_forgotten;
    }
  }
}

void DnsLearner::retry(SteadyTime now, nft::ElementBatch& out) {
  if (!retry_pending_) return;
  // Everything still owed is written below; a failed commit of it sets the
  // flag again (commit_failed), and what has expired is owed nothing.
  retry_pending_ = false;
  Touched touched;
  for (auto& [name, set] : sets_) {
    for (auto& [addr, e] : set.entries) {
      if (!e.must_refresh) continue;
      SteadyTime want = now;
      for (const Contribution& c : e.by) want = std::max(want, c.expires);
      if (want <= now) continue;
      touched.try_emplace({name, addr}, e.kernel_expires);
      e.kernel_expires = want;
    }
  }
  emit(touched, now, false, out);
}

std::vector<LearnedName> DnsLearner::names(SteadyTime now, const std::string& filter) const {
  std::vector<LearnedName> out;
  std::vector<dns::PatternId> ids;
  for (const dns::CachedName& n : cache_.snapshot(now)) {
    if (!filter.empty() && n.key.find(filter) == std::string::npos) continue;
    LearnedName ln;
    ln.name = n.key;
    for (const dns::CachedAddr& a : n.addrs) ln.addresses.push_back({a.addr, a.remaining});
    matcher_.match(n.key, ids);
    for (dns::PatternId id : ids) ln.patterns.push_back(pattern_of_id_[id]);
    out.push_back(std::move(ln));
  }
  return out;
}

std::vector<std::string> DnsLearner::names_for(const IpAddr& addr) const {
  std::vector<std::string> out;
  for (const auto& [name, set] : sets_) {
    auto it = set.entries.find(addr);
    if (it == set.entries.end()) continue;
    for (const Contribution& c : it->second.by) out.push_back(c.name);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

size_t DnsLearner::elements_in(const std::string& set) const {
  auto it = sets_.find(set);
  if (it == sets_.end()) return 0;
  return size_t(std::count_if(it->second.entries.begin(), it->second.entries.end(),
                              [](const auto& kv) { return kv.second.kernel_expires != kNotProgrammed; }));
}

std::vector<PatternSets> DnsLearner::patterns() const {
  std::vector<PatternSets> out;
  for (const auto& [pattern, sets] : map_)
    out.push_back({pattern, sets.first, sets.second, elements_in(sets.first), elements_in(sets.second)});
  return out;
}

}  // namespace wac::agent
