#include "netlink/link_watch.h"

#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>

#include <cerrno>
#include <cstring>

namespace wac::netlink {

namespace {

constexpr int kMaxDumpAttempts = 5;

}  // namespace

bool parse_link_message(const nlmsghdr* nlh, Link& out) {
  out = {};
  if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK) return false;
  if (mnl_nlmsg_get_payload_len(nlh) < sizeof(ifinfomsg)) return false;
  auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
  out.ifindex = ifi->ifi_index;
  out.admin_up = ifi->ifi_flags & IFF_UP;
  out.oper_up = ifi->ifi_flags & IFF_RUNNING;
  auto* start = static_cast<const char*>(mnl_nlmsg_get_payload_offset(nlh, sizeof(ifinfomsg)));
  auto* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh));
  if (start > tail) return false;
  for_each_attr(start, size_t(tail - start), [&](const nlattr* attr) {
    if (mnl_attr_get_type(attr) != IFLA_IFNAME) return;
    auto* text = static_cast<const char*>(mnl_attr_get_payload(attr));
    out.name.assign(text, strnlen(text, mnl_attr_get_payload_len(attr)));
  });
  return out.ifindex > 0;
}

Status LinkWatcher::open(int receive_buffer) {
  if (auto st = sock_.open(NETLINK_ROUTE, RTMGRP_LINK); !st) return st;
  if (receive_buffer > 0) {
    if (auto st = sock_.set_receive_buffer(receive_buffer); !st) return st;
  }
  links_.clear();
  pending_.clear();
  stats_ = {};
  return resync();
}

Status LinkWatcher::dump(std::map<int, Link>& out, std::vector<std::vector<char>>& later) {
  // Whatever is queued now is older than the dump about to run: discard it.
  std::vector<char> stale(64 * 1024);
  for (;;) {
    auto r = sock_.receive(stale.data(), stale.size(), 0);
    if (r.err != ENOBUFS && r.len <= 0) break;
  }
  for (int attempt = 0; attempt < kMaxDumpAttempts; ++attempt) {
    out.clear();
    later.clear();
    bool interrupted = false;
    char buf[MNL_SOCKET_BUFFER_SIZE];
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_GETLINK;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    nlh->nlmsg_seq = sock_.next_seq();
    auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
    ifi->ifi_family = AF_UNSPEC;
    const uint32_t seq = nlh->nlmsg_seq;
    Status st = sock_.request(nlh, [&](const nlmsghdr* msg) {
      if (msg->nlmsg_seq != seq) {
        // A notification sent while the dump ran: it may be newer than what
        // the dump said about its link, so it is applied after the dump.
        auto* bytes = reinterpret_cast<const char*>(msg);
        later.emplace_back(bytes, bytes + msg->nlmsg_len);
        return MNL_CB_OK;
      }
      if (msg->nlmsg_flags & NLM_F_DUMP_INTR) interrupted = true;
      Link link;
      if (msg->nlmsg_type == RTM_NEWLINK && parse_link_message(msg, link)) out[link.ifindex] = link;
      return MNL_CB_OK;
    });
    if (st.errno_value() == ENOBUFS) {
      ++stats_.enobufs;
      continue;  // an overrun during the dump: its result may be incomplete
    }
    if (!st) return Status::Error("link dump: " + st.message(), st.errno_value());
    if (!interrupted) return Status::Ok();
  }
  return Status::Error("link dump: kept being interrupted by changes", EAGAIN);
}

Status LinkWatcher::resync() {
  std::map<int, Link> current;
  std::vector<std::vector<char>> later;
  if (auto st = dump(current, later); !st) return st;
  for (auto it = links_.begin(); it != links_.end();) {
    if (current.count(it->first)) {
      ++it;
      continue;
    }
    pending_.push_back({LinkEvent::Type::Removed, it->second});
    it = links_.erase(it);
  }
  for (const auto& [index, link] : current) update(link);
  for (const auto& msg : later) apply(reinterpret_cast<const nlmsghdr*>(msg.data()));
  return Status::Ok();
}

void LinkWatcher::update(const Link& link) {
  auto it = links_.find(link.ifindex);
  if (it == links_.end()) {
    links_[link.ifindex] = link;
    pending_.push_back({LinkEvent::Type::Added, link});
    return;
  }
  if (it->second == link) return;  // a notification that changed nothing wac tracks
  it->second = link;
  pending_.push_back({LinkEvent::Type::Changed, link});
}

void LinkWatcher::remove(int ifindex) {
  auto it = links_.find(ifindex);
  if (it == links_.end()) return;
  pending_.push_back({LinkEvent::Type::Removed, it->second});
  links_.erase(it);
}

void LinkWatcher::apply(const nlmsghdr* nlh) {
  Link link;
  if (!parse_link_message(nlh, link)) return;
  if (nlh->nlmsg_type == RTM_DELLINK) {
    remove(link.ifindex);
  } else {
    update(link);
  }
}

void LinkWatcher::flush(const Handler& on_event) {
  // Swap first: a handler may call read() again.
  std::vector<LinkEvent> events;
  events.swap(pending_);
  for (const auto& e : events) {
    ++stats_.events;
    on_event(e);
  }
}

Status LinkWatcher::read(const Handler& on_event) {
  if (!sock_.is_open()) return Status::Error("link watcher: not open", EBADF);
  flush(on_event);
  std::vector<char> buf(64 * 1024);
  for (;;) {
    auto r = sock_.receive(buf.data(), buf.size(), 0);
    if (r.err == EAGAIN) break;
    if (r.err == ENOBUFS) {
      ++stats_.enobufs;
      ++stats_.resyncs;
      // Notifications were lost: what is queued is still valid, but only a
      // fresh dump tells what was missed.
      if (auto st = resync(); !st) return st;
      flush(on_event);
      continue;
    }
    if (r.err) return Status::Error(std::string("link watcher receive: ") + std::strerror(r.err), r.err);
    int remaining = int(r.len);
    for (auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data()); mnl_nlmsg_ok(nlh, remaining);
         nlh = mnl_nlmsg_next(nlh, &remaining)) {
      apply(nlh);
    }
    flush(on_event);
  }
  return Status::Ok();
}

}  // namespace wac::netlink
