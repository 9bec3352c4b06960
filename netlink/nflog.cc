#include "netlink/nflog.h"

#include <arpa/inet.h>
#include <endian.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>

namespace wac::netlink {

namespace {

// Room for one kernel datagram: a batch of packets up to the kernel's
// batch buffer, or one whole 64 KiB packet with its attributes.
constexpr size_t kMinReadBuffer = 128 * 1024;

nlmsghdr* put_config_header(char* buf, uint16_t group, uint8_t family, uint32_t seq) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  nlh->nlmsg_seq = seq;
  auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfg->nfgen_family = family;
  nfg->version = NFNETLINK_V0;
  nfg->res_id = htons(group);
  return nlh;
}

void put_command(nlmsghdr* nlh, uint8_t command) {
  nfulnl_msg_config_cmd cmd{command};
  mnl_attr_put(nlh, NFULA_CFG_CMD, sizeof cmd, &cmd);
}

const char* command_name(uint8_t cmd) {
  switch (cmd) {
    case NFULNL_CFG_CMD_BIND: return "bind";
    case NFULNL_CFG_CMD_PF_BIND: return "pf-bind";
    case NFULNL_CFG_CMD_PF_UNBIND: return "pf-unbind";
    default: return "command";
  }
}

int collect_attr(const nlattr* attr, void* data) {
  auto** tb = static_cast<const nlattr**>(data);
  uint16_t type = mnl_attr_get_type(attr);
  if (type <= NFULA_MAX) tb[type] = attr;
  return MNL_CB_OK;
}

// The packet's wall-clock time as the kernel stamped it, if a time_point
// can hold it: a corrupt or hostile value must not overflow the conversion
// to nanoseconds (found by netlink_fuzz).
std::optional<std::chrono::system_clock::time_point> kernel_time(const nfulnl_msg_packet_timestamp& ts) {
  constexpr uint64_t kMaxSeconds = uint64_t{1} << 33;  // the year 2242; in ns still far below INT64_MAX
  uint64_t sec = be64toh(ts.sec), usec = be64toh(ts.usec);
  if (sec > kMaxSeconds || usec >= 1'000'000) return std::nullopt;
  auto since_epoch = std::chrono::seconds(sec) + std::chrono::microseconds(usec);
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(since_epoch));
}

}  // namespace

bool parse_nflog_packet(const nlmsghdr* nlh, NflogPacket& out) {
  out = {};
  if (nlh->nlmsg_type != ((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET)) return false;
  if (mnl_nlmsg_get_payload_len(nlh) < sizeof(nfgenmsg)) return false;
  const nlattr* tb[NFULA_MAX + 1] = {};
  if (mnl_attr_parse(nlh, sizeof(nfgenmsg), collect_attr, tb) < 0) return false;

  if (!tb[NFULA_PACKET_HDR] || mnl_attr_get_payload_len(tb[NFULA_PACKET_HDR]) < sizeof(nfulnl_msg_packet_hdr)) {
    return false;
  }
  auto* hdr = static_cast<const nfulnl_msg_packet_hdr*>(mnl_attr_get_payload(tb[NFULA_PACKET_HDR]));
  out.hw_protocol = ntohs(hdr->hw_protocol);
  out.hook = hdr->hook;

  auto u32 = [&](int type, uint32_t& field) {
    if (tb[type] && mnl_attr_get_payload_len(tb[type]) >= 4) field = ntohl(mnl_attr_get_u32(tb[type]));
  };
  u32(NFULA_MARK, out.mark);
  u32(NFULA_IFINDEX_INDEV, out.indev);
  u32(NFULA_IFINDEX_OUTDEV, out.outdev);

  if (tb[NFULA_PAYLOAD]) {
    out.payload = {static_cast<const uint8_t*>(mnl_attr_get_payload(tb[NFULA_PAYLOAD])),
                   mnl_attr_get_payload_len(tb[NFULA_PAYLOAD])};
  }
  if (tb[NFULA_PREFIX]) {
    auto* text = static_cast<const char*>(mnl_attr_get_payload(tb[NFULA_PREFIX]));
    out.prefix = std::string_view(text, strnlen(text, mnl_attr_get_payload_len(tb[NFULA_PREFIX])));
  }
  std::optional<std::chrono::system_clock::time_point> stamped;
  if (tb[NFULA_TIMESTAMP] && mnl_attr_get_payload_len(tb[NFULA_TIMESTAMP]) >= sizeof(nfulnl_msg_packet_timestamp)) {
    nfulnl_msg_packet_timestamp ts;
    std::memcpy(&ts, mnl_attr_get_payload(tb[NFULA_TIMESTAMP]), sizeof ts);
    stamped = kernel_time(ts);
  }
  out.kernel_timestamp = stamped.has_value();
  out.timestamp = stamped.value_or(std::chrono::system_clock::now());
  return true;
}

Status NflogListener::configure(uint16_t group, uint8_t family, const std::function<void(nlmsghdr*)>& add_attrs) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = put_config_header(buf, group, family, sock_.next_seq());
  add_attrs(nlh);
  return sock_.request(nlh, [](const nlmsghdr*) { return MNL_CB_OK; });
}

Status NflogListener::open(uint16_t group, const NflogOptions& o) {
  if (auto st = sock_.open(NETLINK_NETFILTER); !st) return st;
  sock_.enable(NETLINK_EXT_ACK);
  auto fail = [&](const std::string& step, const Status& st) {
    sock_.close();
    return Status::Error("nflog group " + std::to_string(group) + ": " + step + ": " + st.message(),
                         st.errno_value());
  };
  if (o.receive_buffer > 0) {
    if (auto st = sock_.set_receive_buffer(o.receive_buffer); !st) return fail("receive buffer", st);
  }
  if (o.bind_protocol_families) {
    for (uint8_t family : {uint8_t(AF_INET), uint8_t(AF_INET6)}) {
      for (uint8_t cmd : {uint8_t(NFULNL_CFG_CMD_PF_UNBIND), uint8_t(NFULNL_CFG_CMD_PF_BIND)}) {
        // Protocol-family commands are addressed to group 0.
        auto st = configure(0, family, [&](nlmsghdr* nlh) { put_command(nlh, cmd); });
        if (!st) return fail(command_name(cmd), st);
      }
    }
  }
  if (auto st = configure(group, AF_UNSPEC, [](nlmsghdr* nlh) { put_command(nlh, NFULNL_CFG_CMD_BIND); }); !st) {
    return fail("bind", st);
  }
  auto mode = configure(group, AF_UNSPEC, [&](nlmsghdr* nlh) {
    nfulnl_msg_config_mode m{};
    m.copy_range = htonl(o.copy_range);
    m.copy_mode = NFULNL_COPY_PACKET;
    mnl_attr_put(nlh, NFULA_CFG_MODE, sizeof m, &m);
  });
  if (!mode) return fail("copy mode", mode);
  auto thresholds = configure(group, AF_UNSPEC, [&](nlmsghdr* nlh) {
    mnl_attr_put_u32(nlh, NFULA_CFG_QTHRESH, htonl(o.queue_threshold));
    mnl_attr_put_u32(nlh, NFULA_CFG_TIMEOUT, htonl(o.flush_timeout_cs));
  });
  if (!thresholds) return fail("queue threshold / flush timeout", thresholds);
  if (o.kernel_buffer_size) {
    auto st = configure(group, AF_UNSPEC,
                        [&](nlmsghdr* nlh) { mnl_attr_put_u32(nlh, NFULA_CFG_NLBUFSIZ, htonl(o.kernel_buffer_size)); });
    if (!st) return fail("kernel buffer size", st);
  }
  buffer_.assign(std::max<size_t>(kMinReadBuffer, size_t(o.kernel_buffer_size) * 2 + o.copy_range), 0);
  stats_ = {};
  return Status::Ok();
}

void NflogListener::handle_datagram(const char* data, size_t len, const PacketHandler& on_packet) {
  ++stats_.datagrams;
  int remaining = int(len);
  for (auto* nlh = reinterpret_cast<const nlmsghdr*>(data); mnl_nlmsg_ok(nlh, remaining);
       nlh = mnl_nlmsg_next(nlh, &remaining)) {
    if (nlh->nlmsg_type == NLMSG_NOOP || nlh->nlmsg_type == NLMSG_DONE) continue;
    NflogPacket packet;
    if (!parse_nflog_packet(nlh, packet)) {
      ++stats_.malformed;
      continue;
    }
    ++stats_.packets;
    on_packet(packet);
  }
}

Status NflogListener::read_batch(const PacketHandler& on_packet, size_t max_datagrams) {
  // Overruns mean the kernel dropped log packets: counted, and reading goes on.
  return sock_.drain(buffer_, max_datagrams, "nflog", {stats_.enobufs, stats_.truncated},
                     [&](const char* data, size_t len) { handle_datagram(data, len, on_packet); });
}

Status NflogListener::run(std::stop_token stop, const PacketHandler& on_packet) {
  int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) return Status::Error(std::string("nflog eventfd: ") + std::strerror(errno), errno);
  std::stop_callback on_stop(stop, [wake] {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake, &one, sizeof one);
  });
  Status result;
  while (!stop.stop_requested()) {
    pollfd fds[2] = {{fd(), POLLIN, 0}, {wake, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      result = Status::Error(std::string("nflog poll: ") + std::strerror(errno), errno);
      break;
    }
    if (fds[0].revents & (POLLIN | POLLERR)) {
      if (auto st = read_batch(on_packet); !st) {
        result = st;
        break;
      }
    }
  }
  ::close(wake);
  return result;
}

}  // namespace wac::netlink
