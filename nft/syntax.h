// What may appear in the nft script text wac renders, checked before it
// reaches libnftables.
//
// Names: nft 1.0.6 does NOT accept quoted identifiers anywhere (`add chain
// inet wac "x"`, `jump "x"`, `@"x"` and `: jump "x"` in vmap elements are all
// syntax errors), so names are written bare and must be a single nft `string`
// token that is not a keyword.  Allowed: 1..255 bytes, first [A-Za-z_], then
// [A-Za-z0-9_./-], and not one of nft's scanner keywords ("fwd", "ip",
// "accept", "counter", "type", ...).  wac's own names ("pod-default/web-1a2b",
// "sel-3f2a1b9c", "netset-global/corp-nets") always fit.
//
// Comments: nft's quoted strings have no escapes and the kernel keeps at most
// 128 bytes, so comments are sanitized, never rejected (they are for humans):
// '"' becomes '\'', control characters become ' ', invalid UTF-8 becomes '?',
// and the result is cut to 128 bytes on a UTF-8 character boundary.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "netlink/status.h"
#include "nft/ruleset.h"

namespace wac::nft {

inline constexpr size_t kMaxNameLen = 255;     // NFT_NAME_MAXLEN - 1
inline constexpr size_t kMaxCommentLen = 128;  // NFTNL_UDATA_COMMENT_MAXLEN
inline constexpr size_t kMaxIfnameLen = 15;    // IFNAMSIZ - 1
inline constexpr size_t kMaxRuleLen = 4096;

bool is_nft_keyword(std::string_view word);
// `what` names the object in the error ("chain", "set").
Status check_name(std::string_view what, std::string_view name);
std::string sanitize_comment(std::string_view comment);
// Interface names as the kernel accepts them, minus what nft would read as
// syntax ('"', '*', '\\').
Status check_ifname(std::string_view name);
// One rule body: no control characters, balanced double quotes, and no ';'
// or '#' outside quotes (either would let a rule smuggle in more commands or
// silently drop its own tail).
Status check_rule(std::string_view rule);

// "30s" when whole seconds, else "1500ms" (nft's time string syntax).
std::string format_timeout(uint32_t ms);

struct Verdict {
  enum class Kind { Accept, Drop, Continue, Return, Jump, Goto };
  Kind kind = Kind::Accept;
  std::string chain;  // Jump/Goto
  std::string str() const;
};
// "accept" | "drop" | "continue" | "return" | "jump NAME" | "goto NAME".
Status parse_verdict(std::string_view text, Verdict& out);

// The set and chain names a rule refers to (`@set`, `jump chain`,
// `goto chain`), outside quoted strings: what a rule keeps in use.
struct RuleReferences {
  std::vector<std::string> sets;
  std::vector<std::string> chains;
};
RuleReferences rule_references(std::string_view rule);

// Checks every name, rule, verdict and timeout a transaction carries, so a
// bad one is reported by field instead of as an nft syntax error.
Status validate(const Transaction& tx);

}  // namespace wac::nft
