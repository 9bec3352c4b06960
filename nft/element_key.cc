#include "nft/element_key.h"

#include <algorithm>

#include "nft/syntax.h"

namespace wac::nft {

std::optional<IpAddr> next_address(const IpAddr& a) {
  IpAddr n = a;
  for (int i = int(n.size()) - 1; i >= 0; --i) {
    if (++n.bytes[i] != 0) return n;
  }
  return std::nullopt;  // wrapped: a was the highest address
}

std::optional<IpAddr> previous_address(const IpAddr& a) {
  IpAddr p = a;
  for (int i = int(p.size()) - 1; i >= 0; --i) {
    if (p.bytes[i]-- != 0) return p;
  }
  return std::nullopt;
}

namespace {

// The prefix length that makes [first, last] exactly one CIDR, if any.
std::optional<uint8_t> exact_prefix(const IpInterval& iv) {
  uint8_t max = uint8_t(iv.first.size() * 8);
  for (int p = max; p >= 0; --p) {
    Cidr c{iv.first, uint8_t(p)};
    Cidr masked = c.parent(uint8_t(p));
    if (masked.addr != iv.first) return std::nullopt;  // first not aligned to a shorter prefix either
    if (c.last() == iv.last) return uint8_t(p);
    if (iv.last < c.last()) return std::nullopt;
  }
  return std::nullopt;
}

Family family_of(KeyType k) { return k == KeyType::Ipv6Addr ? Family::V6 : Family::V4; }

}  // namespace

std::string interval_text(const IpInterval& iv) {
  if (iv.first == iv.last) return iv.first.str();
  if (auto p = exact_prefix(iv)) return Cidr{iv.first, *p}.str();
  return iv.first.str() + "-" + iv.last.str();
}

std::string ElementKey::text() const { return ip ? interval_text(*ip) : ifname; }

std::optional<IpInterval> parse_ip_key(std::string_view text) {
  auto dash = text.find('-');
  if (dash != std::string_view::npos) {
    auto first = IpAddr::parse(text.substr(0, dash));
    auto last = IpAddr::parse(text.substr(dash + 1));
    if (!first || !last || first->family != last->family || *last < *first) return std::nullopt;
    return IpInterval{*first, *last};
  }
  auto cidr = Cidr::parse(text, /*allow_host_bits=*/false);
  if (!cidr) return std::nullopt;
  return IpInterval{cidr->addr, cidr->last()};
}

Status parse_element_key(const SetDecl& decl, std::string_view text, ElementKey& out) {
  out = {};
  const std::string quoted = "'" + std::string(text) + "'";
  if (decl.key == KeyType::Ifname) {
    if (auto st = check_ifname(text); !st) return Status::Error("key " + quoted + ": " + st.message());
    out.ifname = std::string(text);
    return Status::Ok();
  }
  auto iv = parse_ip_key(text);
  if (!iv) {
    return Status::Error("key " + quoted + ": not an IP address, prefix (without host bits) or range");
  }
  if (iv->first.family != family_of(decl.key)) {
    return Status::Error("key " + quoted + ": address family does not match set type " +
                         key_type_name(decl.key));
  }
  if (iv->first != iv->last && !decl.interval) {
    return Status::Error("key " + quoted + ": prefixes and ranges need a set with flags interval");
  }
  out.ip = *iv;
  return Status::Ok();
}

IntervalEncoding encode_interval(const IpInterval& iv) { return {iv.first, next_address(iv.last)}; }

std::vector<DecodedInterval> decode_intervals(std::vector<IntervalPoint> points) {
  // Adjacent intervals share a key (end of one == start of the next): the
  // end must come first so it closes the earlier interval.
  std::sort(points.begin(), points.end(), [](const IntervalPoint& a, const IntervalPoint& b) {
    if (a.key != b.key) return a.key < b.key;
    return a.is_end && !b.is_end;
  });
  std::vector<DecodedInterval> out;
  const IntervalPoint* open = nullptr;
  for (const auto& p : points) {
    if (p.is_end) {
      if (!open) continue;  // nft's leading end element, or a stray one
      auto last = previous_address(p.key);
      if (last && open->key <= *last) out.push_back({{open->key, *last}, open->source});
      open = nullptr;
      continue;
    }
    if (open) {
      // A start directly after a start: the earlier one is open-ended in the
      // kernel's eyes; it can only be valid as the top interval, so close it
      // just below this one to keep the output well-formed.
      auto last = previous_address(p.key);
      if (last) out.push_back({{open->key, *last}, open->source});
    }
    open = &p;
  }
  if (open) {
    IpAddr top = open->key;
    for (size_t i = 0; i < top.size(); ++i) top.bytes[i] = 0xff;
    out.push_back({{open->key, top}, open->source});
  }
  return out;
}

}  // namespace wac::nft
