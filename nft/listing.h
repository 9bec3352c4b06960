// Parsing of `nft -t -s -y list table inet wac` text (terse: no set
// elements; stateless: no counter values; numeric priorities) into the
// chains and set declarations of a Snapshot.  Elements are read separately
// through libnftnl, which is far faster on large sets.
//
// Text rather than JSON because nft 1.0.6's JSON omits chain comments and
// prints rules as expression trees, while the text has both as written.
#pragma once
#include <string_view>

#include "netlink/status.h"
#include "nft/ruleset.h"

namespace wac::nft {

// Fills out.chains and out.sets and sets out.table_exists; leaves
// out.elements alone.  Objects wac does not create (flowtables, counters,
// ...) are skipped; a set whose key type wac cannot represent is an error.
Status parse_table_listing(std::string_view text, Snapshot& out);

}  // namespace wac::nft
