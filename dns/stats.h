// Counters of the DNS tap. Plain fields: one thread (the tap) writes them;
// whoever reports them copies the struct under its own synchronization.
#pragma once
#include <cstdint>

namespace wac::dns {

struct DnsStats {
  uint64_t responses_seen = 0;     // packets handed to the tap
  uint64_t parsed = 0;             // DNS responses parsed (one packet may carry several over TCP)
  uint64_t malformed = 0;          // DNS messages the parser rejected
  uint64_t not_response = 0;       // QR = 0 or opcode other than QUERY
  uint64_t untrusted = 0;          // packets from a source that is not a trusted DNS server (ignored)
  uint64_t fragments = 0;          // IPv4/IPv6 fragments (never reassembled)
  uint64_t packet_errors = 0;      // other L3/L4 rejects: truncated, bad header, unsupported protocol
  uint64_t tcp_incomplete = 0;     // TCP segments ending inside a DNS message
  uint64_t cname_loops = 0;        // responses whose CNAME chain looped
  uint64_t chains_too_long = 0;    // responses with a CNAME chain cut at the hop limit
  uint64_t answers_truncated = 0;  // responses with answers beyond the configured caps
  uint64_t evictions = 0;          // cache addresses dropped because their key was full
};

}  // namespace wac::dns
