// libFuzzer target: captured packet -> L3/L4 decoding -> DNS-over-TCP
// framing -> DNS parsing, end to end through AnswerExtractor, plus checks
// that every span handed out lies inside the input.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "dns/extract.h"
#include "dns/packet.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

bool inside(std::span<const uint8_t> part, const uint8_t* data, size_t size) {
  if (part.empty()) return true;
  return part.data() >= data && part.data() + part.size() <= data + size;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wac::dns;
  std::span<const uint8_t> captured(data, size);

  PacketResult pr = parse_packet(captured);
  check(pr.ok() == pr.reason.empty());
  if (pr.ok()) {
    check(pr.packet.proto == kProtoUdp || pr.packet.proto == kProtoTcp);
    check(inside(pr.packet.payload, data, size));
    TcpDnsFraming framing;
    split_tcp_dns(pr.packet.payload, framing);
    size_t framed = 0;
    for (auto m : framing.messages) {
      check(!m.empty());
      check(inside(m, pr.packet.payload.data(), pr.packet.payload.size()));
      framed += m.size() + 2;
    }
    check(framed <= pr.packet.payload.size());
  }

  static DnsStats stats;
  static AnswerExtractor extractor(stats);
  static std::vector<Answer> answers;
  answers.clear();
  DnsStats before = stats;
  size_t parsed = extractor.process(captured, answers);
  check(stats.responses_seen == before.responses_seen + 1);
  check(stats.parsed == before.parsed + parsed);
  if (parsed == 0) check(answers.empty());
  return 0;
}
