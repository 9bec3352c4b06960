#include "agent/dns_tap.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "nft/dns_hold.h"

namespace wac::agent {

namespace {

using Clock = std::chrono::steady_clock;

// Datagrams read per wake-up: bounds one batch, and so how long a held
// response waits for the batch carrying its addresses.
constexpr size_t kMaxDatagramsPerRead = 64;
constexpr auto kErrorLogInterval = std::chrono::seconds(10);
// Socket buffers that ride out a scheduling gap of the tap's thread on a
// busy node (at 20,000 responses/s, 4 MiB held ~0.1 s of passive copies).
// Memory is only used while a backlog exists.
constexpr int kSocketBuffer = 16 << 20;
// Responses held at most; beyond it they pass unheld (fail-open, counted).
// Bounds the delay the hold adds under overload (~0.4 s at 20,000/s).
constexpr uint32_t kMaxHeld = 8192;

std::string join_addresses(const std::vector<IpAddr>& addrs) {
  std::string out;
  for (const auto& a : addrs) out += (out.empty() ? "" : ", ") + a.str();
  return out.empty() ? "(none)" : out;
}

}  // namespace

DnsTap::DnsTap(DnsTapOptions options, std::unique_ptr<nft::ElementWriter> writer)
    : opts_(std::move(options)),
      writer_(writer ? std::move(writer) : nft::make_element_writer()),
      extractor_(parse_stats_),
      learner_(opts_.cache, &parse_stats_) {
  std::sort(opts_.trusted_servers.begin(), opts_.trusted_servers.end());
  extractor_.set_source_filter([this](const IpAddr& source) {
    return std::binary_search(opts_.trusted_servers.begin(), opts_.trusted_servers.end(), source);
  });
}

DnsTap::~DnsTap() {
  stop();
  for (int fd : {wake_fd_, timer_fd_})
    if (fd >= 0) ::close(fd);
}

// A damaged file costs only what it held: the kernel's sets keep those
// addresses until their timeouts, and new lookups are learned as ever.
void DnsTap::load_cache() {
  std::lock_guard lock(mu_);
  if (!std::filesystem::exists(opts_.cache_file)) {
    spdlog::info("DNS tap: no cache file {} yet", opts_.cache_file);
  } else if (Status s = learner_.cache().load(opts_.cache_file, dns::Now::current()); !s) {
    ++cache_load_errors_;
    last_cache_error_ = s.message();
    spdlog::error("DNS tap: {}; starting with an empty cache (the kernel's sets keep the addresses learned "
                  "before until they expire)",
                  s.message());
  } else {
    spdlog::info("DNS tap: reloaded {} addresses of {} names from {}", learner_.cache().addr_count(),
                 learner_.cache().key_count(), opts_.cache_file);
  }
}

Status DnsTap::start() {
  if (!opts_.cache_file.empty()) load_cache();
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (wake_fd_ < 0 || timer_fd_ < 0) return Status::Error(std::string("DNS tap: ") + std::strerror(errno), errno);
  itimerspec every_second{{1, 0}, {1, 0}};
  timerfd_settime(timer_fd_, 0, &every_second, nullptr);
  netlink::NflogOptions nflog;
  nflog.receive_buffer = kSocketBuffer;
  if (Status s = nflog_.open(opts_.nflog_group, nflog); !s)
    return Status::Error("DNS tap: " + s.message(), s.errno_value());
  setup_hold();
  if (opts_.trusted_servers.empty())
    spdlog::warn("DNS tap: no trusted DNS servers (dns.trustedServers, resolv.conf, dns.clusterDNS): "
                 "every response is ignored and domain rules allow nothing");
  spdlog::info("DNS tap: nflog group {}, hold {}, trusted servers {}", opts_.nflog_group,
               hold_active_ ? "on (NFQUEUE " + std::to_string(opts_.hold_queue) + ")" : "off: " + hold_status_,
               join_addresses(opts_.trusted_servers));
  thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
  return Status::Ok();
}

void DnsTap::setup_hold() {
  if (!opts_.hold) {
    hold_status_ = "disabled (dns.holdResponses: false)";
    if (Status s = nft::remove_dns_hold(); !s && s.errno_value() != ENOENT)
      spdlog::warn("DNS tap: removing an old hold: {}", s.message());
    return;
  }
  // Listen first: from the moment the rule exists, held packets have a reader.
  netlink::NfqueueOptions queue;
  queue.receive_buffer = kSocketBuffer;
  queue.max_queue_len = kMaxHeld;
  if (Status s = queue_.open(opts_.hold_queue, queue); !s) {
    hold_status_ = s.message();
    spdlog::warn("DNS tap: cannot hold DNS responses ({}); learning from passive copies only, so a pod that "
                 "connects within microseconds of its lookup may see its first packet dropped",
                 s.message());
    return;
  }
  if (Status s = nft::install_dns_hold({opts_.hold_queue, opts_.iface_prefixes}); !s) {
    queue_.close();
    hold_status_ = s.message();
    spdlog::warn("DNS tap: {}; learning from passive copies only", s.message());
    return;
  }
  hold_active_ = true;
  hold_status_ = "";
}

void DnsTap::release_held() {
  // The rule is gone: nothing new is queued. Accept what is still waiting
  // (closing the queue with packets in it would drop them).
  if (Status s = nft::remove_dns_hold(); !s) spdlog::warn("DNS tap: {}", s.message());
  uint32_t last = 0;
  bool any = false;
  for (int round = 0; round < 100; ++round) {
    bool got = false;
    queue_.read_batch([&](const netlink::NfqueuePacket& p) {
      last = std::max(last, p.id);
      got = any = true;
    });
    if (!got) break;
  }
  if (any) queue_.accept_up_to(last);
  queue_.close();
  held_copies_.clear();
  hold_active_ = false;
  hold_status_ = "stopped";
}

void DnsTap::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  thread_.join();
  {
    std::lock_guard lock(mu_);
    if (hold_active_) release_held();
    nflog_.close();
  }
  save_cache();
}

void DnsTap::run(std::stop_token stop) {
  while (!stop.stop_requested()) {
    pollfd fds[4] = {{nflog_.fd(), POLLIN, 0}, {queue_.is_open() ? queue_.fd() : -1, POLLIN, 0},
                     {wake_fd_, POLLIN, 0}, {timer_fd_, POLLIN, 0}};
    if (poll(fds, 4, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("DNS tap: poll: {}; the tap stops", std::strerror(errno));
      return;
    }
    if (fds[2].revents & POLLIN) {
      uint64_t v;
      [[maybe_unused]] auto n = ::read(wake_fd_, &v, sizeof v);
    }
    bool nflog_ready = fds[0].revents & (POLLIN | POLLERR);
    bool queue_ready = fds[1].revents & (POLLIN | POLLERR);
    if (nflog_ready || queue_ready) handle_readable(nflog_ready, queue_ready);
    if (fds[3].revents & POLLIN) {
      uint64_t expirations;
      [[maybe_unused]] auto n = ::read(timer_fd_, &expirations, sizeof expirations);
      tick();
    }
  }
}

void DnsTap::handle_readable(bool nflog_ready, bool queue_ready) {
  std::lock_guard lock(mu_);
  if (nflog_ready) {
    Status s = nflog_.read_batch([&](const netlink::NflogPacket& p) { ingest_passive_copy(p.payload); },
                                 kMaxDatagramsPerRead);
    if (!s) spdlog::error("DNS tap: {}", s.message());
  }
  uint32_t last_held = 0;
  bool held = false;
  if (queue_ready) {
    Status s = queue_.read_batch(
        [&](const netlink::NfqueuePacket& p) {
          held_copies_.remember(p.payload);
          extractor_.process(p.payload, answers_);
          last_held = std::max(last_held, p.id);
          held = true;
        },
        kMaxDatagramsPerRead);
    if (!s) spdlog::error("DNS tap: {}", s.message());
  }
  flush_locked();
  // Released whether or not the commit worked: the hold only ever delays.
  if (held) queue_.accept_up_to(last_held);
}

// A passive copy of a held response was parsed on the held path already;
// any other passive copy, while the hold is on, passed it unheld.
void DnsTap::ingest_passive_copy(std::span<const uint8_t> packet) {
  if (hold_active_ || hold_simulated_) {
    if (held_copies_.take(packet)) {
      ++held_copies_skipped_;
      return;
    }
    ++unheld_;
  }
  extractor_.process(packet, answers_);
}

void DnsTap::ingest(std::span<const uint8_t> packet) {
  std::lock_guard lock(mu_);
  ingest_passive_copy(packet);
}

void DnsTap::ingest_held(std::span<const uint8_t> packet) {
  std::lock_guard lock(mu_);
  hold_simulated_ = true;
  held_copies_.remember(packet);
  extractor_.process(packet, answers_);
}

Status DnsTap::flush() {
  std::lock_guard lock(mu_);
  return flush_locked();
}

Status DnsTap::flush_locked() {
  if (answers_.empty()) return Status::Ok();
  auto now = Clock::now();
  batch_.clear();
  learner_.learn(answers_, now, batch_);
  Status s = commit_locked(batch_, now);
  if (s && on_committed) on_committed(answers_);
  answers_.clear();
  return s;
}

Status DnsTap::commit_locked(nft::ElementBatch& batch, dns::SteadyTime now) {
  if (batch.empty()) return Status::Ok();
  auto start = Clock::now();
  Status s = writer_->commit(batch);
  last_commit_ = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
  max_commit_ = std::max(max_commit_, last_commit_);
  ++batches_;
  if (s) return s;
  // One bad set (deleted by a sync a moment ago) must not block the others:
  // try each set alone, and remember what still failed.
  Status first_error = s;
  size_t failed = 0;
  for (const nft::SetChange& change : batch) {
    Status one = batch.size() > 1 ? writer_->commit({change}) : s;
    if (one) continue;
    ++failed;
    learner_.commit_failed(change, now);
  }
  if (failed == 0) return Status::Ok();
  ++write_errors_;
  last_write_error_ = first_error.message();
  if (Clock::now() - last_error_log_ > kErrorLogInterval) {
    last_error_log_ = Clock::now();
    spdlog::warn("DNS tap: element write failed for {} of {} sets ({}); retrying every second", failed,
                 batch.size(), first_error.message());
  }
  return first_error;
}

void DnsTap::tick() {
  std::lock_guard lock(mu_);
  auto now = Clock::now();
  held_copies_.expire(now);
  learner_.expire(now);
  batch_.clear();
  learner_.retry(now, batch_);
  commit_locked(batch_, now);
}

void DnsTap::publish(const DomainSetMap& sets, bool reconcile) {
  std::lock_guard lock(mu_);
  auto now = Clock::now();
  bool first = std::exchange(first_publish_, false);
  batch_.clear();
  learner_.set_domain_sets(sets, now, reconcile || first, batch_);
  size_t elements = 0;
  for (const auto& c : batch_) elements += c.add.size() + c.refresh.size();
  if (Status s = commit_locked(batch_, now); !s)
    spdlog::warn("DNS tap: filling domain sets: {}", s.message());
  else if (elements)
    spdlog::info("DNS tap: {} {} learned addresses into {} domain sets", reconcile || first ? "rewrote" : "filled in",
                 elements, batch_.size());
}

Status DnsTap::save_cache() {
  if (opts_.cache_file.empty()) return Status::Ok();
  dns::FqdnCache copy;
  {
    std::lock_guard lock(mu_);
    copy = learner_.cache();
  }
  Status s = copy.save(opts_.cache_file, dns::Now::current());
  std::lock_guard lock(mu_);
  ++(s ? cache_saves_ : cache_save_errors_);
  if (!s) last_cache_error_ = s.message();
  log_save(s);
  return s;
}

// One line when saving starts failing (or fails differently), one when it
// works again; the retries in between are quiet.
void DnsTap::log_save(const Status& s) {
  if (!s) {
    if (s.message() != cache_error_logged_)
      spdlog::error("DNS tap: {}; learned addresses stay in memory and in the kernel's sets, saving is retried "
                    "every {} s",
                    s.message(), opts_.cache_save_interval.count());
    cache_error_logged_ = s.message();
  } else if (!cache_error_logged_.empty()) {
    spdlog::info("DNS tap: cache file {} written again", opts_.cache_file);
    cache_error_logged_.clear();
  }
}

DnsTapStats DnsTap::stats_locked() const {
  DnsTapStats st;
  st.enabled = thread_.joinable();
  st.hold_active = hold_active_;
  st.hold_status = hold_status_;
  st.nflog_group = opts_.nflog_group;
  st.hold_queue = opts_.hold_queue;
  for (const auto& a : opts_.trusted_servers) st.trusted_servers.push_back(a.str());
  st.parse = parse_stats_;
  st.learner = learner_.stats();
  st.nflog_packets = nflog_.stats().packets;
  st.nflog_enobufs = nflog_.stats().enobufs;
  st.nflog_truncated = nflog_.stats().truncated;
  st.held_packets = queue_.stats().packets;
  st.hold_enobufs = queue_.stats().enobufs;
  st.hold_verdict_errors = queue_.stats().verdict_errors;
  st.unheld = unheld_;
  st.held_copies_skipped = held_copies_skipped_;
  st.batches = batches_;
  st.write_errors = write_errors_;
  st.last_write_error = last_write_error_;
  st.names = learner_.cache().key_count();
  st.addresses = learner_.cache().addr_count();
  st.patterns = learner_.domain_sets().size();
  st.cache_saves = cache_saves_;
  st.cache_save_errors = cache_save_errors_;
  st.cache_load_errors = cache_load_errors_;
  st.last_cache_error = last_cache_error_;
  st.last_commit = last_commit_;
  st.max_commit = max_commit_;
  return st;
}

DnsTapStats DnsTap::stats() const {
  std::lock_guard lock(mu_);
  return stats_locked();
}

std::string DnsTap::domain_of(const IpAddr& addr) const {
  std::lock_guard lock(mu_);
  auto names = learner_.names_for(addr);
  return names.empty() ? "" : names.front();
}

DnsReport DnsTap::report(const std::string& name_filter) const {
  std::lock_guard lock(mu_);
  DnsReport r;
  r.stats = stats_locked();
  r.names = learner_.names(Clock::now(), name_filter);
  r.patterns = learner_.patterns();
  return r;
}

}  // namespace wac::agent
