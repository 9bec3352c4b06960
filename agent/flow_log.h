// Flow logs: the packets the flow log rules copy to nfnetlink_log become
// records, written as JSON lines to a file and published to WatchFlows
// watchers (agent/flow_decisions.h has the rules).
//
//   nflog group (flowLogs.nflogGroup) ─▶ token bucket (flowLogs.rateLimit,
//   burst) ─▶ headers → FlowTuple ─▶ decision id → FlowDecision ─▶ pod by
//   address ─▶ domain (DNS tap) ─▶ JSON line → file; record → FlowHub
//
// Everything runs on the logger's own thread: a flood, a slow disk or a
// slow watcher never holds up the agent thread, and libnftables is never
// used here. The kernel already limits what reaches this thread
// (flowLogs.kernelRateLimit); the token bucket decides what is written and
// counts the rest. A file that cannot be written is logged and counted,
// retried every few seconds, and never stops enforcement or the stream.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "agent/flow_decisions.h"
#include "agent/flow_hub.h"
#include "agent/flow_record.h"
#include "agent/token_bucket.h"
#include "netlink/nflog.h"
#include "netlink/status.h"

namespace wac::agent {

struct FlowLogOptions {
  std::string node_name;
  uint16_t nflog_group = 5354;
  std::string file;  // "" = no file (the stream only)
  uint64_t max_file_bytes = 100ull << 20;
  uint32_t rate_limit = 100;  // records per second
  uint32_t burst = 200;
};

// A local endpoint, as flow records name it.
struct FlowEndpoint {
  std::string ns, pod, endpoint;
};

struct FlowLogStats {
  bool listening = false;
  uint64_t packets = 0;            // logged packets read
  uint64_t written = 0;            // records written to the file (or streamed, without a file)
  uint64_t rate_limited = 0;       // over flowLogs.rateLimit: not written
  uint64_t unparsed = 0;           // headers unreadable, or not a flow log prefix: not written
  uint64_t unknown_decisions = 0;  // written with reason "unknown"
  uint64_t write_errors = 0;
  uint64_t nflog_enobufs = 0;      // times the kernel dropped logged packets (socket buffer full)
  uint64_t watcher_lost = 0;       // records slow watchers missed
  uint64_t watchers = 0;
};

// The flow log file: appends whole lines; past `max_bytes` the file is
// renamed to FILE.1 (replacing the previous one) and a new one begun.
class FlowLogFile {
 public:
  FlowLogFile(std::string path, uint64_t max_bytes) : path_(std::move(path)), max_bytes_(max_bytes) {}
  ~FlowLogFile() { close(); }
  FlowLogFile(const FlowLogFile&) = delete;
  FlowLogFile& operator=(const FlowLogFile&) = delete;

  Status open();   // creates the directory and the file (0640) if missing
  Status write(const std::string& line);  // `line` ends with '\n'; opens the file if needed
  void close();
  const std::string& path() const { return path_; }
  bool is_open() const { return fd_ >= 0; }

 private:
  Status rotate();

  std::string path_;
  uint64_t max_bytes_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

class FlowLogger {
 public:
  using SteadyTime = std::chrono::steady_clock::time_point;

  FlowLogger(FlowLogOptions options, std::shared_ptr<const FlowDecisions> decisions, FlowHub& hub);
  ~FlowLogger();
  FlowLogger(const FlowLogger&) = delete;
  FlowLogger& operator=(const FlowLogger&) = delete;

  // Opens the file (a failure is logged and retried later) and binds the
  // nflog group; an error there means no flow logs (e.g. another process
  // has the group). Then starts the thread.
  Status start();
  void stop();

  // The DNS name the tap learned for an address, or ""; set before start().
  std::function<std::string(const IpAddr&)> domain_of;

  // Agent thread, after each calculation: the local endpoints by address.
  void set_endpoints(std::unordered_map<IpAddr, FlowEndpoint> by_address);
  // Any thread (SIGHUP): reopen the file, for logrotate.
  void reopen_file();

  FlowLogStats stats() const;

  // The pipeline without the socket, for tests: one logged packet at `now`.
  void handle(const netlink::NflogPacket& packet, SteadyTime now);
  // The record a logged packet makes (no rate limit, not written).
  std::optional<FlowRecord> make_record(const netlink::NflogPacket& packet) const;

 private:
  void run(std::stop_token stop);
  void emit(const FlowRecord& record);
  void write_line(const std::string& line);
  std::string interface_name(uint32_t ifindex) const;

  FlowLogOptions opts_;
  std::shared_ptr<const FlowDecisions> decisions_;
  FlowHub& hub_;
  TokenBucket bucket_;
  FlowLogFile file_;
  netlink::NflogListener nflog_;

  mutable std::mutex endpoints_mu_;
  std::unordered_map<IpAddr, FlowEndpoint> endpoints_;

  std::atomic<bool> reopen_{false};
  std::chrono::steady_clock::time_point next_open_attempt_{};
  std::chrono::steady_clock::time_point last_error_log_{};
  std::atomic<bool> listening_{false};
  std::atomic<uint64_t> packets_{0}, written_{0}, rate_limited_{0}, unparsed_{0}, unknown_{0}, write_errors_{0},
      enobufs_{0};
  int wake_fd_ = -1;
  std::jthread thread_;
};

}  // namespace wac::agent
