#include "agent/flow_log.h"

#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace wac::agent {

namespace {

using Clock = std::chrono::steady_clock;

// Headers only: IPv6 with a few extension headers and TCP fit in 256 bytes.
constexpr uint32_t kCopyRange = 256;
// Datagrams read per wake-up, so a stop request is seen under a flood.
constexpr size_t kMaxDatagramsPerRead = 64;
constexpr auto kReopenInterval = std::chrono::seconds(5);
constexpr auto kErrorLogInterval = std::chrono::seconds(10);

std::string errno_text(const std::string& what, int err) { return what + ": " + std::strerror(err); }

}  // namespace

// ---------------------------------------------------------------- the file

Status FlowLogFile::open() {
  close();
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::path(path_).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  if (ec) return Status::Error("flow log " + path_ + ": cannot create " + dir.string() + ": " + ec.message());
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
  if (fd_ < 0) return Status::Error(errno_text("flow log " + path_, errno), errno);
  struct stat st {};
  size_ = ::fstat(fd_, &st) == 0 ? uint64_t(st.st_size) : 0;
  return Status::Ok();
}

void FlowLogFile::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Status FlowLogFile::rotate() {
  close();
  std::string old = path_ + ".1";
  if (::rename(path_.c_str(), old.c_str()) != 0 && errno != ENOENT)
    return Status::Error(errno_text("flow log: renaming " + path_ + " to " + old, errno), errno);
  return open();
}

Status FlowLogFile::write(const std::string& line) {
  if (fd_ < 0)
    if (Status s = open(); !s) return s;
  if (size_ > 0 && size_ + line.size() > max_bytes_)
    if (Status s = rotate(); !s) return s;
  // One write per line: O_APPEND keeps lines whole even if another process
  // appends too, and a reader never sees half a record.
  ssize_t n = ::write(fd_, line.data(), line.size());
  if (n < 0) return Status::Error(errno_text("flow log " + path_ + ": write", errno), errno);
  size_ += uint64_t(n);
  if (size_t(n) != line.size())
    return Status::Error("flow log " + path_ + ": short write (" + std::to_string(n) + " of " +
                         std::to_string(line.size()) + " bytes; disk full?)",
                         ENOSPC);
  return Status::Ok();
}

// ---------------------------------------------------------------- the logger

FlowLogger::FlowLogger(FlowLogOptions options, std::shared_ptr<const FlowDecisions> decisions, FlowHub& hub)
    : opts_(std::move(options)),
      decisions_(std::move(decisions)),
      hub_(hub),
      bucket_(opts_.rate_limit, opts_.burst),
      file_(opts_.file, opts_.max_file_bytes) {}

FlowLogger::~FlowLogger() {
  stop();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

Status FlowLogger::start() {
  if (!opts_.file.empty())
    if (Status s = file_.open(); !s) {
      ++write_errors_;
      spdlog::error("{}; flow records are streamed (wacctl flows) and the file is retried", s.message());
    }
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) return Status::Error(errno_text("flow logs: eventfd", errno), errno);
  netlink::NflogOptions nflog;
  nflog.copy_range = kCopyRange;
  nflog.queue_threshold = 32;  // batches under load; a lone packet waits at most the 10 ms flush timeout
  nflog.receive_buffer = 1 << 20;
  if (Status s = nflog_.open(opts_.nflog_group, nflog); !s)
    return Status::Error("flow logs: " + s.message() +
                             (s.errno_value() == EBUSY || s.errno_value() == EPERM
                                  ? " (another process reads this group? set flowLogs.nflogGroup)"
                                  : ""),
                         s.errno_value());
  listening_ = true;
  spdlog::info("flow logs: nflog group {}, file {}, at most {} records/s (burst {})", opts_.nflog_group,
               opts_.file.empty() ? "(none)" : opts_.file, opts_.rate_limit, opts_.burst);
  thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
  return Status::Ok();
}

void FlowLogger::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  thread_.join();
  nflog_.close();
  listening_ = false;
  file_.close();
}

void FlowLogger::run(std::stop_token stop) {
  auto on_packet = [this](const netlink::NflogPacket& p) { handle(p, Clock::now()); };
  while (!stop.stop_requested()) {
    pollfd fds[2] = {{nflog_.fd(), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("flow logs: poll: {}; flow logging stops", std::strerror(errno));
      break;
    }
    if (fds[1].revents & POLLIN) {
      uint64_t v;
      [[maybe_unused]] auto n = ::read(wake_fd_, &v, sizeof v);
    }
    if (reopen_.exchange(false)) {
      file_.close();  // the next record opens it again, under its (new) name
      spdlog::info("flow logs: reopening {}", opts_.file);
    }
    if (fds[0].revents & (POLLIN | POLLERR)) {
      if (Status s = nflog_.read_batch(on_packet, kMaxDatagramsPerRead); !s) {
        spdlog::error("flow logs: {}; flow logging stops", s.message());
        break;
      }
      enobufs_ = nflog_.stats().enobufs;
    }
  }
  listening_ = false;
}

void FlowLogger::reopen_file() {
  reopen_ = true;
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  }
}

void FlowLogger::set_endpoints(std::unordered_map<IpAddr, FlowEndpoint> by_address) {
  std::lock_guard lock(endpoints_mu_);
  endpoints_ = std::move(by_address);
}

std::string FlowLogger::interface_name(uint32_t ifindex) const {
  char name[IF_NAMESIZE] = {};
  if (ifindex == 0 || !if_indextoname(ifindex, name)) return "";
  return name;
}

std::optional<FlowRecord> FlowLogger::make_record(const netlink::NflogPacket& packet) const {
  auto id = decision_id(packet.prefix, packet.mark);
  auto tuple = parse_flow_tuple(packet.payload);
  if (!id || !tuple) return std::nullopt;
  FlowRecord r;
  r.time = packet.timestamp;
  r.node = opts_.node_name;
  r.tuple = *tuple;
  r.reason = "unknown";
  auto decision = decisions_->find(*id);
  if (!decision) return r;
  apply_decision(*decision, r);
  bool egress = decision->direction == model::Direction::Egress;
  // The local pod: its own address is the source of what it sends, the
  // destination of what it receives.
  if (r.pod.empty()) {
    std::lock_guard lock(endpoints_mu_);
    if (auto it = endpoints_.find(egress ? tuple->src : tuple->dst); it != endpoints_.end()) {
      r.ns = it->second.ns;
      r.pod = it->second.pod;
      r.endpoint = it->second.endpoint;
    }
  }
  r.interface = interface_name(egress ? packet.indev : packet.outdev);
  if (domain_of) r.domain = domain_of(egress ? tuple->dst : tuple->src);
  return r;
}

void FlowLogger::handle(const netlink::NflogPacket& packet, SteadyTime now) {
  ++packets_;
  // Before any parsing: a flood costs as little as possible.
  if (!bucket_.take(now)) {
    ++rate_limited_;
    return;
  }
  auto record = make_record(packet);
  if (!record) {
    ++unparsed_;
    return;
  }
  if (record->reason == "unknown") ++unknown_;
  emit(*record);
}

void FlowLogger::emit(const FlowRecord& record) {
  if (!opts_.file.empty()) write_line(to_json_line(record) + "\n");
  else ++written_;
  hub_.publish(record);
}

void FlowLogger::write_line(const std::string& line) {
  auto now = Clock::now();
  if (!file_.is_open() && now < next_open_attempt_) {
    ++write_errors_;
    return;
  }
  Status s = file_.write(line);
  if (s) {
    ++written_;
    return;
  }
  ++write_errors_;
  file_.close();
  next_open_attempt_ = now + kReopenInterval;
  if (now - last_error_log_ > kErrorLogInterval) {
    last_error_log_ = now;
    spdlog::error("{}; records are dropped from the file (still streamed) and it is retried every {} s",
                  s.message(), kReopenInterval.count());
  }
}

FlowLogStats FlowLogger::stats() const {
  FlowLogStats s;
  s.listening = listening_;
  s.packets = packets_;
  s.written = written_;
  s.rate_limited = rate_limited_;
  s.unparsed = unparsed_;
  s.unknown_decisions = unknown_;
  s.write_errors = write_errors_;
  s.nflog_enobufs = enobufs_;
  s.watcher_lost = hub_.lost();
  s.watchers = hub_.watchers();
  return s;
}

}  // namespace wac::agent
