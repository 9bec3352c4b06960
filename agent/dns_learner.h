// The DNS tap's bookkeeping, without any I/O: (name, address, TTL) facts in,
// element changes for the domain sets out.
//
//   answers ─▶ FqdnCache (per name: addresses, expiry, per-name cap)
//           ─▶ PatternMatcher (every name that matched: the patterns in use)
//           ─▶ per set: which names hold each address and until when
//           ─▶ nft::ElementBatch: add / refresh / remove with timeouts
//
// A set element's timeout is the latest expiry of any name that put the
// address there, so two names sharing an address share the allowance and
// the kernel drops the element when the last of them expires. The kernel
// expires elements on its own; this class only mirrors that (expire()) and
// never issues a delete for an element that may already be gone, except
// through an eviction, where it knows the element is still there.
//
// Only names some pattern in use matches are cached (until the first pattern
// map arrives at start, everything is, so nothing learned meanwhile is lost);
// names stop being cached when no pattern matches them any more.
//
// Not thread-safe: the DNS tap calls it from its thread, under its lock.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "agent/dns_report.h"
#include "dns/cache.h"
#include "dns/message.h"
#include "dns/pattern.h"
#include "dns/stats.h"
#include "nft/ruleset.h"

namespace wac::agent {

// Domain pattern -> (IPv4 set name, IPv6 set name), as
// Calculator::domain_sets() gives it; either name may be empty.
using DomainSetMap = std::map<std::string, std::pair<std::string, std::string>>;

class DnsLearner {
 public:
  using SteadyTime = dns::SteadyTime;

  // The grace period lets a pod use an address a little past its TTL, and
  // keeps a re-resolution from racing the kernel's expiry.
  explicit DnsLearner(dns::CacheConfig config, dns::DnsStats* stats = nullptr);

  // A new pattern map (after a sync). Sets no longer named are forgotten
  // (the syncer deletes them); sets new to the learner are filled from the
  // cache. `reconcile`: the kernel sets may not hold what the learner
  // believes (first map after a start, or after a full resync that may have
  // recreated sets): every element is written again with a refresh, which
  // leaves it fresh whether or not the kernel had it.
  void set_domain_sets(const DomainSetMap& sets, SteadyTime now, bool reconcile, nft::ElementBatch& out);
  bool has_domain_sets() const { return have_map_; }
  const DomainSetMap& domain_sets() const { return map_; }

  // Facts from DNS responses: appends the element changes they need.
  void learn(const std::vector<dns::Answer>& answers, SteadyTime now, nft::ElementBatch& out);

  // Drops what has expired (the kernel drops its elements by itself).
  void expire(SteadyTime now);

  // A commit carrying `change` failed: nothing of it reached the kernel. Its
  // additions and refreshes are written again by the next retry() (or the
  // next answer for them), as refreshes.
  void commit_failed(const nft::SetChange& change, SteadyTime now);
  // The element changes that failed commits still owe the kernel.
  void retry(SteadyTime now, nft::ElementBatch& out);

  dns::FqdnCache& cache() { return cache_; }
  const dns::FqdnCache& cache() const { return cache_; }
  const DnsLearnerStats& stats() const { return stats_; }

  // For `wacctl dns`: names (all, or those containing `filter`), sorted.
  std::vector<LearnedName> names(SteadyTime now, const std::string& filter = "") const;
  std::vector<PatternSets> patterns() const;
  // The names whose answers put `addr` into a domain set, sorted (flow logs
  // name a connection's remote end with them); empty if none did.
  std::vector<std::string> names_for(const IpAddr& addr) const;
  // Elements the learner believes set `name` holds (tests, reports).
  size_t elements_in(const std::string& set) const;

 private:
  struct Contribution {
    std::string name;
    SteadyTime expires;
  };
  struct SetEntry {
    SteadyTime kernel_expires{};     // when the kernel drops it, as programmed; {} = not programmed
    std::vector<Contribution> by;    // names holding the address (usually one)
    bool must_refresh = false;       // a commit failed: the kernel may hold an older copy
  };
  struct SetState {
    nft::SetDecl decl;
    std::unordered_map<IpAddr, SetEntry> entries;
  };
  // A batch being built: the first programmed expiry of every element
  // touched, so several changes to one element net out into one operation.
  using Touched = std::map<std::pair<std::string, IpAddr>, SteadyTime>;

  void rebuild_matcher();
  // Sets fed by the patterns matching `name`, for one family.
  void sets_for(std::string_view name, Family family, std::vector<SetState*>& out);
  void contribute(SetState& set, const std::string& name, const IpAddr& addr, SteadyTime expires, SteadyTime now,
                  Touched& touched);
  void withdraw(SetState& set, const std::string& name, const IpAddr& addr, SteadyTime now, Touched& touched);
  void fill_from_cache(const std::vector<std::string>& new_sets, SteadyTime now, Touched& touched);
  void prune_unmatched_names();
  void emit(const Touched& touched, SteadyTime now, bool reconcile, nft::ElementBatch& out);

  dns::FqdnCache cache_;
  dns::CacheConfig config_;
  DnsLearnerStats stats_;
  DomainSetMap map_;
  bool have_map_ = false;
  // Some entry may have must_refresh set: retry() scans every set only then
  // (it runs every second, and the sets hold every learned address).
  bool retry_pending_ = false;
  std::map<std::string, SetState> sets_;                 // by set name
  std::vector<std::pair<std::string, std::string>> by_id_;  // pattern id -> (set4, set6)
  std::vector<std::string> pattern_of_id_;
  dns::PatternMatcher matcher_;
  std::vector<dns::PatternId> ids_;                       // scratch
};

}  // namespace wac::agent
