// A libmnl netlink socket that closes itself, with the few operations wac's
// netlink users share: buffer sizing, non-blocking receive, and
// request/acknowledge round trips.
#pragma once
#include <linux/netlink.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "netlink/status.h"

struct mnl_socket;

namespace wac::netlink {

class MnlSocket {
 public:
  MnlSocket() = default;
  ~MnlSocket();
  MnlSocket(MnlSocket&& other) noexcept;
  MnlSocket& operator=(MnlSocket&& other) noexcept;
  MnlSocket(const MnlSocket&) = delete;
  MnlSocket& operator=(const MnlSocket&) = delete;

  // Opens a socket of netlink family `bus` (NETLINK_NETFILTER,
  // NETLINK_ROUTE, ...) in the calling thread's network namespace, bound to
  // the multicast `groups` bitmask and a kernel-chosen port id.
  Status open(int bus, unsigned groups = 0);
  void close();
  bool is_open() const { return sock_ != nullptr; }
  int fd() const;
  uint32_t portid() const;
  mnl_socket* raw() const { return sock_; }

  // Sequence numbers for requests; start from the clock so replies to an
  // earlier process's requests on a recycled port id are not taken as ours.
  uint32_t next_seq() { return seq_++; }

  // SO_RCVBUFFORCE / SO_SNDBUFFORCE (need CAP_NET_ADMIN), falling back to
  // the capped SO_RCVBUF / SO_SNDBUF.  Never shrinks an existing buffer
  // when `grow_only`.
  Status set_receive_buffer(int bytes, bool grow_only = false);
  Status set_send_buffer(int bytes, bool grow_only = false);
  int receive_buffer() const;
  // setsockopt(SOL_NETLINK, option, 1): NETLINK_EXT_ACK, NETLINK_CAP_ACK, ...
  Status enable(int option);
  Status join_group(unsigned group);

  Status send(const void* buf, size_t len);
  // One sendmsg of several buffers: the kernel sees one datagram, which is
  // what makes an nfnetlink batch atomic.
  Status send_iov(const struct iovec* iov, size_t count);

  struct Received {
    ssize_t len = 0;  // bytes in the datagram; 0 with err set on failure
    int err = 0;      // EAGAIN: nothing within the timeout; ENOBUFS: messages were dropped
    bool truncated = false;
  };
  // Reads one datagram.  timeout_ms: -1 blocks, 0 never waits.
  Received receive(void* buf, size_t len, int timeout_ms);

  // Reads up to max_datagrams that are ready, without waiting, handing each
  // whole one to on_datagram.  Overruns (ENOBUFS: the kernel dropped
  // messages) and datagrams larger than the buffer are counted and skipped:
  // the socket stays usable.  `who` names the socket in errors.
  struct DrainCounters {
    uint64_t& enobufs;
    uint64_t& truncated;
  };
  Status drain(std::vector<char>& buffer, size_t max_datagrams, const char* who, DrainCounters counters,
               const std::function<void(const char*, size_t)>& on_datagram);

  // Sends `req` (must carry NLM_F_ACK or NLM_F_DUMP and a seq from
  // next_seq()) and reads replies until its ack / NLMSG_DONE, giving each
  // reply message and any multicast message received in between to
  // `on_message`, which returns MNL_CB_OK to go on or MNL_CB_ERROR to stop.
  // A negative ack becomes an error Status with its errno and, when the
  // kernel sent one, its extended-ack text.
  using MessageHandler = std::function<int(const struct nlmsghdr*)>;
  Status request(struct nlmsghdr* req, const MessageHandler& on_message, int timeout_ms = 5000);

 private:
  mnl_socket* sock_ = nullptr;
  uint32_t seq_ = 0;
};

// Calls fn(const nlattr*) for each well-formed attribute in [data, data+len).
template <typename Fn>
void for_each_attr(const void* data, size_t len, Fn fn) {
  auto* pos = static_cast<const char*>(data);
  auto* end = pos + len;
  while (end - pos >= NLA_HDRLEN) {
    auto* attr = reinterpret_cast<const nlattr*>(pos);
    if (attr->nla_len < NLA_HDRLEN || attr->nla_len > end - pos) return;
    fn(attr);
    pos += NLA_ALIGN(attr->nla_len);
  }
}

// The extended-ack message text of an NLMSG_ERROR message, if any.
std::string extack_message(const struct nlmsghdr* nlh);
// NLMSGERR_ATTR_OFFS of an NLMSG_ERROR message: offset of the attribute the
// kernel blamed, counted from the start of the original message.
bool extack_offset(const struct nlmsghdr* nlh, uint32_t& offset);

}  // namespace wac::netlink
