// libFuzzer target: the DNS response parser (ldns + CNAME resolution) on
// arbitrary bytes. Beyond "no crash, no sanitizer report", it checks the
// promises message.h makes about the output.
#include <cstdint>
#include <cstdlib>

#include "dns/message.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void check_response(const wac::dns::Response& r, const wac::dns::MessageLimits& limits) {
  if (!r.ok()) {
    check(!r.reason.empty());
    check(r.answers.empty());
    return;
  }
  check(r.reason.empty());
  check(r.rcode < 16);
  check(r.answers.size() <= limits.max_answers_out);
  for (const auto& a : r.answers) {
    check(!a.name.empty());
    check(a.name.size() <= 4 * 255);  // every byte may become a \DDD escape
    check(a.name.back() != '.');
    check(a.ttl <= 0x7fffffffu);
    for (char c : a.name) check(!(c >= 'A' && c <= 'Z'));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static wac::dns::ResponseParser parser;
  static wac::dns::Response out;
  std::span<const uint8_t> wire(data, size);
  parser.parse(wire, out);
  check_response(out, wac::dns::MessageLimits{});

  // Tight limits exercise the truncation and chain-cut paths.
  wac::dns::MessageLimits tight{.max_answer_records = 3, .max_chain_length = 2, .max_answers_out = 4};
  wac::dns::Response small = wac::dns::parse_response(wire, tight);
  check_response(small, tight);
  check(small.status == out.status);
  return 0;
}
