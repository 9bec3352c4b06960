#include "netlink/mnl_socket.h"

#include <libmnl/libmnl.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace wac::netlink {

namespace {

// Large enough for any single netlink datagram the kernel builds for a
// dump (it sizes them to the reader's buffer, up to 32 KiB).
constexpr size_t kReceiveBufferSize = 64 * 1024;

Status errno_status(const std::string& what, int err) {
  return Status::Error(what + ": " + std::strerror(err), err);
}

// Walks the TLVs an extended ack appends after the error header (and after
// the echoed request unless the kernel capped it).
template <typename Fn>
void for_each_extack_attr(const nlmsghdr* nlh, Fn fn) {
  if (nlh->nlmsg_type != NLMSG_ERROR || !(nlh->nlmsg_flags & NLM_F_ACK_TLVS)) return;
  auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
  size_t offset = sizeof(nlmsgerr);
  if (!(nlh->nlmsg_flags & NLM_F_CAPPED) && err->msg.nlmsg_len >= sizeof(nlmsghdr)) {
    offset += err->msg.nlmsg_len - sizeof(nlmsghdr);
  }
  offset = MNL_ALIGN(offset);
  if (offset >= mnl_nlmsg_get_payload_len(nlh)) return;
  auto* start = static_cast<const char*>(mnl_nlmsg_get_payload_offset(nlh, offset));
  auto* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh));
  for_each_attr(start, size_t(tail - start), fn);
}

struct RequestContext {
  const MnlSocket::MessageHandler* handler;
};

int dispatch(const nlmsghdr* nlh, void* data) {
  auto* ctx = static_cast<RequestContext*>(data);
  return (*ctx->handler)(nlh);
}

}  // namespace

MnlSocket::~MnlSocket() { close(); }

MnlSocket::MnlSocket(MnlSocket&& other) noexcept : sock_(other.sock_), seq_(other.seq_) { other.sock_ = nullptr; }

MnlSocket& MnlSocket::operator=(MnlSocket&& other) noexcept {
  if (this != &other) {
    close();
    sock_ = other.sock_;
    seq_ = other.seq_;
    other.sock_ = nullptr;
  }
  return *this;
}

Status MnlSocket::open(int bus, unsigned groups) {
  close();
  sock_ = mnl_socket_open2(bus, SOCK_CLOEXEC);
  if (!sock_) return errno_status("netlink socket (bus " + std::to_string(bus) + ")", errno);
  if (mnl_socket_bind(sock_, groups, MNL_SOCKET_AUTOPID) < 0) {
    int err = errno;
    close();
    return errno_status("netlink bind (bus " + std::to_string(bus) + ")", err);
  }
  seq_ = static_cast<uint32_t>(std::time(nullptr));
  return Status::Ok();
}

void MnlSocket::close() {
  if (sock_) mnl_socket_close(sock_);
  sock_ = nullptr;
}

int MnlSocket::fd() const { return sock_ ? mnl_socket_get_fd(sock_) : -1; }
uint32_t MnlSocket::portid() const { return sock_ ? mnl_socket_get_portid(sock_) : 0; }

int MnlSocket::receive_buffer() const {
  int value = 0;
  socklen_t len = sizeof value;
  if (getsockopt(fd(), SOL_SOCKET, SO_RCVBUF, &value, &len) < 0) return -1;
  return value;
}

namespace {
Status set_buffer(int fd, int force_opt, int opt, int bytes, bool grow_only, const char* what) {
  if (grow_only) {
    int current = 0;
    socklen_t len = sizeof current;
    // The kernel reports twice the requested size (bookkeeping overhead).
    if (getsockopt(fd, SOL_SOCKET, opt, &current, &len) == 0 && current / 2 >= bytes) return Status::Ok();
  }
  if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof bytes) == 0) return Status::Ok();
  if (setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof bytes) == 0) return Status::Ok();
  return errno_status(what, errno);
}
}  // namespace

Status MnlSocket::set_receive_buffer(int bytes, bool grow_only) {
  return set_buffer(fd(), SO_RCVBUFFORCE, SO_RCVBUF, bytes, grow_only, "netlink receive buffer");
}

Status MnlSocket::set_send_buffer(int bytes, bool grow_only) {
  return set_buffer(fd(), SO_SNDBUFFORCE, SO_SNDBUF, bytes, grow_only, "netlink send buffer");
}

Status MnlSocket::enable(int option) {
  int one = 1;
  if (mnl_socket_setsockopt(sock_, option, &one, sizeof one) < 0) {
    return errno_status("netlink socket option " + std::to_string(option), errno);
  }
  return Status::Ok();
}

Status MnlSocket::join_group(unsigned group) {
  if (mnl_socket_setsockopt(sock_, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0) {
    return errno_status("netlink join group " + std::to_string(group), errno);
  }
  return Status::Ok();
}

Status MnlSocket::send(const void* buf, size_t len) {
  if (mnl_socket_sendto(sock_, buf, len) < 0) return errno_status("netlink send", errno);
  return Status::Ok();
}

Status MnlSocket::send_iov(const iovec* iov, size_t count) {
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  msghdr msg{};
  msg.msg_name = &kernel;
  msg.msg_namelen = sizeof kernel;
  msg.msg_iov = const_cast<iovec*>(iov);
  msg.msg_iovlen = count;
  if (sendmsg(fd(), &msg, 0) < 0) return errno_status("netlink sendmsg", errno);
  return Status::Ok();
}

MnlSocket::Received MnlSocket::receive(void* buf, size_t len, int timeout_ms) {
  Received r;
  if (timeout_ms != 0) {
    pollfd p{fd(), POLLIN, 0};
    int n;
    do {
      n = poll(&p, 1, timeout_ms);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      r.err = errno;
      return r;
    }
    if (n == 0) {
      r.err = EAGAIN;
      return r;
    }
  }
  for (;;) {
    sockaddr_nl from{};
    iovec iov{buf, len};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    ssize_t n = recvmsg(fd(), &msg, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      r.err = errno == EWOULDBLOCK ? EAGAIN : errno;
      return r;
    }
    if (from.nl_pid != 0) continue;  // only the kernel talks to us; drop anything else
    r.len = n;
    r.truncated = (msg.msg_flags & MSG_TRUNC) != 0;
    return r;
  }
}

Status MnlSocket::request(nlmsghdr* req, const MessageHandler& on_message, int timeout_ms) {
  const uint32_t seq = req->nlmsg_seq;
  if (auto st = send(req, req->nlmsg_len); !st) return st;
  std::vector<char> buf(kReceiveBufferSize);
  RequestContext ctx{&on_message};
  for (;;) {
    Received r = receive(buf.data(), buf.size(), timeout_ms);
    if (r.err == EAGAIN && r.len == 0 && timeout_ms != 0) {
      return Status::Error("netlink request: no reply within " + std::to_string(timeout_ms) + " ms", ETIMEDOUT);
    }
    if (r.err) return errno_status("netlink receive", r.err);
    if (r.truncated) return Status::Error("netlink receive: reply truncated", EMSGSIZE);
    // Negative acks come back as -1/errno from mnl_cb_run; keep the
    // extended-ack text of the message that carried it.
    std::string ext;
    int remaining = int(r.len);
    for (auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data()); mnl_nlmsg_ok(nlh, remaining);
         nlh = mnl_nlmsg_next(nlh, &remaining)) {
      if (nlh->nlmsg_type == NLMSG_ERROR && nlh->nlmsg_seq == seq) ext = extack_message(nlh);
    }
    int ret = mnl_cb_run(buf.data(), size_t(r.len), seq, portid(), dispatch, &ctx);
    if (ret == MNL_CB_STOP) return Status::Ok();
    if (ret < 0) {
      int err = errno;
      std::string msg = std::strerror(err);
      if (!ext.empty()) msg += " (" + ext + ")";
      return Status::Error(msg, err);
    }
  }
}

std::string extack_message(const nlmsghdr* nlh) {
  std::string text;
  for_each_extack_attr(nlh, [&](const nlattr* attr) {
    if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0) {
      text = mnl_attr_get_str(attr);
    }
  });
  return text;
}

bool extack_offset(const nlmsghdr* nlh, uint32_t& offset) {
  bool found = false;
  for_each_extack_attr(nlh, [&](const nlattr* attr) {
    if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_OFFS && mnl_attr_validate(attr, MNL_TYPE_U32) == 0) {
      offset = mnl_attr_get_u32(attr);
      found = true;
    }
  });
  return found;
}

Status MnlSocket::drain(std::vector<char>& buffer, size_t max_datagrams, const char* who,
                        DrainCounters counters, const std::function<void(const char*, size_t)>& on_datagram) {
  if (!is_open()) return Status::Error(std::string(who) + ": not open", EBADF);
  for (size_t n = 0; n < max_datagrams; ++n) {
    auto r = receive(buffer.data(), buffer.size(), 0);
    if (r.err == EAGAIN) return Status::Ok();
    if (r.err == ENOBUFS) {
      ++counters.enobufs;
      continue;
    }
    if (r.err) return Status::Error(std::string(who) + " receive: " + std::strerror(r.err), r.err);
    if (r.truncated) {
      ++counters.truncated;
      continue;
    }
    on_datagram(buffer.data(), size_t(r.len));
  }
  return Status::Ok();
}

}  // namespace wac::netlink
