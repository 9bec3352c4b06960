#include "nft/dns_hold.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/xt_NFQUEUE.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "netlink/mnl_socket.h"
#include "nft/nftnl.h"

namespace wac::nft {

namespace {

struct TableFree {
  void operator()(nftnl_table* t) const { nftnl_table_free(t); }
};
struct ChainFree {
  void operator()(nftnl_chain* c) const { nftnl_chain_free(c); }
};
struct RuleFree {
  void operator()(nftnl_rule* r) const { nftnl_rule_free(r); }
};
using Table = std::unique_ptr<nftnl_table, TableFree>;
using Chain = std::unique_ptr<nftnl_chain, ChainFree>;
using Rule = std::unique_ptr<nftnl_rule, RuleFree>;

constexpr uint16_t kDnsPort = 53;

// One nfnetlink batch: BATCH_BEGIN, the messages, BATCH_END, every message
// acked, sent as one datagram (atomic).
class Batch {
 public:
  explicit Batch(netlink::MnlSocket& sock) : sock_(sock), buf_(256 * 1024), batch_(nullptr) {
    batch_ = mnl_nlmsg_batch_start(buf_.data(), buf_.size());
    nftnl_batch_begin(static_cast<char*>(mnl_nlmsg_batch_current(batch_)), sock_.next_seq());
    mnl_nlmsg_batch_next(batch_);
  }
  ~Batch() { mnl_nlmsg_batch_stop(batch_); }

  nlmsghdr* header(uint16_t type, uint16_t family, uint16_t flags) {
    ++messages_;
    return nftnl_nlmsg_build_hdr(static_cast<char*>(mnl_nlmsg_batch_current(batch_)), type, family,
                                 flags | NLM_F_ACK, sock_.next_seq());
  }
  void next() { mnl_nlmsg_batch_next(batch_); }

  Status send() {
    nftnl_batch_end(static_cast<char*>(mnl_nlmsg_batch_current(batch_)), sock_.next_seq());
    mnl_nlmsg_batch_next(batch_);
    if (auto st = sock_.send(mnl_nlmsg_batch_head(batch_), mnl_nlmsg_batch_size(batch_)); !st) return st;
    std::vector<char> buf(64 * 1024);
    for (size_t acked = 0; acked < messages_;) {
      auto r = sock_.receive(buf.data(), buf.size(), 1000);
      if (r.err) return Status::Error(std::string("reading acks: ") + std::strerror(r.err), r.err);
      int remaining = int(r.len);
      for (auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data()); mnl_nlmsg_ok(nlh, remaining);
           nlh = mnl_nlmsg_next(nlh, &remaining)) {
        if (nlh->nlmsg_type != NLMSG_ERROR) continue;
        auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
        if (err->error != 0) {
          std::string why = netlink::extack_message(nlh);
          return Status::Error(std::strerror(-err->error) + (why.empty() ? "" : " (" + why + ")"), -err->error);
        }
        ++acked;
      }
    }
    return Status::Ok();
  }

 private:
  netlink::MnlSocket& sock_;
  std::vector<char> buf_;
  mnl_nlmsg_batch* batch_;
  size_t messages_ = 0;
};

void set_comment(nftnl_udata_buf* buf, uint8_t type, const std::string& text) {
  nftnl_udata_put_strz(buf, type, text.c_str());
}

void add_table(Batch& b, uint16_t family, uint16_t type) {
  Table t(nftnl_table_alloc());
  nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, kDnsHoldTable);
  nlmsghdr* nlh = b.header(type, family, type == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0);
  nftnl_table_nlmsg_build_payload(nlh, t.get());
  b.next();
}

void add_chain(Batch& b, uint16_t family) {
  Chain c(nftnl_chain_alloc());
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TABLE, kDnsHoldTable);
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_NAME, kDnsHoldChain);
  nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_HOOKNUM, NF_INET_POST_ROUTING);
  nftnl_chain_set_s32(c.get(), NFTNL_CHAIN_PRIO, kDnsHoldPriority);
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TYPE, "filter");
  nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_POLICY, NF_ACCEPT);
  NftnlUdataBuf ud(nftnl_udata_buf_alloc(NFTNL_UDATA_COMMENT_MAXLEN + 8));
  set_comment(ud.get(), NFTNL_UDATA_CHAIN_COMMENT,
              "wac: DNS responses to pods wait here until wacd has learned their addresses");
  nftnl_chain_set_data(c.get(), NFTNL_CHAIN_USERDATA, nftnl_udata_buf_data(ud.get()), nftnl_udata_buf_len(ud.get()));
  nlmsghdr* nlh = b.header(NFT_MSG_NEWCHAIN, family, NLM_F_CREATE);
  nftnl_chain_nlmsg_build_payload(nlh, c.get());
  b.next();
}

void add_expr(nftnl_rule* r, nftnl_expr* e) { nftnl_rule_add_expr(r, e); }

void load_meta(nftnl_rule* r, uint32_t key) {
  nftnl_expr* e = nftnl_expr_alloc("meta");
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
  add_expr(r, e);
}

void compare(nftnl_rule* r, const void* data, uint32_t len) {
  nftnl_expr* e = nftnl_expr_alloc("cmp");
  nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
  nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
  nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
  add_expr(r, e);
}

// oifname "<prefix>*" meta l4proto <proto> th sport 53 queue num N bypass
void add_rule(Batch& b, uint16_t family, const std::string& prefix, uint8_t proto, uint16_t queue) {
  Rule r(nftnl_rule_alloc());
  nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, kDnsHoldTable);
  nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, kDnsHoldChain);
  // A wildcard interface name is a compare of the prefix bytes alone.
  load_meta(r.get(), NFT_META_OIFNAME);
  compare(r.get(), prefix.data(), uint32_t(prefix.size()));
  load_meta(r.get(), NFT_META_L4PROTO);
  compare(r.get(), &proto, 1);
  nftnl_expr* sport = nftnl_expr_alloc("payload");
  nftnl_expr_set_u32(sport, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
  nftnl_expr_set_u32(sport, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_TRANSPORT_HEADER);
  nftnl_expr_set_u32(sport, NFTNL_EXPR_PAYLOAD_OFFSET, 0);
  nftnl_expr_set_u32(sport, NFTNL_EXPR_PAYLOAD_LEN, 2);
  add_expr(r.get(), sport);
  uint16_t port = htons(kDnsPort);
  compare(r.get(), &port, 2);
  nftnl_expr* counter = nftnl_expr_alloc("counter");
  add_expr(r.get(), counter);
  nftnl_expr* target = nftnl_expr_alloc("target");
  // libnftnl takes ownership of the target's info (frees it with the rule).
  auto* info = static_cast<xt_NFQ_info_v3*>(calloc(1, sizeof(xt_NFQ_info_v3)));
  info->queuenum = queue;
  info->queues_total = 1;
  info->flags = NFQ_FLAG_BYPASS;
  nftnl_expr_set_str(target, NFTNL_EXPR_TG_NAME, "NFQUEUE");
  nftnl_expr_set_u32(target, NFTNL_EXPR_TG_REV, 3);
  nftnl_expr_set(target, NFTNL_EXPR_TG_INFO, info, sizeof *info);
  add_expr(r.get(), target);
  nlmsghdr* nlh = b.header(NFT_MSG_NEWRULE, family, NLM_F_CREATE | NLM_F_APPEND);
  nftnl_rule_nlmsg_build_payload(nlh, r.get());
  b.next();
}

Status open_socket(netlink::MnlSocket& sock) {
  if (auto st = sock.open(NETLINK_NETFILTER); !st) return st;
  sock.enable(NETLINK_EXT_ACK);
  sock.enable(NETLINK_CAP_ACK);
  return Status::Ok();
}

}  // namespace

Status install_dns_hold(const DnsHoldSpec& spec) {
  if (spec.iface_prefixes.empty()) return Status::Error("DNS hold: no workload interface prefix", EINVAL);
  for (const auto& p : spec.iface_prefixes)
    if (p.empty() || p.size() >= 16) return Status::Error("DNS hold: bad interface prefix '" + p + "'", EINVAL);
  netlink::MnlSocket sock;
  if (auto st = open_socket(sock); !st) return Status::Error("DNS hold: " + st.message(), st.errno_value());
  Batch b(sock);
  for (uint16_t family : {uint16_t(NFPROTO_IPV4), uint16_t(NFPROTO_IPV6)}) {
    // Create-if-missing then delete: the new table replaces any old one.
    add_table(b, family, NFT_MSG_NEWTABLE);
    add_table(b, family, NFT_MSG_DELTABLE);
    add_table(b, family, NFT_MSG_NEWTABLE);
    add_chain(b, family);
    for (const auto& prefix : spec.iface_prefixes)
      for (uint8_t proto : {uint8_t(IPPROTO_UDP), uint8_t(IPPROTO_TCP)}) add_rule(b, family, prefix, proto, spec.queue);
  }
  if (auto st = b.send(); !st)
    return Status::Error("DNS hold: installing tables ip/ip6 " + std::string(kDnsHoldTable) + " with NFQUEUE " +
                             std::to_string(spec.queue) + ": " + st.message(),
                         st.errno_value());
  return Status::Ok();
}

Status remove_dns_hold() {
  netlink::MnlSocket sock;
  if (auto st = open_socket(sock); !st) return Status::Error("DNS hold: " + st.message(), st.errno_value());
  Batch b(sock);
  for (uint16_t family : {uint16_t(NFPROTO_IPV4), uint16_t(NFPROTO_IPV6)}) {
    add_table(b, family, NFT_MSG_NEWTABLE);
    add_table(b, family, NFT_MSG_DELTABLE);
  }
  if (auto st = b.send(); !st)
    return Status::Error("DNS hold: removing tables " + std::string(kDnsHoldTable) + ": " + st.message(),
                         st.errno_value());
  return Status::Ok();
}

}  // namespace wac::nft
