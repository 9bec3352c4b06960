#include "agent/table_guard.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <linux/netfilter.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

namespace wac::agent {

namespace {
std::string read_own_name() {
  std::string name;
  std::getline(std::ifstream("/proc/self/comm"), name);
  return name;
}
}  // namespace

TableGuard::TableGuard(boost::asio::io_context& io, Agent& agent, std::chrono::milliseconds settle)
    : agent_(agent),
      watcher_(NFPROTO_INET, "wac"),
      socket_(io),
      settle_timer_(io),
      settle_(settle),
      own_pid_(uint32_t(getpid())),
      own_name_(read_own_name()) {}

TableGuard::~TableGuard() {
  // The watcher owns the descriptor; the Asio object only waits on it.
  if (socket_.is_open()) socket_.release();
}

Status TableGuard::start() {
  // Room for the notifications of a large transaction of wacd's own (tens of
  // thousands of rules and elements); only used while they queue.
  if (Status s = watcher_.open(32 << 20); !s.ok()) return s;
  socket_.assign(watcher_.fd());
  wait();
  return Status::Ok();
}

void TableGuard::wait() {
  socket_.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
    if (ec) {
      if (ec != boost::asio::error::operation_aborted) spdlog::error("table guard: wait failed: {}", ec.message());
      return;
    }
    drain();
  });
}

void TableGuard::drain() {
  Status s = watcher_.read([this](const netlink::NftCommit& c) { note(c); });
  if (!s.ok()) spdlog::warn("table guard: {}", s.message());
  wait();
}

// The kernel names the committing *thread* (the DNS tap commits from its
// own), by its id in the initial PID namespace.  So a commit is ours when
// that id is one of our threads, or, when wacd runs in a PID namespace of
// its own (a container) and cannot see that id, when the committing thread
// carries wacd's name.
bool TableGuard::is_own(const netlink::NftCommit& c) const {
  if (c.pid == own_pid_) return true;
  std::error_code ec;
  if (std::filesystem::exists("/proc/self/task/" + std::to_string(c.pid), ec)) return true;
  return !own_name_.empty() && c.process == own_name_ && !std::filesystem::exists("/proc/" + std::to_string(c.pid), ec);
}

void TableGuard::note(const netlink::NftCommit& c) {
  if (!c.overrun && is_own(c)) return;  // our own transactions and element batches
  std::string who = c.overrun ? "unknown (nftables notifications were lost)"
                              : (c.process.empty() ? "a process" : c.process) + " (pid " + std::to_string(c.pid) + ")";
  bool settling = !pending_.empty();
  pending_ = who;
  if (settling) return;
  settle_timer_.expires_after(c.overrun ? overrun_delay() : settle_);
  settle_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    agent_.foreign_change(std::exchange(pending_, std::string()));
  });
}

// Lost notifications say nothing about who changed the table, and wacd's own
// largest transactions can overrun the socket themselves; the repair (a full
// sync) is such a transaction.  So repairs after overruns back off (doubling
// up to a minute while they keep coming) instead of chasing their own tail.
std::chrono::milliseconds TableGuard::overrun_delay() {
  auto now = std::chrono::steady_clock::now();
  if (now - last_overrun_ > std::chrono::minutes(5)) overrun_backoff_ = settle_;
  else overrun_backoff_ = std::min<std::chrono::milliseconds>(overrun_backoff_ * 2, std::chrono::minutes(1));
  last_overrun_ = now;
  return overrun_backoff_;
}

}  // namespace wac::agent
