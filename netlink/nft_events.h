// Watches nftables change notifications (NFNLGRP_NFTABLES) for one table,
// so the agent notices when another process changes the ruleset it owns:
// `nft flush table`, a deleted set, a hand-added rule.
//
// The kernel reports each committed transaction as the object messages it
// changed followed by one NFT_MSG_NEWGEN carrying the new generation id and
// the pid and name of the committing process.  The watcher folds a
// transaction's messages into one Commit and reports only those that touched
// the watched table.  Lost notifications (ENOBUFS) cannot be reconstructed:
// they are reported as a Commit with `overrun` set, and the caller verifies.
#pragma once
#include <linux/netlink.h>

#include <cstdint>
#include <functional>
#include <string>

#include "netlink/mnl_socket.h"
#include "netlink/status.h"

namespace wac::netlink {

struct NftCommit {
  uint32_t generation = 0;
  uint32_t pid = 0;      // the committing process (0 when the kernel did not say)
  std::string process;   // its name, e.g. "nft"
  uint32_t messages = 0; // object changes in the watched table
  bool overrun = false;  // notifications were lost: anything may have changed
};

struct NftEventStats {
  uint64_t commits = 0;  // transactions that touched the table
  uint64_t enobufs = 0;
};

class NftEventWatcher {
 public:
  NftEventWatcher(uint8_t family, std::string table) : family_(family), table_(std::move(table)) {}

  // Subscribes in the calling thread's network namespace.
  Status open(int receive_buffer = 4 << 20);
  void close() { sock_.close(); }
  int fd() const { return sock_.fd(); }

  using Handler = std::function<void(const NftCommit&)>;
  // Reads what is pending without blocking; calls on_commit per transaction
  // that touched the table (and once per overrun).
  Status read(const Handler& on_commit);

  // Feeds one notification message (exposed for tests).
  void consume(const struct nlmsghdr* nlh, const Handler& on_commit);
  const NftEventStats& stats() const { return stats_; }

 private:
  uint8_t family_;
  std::string table_;
  MnlSocket sock_;
  uint32_t touched_ = 0;  // messages about the table since the last NEWGEN
  NftEventStats stats_;
};

}  // namespace wac::netlink
