#include "agent/syncer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "nft/syntax.h"

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

size_t SyncPlan::operations() const {
  size_t n = declare.ops().size() + apply.ops().size();
  for (const auto& f : fill) n += f.add.size() + f.remove.size();
  return n;
}

std::string SyncPlan::render() const {
  nft::Transaction loads;
  for (const auto& f : fill) {
    for (const auto& e : f.remove) loads.delete_element(f.set.name, e);
    for (const nft::Element* e : f.add) loads.add_element(f.set.name, *e);
  }
  return declare.render() + loads.render() + apply.render();
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

bool same_verdict(const nft::Element& a, const nft::Element& b) {
  return normalize_verdict(a.verdict) == normalize_verdict(b.verdict);
}

void add_all_elements(nft::Transaction& tx, const std::string& set, const DesiredSet& ds) {
  if (ds.external_elements) return;
  for (const auto& [key, e] : ds.elements.elements()) tx.add_element(set, e);
}

// Loads every element of a set no rule uses yet (none for sets the DNS tap
// fills itself).
void fill_all_elements(SyncPlan& plan, const DesiredSet& ds) {
  if (ds.external_elements || ds.elements.size() == 0) return;
  nft::SetFill fill{ds.decl, {}, {}};
  fill.add.reserve(ds.elements.size());
  for (const auto& [key, e] : ds.elements.elements()) fill.add.push_back(&e);
  plan.fill.push_back(std::move(fill));
}

// Declared in the first step: rule and map elements may jump to it.  Base
// chains wait for the rules' transaction: nothing can jump to one, and an
// empty base chain already hooked would be one more thing a packet passes
// before its rules exist (harmless with wac's `policy accept`, but the
// policy is data, not a promise).
bool declared_early(const nft::Chain& c) { return !c.hook; }

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

bool declares_something(const nft::Transaction& tx) {
  return std::any_of(tx.ops().begin(), tx.ops().end(), [](const nft::Op& op) { return op.type != nft::Op::Type::AddTable; });
}

// The sets the kernel's rules name (`@set`): any change to those must go
// with the rules, atomically.  Other sets are invisible to packets.
std::set<std::string> sets_in_use(const nft::Snapshot& kernel) {
  std::set<std::string> used;
  for (const auto& [name, chain] : kernel.chains)
    for (const auto& rule : chain.rules)
      for (auto& set : nft::rule_references(rule).sets) used.insert(std::move(set));
  return used;
}

// How the kernel's copy of a set differs from the desired one.
struct ElementDiff {
  std::vector<const nft::Element*> stale;    // in the kernel, not wanted (or with another verdict)
  std::vector<const nft::Element*> missing;  // wanted, not in the kernel (or with another verdict)
};

ElementDiff diff_elements(const DesiredSet& ds, const nft::Snapshot& kernel) {
  std::map<std::string, const nft::Element*> present;
  if (auto els = kernel.elements.find(ds.decl.name); els != kernel.elements.end())
    for (const auto& e : els->second) present[e.key] = &e;
  const auto& wanted = ds.elements.elements();
  ElementDiff diff;
  for (const auto& [key, e] : present) {
    auto want = wanted.find(key);
    if (want == wanted.end() || !same_verdict(want->second, *e)) diff.stale.push_back(e);
  }
  for (const auto& [key, e] : wanted) {
    auto have = present.find(key);
    if (have == present.end() || !same_verdict(*have->second, e)) diff.missing.push_back(&e);
  }
  return diff;
}

// One desired set in a full sync: where its declaration and elements go.
void plan_full_set(SyncPlan& plan, const DesiredSet& ds, const nft::Snapshot& kernel,
                   const std::set<std::string>& in_use) {
  const std::string& name = ds.decl.name;
  auto have = kernel.sets.find(name);
  if (have == kernel.sets.end()) {
    plan.declare.add_set(ds.decl);
    fill_all_elements(plan, ds);
    return;
  }
  if (!same_shape(ds.decl, have->second)) {
    // Deleted (after the flush frees it) and created again inside the
    // rules' transaction, elements as text: shapes only change when an
    // upgrade changes how wac declares a set, so this rare path stays simple.
    plan.apply.add_set(ds.decl);
    add_all_elements(plan.apply, name, ds);
    return;
  }
  if (ds.external_elements) return;  // learned with kernel timeouts: keep
  ElementDiff diff = diff_elements(ds, kernel);
  if (in_use.count(name)) {
    for (const nft::Element* e : diff.stale) plan.apply.delete_element(name, *e);
    for (const nft::Element* e : diff.missing) plan.apply.add_element(name, *e);
    return;
  }
  // Unused: what a sync that failed after declaring it left behind, maybe
  // half loaded.  Completed like a new set, before any rule uses it.
  if (diff.stale.empty() && diff.missing.empty()) return;
  nft::SetFill fill{ds.decl, std::move(diff.missing), {}};
  for (const nft::Element* e : diff.stale) fill.remove.push_back(*e);
  plan.fill.push_back(std::move(fill));
}

Status in_step(const char* step, const Status& st) {
  if (st.ok()) return st;
  return Status::Error(std::string(step) + ": " + st.message(), st.errno_value());
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

SyncPlan Syncer::incremental_plan(const DesiredState& desired) const {
  SyncPlan plan;
  const auto& changed = desired.chains.changed();
  plan.declare.add_table();
  for (const auto& [name, ds] : desired.sets) {
    if (sets_.count(name)) continue;
    plan.declare.add_set(ds.decl);
    fill_all_elements(plan, ds);
  }
  for (const auto& name : changed) {
    auto want = desired.chains.find(name);
    if (want != desired.chains.end() && !chains_.count(name) && declared_early(want->second))
      plan.declare.add_chain(want->second);
  }

  nft::Transaction& tx = plan.apply;
  tx.add_table();
  for (const auto& name : changed) {
    auto want = desired.chains.find(name);
    if (want == desired.chains.end()) continue;
    auto have = chains_.find(name);
    if (have == chains_.end() || !(have->second == want->second)) tx.replace_chain(want->second);
  }
  for (const auto& change : element_batch(desired)) {
    if (!sets_.count(change.set.name)) continue;  // new set: loaded whole by the fill
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
  return plan;
}

SyncPlan Syncer::full_plan(const DesiredState& desired, const nft::Snapshot& kernel) {
  SyncPlan plan;
  const std::set<std::string> in_use = sets_in_use(kernel);
  plan.declare.add_table();
  for (const auto& [name, chain] : desired.chains)
    if (!kernel.chains.count(name) && declared_early(chain)) plan.declare.add_chain(chain);

  nft::Transaction& tx = plan.apply;
  tx.add_table();
  // Flushing every chain first removes every reference, so any stale object
  // can go; all of it is one transaction, so no packet sees the gap.
  for (const auto& [name, chain] : kernel.chains) tx.replace_chain({name, chain.comment, chain.hook, {}});
  for (const auto& [name, decl] : kernel.sets) {
    auto want = desired.sets.find(name);
    if (want == desired.sets.end() || !same_shape(want->second.decl, decl)) tx.delete_set(name);
  }
  for (const auto& [name, ds] : desired.sets) plan_full_set(plan, ds, kernel, in_use);
  for (const auto& [name, chain] : kernel.chains)
    if (!desired.chains.count(name)) tx.delete_chain(name);
  for (const auto& [name, chain] : desired.chains) tx.replace_chain(chain);
  return plan;
}

// Each step only starts after the one before succeeded, so a failure leaves
// at most unused objects behind, which the full sync that follows completes
// or deletes.
Status Syncer::execute(const SyncPlan& plan) {
  if (declares_something(plan.declare)) {
    if (Status st = backend_.commit(plan.declare); !st) return in_step("declaring new chains and sets", st);
  }
  if (!plan.fill.empty()) {
    if (Status st = backend_.fill_sets(plan.fill); !st) return in_step("loading new sets", st);
  }
  return backend_.commit(plan.apply);
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
    SyncPlan plan = full_plan(desired, kernel);
    r.operations = plan.operations();
    r.status = execute(plan);
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
    SyncPlan plan = incremental_plan(desired);
    r.path = SyncResult::Path::Transaction;
    r.operations = plan.operations();
    r.status = execute(plan);
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
