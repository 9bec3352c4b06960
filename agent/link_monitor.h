// Feeds the agent the node's interfaces from netlink link events, on the
// agent's own Asio thread (the watcher's socket is waited on, never polled).
#pragma once
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <map>
#include <string>

#include "agent/agent.h"
#include "netlink/link_watch.h"

namespace wac::agent {

class LinkMonitor {
 public:
  LinkMonitor(boost::asio::io_context& io, Agent& agent) : io_(io), agent_(agent), socket_(io) {}
  ~LinkMonitor();
  LinkMonitor(const LinkMonitor&) = delete;
  LinkMonitor& operator=(const LinkMonitor&) = delete;

  // Subscribes, reports the existing links, then follows changes.
  Status start();
  const netlink::LinkWatchStats& stats() const { return watcher_.stats(); }

 private:
  void wait();
  void drain();

  boost::asio::io_context& io_;
  Agent& agent_;
  netlink::LinkWatcher watcher_;
  boost::asio::posix::stream_descriptor socket_;
  std::map<int, std::string> names_;  // ifindex -> name as last reported
};

}  // namespace wac::agent
