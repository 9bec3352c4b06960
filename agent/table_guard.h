// Guards the `inet wac` table against changes by other processes: nftables
// change notifications name the committing process of every transaction, so
// one that is not wacd and touched the table makes the agent read the table
// back and restore it (a full sync), counted in status.
#pragma once
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <string>

#include "agent/agent.h"
#include "netlink/nft_events.h"

namespace wac::agent {

class TableGuard {
 public:
  // `settle`: how long to wait for a burst of foreign commits (a script
  // running several nft commands) to end before one repair.
  TableGuard(boost::asio::io_context& io, Agent& agent,
             std::chrono::milliseconds settle = std::chrono::milliseconds(100));
  ~TableGuard();
  TableGuard(const TableGuard&) = delete;
  TableGuard& operator=(const TableGuard&) = delete;

  Status start();

 private:
  void wait();
  void drain();
  void note(const netlink::NftCommit& c);
  bool is_own(const netlink::NftCommit& c) const;
  std::chrono::milliseconds overrun_delay();

  Agent& agent_;
  netlink::NftEventWatcher watcher_;
  boost::asio::posix::stream_descriptor socket_;
  boost::asio::steady_timer settle_timer_;
  std::chrono::milliseconds settle_;
  std::string pending_;  // who changed the table, while settling ("" = nobody)
  uint32_t own_pid_;
  std::string own_name_;  // this process's comm ("wacd")
  std::chrono::steady_clock::time_point last_overrun_{};
  std::chrono::milliseconds overrun_backoff_{0};
};

}  // namespace wac::agent
