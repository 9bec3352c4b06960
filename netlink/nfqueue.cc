#include "netlink/nfqueue.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace wac::netlink {

namespace {

constexpr size_t kMinReadBuffer = 128 * 1024;

nlmsghdr* put_header(char* buf, uint16_t type, uint16_t queue, uint16_t flags, uint32_t seq) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | type;
  nlh->nlmsg_flags = NLM_F_REQUEST | flags;
  nlh->nlmsg_seq = seq;
  auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfg->nfgen_family = AF_UNSPEC;
  nfg->version = NFNETLINK_V0;
  nfg->res_id = htons(queue);
  return nlh;
}

int collect_attr(const nlattr* attr, void* data) {
  auto** tb = static_cast<const nlattr**>(data);
  uint16_t type = mnl_attr_get_type(attr);
  if (type <= NFQA_MAX) tb[type] = attr;
  return MNL_CB_OK;
}

}  // namespace

bool parse_nfqueue_packet(const nlmsghdr* nlh, NfqueuePacket& out) {
  out = {};
  if (nlh->nlmsg_type != ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)) return false;
  if (mnl_nlmsg_get_payload_len(nlh) < sizeof(nfgenmsg)) return false;
  const nlattr* tb[NFQA_MAX + 1] = {};
  if (mnl_attr_parse(nlh, sizeof(nfgenmsg), collect_attr, tb) < 0) return false;
  if (!tb[NFQA_PACKET_HDR] || mnl_attr_get_payload_len(tb[NFQA_PACKET_HDR]) < sizeof(nfqnl_msg_packet_hdr))
    return false;
  nfqnl_msg_packet_hdr hdr;
  std::memcpy(&hdr, mnl_attr_get_payload(tb[NFQA_PACKET_HDR]), sizeof hdr);
  out.id = ntohl(hdr.packet_id);
  out.hw_protocol = ntohs(hdr.hw_protocol);
  out.hook = hdr.hook;
  if (tb[NFQA_PAYLOAD]) {
    out.payload = {static_cast<const uint8_t*>(mnl_attr_get_payload(tb[NFQA_PAYLOAD])),
                   mnl_attr_get_payload_len(tb[NFQA_PAYLOAD])};
  }
  return true;
}

Status NfqueueListener::configure(const std::function<void(nlmsghdr*)>& add_attrs) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = put_header(buf, NFQNL_MSG_CONFIG, queue_, NLM_F_ACK, sock_.next_seq());
  add_attrs(nlh);
  return sock_.request(nlh, [](const nlmsghdr*) { return MNL_CB_OK; });
}

Status NfqueueListener::open(uint16_t queue, const NfqueueOptions& o) {
  queue_ = queue;
  if (auto st = sock_.open(NETLINK_NETFILTER); !st) return st;
  sock_.enable(NETLINK_EXT_ACK);
  // Verdict errors come back as bare headers, not copies of our message.
  sock_.enable(NETLINK_CAP_ACK);
  auto fail = [&](const std::string& step, const Status& st) {
    sock_.close();
    return Status::Error("nfqueue " + std::to_string(queue) + ": " + step + ": " + st.message(), st.errno_value());
  };
  if (o.receive_buffer > 0) {
    if (auto st = sock_.set_receive_buffer(o.receive_buffer); !st) return fail("receive buffer", st);
  }
  auto bind = configure([](nlmsghdr* nlh) {
    nfqnl_msg_config_cmd cmd{};
    cmd.command = NFQNL_CFG_CMD_BIND;
    mnl_attr_put(nlh, NFQA_CFG_CMD, sizeof cmd, &cmd);
  });
  if (!bind) return fail("bind", bind);
  auto params = configure([&](nlmsghdr* nlh) {
    nfqnl_msg_config_params p{};
    p.copy_range = htonl(o.copy_range);
    p.copy_mode = NFQNL_COPY_PACKET;
    mnl_attr_put(nlh, NFQA_CFG_PARAMS, sizeof p, &p);
    mnl_attr_put_u32(nlh, NFQA_CFG_QUEUE_MAXLEN, htonl(o.max_queue_len));
  });
  if (!params) return fail("copy mode / queue length", params);
  uint32_t flags = (o.fail_open ? NFQA_CFG_F_FAIL_OPEN : 0) | (o.gso ? NFQA_CFG_F_GSO : 0);
  auto set_flags = configure([&](nlmsghdr* nlh) {
    mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flags));
    mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO));
  });
  if (!set_flags) return fail("flags", set_flags);
  buffer_.assign(std::max<size_t>(kMinReadBuffer, size_t(o.copy_range) * 2), 0);
  stats_ = {};
  return Status::Ok();
}

void NfqueueListener::handle_datagram(const char* data, size_t len, const PacketHandler& on_packet) {
  ++stats_.datagrams;
  int remaining = int(len);
  // mnl_nlmsg_ok() compares the length as an int: also bound it unsigned.
  for (auto* nlh = reinterpret_cast<const nlmsghdr*>(data);
       mnl_nlmsg_ok(nlh, remaining) && nlh->nlmsg_len <= unsigned(remaining); nlh = mnl_nlmsg_next(nlh, &remaining)) {
    if (nlh->nlmsg_type == NLMSG_NOOP || nlh->nlmsg_type == NLMSG_DONE) continue;
    if (nlh->nlmsg_type == NLMSG_ERROR) {
      // Verdicts are sent without NLM_F_ACK, so any ack here is a refusal.
      auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
      if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(nlmsgerr) && err->error != 0) ++stats_.verdict_errors;
      continue;
    }
    NfqueuePacket packet;
    if (!parse_nfqueue_packet(nlh, packet)) {
      ++stats_.malformed;
      continue;
    }
    ++stats_.packets;
    on_packet(packet);
  }
}

Status NfqueueListener::read_batch(const PacketHandler& on_packet, size_t max_datagrams) {
  // Overruns: with fail-open the kernel let through what it could not queue to us.
  return sock_.drain(buffer_, max_datagrams, "nfqueue", {stats_.enobufs, stats_.truncated},
                     [&](const char* data, size_t len) { handle_datagram(data, len, on_packet); });
}

Status NfqueueListener::send_verdict(uint16_t type, uint32_t id, uint32_t verdict) {
  if (!sock_.is_open()) return Status::Error("nfqueue: not open", EBADF);
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = put_header(buf, type, queue_, 0, sock_.next_seq());
  nfqnl_msg_verdict_hdr v{htonl(verdict), htonl(id)};
  mnl_attr_put(nlh, NFQA_VERDICT_HDR, sizeof v, &v);
  ++stats_.verdicts;
  if (auto st = sock_.send(nlh, nlh->nlmsg_len); !st) {
    ++stats_.verdict_errors;
    return Status::Error("nfqueue verdict: " + st.message(), st.errno_value());
  }
  return Status::Ok();
}

Status NfqueueListener::verdict(uint32_t id, bool accept) {
  return send_verdict(NFQNL_MSG_VERDICT, id, accept ? NF_ACCEPT : NF_DROP);
}

Status NfqueueListener::accept_up_to(uint32_t id) { return send_verdict(NFQNL_MSG_VERDICT_BATCH, id, NF_ACCEPT); }

}  // namespace wac::netlink
