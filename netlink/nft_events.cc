#include "netlink/nft_events.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

namespace wac::netlink {

namespace {

// Every nf_tables object message (table, chain, rule, set, element, object,
// flowtable) carries the table's name as attribute 1: NFTA_TABLE_NAME,
// NFTA_CHAIN_TABLE, NFTA_RULE_TABLE, NFTA_SET_TABLE, NFTA_SET_ELEM_LIST_TABLE,
// NFTA_OBJ_TABLE, NFTA_FLOWTABLE_TABLE.
constexpr uint16_t kTableNameAttr = 1;
static_assert(NFTA_TABLE_NAME == kTableNameAttr && NFTA_CHAIN_TABLE == kTableNameAttr &&
              NFTA_RULE_TABLE == kTableNameAttr && NFTA_SET_TABLE == kTableNameAttr &&
              NFTA_SET_ELEM_LIST_TABLE == kTableNameAttr && NFTA_OBJ_TABLE == kTableNameAttr);

std::string string_attr(const nlattr* attr) {
  auto* text = static_cast<const char*>(mnl_attr_get_payload(attr));
  return std::string(text, strnlen(text, mnl_attr_get_payload_len(attr)));
}

}  // namespace

Status NftEventWatcher::open(int receive_buffer) {
  if (auto st = sock_.open(NETLINK_NETFILTER); !st) return st;
  if (auto st = sock_.join_group(NFNLGRP_NFTABLES); !st) return st;
  if (receive_buffer > 0) {
    if (auto st = sock_.set_receive_buffer(receive_buffer, true); !st) return st;
  }
  touched_ = 0;
  stats_ = {};
  return Status::Ok();
}

void NftEventWatcher::consume(const nlmsghdr* nlh, const Handler& on_commit) {
  if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES) return;
  if (mnl_nlmsg_get_payload_len(nlh) < sizeof(nfgenmsg)) return;
  uint16_t msg = NFNL_MSG_TYPE(nlh->nlmsg_type);
  auto* start = static_cast<const char*>(mnl_nlmsg_get_payload_offset(nlh, sizeof(nfgenmsg)));
  auto* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh));
  if (start > tail) return;
  size_t len = size_t(tail - start);

  if (msg == NFT_MSG_NEWGEN) {
    NftCommit c;
    for_each_attr(start, len, [&](const nlattr* attr) {
      switch (mnl_attr_get_type(attr)) {
        case NFTA_GEN_ID: c.generation = ntohl(mnl_attr_get_u32(attr)); break;
        case NFTA_GEN_PROC_PID: c.pid = ntohl(mnl_attr_get_u32(attr)); break;
        case NFTA_GEN_PROC_NAME: c.process = string_attr(attr); break;
      }
    });
    c.messages = std::exchange(touched_, 0);
    if (c.messages == 0) return;
    ++stats_.commits;
    on_commit(c);
    return;
  }
  auto* gen = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
  if (gen->nfgen_family != family_) return;
  bool ours = false;
  for_each_attr(start, len, [&](const nlattr* attr) {
    if (mnl_attr_get_type(attr) == kTableNameAttr && string_attr(attr) == table_) ours = true;
  });
  if (ours) ++touched_;
}

Status NftEventWatcher::read(const Handler& on_commit) {
  if (!sock_.is_open()) return Status::Error("nft event watcher: not open", EBADF);
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE * 4);
  for (;;) {
    auto r = sock_.receive(buf.data(), buf.size(), 0);
    if (r.err == EAGAIN) return Status::Ok();
    if (r.err == ENOBUFS) {
      ++stats_.enobufs;
      touched_ = 0;
      NftCommit lost;
      lost.overrun = true;
      on_commit(lost);
      continue;
    }
    if (r.err) return Status::Error(std::string("nft event watcher receive: ") + std::strerror(r.err), r.err);
    int remaining = int(r.len);
    for (auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data()); mnl_nlmsg_ok(nlh, remaining);
         nlh = mnl_nlmsg_next(nlh, &remaining))
      consume(nlh, on_commit);
  }
}

}  // namespace wac::netlink
