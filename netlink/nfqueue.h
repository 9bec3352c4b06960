// An nfnetlink_queue (NFQUEUE) listener: receives the packets a rule sends
// to queue N, holds them in the kernel until a verdict is issued, on a
// libmnl socket.
//
// wac uses it to hold DNS responses to pods until the addresses they carry
// are in the kernel sets (closing the resolve-then-connect race). The
// queue is configured fail-open, and the rule that feeds it has the bypass
// flag, so packets pass unheld when nobody listens or the queue is full:
// a stopped or overloaded wacd never blocks DNS.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "netlink/mnl_socket.h"
#include "netlink/status.h"

namespace wac::netlink {

struct NfqueueOptions {
  // Bytes of each packet to copy (from the L3 header).
  uint32_t copy_range = 0xffff;
  // Packets the kernel holds for us at most (NFQA_CFG_QUEUE_MAXLEN); with
  // fail_open, packets beyond it are accepted unheld.
  uint32_t max_queue_len = 4096;
  // NFQA_CFG_F_FAIL_OPEN: accept, rather than drop, what cannot be queued
  // (queue full, or our socket buffer full).
  bool fail_open = true;
  // NFQA_CFG_F_GSO: hand over GSO packets whole instead of segmenting them
  // first (a large TCP DNS response arrives as one message).
  bool gso = true;
  // Socket receive buffer (SO_RCVBUFFORCE).
  int receive_buffer = 4 << 20;
};

// One queued packet. The payload points into the listener's receive buffer
// and is valid only during the callback.
struct NfqueuePacket {
  uint32_t id = 0;                   // pass to verdict()
  std::span<const uint8_t> payload;  // the L3 packet, up to copy_range bytes
  uint16_t hw_protocol = 0;          // ETH_P_* in host order
  uint8_t hook = 0;                  // NF_INET_* hook number
};

struct NfqueueStats {
  uint64_t packets = 0;
  uint64_t datagrams = 0;
  uint64_t enobufs = 0;          // our socket overflowed: those packets passed unheld (fail-open)
  uint64_t truncated = 0;        // datagrams larger than the read buffer (dropped)
  uint64_t malformed = 0;        // messages that failed to parse (skipped)
  uint64_t verdicts = 0;         // verdict messages sent
  uint64_t verdict_errors = 0;   // verdicts the kernel refused (reported asynchronously)
};

class NfqueueListener {
 public:
  using PacketHandler = std::function<void(const NfqueuePacket&)>;

  // Binds queue `queue` in the calling thread's network namespace and
  // applies `options`; every configuration message is acknowledged and the
  // first refusal is returned (EBUSY: another socket has the queue).
  Status open(uint16_t queue, const NfqueueOptions& options = {});
  void close() { sock_.close(); }
  bool is_open() const { return sock_.is_open(); }
  int fd() const { return sock_.fd(); }
  uint16_t queue() const { return queue_; }

  // Reads every datagram available now (at most max_datagrams) without
  // blocking, calling on_packet for each queued packet. The packets stay
  // held until a verdict names them.
  Status read_batch(const PacketHandler& on_packet, size_t max_datagrams = SIZE_MAX);

  // Releases one packet (accept = true) or drops it.
  Status verdict(uint32_t id, bool accept);
  // Accepts every held packet with an id up to and including `id`: one
  // message for a whole read batch (ids increase in delivery order).
  Status accept_up_to(uint32_t id);

  const NfqueueStats& stats() const { return stats_; }

 private:
  Status configure(const std::function<void(struct nlmsghdr*)>& add_attrs);
  Status send_verdict(uint16_t type, uint32_t id, uint32_t verdict);
  void handle_datagram(const char* data, size_t len, const PacketHandler& on_packet);

  MnlSocket sock_;
  uint16_t queue_ = 0;
  std::vector<char> buffer_;
  NfqueueStats stats_;
};

// Parses one NFQNL_MSG_PACKET message (exposed for tests and fuzzing).
// False when it is not a well-formed packet message.
bool parse_nfqueue_packet(const struct nlmsghdr* nlh, NfqueuePacket& out);

}  // namespace wac::netlink
