#include "agent/link_monitor.h"

#include <spdlog/spdlog.h>

namespace wac::agent {

LinkMonitor::~LinkMonitor() {
  // The watcher owns the descriptor; the Asio object only waits on it.
  if (socket_.is_open()) socket_.release();
}

Status LinkMonitor::start() {
  if (Status s = watcher_.open(); !s.ok()) return s;
  socket_.assign(watcher_.fd());
  drain();
  return Status::Ok();
}

void LinkMonitor::wait() {
  socket_.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
    if (ec) {
      if (ec != boost::asio::error::operation_aborted) spdlog::error("link monitor: wait failed: {}", ec.message());
      return;
    }
    drain();
  });
}

void LinkMonitor::drain() {
  Status s = watcher_.read([this](const netlink::LinkEvent& e) {
    // Names by index, so a rename reports the old name gone.
    auto known = names_.find(e.link.ifindex);
    if (known != names_.end() && (e.type == netlink::LinkEvent::Type::Removed || known->second != e.link.name)) {
      agent_.interface_removed(known->second);
      names_.erase(known);
    }
    if (e.type == netlink::LinkEvent::Type::Removed) return;
    if (names_.emplace(e.link.ifindex, e.link.name).second) agent_.interface_added(e.link.name);
  });
  // An overrun is recovered inside read() by a re-dump; other errors are
  // environmental (the socket is still usable), so log and keep waiting.
  if (!s.ok()) spdlog::warn("link monitor: {}", s.message());
  agent_.set_link_stats(watcher_.stats().events, watcher_.stats().resyncs);
  wait();
}

}  // namespace wac::agent
