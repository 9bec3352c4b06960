// Test helpers that write DNS wire format and IPv4/IPv6/UDP/TCP headers by
// hand, so tests (and the benchmark / fuzz seed generator) can craft exactly
// the bytes they mean, including broken ones.
#pragma once
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "netlink/ip.h"

namespace wac::dns::testing {

using Wire = std::vector<uint8_t>;

inline void put16(Wire& w, uint16_t v) {
  w.push_back(uint8_t(v >> 8));
  w.push_back(uint8_t(v));
}
inline void put32(Wire& w, uint32_t v) {
  put16(w, uint16_t(v >> 16));
  put16(w, uint16_t(v));
}
inline void append(Wire& w, const Wire& more) { w.insert(w.end(), more.begin(), more.end()); }

// "www.example.com" -> 3www7example3com0 (uncompressed). "" is the root.
inline Wire name(std::string_view text) {
  Wire w;
  while (!text.empty()) {
    auto dot = text.find('.');
    std::string_view label = text.substr(0, dot);
    w.push_back(uint8_t(label.size()));
    w.insert(w.end(), label.begin(), label.end());
    text = dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  }
  w.push_back(0);
  return w;
}
// A compression pointer to `offset` from the start of the message.
inline Wire ptr(uint16_t offset) { return {uint8_t(0xc0 | (offset >> 8)), uint8_t(offset)}; }
// Labels followed by a pointer: labels_then_ptr("www", 12).
inline Wire labels_then_ptr(std::string_view labels, uint16_t offset) {
  Wire w = name(labels);
  w.pop_back();
  append(w, ptr(offset));
  return w;
}
inline Wire ip_bytes(std::string_view text) {
  auto a = IpAddr::parse(text);
  if (!a) throw std::runtime_error("bad test address " + std::string(text));
  return Wire(a->bytes.begin(), a->bytes.begin() + a->size());
}

constexpr uint16_t kA = 1, kCname = 5, kAaaa = 28, kTxt = 16;

// Builds a DNS message. Records are appended in call order; counts follow
// the records unless overridden (to craft wrong counts).
struct DnsBuilder {
  uint16_t id = 0x1234;
  bool qr = true;
  uint8_t opcode = 0;
  uint8_t rcode = 0;
  bool tc = false;
  std::optional<uint16_t> qdcount, ancount, nscount, arcount;

  // Offset (from message start) where the next record's owner name begins.
  uint16_t here() const { return uint16_t(12 + body_.size()); }

  DnsBuilder& question(const Wire& owner, uint16_t type = kA) {
    append(body_, owner);
    put16(body_, type);
    put16(body_, 1);
    ++qd_;
    return *this;
  }
  DnsBuilder& question(std::string_view owner, uint16_t type = kA) { return question(name(owner), type); }

  DnsBuilder& rr(const Wire& owner, uint16_t type, uint32_t ttl, const Wire& rdata, uint16_t klass = 1) {
    append(body_, owner);
    put16(body_, type);
    put16(body_, klass);
    put32(body_, ttl);
    put16(body_, uint16_t(rdata.size()));
    append(body_, rdata);
    ++an_;
    return *this;
  }
  DnsBuilder& a(std::string_view owner, std::string_view addr, uint32_t ttl) {
    return rr(name(owner), kA, ttl, ip_bytes(addr));
  }
  DnsBuilder& aaaa(std::string_view owner, std::string_view addr, uint32_t ttl) {
    return rr(name(owner), kAaaa, ttl, ip_bytes(addr));
  }
  DnsBuilder& cname(std::string_view owner, std::string_view target, uint32_t ttl) {
    return rr(name(owner), kCname, ttl, name(target));
  }
  // Raw bytes after the answers (e.g. an authority/additional record whose
  // count is set through nscount/arcount).
  DnsBuilder& raw(const Wire& bytes) {
    append(body_, bytes);
    return *this;
  }

  Wire build() const {
    Wire w;
    put16(w, id);
    w.push_back(uint8_t((qr ? 0x80 : 0) | (opcode & 0x0f) << 3 | (tc ? 0x02 : 0) | 0x01));
    w.push_back(uint8_t(0x80 | (rcode & 0x0f)));
    put16(w, qdcount.value_or(qd_));
    put16(w, ancount.value_or(an_));
    put16(w, nscount.value_or(0));
    put16(w, arcount.value_or(0));
    append(w, body_);
    return w;
  }

 private:
  Wire body_;
  uint16_t qd_ = 0, an_ = 0;
};

// A typical response: question + one A record.
inline Wire simple_response(std::string_view qname, std::string_view addr, uint32_t ttl) {
  return DnsBuilder().question(qname).a(qname, addr, ttl).build();
}

// ---- L3/L4 ----

inline Wire udp(uint16_t sport, uint16_t dport, const Wire& payload) {
  Wire w;
  put16(w, sport);
  put16(w, dport);
  put16(w, uint16_t(8 + payload.size()));
  put16(w, 0);  // checksum not checked by the tap
  append(w, payload);
  return w;
}

inline Wire tcp(uint16_t sport, uint16_t dport, const Wire& payload, size_t option_bytes = 0) {
  Wire w;
  put16(w, sport);
  put16(w, dport);
  put32(w, 1000);  // seq
  put32(w, 2000);  // ack
  w.push_back(uint8_t(((20 + option_bytes) / 4) << 4));
  w.push_back(0x18);  // PSH|ACK
  put16(w, 65535);
  put16(w, 0);
  put16(w, 0);
  w.insert(w.end(), option_bytes, 1);  // NOPs
  append(w, payload);
  return w;
}

// DNS-over-TCP framing: 2-byte length then the message.
inline Wire tcp_framed(const Wire& message) {
  Wire w;
  put16(w, uint16_t(message.size()));
  append(w, message);
  return w;
}

struct Ipv4Options {
  uint8_t proto = 17;
  size_t option_bytes = 0;  // multiple of 4
  uint16_t frag_field = 0;  // flags (0x2000 = MF) | offset/8
};

inline Wire ipv4(std::string_view src, std::string_view dst, const Wire& l4, Ipv4Options o = {}) {
  Wire w;
  size_t header = 20 + o.option_bytes;
  w.push_back(uint8_t(0x40 | header / 4));
  w.push_back(0);
  put16(w, uint16_t(header + l4.size()));
  put16(w, 0x4242);
  put16(w, o.frag_field);
  w.push_back(64);
  w.push_back(o.proto);
  put16(w, 0);
  append(w, ip_bytes(src));
  append(w, ip_bytes(dst));
  w.insert(w.end(), o.option_bytes, 1);  // NOP options
  append(w, l4);
  return w;
}

// An IPv6 extension header of `type` with `len8` 8-byte units of length.
struct Ipv6Ext {
  uint8_t type;
  size_t len8 = 1;
};

inline Wire ipv6(std::string_view src, std::string_view dst, const Wire& l4, uint8_t proto = 17,
                 std::vector<Ipv6Ext> exts = {}) {
  Wire chain;
  for (size_t i = 0; i < exts.size(); ++i) {
    uint8_t next = i + 1 < exts.size() ? exts[i + 1].type : proto;
    chain.push_back(next);
    chain.push_back(uint8_t(exts[i].len8 - 1));
    chain.insert(chain.end(), exts[i].len8 * 8 - 2, 0);
  }
  Wire w;
  put32(w, 0x60000000);
  put16(w, uint16_t(chain.size() + l4.size()));
  w.push_back(exts.empty() ? proto : exts[0].type);
  w.push_back(64);
  append(w, ip_bytes(src));
  append(w, ip_bytes(dst));
  append(w, chain);
  append(w, l4);
  return w;
}

}  // namespace wac::dns::testing
