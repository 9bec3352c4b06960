// Watches network interfaces: a dump of the existing links, then their
// changes (RTMGRP_LINK), on one rtnetlink socket.
//
// libmnl rather than libnl's cache manager: wac needs three fields of a link
// and exact control over overruns.  When the kernel drops events (ENOBUFS)
// the watcher re-dumps every link and reports the difference against what it
// knew, so a consumer never misses a link coming or going; the libnl cache
// manager hides that resync and owns its own cache objects, which would
// only be copied into ours.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "netlink/mnl_socket.h"
#include "netlink/status.h"

namespace wac::netlink {

struct Link {
  int ifindex = 0;
  std::string name;
  bool admin_up = false;  // IFF_UP
  bool oper_up = false;   // IFF_RUNNING: up with carrier
  bool operator==(const Link&) const = default;
};

struct LinkEvent {
  enum class Type { Added, Changed, Removed };
  Type type = Type::Added;
  Link link;  // for Removed: the link as last known
};

struct LinkWatchStats {
  uint64_t events = 0;   // LinkEvents delivered
  uint64_t enobufs = 0;  // kernel dropped notifications
  uint64_t resyncs = 0;  // full re-dumps after an overrun
};

class LinkWatcher {
 public:
  using Handler = std::function<void(const LinkEvent&)>;

  // Subscribes to link notifications in the calling thread's network
  // namespace and dumps the existing links; the first read() reports each of
  // them as Added.  receive_buffer: SO_RCVBUFFORCE bytes (0 = default).
  Status open(int receive_buffer = 1 << 20);
  void close() { sock_.close(); }
  int fd() const { return sock_.fd(); }

  // Delivers pending events without blocking: the initial links, then what
  // the kernel reported since.  After an overrun, re-dumps and delivers the
  // difference.
  Status read(const Handler& on_event);

  const std::map<int, Link>& links() const { return links_; }
  const LinkWatchStats& stats() const { return stats_; }

 private:
  Status dump(std::map<int, Link>& out, std::vector<std::vector<char>>& later);
  Status resync();
  void apply(const struct nlmsghdr* nlh);
  void update(const Link& link);
  void remove(int ifindex);
  void flush(const Handler& on_event);

  MnlSocket sock_;
  std::map<int, Link> links_;
  std::vector<LinkEvent> pending_;
  LinkWatchStats stats_;
};

// Parses an RTM_NEWLINK / RTM_DELLINK message (exposed for tests).
bool parse_link_message(const struct nlmsghdr* nlh, Link& out);

}  // namespace wac::netlink
