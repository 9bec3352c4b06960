// What the DNS tap reports: `wacctl dns` (learned names and the sets they
// feed) and the DNS part of `wacctl status` (counters).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "dns/stats.h"
#include "netlink/ip.h"

namespace wac::agent {

struct DnsLearnerStats {
  uint64_t answers = 0;             // (name, address) facts from trusted responses
  uint64_t unmatched = 0;           // facts for names no pattern in use matches (not kept)
  uint64_t elements_added = 0;      // set elements programmed new
  uint64_t elements_refreshed = 0;  // set elements whose timeout was extended
  uint64_t elements_removed = 0;    // set elements deleted after a per-name eviction
  uint64_t elements_forgotten = 0;  // element writes a failed commit lost (written again)
};

struct LearnedAddress {
  IpAddr addr;
  std::chrono::seconds remaining{0};
};
struct LearnedName {
  std::string name;
  std::vector<LearnedAddress> addresses;
  std::vector<std::string> patterns;  // patterns in use that match the name
};
struct PatternSets {
  std::string pattern;
  std::string set4, set6;
  size_t elements4 = 0, elements6 = 0;  // addresses the kernel sets hold (as programmed)
};

struct DnsTapStats {
  bool enabled = false;      // the tap runs
  bool hold_active = false;  // responses are held until learned (NFQUEUE)
  std::string hold_status;   // why the hold is off, when it is
  uint16_t nflog_group = 0;
  uint16_t hold_queue = 0;
  std::vector<std::string> trusted_servers;
  dns::DnsStats parse;       // packets and messages (both the log and the hold path)
  DnsLearnerStats learner;
  uint64_t nflog_packets = 0, nflog_enobufs = 0, nflog_truncated = 0;
  uint64_t held_packets = 0, hold_enobufs = 0, hold_verdict_errors = 0;
  // While the hold is on: passive copies of responses that were never held
  // (queue full or overrun: the kernel fails open), and passive copies of
  // held responses that were recognised and not parsed a second time.
  uint64_t unheld = 0, held_copies_skipped = 0;
  uint64_t batches = 0;       // element batches committed
  uint64_t write_errors = 0;  // element batches (or parts) the kernel refused
  std::string last_write_error;
  uint64_t names = 0, addresses = 0, patterns = 0;  // cached now / patterns in use
  uint64_t cache_saves = 0, cache_save_errors = 0, cache_load_errors = 0;
  std::string last_cache_error;  // the latest failed load or save of the cache file
  std::chrono::microseconds last_commit{0}, max_commit{0};  // element batch round trips
};

struct DnsReport {
  DnsTapStats stats;
  std::vector<LearnedName> names;
  std::vector<PatternSets> patterns;
};

}  // namespace wac::agent
