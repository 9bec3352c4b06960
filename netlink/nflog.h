// An nfnetlink_log (NFLOG) listener: receives the packets an nft rule
// `log group N` copies to userspace, on a libmnl socket.
//
// Usage from an event loop: open(), watch fd() for readability, call
// read_batch() when it is readable.  From a dedicated thread: run().
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <stop_token>
#include <string_view>
#include <vector>

#include "netlink/mnl_socket.h"
#include "netlink/status.h"

namespace wac::netlink {

struct NflogOptions {
  // Bytes of each packet to copy (from the L3 header).  0xffff = whole
  // packets up to 64 KiB.
  uint32_t copy_range = 0xffff;
  // The kernel batches this many packets into one datagram before sending
  // (NFULA_CFG_QTHRESH); 1 sends each packet at once.
  uint32_t queue_threshold = 1;
  // Hundredths of a second the kernel waits before sending a partial batch
  // (NFULA_CFG_TIMEOUT).
  uint32_t flush_timeout_cs = 1;
  // Kernel-side batch buffer (NFULA_CFG_NLBUFSIZ); 0 keeps the default.
  uint32_t kernel_buffer_size = 0;
  // Socket receive buffer (SO_RCVBUFFORCE): how much may queue while the
  // reader is busy before the kernel drops packets (reported as ENOBUFS).
  int receive_buffer = 4 << 20;
  // Also send PF_UNBIND + PF_BIND for AF_INET and AF_INET6.  Only needed
  // for the legacy path where nfnetlink_log must become the default logger
  // of a family; `log group N` rules never need it, and binding changes the
  // logger for every `log` rule without a group in the namespace, so off by
  // default.
  bool bind_protocol_families = false;
};

// One logged packet.  The views point into the listener's receive buffer
// and are valid only during the callback.
struct NflogPacket {
  std::span<const uint8_t> payload;  // the L3 packet, up to copy_range bytes
  std::string_view prefix;           // the rule's `log prefix`
  uint32_t indev = 0;                // ifindex, 0 when none
  uint32_t outdev = 0;
  uint16_t hw_protocol = 0;          // ETH_P_* in host order (0x0800 IPv4, 0x86dd IPv6)
  uint8_t hook = 0;                  // NF_INET_* hook number
  uint32_t mark = 0;
  // The kernel's packet time when it sent one, else when it was read.
  std::chrono::system_clock::time_point timestamp;
  bool kernel_timestamp = false;
};

struct NflogStats {
  uint64_t packets = 0;
  uint64_t datagrams = 0;
  uint64_t enobufs = 0;     // times the kernel dropped packets because the socket buffer was full
  uint64_t truncated = 0;   // datagrams larger than the read buffer (dropped)
  uint64_t malformed = 0;   // messages that failed to parse (skipped)
};

class NflogListener {
 public:
  using PacketHandler = std::function<void(const NflogPacket&)>;

  // Binds `group` in the calling thread's network namespace and applies
  // `options`; every configuration message is acknowledged, and the first
  // refusal is returned (EPERM: another socket has the group).
  Status open(uint16_t group, const NflogOptions& options = {});
  void close() { sock_.close(); }
  bool is_open() const { return sock_.is_open(); }
  int fd() const { return sock_.fd(); }

  // Reads every datagram available now (at most max_datagrams) without
  // blocking, calling on_packet for each packet.  ENOBUFS is counted and
  // reading goes on; only socket failures are returned.
  Status read_batch(const PacketHandler& on_packet, size_t max_datagrams = SIZE_MAX);

  // Blocking loop for a dedicated thread: waits for packets and hands them
  // to on_packet until `stop` is requested (which wakes it at once).
  Status run(std::stop_token stop, const PacketHandler& on_packet);

  const NflogStats& stats() const { return stats_; }

 private:
  Status configure(uint16_t group, uint8_t family, const std::function<void(struct nlmsghdr*)>& add_attrs);
  void handle_datagram(const char* data, size_t len, const PacketHandler& on_packet);

  MnlSocket sock_;
  std::vector<char> buffer_;
  NflogStats stats_;
};

// Parses one NFULNL_MSG_PACKET message (exposed for tests and fuzzing).
// False when it is not a well-formed packet message.
bool parse_nflog_packet(const struct nlmsghdr* nlh, NflogPacket& out);

}  // namespace wac::netlink
