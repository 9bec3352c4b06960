#include "agent/table_guard.h"

#include <linux/netfilter.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

namespace wac::agent {

TableGuard::TableGuard(boost::asio::io_context& io, Agent& agent, std::chrono::milliseconds settle)
    : agent_(agent),
      watcher_(NFPROTO_INET, "wac"),
      socket_(io),
      settle_timer_(io),
      settle_(settle),
      own_pid_(uint32_t(getpid())) {}

TableGuard::~TableGuard() {
  // The watcher owns the descriptor; the Asio object only waits on it.
  if (socket_.is_open()) socket_.release();
}

Status TableGuard::start() {
  if (Status s = watcher_.open(); !s.ok()) return s;
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

void TableGuard::note(const netlink::NftCommit& c) {
  if (!c.overrun && c.pid == own_pid_) return;  // our own transactions and element batches
  std::string who = c.overrun ? "unknown (nftables notifications were lost)"
                              : (c.process.empty() ? "a process" : c.process) + " (pid " + std::to_string(c.pid) + ")";
  bool settling = !pending_.empty();
  pending_ = who;
  if (settling) return;
  settle_timer_.expires_after(settle_);
  settle_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    agent_.foreign_change(std::exchange(pending_, std::string()));
  });
}

}  // namespace wac::agent
