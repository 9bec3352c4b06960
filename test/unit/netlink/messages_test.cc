// Parsing of netlink messages built here by hand, as the kernel would send
// them: nfnetlink_log packets, rtnetlink link messages, extended acks.
#include <arpa/inet.h>
#include <endian.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/rtnetlink.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <vector>

#include "netlink/link_watch.h"
#include "netlink/mnl_socket.h"
#include "netlink/nflog.h"

using namespace wac::netlink;

namespace {

struct Buffer {
  alignas(nlmsghdr) char data[8192] = {};
};

nlmsghdr* nflog_packet(Buffer& b) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(b.data);
  nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET;
  auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfg->nfgen_family = AF_INET;
  nfg->res_id = htons(7);
  return nlh;
}

}  // namespace

TEST_CASE("an nflog packet message parses into payload, prefix, devices, mark, time") {
  Buffer b;
  nlmsghdr* nlh = nflog_packet(b);
  nfulnl_msg_packet_hdr hdr{htons(0x0800), 3, 0};
  mnl_attr_put(nlh, NFULA_PACKET_HDR, sizeof hdr, &hdr);
  mnl_attr_put_u32(nlh, NFULA_MARK, htonl(0x2a));
  mnl_attr_put_u32(nlh, NFULA_IFINDEX_OUTDEV, htonl(5));
  nfulnl_msg_packet_timestamp ts{htobe64(1700000000), htobe64(250000)};
  mnl_attr_put(nlh, NFULA_TIMESTAMP, sizeof ts, &ts);
  mnl_attr_put_strz(nlh, NFULA_PREFIX, "wac-dns");
  const uint8_t payload[] = {0x45, 0, 0, 20, 1, 2, 3};
  mnl_attr_put(nlh, NFULA_PAYLOAD, sizeof payload, payload);

  NflogPacket p;
  REQUIRE(parse_nflog_packet(nlh, p));
  CHECK(p.hw_protocol == 0x0800);
  CHECK(p.hook == 3);
  CHECK(p.mark == 0x2a);
  CHECK(p.outdev == 5);
  CHECK(p.indev == 0);
  CHECK(p.prefix == "wac-dns");
  CHECK(std::vector<uint8_t>(p.payload.begin(), p.payload.end()) == std::vector<uint8_t>(payload, payload + 7));
  CHECK(p.kernel_timestamp);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(p.timestamp.time_since_epoch()).count();
  CHECK(us == 1700000000LL * 1000000 + 250000);
}

TEST_CASE("an nflog packet without optional attributes still parses") {
  Buffer b;
  nlmsghdr* nlh = nflog_packet(b);
  nfulnl_msg_packet_hdr hdr{htons(0x86dd), 1, 0};
  mnl_attr_put(nlh, NFULA_PACKET_HDR, sizeof hdr, &hdr);
  NflogPacket p;
  REQUIRE(parse_nflog_packet(nlh, p));
  CHECK(p.hw_protocol == 0x86dd);
  CHECK(p.payload.empty());
  CHECK(p.prefix.empty());
  CHECK_FALSE(p.kernel_timestamp);
}

TEST_CASE("malformed nflog messages are refused") {
  Buffer b;
  nlmsghdr* nlh = nflog_packet(b);
  NflogPacket p;
  CHECK_FALSE(parse_nflog_packet(nlh, p));  // no packet header
  uint8_t short_hdr[2] = {8, 0};
  mnl_attr_put(nlh, NFULA_PACKET_HDR, sizeof short_hdr, short_hdr);
  CHECK_FALSE(parse_nflog_packet(nlh, p));
  nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
  CHECK_FALSE(parse_nflog_packet(nlh, p));
  // A prefix without its terminating NUL stays inside its attribute.
  Buffer c;
  nlmsghdr* m = nflog_packet(c);
  nfulnl_msg_packet_hdr hdr{htons(0x0800), 1, 0};
  mnl_attr_put(m, NFULA_PACKET_HDR, sizeof hdr, &hdr);
  mnl_attr_put(m, NFULA_PREFIX, 3, "abc");
  REQUIRE(parse_nflog_packet(m, p));
  CHECK(p.prefix == "abc");
}

TEST_CASE("rtnetlink link messages parse into name, index and state") {
  Buffer b;
  nlmsghdr* nlh = mnl_nlmsg_put_header(b.data);
  nlh->nlmsg_type = RTM_NEWLINK;
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifi->ifi_index = 12;
  ifi->ifi_flags = IFF_UP;
  mnl_attr_put_strz(nlh, IFLA_IFNAME, "cali1a2b");
  Link link;
  REQUIRE(parse_link_message(nlh, link));
  CHECK(link == Link{12, "cali1a2b", true, false});
  ifi->ifi_flags = IFF_UP | IFF_RUNNING;
  REQUIRE(parse_link_message(nlh, link));
  CHECK(link.oper_up);
  nlh->nlmsg_type = RTM_NEWADDR;
  CHECK_FALSE(parse_link_message(nlh, link));
}

TEST_CASE("extended acks: message text and offending attribute offset") {
  Buffer b;
  nlmsghdr* nlh = mnl_nlmsg_put_header(b.data);
  nlh->nlmsg_type = NLMSG_ERROR;
  nlh->nlmsg_flags = NLM_F_CAPPED | NLM_F_ACK_TLVS;
  auto* err = static_cast<nlmsgerr*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nlmsgerr)));
  err->error = -EEXIST;
  err->msg.nlmsg_len = 200;  // the original request; capped, so not echoed
  mnl_attr_put_strz(nlh, NLMSGERR_ATTR_MSG, "interval overlaps");
  mnl_attr_put_u32(nlh, NLMSGERR_ATTR_OFFS, 84);
  CHECK(extack_message(nlh) == "interval overlaps");
  uint32_t off = 0;
  REQUIRE(extack_offset(nlh, off));
  CHECK(off == 84);

  nlh->nlmsg_flags = 0;  // no TLVs announced
  CHECK(extack_message(nlh).empty());
  CHECK_FALSE(extack_offset(nlh, off));
}

TEST_CASE("extended acks after an echoed (uncapped) request") {
  Buffer b;
  nlmsghdr* nlh = mnl_nlmsg_put_header(b.data);
  nlh->nlmsg_type = NLMSG_ERROR;
  nlh->nlmsg_flags = NLM_F_ACK_TLVS;
  auto* err = static_cast<nlmsgerr*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nlmsgerr)));
  err->error = -ENOENT;
  err->msg.nlmsg_len = sizeof(nlmsghdr) + 8;  // 8 bytes of echoed payload follow
  mnl_nlmsg_put_extra_header(nlh, 8);
  mnl_attr_put_strz(nlh, NLMSGERR_ATTR_MSG, "no such set");
  CHECK(extack_message(nlh) == "no such set");
}

TEST_CASE("attribute walking stops at malformed lengths") {
  alignas(nlattr) char buf[64] = {};
  auto* a = reinterpret_cast<nlattr*>(buf);
  a->nla_len = 8;
  a->nla_type = 1;
  auto* b = reinterpret_cast<nlattr*>(buf + 8);
  b->nla_len = 200;  // runs past the buffer
  b->nla_type = 2;
  std::vector<uint16_t> seen;
  for_each_attr(buf, 16, [&](const nlattr* attr) { seen.push_back(attr->nla_type); });
  CHECK(seen == std::vector<uint16_t>{1});
  auto* zero = reinterpret_cast<nlattr*>(buf);
  zero->nla_len = 0;
  seen.clear();
  for_each_attr(buf, 16, [&](const nlattr* attr) { seen.push_back(attr->nla_type); });
  CHECK(seen.empty());
}
