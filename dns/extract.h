// End to end for the DNS tap: one captured packet (L3 onward) -> the
// (name, address, TTL) facts of every DNS response it carries, counting
// every outcome in DnsStats. The nflog reader calls process() per packet.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "dns/message.h"
#include "dns/packet.h"
#include "dns/stats.h"

namespace wac::dns {

class AnswerExtractor {
 public:
  // `stats` must outlive the extractor.
  explicit AnswerExtractor(DnsStats& stats, MessageLimits limits = {}) : stats_(stats), parser_(limits) {}

  // Only packets whose source address this accepts are read as DNS; the
  // others are counted in stats.untrusted and yield nothing, so a pod or
  // host that forges responses cannot make the tap learn anything.  Unset:
  // every source is accepted.
  using SourceFilter = std::function<bool(const IpAddr& source)>;
  void set_source_filter(SourceFilter accept) { accept_source_ = std::move(accept); }

  // Appends the facts found to `out` (not cleared, so a caller can batch
  // several packets). Returns the number of DNS responses parsed.
  size_t process(Bytes captured, std::vector<Answer>& out);

  // Why the last rejected packet or message was rejected ("" if none yet);
  // for debug logging, overwritten on the next reject.
  const std::string& last_error() const { return last_error_; }
  // The transport header of the last packet that parsed (source server,
  // destination pod), valid until the next process() call.
  const Packet& last_packet() const { return last_packet_; }

 private:
  void process_message(Bytes message, std::vector<Answer>& out, size_t& parsed);

  DnsStats& stats_;
  ResponseParser parser_;
  Response response_;
  TcpDnsFraming framing_;
  Packet last_packet_;
  std::string last_error_;
  SourceFilter accept_source_;
};

}  // namespace wac::dns
