#include "agent/syncer.h"

#include <spdlog/spdlog.h>

namespace wac::agent {

using Clock = std::chrono::steady_clock;

const char* path_name(SyncResult::Path p) {
  switch (p) {
    case SyncResult::Path::Nothing: return "nothing";
    case SyncResult::Path::Elements: return "elements";
    case SyncResult::Path::Transaction: return "transaction";
    case SyncResult::Path::Full: return "full";
  }
  return "?";
}

namespace {

// Same set as far as the kernel is concerned: changing any of these needs
// the set deleted and created again.
bool same_shape(const nft::SetDecl& a, const nft::SetDecl& b) {
  return a.key == b.key && a.verdict_map == b.verdict_map && a.interval == b.interval && a.timeout == b.timeout;
}

std::string normalize_verdict(std::string v) {
  std::erase(v, '"');
  return v;
}

void add_all_elements(nft::Transaction& tx, const std::string& set, const DesiredSet& ds) {
  if (ds.external_elements) return;
  for (const auto& [key, e] : ds.elements.elements()) tx.add_element(set, e);
}

// Both maps are sorted by name: one pass, no lookups.
bool same_declarations(const std::map<std::string, DesiredSet>& desired, const std::map<std::string, nft::SetDecl>& have) {
  if (desired.size() != have.size()) return false;
  auto h = have.begin();
  for (const auto& [name, ds] : desired) {
    if (h->first != name || !(h->second == ds.decl)) return false;
    ++h;
  }
  return true;
}

}  // namespace

bool Syncer::structural_change(const DesiredState& desired) const {
  return !desired.chains.changed().empty() || !same_declarations(desired.sets, sets_);
}

nft::ElementBatch Syncer::element_batch(const DesiredState& desired) const {
  nft::ElementBatch batch;
  for (const auto& [name, ds] : desired.sets) {
    if (ds.external_elements || !ds.elements.has_changes()) continue;
    nft::SetChange change{ds.decl, {}, {}, {}};
    ds.elements.changes(change.add, change.remove);
    if (!change.add.empty() || !change.remove.empty()) batch.push_back(std::move(change));
  }
  return batch;
}

nft::Transaction Syncer::incremental_transaction(const DesiredState& desired) const {
  nft::Transaction tx;
  tx.add_table();
  for (const auto& [name, ds] : desired.sets) {
    if (sets_.count(name)) continue;
    tx.add_set(ds.decl);
    add_all_elements(tx, name, ds);
  }
  const auto& changed = desired.chains.changed();
  for (const auto& name : changed)
    if (desired.chains.count(name) && !chains_.count(name))
      tx.add_chain(desired.chains.at(name));  // declared first: rules and maps may jump to it
  for (const auto& name : changed) {
    auto want = desired.chains.find(name);
    if (want == desired.chains.end()) continue;
    auto have = chains_.find(name);
    if (have == chains_.end() || !(have->second == want->second)) tx.replace_chain(want->second);
  }
  for (const auto& change : element_batch(desired)) {
    if (!sets_.count(change.set.name)) continue;  // new set: already complete
    for (const auto& e : change.remove) tx.delete_element(change.set.name, e);
    for (const auto& e : change.add) tx.add_element(change.set.name, e);
  }
  // Old chains go after the map entries that jumped to them; flushing first
  // drops their own jumps and set references.
  // Flush all of them before deleting any: they may jump to each other.
  auto removed = [&](const std::string& name) { return !desired.chains.count(name) && chains_.count(name); };
  for (const auto& name : changed)
    if (removed(name)) {
      const nft::Chain& old = chains_.at(name);
      tx.replace_chain({name, old.comment, old.hook, {}});
    }
  for (const auto& name : changed)
    if (removed(name)) tx.delete_chain(name);
  for (const auto& [name, decl] : sets_)
    if (!desired.sets.count(name)) tx.delete_set(name);
  return tx;
}

nft::Transaction Syncer::full_transaction(const DesiredState& desired, const nft::Snapshot& kernel) {
  nft::Transaction tx;
  tx.add_table();
  // Flushing every chain first removes every reference, so any stale object
  // can go; all of it is one transaction, so no packet sees the gap.
  for (const auto& [name, chain] : kernel.chains) tx.replace_chain({name, chain.comment, chain.hook, {}});
  for (const auto& [name, chain] : desired.chains)
    if (!kernel.chains.count(name)) tx.add_chain(chain);
  for (const auto& [name, decl] : kernel.sets) {
    auto want = desired.sets.find(name);
    if (want == desired.sets.end() || !same_shape(want->second.decl, decl)) tx.delete_set(name);
  }
  for (const auto& [name, ds] : desired.sets) {
    auto have = kernel.sets.find(name);
    if (have == kernel.sets.end() || !same_shape(ds.decl, have->second)) {
      tx.add_set(ds.decl);
      add_all_elements(tx, name, ds);
      continue;
    }
    if (ds.external_elements) continue;  // learned with kernel timeouts: keep
    std::map<std::string, const nft::Element*> present;
    if (auto els = kernel.elements.find(name); els != kernel.elements.end())
      for (const auto& e : els->second) present[e.key] = &e;
    for (const auto& [key, e] : present) {
      auto want = ds.elements.elements().find(key);
      if (want == ds.elements.elements().end() ||
          normalize_verdict(want->second.verdict) != normalize_verdict(e->verdict))
        tx.delete_element(name, *e);
    }
    for (const auto& [key, e] : ds.elements.elements()) {
      auto have_el = present.find(key);
      if (have_el == present.end() || normalize_verdict(have_el->second->verdict) != normalize_verdict(e.verdict))
        tx.add_element(name, e);
    }
  }
  for (const auto& [name, chain] : kernel.chains)
    if (!desired.chains.count(name)) tx.delete_chain(name);
  for (const auto& [name, chain] : desired.chains) tx.replace_chain(chain);
  return tx;
}

void Syncer::mark_programmed(DesiredState& desired, bool everything) {
  if (everything) {
    chains_ = desired.chains.all();
  } else {
    for (const auto& name : desired.chains.changed()) {
      auto it = desired.chains.find(name);
      if (it == desired.chains.end()) chains_.erase(name);
      else chains_[name] = it->second;
    }
  }
  desired.chains.clear_changed();
  for (auto& [name, ds] : desired.sets)
    if (ds.elements.has_changes()) ds.elements.mark_synced();
  if (!everything && same_declarations(desired.sets, sets_)) return;
  sets_.clear();
  for (const auto& [name, ds] : desired.sets) sets_[name] = ds.decl;
}

SyncResult Syncer::full_sync(DesiredState& desired) {
  auto start = Clock::now();
  SyncResult r;
  r.path = SyncResult::Path::Full;
  nft::Snapshot kernel;
  r.status = backend_.read(kernel);
  if (r.status.ok()) {
    nft::Transaction tx = full_transaction(desired, kernel);
    r.operations = tx.ops().size();
    r.status = backend_.commit(tx);
  }
  if (r.status.ok()) {
    mark_programmed(desired, true);
    need_full_ = false;
  }
  r.duration = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
  return r;
}

SyncResult Syncer::sync(DesiredState& desired) {
  if (need_full_) return full_sync(desired);
  auto start = Clock::now();
  SyncResult r;
  if (structural_change(desired)) {
    nft::Transaction tx = incremental_transaction(desired);
    r.path = SyncResult::Path::Transaction;
    r.operations = tx.ops().size();
    r.status = backend_.commit(tx);
  } else {
    nft::ElementBatch batch = element_batch(desired);
    for (const auto& c : batch) r.operations += c.add.size() + c.remove.size();
    if (batch.empty()) return r;
    r.path = SyncResult::Path::Elements;
    r.status = backend_.commit_elements(batch);
  }
  r.duration = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
  if (r.status.ok()) {
    mark_programmed(desired, false);
    return r;
  }
  spdlog::warn("dataplane: {} sync failed ({}); reconciling with a full sync", path_name(r.path), r.status.message());
  need_full_ = true;
  SyncResult full = full_sync(desired);
  if (!full.status.ok())
    full.status = Status::Error(r.status.message() + "; full sync also failed: " + full.status.message());
  return full;
}

}  // namespace wac::agent
