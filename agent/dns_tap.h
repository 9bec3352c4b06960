// The DNS tap: learns the addresses DNS servers give local pods and puts
// them into the domain sets, on its own thread and its own netlink sockets,
// so learning never waits behind a ruleset sync.
//
//   nflog group (`log` rule in inet wac, passive copy) ─┐
//   NFQUEUE (hold rule in ip/ip6 wac-dns, optional) ────┴▶ packet → trusted
//   source? → DNS answers (CNAME chains resolved) → DnsLearner → one libnftnl
//   element batch → verdict for held responses
//
// The hold closes the resolve-then-connect race: a held response reaches
// the pod only after the batch carrying its addresses is committed. Both
// the hold rule (bypass) and the queue (fail-open) let responses through
// when wacd is not there or cannot keep up, and the passive log copy still
// feeds the tap then; the hold only ever delays DNS, by one batch.
//
// Threads: the tap thread reads the sockets and writes elements. The agent
// thread calls publish() after each sync; gRPC threads call report(). One
// mutex covers the learner and the element writer; libnftables is never
// used here.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "agent/dns_learner.h"
#include "agent/dns_report.h"
#include "agent/held_copies.h"
#include "dns/extract.h"
#include "netlink/nflog.h"
#include "netlink/nfqueue.h"
#include "nft/backend.h"

namespace wac::agent {

struct DnsTapOptions {
  uint16_t nflog_group = 5353;
  bool hold = true;  // hold responses until learned, when the kernel can queue
  uint16_t hold_queue = 5353;
  std::vector<std::string> iface_prefixes{"cali"};
  std::vector<IpAddr> trusted_servers;  // see dns_servers.h
  dns::CacheConfig cache;
  std::string cache_file;  // "" = not persisted
  std::chrono::seconds cache_save_interval{30};  // the caller saves this often
};

class DnsTap {
 public:
  // `writer` defaults to nft::make_element_writer() (its socket opens in
  // the calling thread's network namespace).
  explicit DnsTap(DnsTapOptions options, std::unique_ptr<nft::ElementWriter> writer = nullptr);
  ~DnsTap();
  DnsTap(const DnsTap&) = delete;
  DnsTap& operator=(const DnsTap&) = delete;

  // Loads the cache file (a missing or damaged one is logged, counted and
  // skipped: the kernel's sets keep what was learned before),
  // binds the nflog group, sets up the hold when enabled (a kernel that
  // cannot queue is reported, and the tap runs without it) and starts the
  // thread. An error means no tap: wacd enforces without learning.
  Status start();
  // Stops the thread; removes the hold first and releases what it held, so
  // no response is dropped; saves the cache.
  void stop();
  bool running() const { return thread_.joinable(); }

  // Agent thread, after a successful sync: the domain sets that exist now.
  // Sets new since the last call are filled from the cache at once (before
  // this returns), so a policy that names a domain already resolved works
  // without a new lookup. `reconcile`: the kernel sets may differ from what
  // the tap wrote (first sync, full resync): everything is written again.
  void publish(const DomainSetMap& sets, bool reconcile);

  // Writes the cache file (atomic replace); from any thread.  A failure
  // (disk full) is counted and logged once per distinct error; learned
  // addresses stay in memory and in the kernel, and the next save retries.
  Status save_cache();

  DnsTapStats stats() const;
  // A name the tap learned `addr` from ("" if none), for flow logs; any thread.
  std::string domain_of(const IpAddr& addr) const;
  DnsReport report(const std::string& name_filter) const;

  // The pipeline without the thread and sockets, for tests and the
  // benchmark: ingest() reads one captured packet (L3 onward), as a passive
  // copy (ingest_held(): as a held packet, not released), flush()
  // learns from everything ingested and commits one batch, tick() expires
  // and retries failed writes.
  void ingest(std::span<const uint8_t> packet);
  void ingest_held(std::span<const uint8_t> packet);
  Status flush();
  void tick();
  // After each committed flush, the facts it carried (benchmark probes).
  std::function<void(const std::vector<dns::Answer>&)> on_committed;

 private:
  void run(std::stop_token stop);
  void handle_readable(bool nflog_ready, bool queue_ready);
  void ingest_passive_copy(std::span<const uint8_t> packet);
  Status commit_locked(nft::ElementBatch& batch, dns::SteadyTime now);
  Status flush_locked();
  void setup_hold();
  void release_held();
  void load_cache();
  void log_save(const Status& s);
  DnsTapStats stats_locked() const;

  DnsTapOptions opts_;
  std::unique_ptr<nft::ElementWriter> writer_;
  mutable std::mutex mu_;  // everything below
  dns::DnsStats parse_stats_;
  dns::AnswerExtractor extractor_;
  DnsLearner learner_;
  std::vector<dns::Answer> answers_;  // ingested, not yet learned
  nft::ElementBatch batch_;
  netlink::NflogListener nflog_;
  netlink::NfqueueListener queue_;
  HeldCopies held_copies_;  // held packets whose passive copy is still to come
  uint64_t unheld_ = 0, held_copies_skipped_ = 0;
  bool hold_active_ = false;
  bool hold_simulated_ = false;  // ingest_held() was called (tests, no queue)
  std::string hold_status_ = "not started";
  bool first_publish_ = true;
  uint64_t batches_ = 0, write_errors_ = 0, cache_saves_ = 0, cache_save_errors_ = 0, cache_load_errors_ = 0;
  std::string last_cache_error_;     // the latest failed load or save
  std::string cache_error_logged_;   // the save error last logged, until a save works
  std::string last_write_error_;
  std::chrono::steady_clock::time_point last_error_log_{};
  std::chrono::microseconds last_commit_{0}, max_commit_{0};
  int wake_fd_ = -1, timer_fd_ = -1;
  std::jthread thread_;
};

}  // namespace wac::agent
