#include "nft/syntax.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <unordered_set>

#include "nft/element_key.h"

namespace wac::nft {

namespace {

// Every word nft's scanner turns into a keyword token, in any scanner state
// (nftables 1.0.x src/scanner.l, plus later additions so a name accepted
// today keeps working after an nft upgrade).  A bare name equal to one of
// them is a syntax error in some position, so such names are refused.
const std::unordered_set<std::string_view>& keywords() {
  static const std::unordered_set<std::string_view> words = {
      "eq", "ne", "le", "lt", "ge", "gt", "lshift", "rshift", "xor", "and", "or", "not", "vmap",
      "include", "define", "redefine", "undefine", "describe", "chains", "sets", "tables", "rules",
      "trace", "hook", "device", "devices", "table", "chain", "rule", "set", "element", "map",
      "flowtable", "handle", "ruleset", "socket", "transparent", "wildcard", "cgroupv2", "level",
      "tproxy", "accept", "drop", "continue", "jump", "goto", "return", "to", "inet", "netdev",
      "add", "replace", "update", "create", "insert", "delete", "get", "list", "reset", "flush",
      "rename", "import", "export", "monitor", "destroy", "position", "index", "comment",
      "constant", "interval", "dynamic", "auto-merge", "timeout", "gc-interval", "elements",
      "expires", "policy", "size", "performance", "memory", "flow", "offload", "meter", "meters",
      "flowtables", "limits", "maps", "secmarks", "synproxys", "tunnel", "tunnels", "hooks",
      "counter", "name", "packets", "bytes", "last", "never", "counters", "quotas", "log",
      "prefix", "snaplen", "queue-threshold", "group", "queue", "num", "bypass", "fanout",
      "limit", "rate", "burst", "second", "minute", "week", "over", "quota", "until", "used",
      "hour", "day", "reject", "with", "icmpx", "snat", "dnat", "masquerade", "redirect",
      "random", "fully-random", "persistent", "port", "ll", "nh", "th", "bridge", "ether",
      "saddr", "daddr", "type", "typeof", "vlan", "id", "cfi", "dei", "pcp", "8021ad", "8021q",
      "arp", "htype", "ptype", "hlen", "plen", "operation", "ip", "version", "hdrlength", "dscp",
      "ecn", "length", "frag-off", "ttl", "protocol", "checksum", "lsrr", "rr", "ssrr", "ra",
      "ptr", "value", "option", "options", "ackseq", "doff", "window", "urgptr", "echo", "eol",
      "maxseg", "mss", "nop", "noop", "sack", "sack0", "sack1", "sack2", "sack3",
      "sack-permitted", "sack-perm", "timestamp", "fastopen", "mptcp", "md5sig", "left", "right",
      "count", "tsval", "tsecr", "subtype", "time", "icmp", "icmpv6", "gateway", "code",
      "param-problem", "max-delay", "mtu", "taddr", "sequence", "igmp", "mrt", "ip6", "priority",
      "flowlabel", "hoplimit", "nexthdr", "ah", "reserved", "spi", "esp", "comp", "cpi", "flags",
      "udp", "udplite", "csumcov", "sport", "dport", "vxlan", "vni", "geneve", "gre", "gretap",
      "tcp", "dccp", "sctp", "chunk", "vtag", "data", "init", "init-ack", "heartbeat",
      "heartbeat-ack", "abort", "shutdown", "shutdown-ack", "error", "cookie-echo", "cookie-ack",
      "ecne", "cwr", "shutdown-complete", "asconf-ack", "forward-tsn", "asconf", "tsn", "stream",
      "ssn", "ppid", "init-tag", "a-rwnd", "num-outbound-streams", "num-inbound-streams",
      "initial-tsn", "cum-tsn-ack", "num-gap-ack-blocks", "num-dup-tsns", "lowest-tsn", "seqno",
      "new-cum-tsn", "rt", "rt0", "rt2", "srh", "addr", "hbh", "frag", "reserved2",
      "more-fragments", "dst", "mh", "meta", "mark", "iif", "iifname", "iiftype", "oif",
      "oifname", "oiftype", "skuid", "skgid", "nftrace", "rtclassid", "ibriport", "ibrname",
      "obriport", "obrname", "pkttype", "cpu", "iifgroup", "oifgroup", "cgroup", "nexthop",
      "seg-left", "last-entry", "tag", "sid", "classid", "ct", "avgpkt", "l3proto", "proto-src",
      "proto-dst", "zone", "original", "reply", "direction", "event", "expectation",
      "expiration", "helper", "helpers", "label", "state", "status", "numgen", "inc", "jhash",
      "symhash", "seed", "mod", "offset", "dup", "fwd", "fib", "check", "osf", "synproxy",
      "wscale", "tos", "notrack", "all", "xml", "json", "vm", "exists", "missing", "exthdr",
      "ipsec", "reqid", "spnum", "in", "out", "secmark", "xt",
  };
  return words;
}

bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }

// Length of the valid UTF-8 sequence starting at s[i], or 0 if invalid.
size_t utf8_sequence_length(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 0;
  }
  return len;
}

}  // namespace

bool is_nft_keyword(std::string_view word) { return keywords().count(word) != 0; }

Status check_name(std::string_view what, std::string_view name) {
  const std::string label = std::string(what) + " name '" + std::string(name) + "'";
  if (name.empty()) return Status::Error(std::string(what) + " name is empty");
  if (name.size() > kMaxNameLen) {
    return Status::Error(label + " is longer than " + std::to_string(kMaxNameLen) + " bytes");
  }
  if (!is_letter(name[0]) && name[0] != '_') {
    return Status::Error(label + " must start with a letter or '_'");
  }
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (!is_letter(c) && !is_digit(c) && c != '_' && c != '.' && c != '/' && c != '-') {
      return Status::Error(label + " has character '" + std::string(1, c) + "' at position " +
                           std::to_string(i) + " (allowed: letters, digits, '_', '.', '/', '-')");
    }
  }
  if (is_nft_keyword(name)) return Status::Error(label + " is an nft keyword");
  return Status::Ok();
}

std::string sanitize_comment(std::string_view in) {
  std::string out;
  out.reserve(std::min(in.size(), kMaxCommentLen));
  for (size_t i = 0; i < in.size();) {
    size_t len = utf8_sequence_length(in, i);
    std::string_view piece = len ? in.substr(i, len) : std::string_view("?");
    if (len == 1 && in[i] == '"') piece = "'";
    if (len == 1 && is_control(static_cast<unsigned char>(in[i]))) piece = " ";
    if (out.size() + piece.size() > kMaxCommentLen) break;  // never split a character
    out.append(piece);
    i += len ? len : 1;
  }
  return out;
}

Status check_ifname(std::string_view name) {
  if (name.empty()) return Status::Error("interface name is empty");
  if (name.size() > kMaxIfnameLen) {
    return Status::Error("interface name is longer than " + std::to_string(kMaxIfnameLen) + " bytes");
  }
  if (name == "." || name == "..") return Status::Error("interface name cannot be '.' or '..'");
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (is_control(u) || u == ' ' || u >= 0x80 || c == '/' || c == ':' || c == '"' || c == '*' ||
        c == '\\') {
      return Status::Error("interface name has invalid character '" + std::string(1, c) + "'");
    }
  }
  return Status::Ok();
}

Status check_rule(std::string_view rule) {
  if (rule.empty()) return Status::Error("rule is empty");
  if (rule.size() > kMaxRuleLen) {
    return Status::Error("rule is longer than " + std::to_string(kMaxRuleLen) + " bytes");
  }
  bool in_quotes = false;
  for (size_t i = 0; i < rule.size(); ++i) {
    char c = rule[i];
    const std::string at = " at position " + std::to_string(i);
    if (is_control(static_cast<unsigned char>(c)) && c != '\t') {
      return Status::Error("rule has a control character" + at);
    }
    if (c == '"') in_quotes = !in_quotes;
    if (in_quotes) continue;
    if (c == ';') return Status::Error("rule has ';' outside quotes" + at);
    if (c == '#') return Status::Error("rule has '#' outside quotes" + at);
  }
  if (in_quotes) return Status::Error("rule has an unterminated quoted string");
  return Status::Ok();
}

std::string format_timeout(uint32_t ms) {
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string Verdict::str() const {
  switch (kind) {
    case Kind::Accept: return "accept";
    case Kind::Drop: return "drop";
    case Kind::Continue: return "continue";
    case Kind::Return: return "return";
    case Kind::Jump: return "jump " + chain;
    case Kind::Goto: return "goto " + chain;
  }
  return "accept";
}

Status parse_verdict(std::string_view text, Verdict& out) {
  static constexpr std::array<std::pair<std::string_view, Verdict::Kind>, 4> plain = {{
      {"accept", Verdict::Kind::Accept},
      {"drop", Verdict::Kind::Drop},
      {"continue", Verdict::Kind::Continue},
      {"return", Verdict::Kind::Return},
  }};
  out = {};
  for (const auto& [word, kind] : plain) {
    if (text == word) {
      out.kind = kind;
      return Status::Ok();
    }
  }
  for (auto [word, kind] : {std::pair{std::string_view("jump "), Verdict::Kind::Jump},
                            std::pair{std::string_view("goto "), Verdict::Kind::Goto}}) {
    if (text.substr(0, word.size()) != word) continue;
    std::string_view chain = text.substr(word.size());
    if (auto st = check_name("chain", chain); !st) return Status::Error("verdict: " + st.message());
    out.kind = kind;
    out.chain = std::string(chain);
    return Status::Ok();
  }
  return Status::Error("verdict '" + std::string(text) +
                       "' is not accept, drop, continue, return, jump CHAIN or goto CHAIN");
}

namespace {

Status check_element(const Op& op) {
  const Element& e = *op.element;
  const std::string where = "element '" + e.key + "' of set '" + op.name + "': ";
  if (!parse_ip_key(e.key)) {
    if (auto st = check_ifname(e.key); !st) {
      return Status::Error(where + "key is neither an IP address/prefix/range nor an interface name");
    }
  }
  if (!e.verdict.empty()) {
    Verdict v;
    if (auto st = parse_verdict(e.verdict, v); !st) return Status::Error(where + st.message());
  }
  if (e.timeout_ms && *e.timeout_ms == 0) return Status::Error(where + "timeout must be > 0");
  return Status::Ok();
}

Status check_op(const Op& op) {
  using T = Op::Type;
  switch (op.type) {
    case T::AddTable:
    case T::DeleteTable:
      return Status::Ok();
    case T::AddChain:
      if (!op.chain) return Status::Error("add chain '" + op.name + "' without a chain");
      if (op.chain->hook && op.chain->hook->hook.empty()) {
        return Status::Error("base chain '" + op.name + "' has no hook");
      }
      return check_name("chain", op.name);
    case T::FlushChain:
    case T::DeleteChain:
      return check_name("chain", op.name);
    case T::AddRule: {
      if (auto st = check_name("chain", op.name); !st) return st;
      if (auto st = check_rule(op.rule); !st) {
        return Status::Error("rule '" + op.rule + "' in chain '" + op.name + "': " + st.message());
      }
      return Status::Ok();
    }
    case T::AddSet:
      if (!op.set) return Status::Error("add set '" + op.name + "' without a declaration");
      if (op.set->interval && op.set->key == KeyType::Ifname) {
        return Status::Error("set '" + op.name + "': flags interval is not supported for ifname keys");
      }
      return check_name("set", op.name);
    case T::FlushSet:
    case T::DeleteSet:
      return check_name("set", op.name);
    case T::AddElement:
    case T::DeleteElement:
      if (auto st = check_name("set", op.name); !st) return st;
      if (!op.element) return Status::Error("element op on set '" + op.name + "' without an element");
      return check_element(op);
  }
  return Status::Error("unknown transaction op");
}

}  // namespace

Status validate(const Transaction& tx) {
  const auto& ops = tx.ops();
  for (size_t i = 0; i < ops.size(); ++i) {
    if (auto st = check_op(ops[i]); !st) {
      return Status::Error("transaction op " + std::to_string(i) + ": " + st.message(), EINVAL);
    }
  }
  return Status::Ok();
}

namespace {

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '/' || c == '-';
}

// Splits rule text into whitespace/brace/comma separated words, skipping
// quoted strings.
std::vector<std::string> words_outside_quotes(std::string_view rule) {
  std::vector<std::string> words;
  std::string cur;
  bool in_quotes = false;
  for (char c : rule) {
    if (c == '"') in_quotes = !in_quotes;
    if (in_quotes || c == '"') continue;
    if (std::isspace(static_cast<unsigned char>(c)) || c == '{' || c == '}' || c == ',') {
      if (!cur.empty()) words.push_back(std::move(cur));
      cur.clear();
      if (c == ',') words.push_back(",");
      continue;
    }
    cur += c;
  }
  if (!cur.empty()) words.push_back(std::move(cur));
  return words;
}

}  // namespace

RuleReferences rule_references(std::string_view rule) {
  RuleReferences refs;
  auto words = words_outside_quotes(rule);
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w.size() > 1 && w[0] == '@') {
      size_t end = 1;
      while (end < w.size() && is_name_char(w[end])) ++end;
      bool raw_payload = i + 1 < words.size() && words[i + 1] == ",";  // @nh,16,8
      if (end == w.size() && !raw_payload) refs.sets.push_back(w.substr(1));
    }
    if ((w == "jump" || w == "goto") && i + 1 < words.size()) refs.chains.push_back(words[i + 1]);
  }
  return refs;
}

}  // namespace wac::nft
