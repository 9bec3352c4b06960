#include "nft/listing.h"

#include <cerrno>
#include <charconv>
#include <optional>
#include <string>
#include <vector>

namespace wac::nft {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    auto nl = text.find('\n');
    lines.push_back(trim(text.substr(0, nl)));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return lines;
}

// "comment "text"" -> text
bool parse_comment_line(std::string_view line, std::string& out) {
  if (!starts_with(line, "comment \"") || line.size() < 10 || line.back() != '"') return false;
  out = std::string(line.substr(9, line.size() - 10));
  return true;
}

// "KIND NAME {" -> NAME
bool parse_block_open(std::string_view line, std::string_view kind, std::string& name) {
  if (!starts_with(line, kind) || line.size() < kind.size() + 3 || line.back() != '{') return false;
  auto rest = trim(line.substr(kind.size(), line.size() - kind.size() - 1));
  if (line[kind.size()] != ' ' || rest.empty() || rest.find(' ') != std::string_view::npos) return false;
  name = std::string(rest);
  return true;
}

int brace_balance(std::string_view line) {
  int depth = 0;
  bool quoted = false;
  for (char c : line) {
    if (c == '"') quoted = !quoted;
    if (quoted) continue;
    depth += c == '{' ? 1 : c == '}' ? -1 : 0;
  }
  return depth;
}

// Symbolic priorities nft prints without -y (inet family values).
std::optional<int> priority_value(std::string_view text) {
  text = trim(text);
  static const std::pair<std::string_view, int> names[] = {
      {"raw", -300}, {"mangle", -150}, {"dstnat", -100}, {"filter", 0}, {"security", 50}, {"srcnat", 100}};
  int base = 0;
  for (const auto& [name, value] : names) {
    if (starts_with(text, name)) {
      base = value;
      text = trim(text.substr(name.size()));
      if (text.empty()) return base;
      int sign = text[0] == '-' ? -1 : text[0] == '+' ? 1 : 0;
      if (!sign) return std::nullopt;
      text = trim(text.substr(1));
      int offset = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), offset);
      if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
      return base + sign * offset;
    }
  }
  int value = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
  return value;
}

// "type filter hook forward priority -5; policy drop;"
bool parse_hook_line(std::string_view line, BaseHook& hook) {
  if (!starts_with(line, "type ") || line.find(" hook ") == std::string_view::npos) return false;
  auto field = [&](std::string_view key) -> std::string_view {
    auto pos = line.find(key);
    if (pos == std::string_view::npos) return {};
    auto rest = line.substr(pos + key.size());
    auto end = rest.find_first_of(" ;");
    return rest.substr(0, end);
  };
  hook.type = std::string(field("type "));
  hook.hook = std::string(field(" hook "));
  auto prio_pos = line.find(" priority ");
  if (prio_pos == std::string_view::npos) return false;
  auto prio_text = line.substr(prio_pos + 10);
  auto prio = priority_value(prio_text.substr(0, prio_text.find(';')));
  if (!prio) return false;
  hook.priority = *prio;
  hook.policy = std::string(field(" policy "));
  if (hook.policy.empty()) hook.policy = "accept";
  return true;
}

std::optional<KeyType> key_type(std::string_view name) {
  if (name == "ipv4_addr") return KeyType::Ipv4Addr;
  if (name == "ipv6_addr") return KeyType::Ipv6Addr;
  if (name == "ifname") return KeyType::Ifname;
  return std::nullopt;
}

Status parse_set_line(std::string_view line, SetDecl& set) {
  if (starts_with(line, "type ")) {
    auto spec = line.substr(5);
    auto colon = spec.find(" : ");
    auto key = key_type(spec.substr(0, colon));
    if (!key) return Status::Error("set '" + set.name + "': unsupported type '" + std::string(spec) + "'", EPROTO);
    set.key = *key;
    if (colon != std::string_view::npos) {
      if (spec.substr(colon + 3) != "verdict") {
        return Status::Error("map '" + set.name + "': unsupported data type '" + std::string(spec) + "'", EPROTO);
      }
      set.verdict_map = true;
    }
    return Status::Ok();
  }
  if (starts_with(line, "flags ")) {
    auto flags = line.substr(6);
    while (!flags.empty()) {
      auto comma = flags.find(',');
      auto flag = trim(flags.substr(0, comma));
      set.interval |= flag == "interval";
      set.timeout |= flag == "timeout";
      if (comma == std::string_view::npos) break;
      flags.remove_prefix(comma + 1);
    }
    return Status::Ok();
  }
  parse_comment_line(line, set.comment);  // other lines (size, policy, ...) are not modelled
  return Status::Ok();
}

void parse_chain_line(std::string_view line, Chain& chain) {
  if (chain.rules.empty() && !chain.hook && chain.comment.empty() && parse_comment_line(line, chain.comment)) return;
  BaseHook hook;
  if (chain.rules.empty() && !chain.hook && parse_hook_line(line, hook)) {
    chain.hook = hook;
    return;
  }
  chain.rules.emplace_back(line);
}

}  // namespace

Status parse_table_listing(std::string_view text, Snapshot& out) {
  out.chains.clear();
  out.sets.clear();
  out.table_exists = false;
  auto lines = split_lines(text);
  std::string name;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (line.empty() || line == "}") continue;
    if (starts_with(line, "table ")) {
      out.table_exists = true;
      continue;
    }
    if (parse_block_open(line, "set", name) || parse_block_open(line, "map", name)) {
      SetDecl set;
      set.name = name;
      for (++i; i < lines.size() && lines[i] != "}"; ++i) {
        if (auto st = parse_set_line(lines[i], set); !st) return st;
      }
      out.sets[name] = std::move(set);
      continue;
    }
    if (parse_block_open(line, "chain", name)) {
      Chain chain;
      chain.name = name;
      for (++i; i < lines.size() && lines[i] != "}"; ++i) {
        if (lines[i].empty()) continue;
        std::string rule(lines[i]);
        // A rule whose anonymous set nft wrapped over several lines.
        for (int depth = brace_balance(rule); depth > 0 && i + 1 < lines.size(); depth = brace_balance(rule)) {
          rule += " ";
          rule += lines[++i];
        }
        parse_chain_line(rule, chain);
      }
      out.chains[name] = std::move(chain);
      continue;
    }
    // Some other object (flowtable, counter, ...): skip its block.
    for (int depth = brace_balance(line); depth > 0 && i + 1 < lines.size();) depth += brace_balance(lines[++i]);
  }
  return Status::Ok();
}

}  // namespace wac::nft
