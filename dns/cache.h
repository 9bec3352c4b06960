// The FQDN cache: addresses learned from DNS answers, per key, with expiry.
//
// A key is whatever the caller groups addresses by; keying by the DNS name
// (rather than by pattern) lets a pattern added later be filled at once from
// names() and the matcher. Expiry runs on the steady clock, so wall-clock
// jumps never expire or prolong entries; the file written by save() holds
// wall-clock epoch seconds so the remaining lifetime survives a restart.
//
// Each entry's lifetime is timeout = clamp(ttl + grace, min, max). The kernel
// set element gets the same timeout, so the cache and the kernel agree on
// when an address stops being allowed.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dns/stats.h"
#include "netlink/ip.h"
#include "netlink/status.h"

namespace wac::dns {

using SteadyTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;
using Seconds = std::chrono::seconds;

// Both clocks read at one moment: save/load translate between them.
struct Now {
  SteadyTime steady;
  WallTime wall;
  static Now current() { return {std::chrono::steady_clock::now(), std::chrono::system_clock::now()}; }
};

struct CacheConfig {
  Seconds grace{10};         // added to every TTL: time for the pod to connect after its lookup
  Seconds min_timeout{30};   // TTL 0 answers still need a window to be used in
  Seconds max_timeout{86400};  // a huge TTL must not pin an address for weeks
  size_t max_addrs_per_key = 256;
  // A repeat answer that would move expiry later by no more than this is
  // "unchanged": no kernel write. Keep it <= grace so the kernel entry never
  // lapses before ttl has passed.
  Seconds refresh_threshold{5};
};

// clamp(ttl + grace, min, max), without overflow for any ttl.
Seconds timeout_for(const CacheConfig& config, uint32_t ttl);

enum class LearnOutcome : uint8_t {
  New,        // address was not cached for this key: add it to the kernel
  Refreshed,  // expiry moved later: re-add to the kernel with `timeout`
  Unchanged,  // expiry already (nearly) as late: nothing to do
};
const char* to_string(LearnOutcome o);

struct LearnResult {
  LearnOutcome outcome = LearnOutcome::New;
  Seconds timeout{0};              // the element's timeout to program (New / Refreshed)
  bool evicted = false;            // the key was full: `evicted_addr` was dropped to make room
  IpAddr evicted_addr;             // remove it from the kernel too
};

struct CachedAddr {
  IpAddr addr;
  Seconds remaining{0};
};
struct CachedName {
  std::string key;
  std::vector<CachedAddr> addrs;  // sorted by address
};

class FqdnCache {
 public:
  // `stats` (optional, not owned) receives eviction counts.
  explicit FqdnCache(CacheConfig config = {}, DnsStats* stats = nullptr) : config_(config), stats_(stats) {}

  const CacheConfig& config() const { return config_; }

  LearnResult learn(std::string_view key, const IpAddr& addr, uint32_t ttl, SteadyTime now);
  // Drops entries whose expiry is at or before `now`. Returns how many.
  size_t expire(SteadyTime now);
  // Forgets a key entirely (e.g. its pattern was deleted).
  bool erase(std::string_view key);
  void clear() { entries_.clear(); }

  size_t key_count() const { return entries_.size(); }
  size_t addr_count() const;
  std::vector<std::string> keys() const;
  // Live addresses of one key with their remaining lifetime (rounded up to a
  // whole second), for programming the kernel after a restart or a new rule.
  std::vector<CachedAddr> addresses(std::string_view key, SteadyTime now) const;
  // Everything, sorted by key, for `wacctl dns`.
  std::vector<CachedName> snapshot(SteadyTime now) const;

  // Atomic: writes path.tmp, fsyncs it, renames it over path, fsyncs the
  // directory. Expired entries are not written.
  Status save(const std::string& path, Now now) const;
  // Replaces the cache content with the file's live entries (remaining
  // lifetime = saved expiry - now.wall, capped at max_timeout in case the wall
  // clock went backwards). A missing, corrupt or truncated file leaves the
  // cache unchanged and returns an error naming the file and the problem.
  Status load(const std::string& path, Now now);

 private:
  struct Entry {
    IpAddr addr;
    SteadyTime expires;
  };
  using Entries = std::vector<Entry>;  // small per key; linear scans beat hashing here
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>()(s); }
  };
  static void evict_earliest(Entries& list, LearnResult& result);

  CacheConfig config_;
  DnsStats* stats_;
  std::unordered_map<std::string, Entries, StringHash, std::equal_to<>> entries_;
};

}  // namespace wac::dns
