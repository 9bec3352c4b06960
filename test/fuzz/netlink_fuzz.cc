// libFuzzer target: bytes as they arrive on an nfnetlink_log or
// nfnetlink_queue socket (a datagram of netlink messages) -> the packet
// message parsers; every payload span must lie inside the input.
#include <libmnl/libmnl.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "netlink/nflog.h"
#include "netlink/nfqueue.h"

namespace {

bool inside(std::span<const uint8_t> part, const uint8_t* data, size_t size) {
  return part.empty() || (part.data() >= data && part.data() + part.size() <= data + size);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Netlink messages are 4-byte aligned in a real receive buffer.
  std::vector<uint8_t> buf(data, data + size);
  const uint8_t* base = buf.data();
  int remaining = int(buf.size());
  // mnl_nlmsg_ok() compares the length as an int, so a length above 2^31
  // would pass it: check it as unsigned too (as the listeners do).
  for (auto* nlh = reinterpret_cast<const nlmsghdr*>(base);
       mnl_nlmsg_ok(nlh, remaining) && nlh->nlmsg_len <= unsigned(remaining); nlh = mnl_nlmsg_next(nlh, &remaining)) {
    wac::netlink::NflogPacket log;
    if (wac::netlink::parse_nflog_packet(nlh, log) && !inside(log.payload, base, buf.size())) std::abort();
    wac::netlink::NfqueuePacket held;
    if (wac::netlink::parse_nfqueue_packet(nlh, held) && !inside(held.payload, base, buf.size())) std::abort();
  }
  return 0;
}
