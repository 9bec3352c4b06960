// DNS response parsing: wire bytes -> (name, address, TTL) facts.
//
// Only the answer section is used (authority and additional records are not
// answers to the pod's question and could be stuffed by any server on the
// path), only class IN, only A, AAAA and CNAME. CNAME chains are resolved so
// that every name on a chain learns the addresses at its end, with the
// smallest TTL met along the way (the earliest moment any link may change).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "netlink/ip.h"

struct ldns_struct_rr_list;  // ldns' ldns_rr_list; keeps <ldns/ldns.h> out of this header

namespace wac::dns {

enum class MessageStatus : uint8_t {
  Ok,
  Malformed,    // ldns could not parse it (truncated, bad counts, bad pointer, ...)
  NotResponse,  // QR = 0, or an opcode other than QUERY
};
const char* to_string(MessageStatus s);

// One learned fact. `name` is canonical: lowercase, no trailing dot; bytes
// outside [a-z0-9-_*] are written as \DDD so such names never equal a
// pattern (patterns cannot contain '\').
struct Answer {
  std::string name;
  IpAddr addr;
  uint32_t ttl = 0;
  bool operator==(const Answer&) const = default;
};

struct MessageLimits {
  size_t max_answer_records = 512;  // answer-section records looked at; the rest are ignored
  size_t max_chain_length = 16;     // CNAME hops followed from any one name
  size_t max_answers_out = 4096;    // facts emitted per message (chains multiply records)
};

struct Response {
  MessageStatus status = MessageStatus::Ok;
  std::string reason;        // empty when ok
  uint8_t rcode = 0;         // header RCODE (0 NOERROR, 3 NXDOMAIN, ...)
  bool truncated_flag = false;  // TC bit: records present are still valid answers
  std::string question;      // canonical name of the first question, "" if none
  std::vector<Answer> answers;
  bool cname_loop = false;         // a chain looped back; the loop's back edge was not followed
  bool chain_too_long = false;     // a chain was cut at max_chain_length hops
  bool truncated_answers = false;  // records beyond max_answer_records, or facts beyond max_answers_out, dropped
  bool ok() const { return status == MessageStatus::Ok; }
};

// Reusable parser: keeps its scratch buffers between calls so the steady
// state allocates only what ldns itself allocates. Not thread-safe; use one
// per thread.
class ResponseParser {
 public:
  explicit ResponseParser(MessageLimits limits = {}) : limits_(limits) {}

  // Fills `out` (cleared first, buffers reused) and returns out.status.
  MessageStatus parse(std::span<const uint8_t> wire, Response& out);

 private:
  // One answer record we use. Strings keep their capacity across calls
  // (records_ only grows; record_count_ says how many are live).
  struct Record {
    std::string owner;
    std::string target;  // CNAME only
    IpAddr addr;         // A/AAAA only
    uint32_t ttl = 0;
    bool is_cname = false;
    uint32_t owner_id = 0, target_id = 0;
  };
  void collect(const ldns_struct_rr_list* answers, Response& out);
  void index_names(std::string_view question);
  uint32_t name_id(std::string_view name) const;
  void link_records();
  void resolve_chains(Response& out);
  bool walk_from(uint32_t start, Response& out);

  MessageLimits limits_;
  std::vector<Record> records_;
  size_t record_count_ = 0;
  std::vector<std::string_view> names_;  // sorted, unique; views into records_ and question
  std::vector<int32_t> cname_of_;        // per name: first CNAME record owned, -1 if none
  std::vector<int32_t> first_addr_;      // per name: first A/AAAA record owned, -1 if none
  std::vector<int32_t> next_addr_;       // per record: next A/AAAA record of the same owner
  std::vector<uint32_t> chain_;          // names visited by the current walk
};

// Convenience for one-off use (tests, tools); the tap uses ResponseParser.
Response parse_response(std::span<const uint8_t> wire, MessageLimits limits = {});

// Canonical text of an uncompressed wire-format name (length-prefixed
// labels ending in a zero byte), appended to `out`. Returns false if the
// bytes are not a well-formed name.
bool append_canonical_name(std::span<const uint8_t> wire_name, std::string& out);

}  // namespace wac::dns
