// Element keys as typed values, and the interval encoding the kernel uses for
// `flags interval` sets.
//
// The kernel stores an interval [first, last] as two elements: a start
// element with key `first`, and an end element (NFT_SET_ELEM_INTERVAL_END)
// with key `last + 1`.  When `last` is the highest address (0.0.0.0/0,
// 255.255.255.255, ::/0) there is no `last + 1`; nft then omits the end
// element and marks the start element "interval open" in its userdata
// (NFTNL_UDATA_SET_ELEM_FLAGS = NFTNL_SET_ELEM_F_INTERVAL_OPEN) so `nft list`
// prints it as a prefix.  wac writes exactly what nft writes.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "netlink/ip.h"
#include "netlink/status.h"
#include "nft/ruleset.h"

namespace wac::nft {

// Inclusive range of addresses of one family.
struct IpInterval {
  IpAddr first;
  IpAddr last;
  bool overlaps(const IpInterval& o) const {
    return first.family == o.first.family && first <= o.last && o.first <= last;
  }
  bool operator==(const IpInterval&) const = default;
  auto operator<=>(const IpInterval&) const = default;
};

// Address + 1; nullopt when a is the highest address of its family.
std::optional<IpAddr> next_address(const IpAddr& a);
// Address - 1; nullopt when a is all zeros.
std::optional<IpAddr> previous_address(const IpAddr& a);

// "10.1.2.3", "10.0.0.0/8", "10.0.0.1-10.0.0.5" (the last only when the range
// is not a single prefix) -- the text nft prints for the same interval.
std::string interval_text(const IpInterval& iv);

// A parsed element key.  Exactly one of the two alternatives is set,
// according to the set's key type.
struct ElementKey {
  std::optional<IpInterval> ip;  // host keys are one-address intervals
  std::string ifname;
  std::string text() const;      // canonical text (as nft prints it, unquoted)
  bool operator==(const ElementKey&) const = default;
  auto operator<=>(const ElementKey&) const = default;
};

// Parses `text` for a set declared as `decl`.  Addresses must match the key
// family; prefixes and ranges need `flags interval`; a prefix with host bits
// set ("10.0.0.1/8") is rejected.
Status parse_element_key(const SetDecl& decl, std::string_view text, ElementKey& out);

// Parses an IP element key without knowing the set: an address, a prefix or
// a range "a-b".  Used where only the text is at hand (rendering).
std::optional<IpInterval> parse_ip_key(std::string_view text);

struct IntervalEncoding {
  IpAddr start;
  std::optional<IpAddr> end;  // exclusive end (last + 1); absent = open to the top
};
IntervalEncoding encode_interval(const IpInterval& iv);

// One element as the kernel dumps it from an interval set.
struct IntervalPoint {
  IpAddr key;
  bool is_end = false;
  size_t source = 0;  // caller's index, carried to the decoded interval
};
struct DecodedInterval {
  IpInterval interval;
  size_t source = 0;  // `source` of the start element (holds timeout/comment)
};
// Pairs start and end points back into intervals.  Order of input does not
// matter.  End points with no start before them (nft writes an end element
// at 0.0.0.0 in front of the first interval) are skipped; a start with no end
// after it runs to the highest address.
std::vector<DecodedInterval> decode_intervals(std::vector<IntervalPoint> points);

}  // namespace wac::nft
