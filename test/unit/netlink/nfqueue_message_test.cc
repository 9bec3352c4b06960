// NFQNL_MSG_PACKET messages built by hand, as the kernel sends them.
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "netlink/nfqueue.h"

using namespace wac::netlink;

namespace {

struct Buffer {
  alignas(nlmsghdr) char data[4096] = {};
};

nlmsghdr* queue_packet(Buffer& b, uint16_t type = NFQNL_MSG_PACKET) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(b.data);
  nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | type;
  auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfg->nfgen_family = AF_INET;
  nfg->res_id = htons(9);
  return nlh;
}

void put_header(nlmsghdr* nlh, uint32_t id, uint16_t proto, uint8_t hook) {
  nfqnl_msg_packet_hdr hdr{};
  hdr.packet_id = htonl(id);
  hdr.hw_protocol = htons(proto);
  hdr.hook = hook;
  mnl_attr_put(nlh, NFQA_PACKET_HDR, sizeof hdr, &hdr);
}

}  // namespace

TEST_CASE("an nfqueue packet message parses into id, protocol, hook and payload") {
  Buffer b;
  nlmsghdr* nlh = queue_packet(b);
  put_header(nlh, 77, 0x86dd, 4);
  const char payload[] = "held-bytes";
  mnl_attr_put(nlh, NFQA_PAYLOAD, 10, payload);
  NfqueuePacket p;
  REQUIRE(parse_nfqueue_packet(nlh, p));
  CHECK(p.id == 77);
  CHECK(p.hw_protocol == 0x86dd);
  CHECK(p.hook == 4);
  REQUIRE(p.payload.size() == 10);
  CHECK(std::memcmp(p.payload.data(), payload, 10) == 0);
}

TEST_CASE("nfqueue messages without a packet header, of another type, or cut short are refused") {
  NfqueuePacket p;
  Buffer a;
  nlmsghdr* no_header = queue_packet(a);
  mnl_attr_put(no_header, NFQA_PAYLOAD, 3, "abc");
  CHECK_FALSE(parse_nfqueue_packet(no_header, p));

  Buffer b;
  nlmsghdr* verdict = queue_packet(b, NFQNL_MSG_VERDICT);
  put_header(verdict, 1, 0x0800, 0);
  CHECK_FALSE(parse_nfqueue_packet(verdict, p));

  Buffer c;
  nlmsghdr* short_header = queue_packet(c);
  uint16_t two = 0;
  mnl_attr_put(short_header, NFQA_PACKET_HDR, sizeof two, &two);
  CHECK_FALSE(parse_nfqueue_packet(short_header, p));

  Buffer d;
  nlmsghdr* bad_attr = queue_packet(d);
  put_header(bad_attr, 5, 0x0800, 0);
  reinterpret_cast<nlattr*>(reinterpret_cast<char*>(bad_attr) + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg)))->nla_len =
      4000;  // runs past the message
  CHECK_FALSE(parse_nfqueue_packet(bad_attr, p));
}
