#include "dns/message.h"

#include <ldns/ldns.h>

#include <algorithm>
#include <limits>
#include <memory>

// Why ldns for the wire format: DNS messages reaching the tap are written by
// whatever answered the pod, so the parser is an attack surface. ldns
// (NLnet Labs, the Unbound/NSD authors, maintained and packaged by Debian)
// bounds-checks every read against the message length, rejects compression
// pointers that leave the message and stops pointer loops after a fixed
// number of jumps, and enforces label/name length limits. We only walk the
// parsed structure it hands back.
//
// Cost: ~1 us for a typical response (see test/bench/dns_parse_bench.cc).
// The worst case is a pointer loop, which ldns follows LDNS_MAX_POINTERS
// (65535) times before rejecting: ~150 us. That bounds a flood of crafted
// responses to slowing the tap (nflog then drops packets), never the node.

namespace wac::dns {

namespace {

constexpr uint16_t kTypeA = 1;
constexpr uint16_t kTypeCname = 5;
constexpr uint16_t kTypeAaaa = 28;
constexpr uint16_t kClassIn = 1;

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using PktPtr = std::unique_ptr<ldns_pkt, PktFree>;

bool plain_name_byte(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '*';
}

// RFC 2181 section 8: a TTL with the top bit set is treated as zero.
uint32_t sane_ttl(uint32_t ttl) { return ttl > 0x7fffffffu ? 0 : ttl; }

bool rdf_name(const ldns_rdf* rdf, std::string& out) {
  if (!rdf || ldns_rdf_get_type(rdf) != LDNS_RDF_TYPE_DNAME) return false;
  return append_canonical_name({ldns_rdf_data(rdf), ldns_rdf_size(rdf)}, out);
}

void fail(Response& out, MessageStatus status, std::string reason) {
  out.status = status;
  out.reason = std::move(reason);
}

}  // namespace

const char* to_string(MessageStatus s) {
  switch (s) {
    case MessageStatus::Ok: return "ok";
    case MessageStatus::Malformed: return "malformed";
    case MessageStatus::NotResponse: return "not a response";
  }
  return "unknown";
}

bool append_canonical_name(std::span<const uint8_t> wire, std::string& out) {
  size_t pos = 0;
  bool first = true;
  while (pos < wire.size()) {
    size_t len = wire[pos++];
    if (len == 0) return pos == wire.size();
    if (len > 63 || len > wire.size() - pos) return false;
    if (!first) out.push_back('.');
    first = false;
    for (size_t i = 0; i < len; ++i) {
      uint8_t c = wire[pos + i];
      if (c >= 'A' && c <= 'Z') c = uint8_t(c - 'A' + 'a');
      if (plain_name_byte(c)) {
        out.push_back(char(c));
      } else {
        char esc[4] = {'\\', char('0' + c / 100), char('0' + c / 10 % 10), char('0' + c % 10)};
        out.append(esc, 4);
      }
    }
    pos += len;
  }
  return false;  // no terminating zero label
}

MessageStatus ResponseParser::parse(std::span<const uint8_t> wire, Response& out) {
  out.status = MessageStatus::Ok;
  out.reason.clear();
  out.rcode = 0;
  out.truncated_flag = false;
  out.question.clear();
  out.answers.clear();
  out.cname_loop = out.chain_too_long = out.truncated_answers = false;

  ldns_pkt* raw = nullptr;
  ldns_status st = ldns_wire2pkt(&raw, wire.data(), wire.size());
  PktPtr pkt(raw);
  if (st != LDNS_STATUS_OK || !pkt) {
    const char* why = ldns_get_errorstr_by_id(st);
    fail(out, MessageStatus::Malformed, "DNS message (" + std::to_string(wire.size()) + " bytes): " +
                                            (why ? why : "ldns status " + std::to_string(int(st))));
    return out.status;
  }
  if (!ldns_pkt_qr(pkt.get())) {
    fail(out, MessageStatus::NotResponse, "QR bit is 0 (a query, not a response)");
    return out.status;
  }
  if (ldns_pkt_get_opcode(pkt.get()) != LDNS_PACKET_QUERY) {
    fail(out, MessageStatus::NotResponse,
         "opcode " + std::to_string(int(ldns_pkt_get_opcode(pkt.get()))) + " is not QUERY");
    return out.status;
  }
  out.rcode = uint8_t(ldns_pkt_get_rcode(pkt.get()));
  out.truncated_flag = ldns_pkt_tc(pkt.get());

  const ldns_rr_list* questions = ldns_pkt_question(pkt.get());
  if (questions && ldns_rr_list_rr_count(questions) > 0) {
    if (!rdf_name(ldns_rr_owner(ldns_rr_list_rr(questions, 0)), out.question)) {
      fail(out, MessageStatus::Malformed, "question name is not a well-formed name");
      return out.status;
    }
  }
  collect(ldns_pkt_answer(pkt.get()), out);
  index_names(out.question);
  link_records();
  resolve_chains(out);
  return out.status;
}

// Copies the usable answer records out of ldns' structures.
void ResponseParser::collect(const ldns_rr_list* list, Response& out) {
  record_count_ = 0;
  size_t count = list ? ldns_rr_list_rr_count(list) : 0;
  if (count > limits_.max_answer_records) {
    out.truncated_answers = true;
    count = limits_.max_answer_records;
  }
  if (records_.size() < count) records_.resize(count);
  for (size_t i = 0; i < count; ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(list, i);
    if (ldns_rr_get_class(rr) != kClassIn || ldns_rr_rd_count(rr) < 1) continue;
    uint16_t type = ldns_rr_get_type(rr);
    if (type != kTypeA && type != kTypeAaaa && type != kTypeCname) continue;
    Record& rec = records_[record_count_];
    rec.owner.clear();
    rec.target.clear();
    if (!rdf_name(ldns_rr_owner(rr), rec.owner)) continue;
    const ldns_rdf* rd = ldns_rr_rdf(rr, 0);
    rec.is_cname = type == kTypeCname;
    if (rec.is_cname) {
      if (!rdf_name(rd, rec.target)) continue;
    } else {
      size_t want = type == kTypeA ? 4 : 16;
      if (ldns_rdf_size(rd) != want) continue;
      rec.addr = IpAddr::from_bytes(type == kTypeA ? Family::V4 : Family::V6, ldns_rdf_data(rd));
    }
    rec.ttl = sane_ttl(ldns_rr_ttl(rr));
    ++record_count_;
  }
}

// Gives every distinct name (question, owners, CNAME targets) a small id:
// its position in a sorted vector. Sorting a few dozen views is cheaper
// than building a hash map per message.
void ResponseParser::index_names(std::string_view question) {
  names_.clear();
  names_.push_back(question);
  for (size_t i = 0; i < record_count_; ++i) {
    names_.push_back(records_[i].owner);
    if (records_[i].is_cname) names_.push_back(records_[i].target);
  }
  std::sort(names_.begin(), names_.end());
  names_.erase(std::unique(names_.begin(), names_.end()), names_.end());
}

uint32_t ResponseParser::name_id(std::string_view name) const {
  return uint32_t(std::lower_bound(names_.begin(), names_.end(), name) - names_.begin());
}

// Per name: its first CNAME (RFC 1034 allows one; extra ones are ignored)
// and a list of its addresses in message order.
void ResponseParser::link_records() {
  cname_of_.assign(names_.size(), -1);
  first_addr_.assign(names_.size(), -1);
  next_addr_.assign(record_count_, -1);
  for (size_t i = record_count_; i-- > 0;) {
    Record& rec = records_[i];
    rec.owner_id = name_id(rec.owner);
    if (rec.is_cname) {
      rec.target_id = name_id(rec.target);
      cname_of_[rec.owner_id] = int32_t(i);  // walking backwards leaves the first one
    } else {
      next_addr_[i] = first_addr_[rec.owner_id];
      first_addr_[rec.owner_id] = int32_t(i);
    }
  }
}

void ResponseParser::resolve_chains(Response& out) {
  for (uint32_t id = 0; id < names_.size(); ++id) {
    if (names_[id].empty()) continue;  // no question, or the root name
    if (!walk_from(id, out)) return;
  }
}

// Emits the addresses reachable from `start` through its CNAME chain,
// each with the minimum TTL of the links followed and the address record.
// Returns false once the output cap is reached.
bool ResponseParser::walk_from(uint32_t start, Response& out) {
  chain_.clear();
  chain_.push_back(start);
  uint32_t chain_ttl = std::numeric_limits<uint32_t>::max();
  uint32_t cur = start;
  for (;;) {
    for (int32_t r = first_addr_[cur]; r >= 0; r = next_addr_[r]) {
      if (out.answers.size() >= limits_.max_answers_out) {
        out.truncated_answers = true;
        return false;
      }
      const Record& rec = records_[r];
      out.answers.push_back(Answer{std::string(names_[start]), rec.addr, std::min(chain_ttl, rec.ttl)});
    }
    int32_t c = cname_of_[cur];
    if (c < 0) return true;
    const Record& link = records_[c];
    if (std::find(chain_.begin(), chain_.end(), link.target_id) != chain_.end()) {
      out.cname_loop = true;
      return true;
    }
    if (chain_.size() > limits_.max_chain_length) {
      out.chain_too_long = true;
      return true;
    }
    chain_ttl = std::min(chain_ttl, link.ttl);
    chain_.push_back(link.target_id);
    cur = link.target_id;
  }
}

Response parse_response(std::span<const uint8_t> wire, MessageLimits limits) {
  ResponseParser parser(limits);
  Response out;
  parser.parse(wire, out);
  return out;
}

}  // namespace wac::dns
