#include "dns/extract.h"

#include <iterator>

namespace wac::dns {

size_t AnswerExtractor::process(Bytes captured, std::vector<Answer>& out) {
  ++stats_.responses_seen;
  PacketResult pr = parse_packet(captured);
  if (!pr.ok()) {
    ++(pr.status == PacketStatus::Fragment ? stats_.fragments : stats_.packet_errors);
    last_error_ = std::move(pr.reason);
    return 0;
  }
  last_packet_ = pr.packet;
  if (accept_source_ && !accept_source_(pr.packet.src)) {
    ++stats_.untrusted;
    last_error_ = "response from " + pr.packet.src.str() + ", which is not a trusted DNS server";
    return 0;
  }
  size_t parsed = 0;
  if (pr.packet.proto == kProtoUdp) {
    process_message(pr.packet.payload, out, parsed);
    return parsed;
  }
  split_tcp_dns(pr.packet.payload, framing_);
  if (framing_.incomplete) ++stats_.tcp_incomplete;
  for (Bytes message : framing_.messages) process_message(message, out, parsed);
  return parsed;
}

void AnswerExtractor::process_message(Bytes message, std::vector<Answer>& out, size_t& parsed) {
  parser_.parse(message, response_);
  if (!response_.ok()) {
    ++(response_.status == MessageStatus::NotResponse ? stats_.not_response : stats_.malformed);
    last_error_ = std::move(response_.reason);
    return;
  }
  ++stats_.parsed;
  ++parsed;
  if (response_.cname_loop) ++stats_.cname_loops;
  if (response_.chain_too_long) ++stats_.chains_too_long;
  if (response_.truncated_answers) ++stats_.answers_truncated;
  out.insert(out.end(), std::make_move_iterator(response_.answers.begin()),
             std::make_move_iterator(response_.answers.end()));
}

}  // namespace wac::dns
