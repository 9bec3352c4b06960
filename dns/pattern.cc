#include "dns/pattern.h"

#include <algorithm>
#include <cstdio>

namespace wac::dns {

namespace {

constexpr size_t kMaxName = 253;
constexpr size_t kMaxLabel = 63;

// Room for a canonical name, or for a wildcard key built from one
// (prefix + '*' + suffix is never longer than the name itself).
using NameBuffer = char[kMaxName + 2];

char lower(char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; }

bool pattern_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '*' || c == '.';
}

std::string describe_char(char c) {
  if (c >= 0x21 && c < 0x7f) return std::string("'") + c + "'";
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", unsigned(uint8_t(c)));
  return buf;
}

// Lowercase copy without one trailing dot, or an empty view if the name
// cannot be a valid one (such a name matches nothing).
std::string_view canonicalize(std::string_view name, NameBuffer& buf) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > kMaxName) return {};
  char prev = '.';
  for (size_t i = 0; i < name.size(); ++i) {
    char c = lower(name[i]);
    if (c == '.' && prev == '.') return {};  // empty label (leading or doubled dot)
    buf[i] = prev = c;
  }
  if (prev == '.') return {};  // "a.." : an empty last label remains after dropping one dot
  return {buf, name.size()};
}

size_t count_labels(std::string_view s) {
  return s.empty() ? 0 : size_t(std::count(s.begin(), s.end(), '.')) + 1;
}

// Builds prefix + '*' + suffix into buf.
std::string_view key_into(std::string_view prefix, std::string_view suffix, NameBuffer& buf) {
  std::copy(prefix.begin(), prefix.end(), buf);
  buf[prefix.size()] = '*';
  std::copy(suffix.begin(), suffix.end(), buf + prefix.size() + 1);
  return {buf, prefix.size() + 1 + suffix.size()};
}

}  // namespace

bool canonical_name(std::string_view name, std::string& out) {
  NameBuffer buf;
  std::string_view c = canonicalize(name, buf);
  out.assign(c);
  return !c.empty();
}

// ---- Pattern ----

std::variant<Pattern, std::string> Pattern::parse(std::string_view text) {
  std::string_view body = text;
  if (!body.empty() && body.back() == '.') body.remove_suffix(1);
  if (body.empty()) return std::string(text.empty() ? "empty domain pattern" : "domain pattern is only a dot");
  if (body.size() > kMaxName)
    return "domain pattern is " + std::to_string(body.size()) + " characters long, more than " +
           std::to_string(kMaxName);

  Pattern p;
  p.canonical_.reserve(body.size());
  size_t label_start = 0;
  size_t star_at = std::string_view::npos;
  for (size_t i = 0; i <= body.size(); ++i) {
    if (i == body.size() || body[i] == '.') {
      std::string_view label = body.substr(label_start, i - label_start);
      if (label.empty()) return "empty label at position " + std::to_string(i + 1) + " of '" + std::string(text) + "'";
      if (label.size() > kMaxLabel)
        return "label '" + std::string(label) + "' is " + std::to_string(label.size()) + " characters long, more than " +
               std::to_string(kMaxLabel);
      if (label.size() > 1 && label.find('*') != std::string_view::npos)
        return "'*' must be a whole label, found in '" + std::string(label) + "' at position " +
               std::to_string(label_start + label.find('*') + 1);
      if (i < body.size()) p.canonical_.push_back('.');
      label_start = i + 1;
      continue;
    }
    char c = lower(body[i]);
    if (!pattern_char(c))
      return "invalid character " + describe_char(body[i]) + " at position " + std::to_string(i + 1) +
             " (allowed: letters, digits, '-', '_', '.', '*')";
    if (c == '*') {
      if (star_at != std::string_view::npos)
        return "more than one '*' (positions " + std::to_string(star_at + 1) + " and " + std::to_string(i + 1) +
               "); a pattern may hold one wildcard";
      star_at = i;
    }
    p.canonical_.push_back(c);
  }
  p.wildcard_ = star_at != std::string_view::npos;
  p.star_ = p.wildcard_ ? star_at : 0;
  return p;
}

std::string_view Pattern::prefix() const {
  if (!wildcard_ || star_ == 0) return {};
  return std::string_view(canonical_).substr(0, star_ - 1);
}

std::string_view Pattern::suffix() const {
  if (!wildcard_ || star_ + 1 >= canonical_.size()) return {};
  return std::string_view(canonical_).substr(star_ + 2);
}

bool Pattern::matches(std::string_view name) const {
  NameBuffer buf;
  std::string_view n = canonicalize(name, buf);
  if (n.empty()) return false;
  if (!wildcard_) return n == canonical_;
  std::string_view pre = prefix(), suf = suffix();
  // What must surround the wildcard's labels: "pre." before, ".suf" after.
  size_t head = pre.empty() ? 0 : pre.size() + 1;
  size_t tail = suf.empty() ? 0 : suf.size() + 1;
  if (n.size() < head + tail + 1) return false;  // the '*' needs at least one label
  if (head && (n.substr(0, pre.size()) != pre || n[pre.size()] != '.')) return false;
  if (tail && (n.substr(n.size() - suf.size()) != suf || n[n.size() - tail] != '.')) return false;
  return true;
}

// ---- PatternMatcher ----

std::string PatternMatcher::wildcard_key(std::string_view prefix, std::string_view suffix) {
  NameBuffer buf;
  return std::string(key_into(prefix, suffix, buf));
}

void PatternMatcher::add_shape(Shape s) {
  for (auto& [shape, n] : shapes_) {
    if (shape == s) {
      ++n;
      return;
    }
  }
  shapes_.push_back({s, 1});
}

// Id lists stay sorted, so a name that hits one list (the common case)
// needs no sort in match().
void PatternMatcher::insert_sorted(IdList& ids, PatternId id) {
  ids.insert(std::upper_bound(ids.begin(), ids.end(), id), id);
}

void PatternMatcher::add(PatternId id, const Pattern& p) {
  if (p.is_wildcard()) {
    insert_sorted(wildcard_[wildcard_key(p.prefix(), p.suffix())], id);
    add_shape({uint16_t(count_labels(p.prefix())), uint16_t(count_labels(p.suffix()))});
  } else {
    insert_sorted(exact_[p.canonical()], id);
  }
  by_id_[id].push_back(p);
  ++count_;
}

size_t PatternMatcher::remove(PatternId id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return 0;
  auto drop_id = [id](auto& map, const std::string& key) {
    auto m = map.find(key);
    if (m == map.end()) return;
    auto& ids = m->second;
    ids.erase(std::find(ids.begin(), ids.end(), id));
    if (ids.empty()) map.erase(m);
  };
  for (const Pattern& p : it->second) {
    if (!p.is_wildcard()) {
      drop_id(exact_, p.canonical());
      continue;
    }
    drop_id(wildcard_, wildcard_key(p.prefix(), p.suffix()));
    Shape s{uint16_t(count_labels(p.prefix())), uint16_t(count_labels(p.suffix()))};
    auto sh = std::find_if(shapes_.begin(), shapes_.end(), [&](auto& e) { return e.first == s; });
    if (--sh->second == 0) shapes_.erase(sh);
  }
  size_t removed = it->second.size();
  count_ -= removed;
  by_id_.erase(it);
  return removed;
}

void PatternMatcher::clear() {
  exact_.clear();
  wildcard_.clear();
  shapes_.clear();
  by_id_.clear();
  count_ = 0;
}

std::vector<PatternId> PatternMatcher::match(std::string_view name) const {
  std::vector<PatternId> out;
  match(name, out);
  return out;
}

void PatternMatcher::match(std::string_view name, std::vector<PatternId>& out) const {
  out.clear();
  NameBuffer buf;
  std::string_view n = canonicalize(name, buf);
  if (n.empty()) return;
  if (match_canonical(n, out) > 1) std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
}

// Appends the id lists of every index entry the name hits; returns how
// many lists that was.
size_t PatternMatcher::match_canonical(std::string_view n, std::vector<PatternId>& out) const {
  size_t lists = 0;
  auto take = [&](const IdList& ids) {
    out.insert(out.end(), ids.begin(), ids.end());
    ++lists;
  };
  if (auto e = exact_.find(n); e != exact_.end()) take(e->second);
  if (shapes_.empty()) return lists;

  // dots[i] is the offset of the i-th dot; label i spans (dots[i-1], dots[i]).
  size_t dots[kMaxName];
  size_t ndots = 0;
  for (size_t i = 0; i < n.size(); ++i)
    if (n[i] == '.') dots[ndots++] = i;
  size_t labels = ndots + 1;

  NameBuffer key_buf;
  for (const auto& [shape, unused] : shapes_) {
    size_t p = shape.prefix_labels, s = shape.suffix_labels;
    if (p + s + 1 > labels) continue;  // the '*' needs at least one label of its own
    std::string_view prefix = p == 0 ? std::string_view() : n.substr(0, dots[p - 1]);
    std::string_view suffix = s == 0 ? std::string_view() : n.substr(dots[labels - 1 - s] + 1);
    auto w = wildcard_.find(key_into(prefix, suffix, key_buf));
    if (w != wildcard_.end()) take(w->second);
  }
  return lists;
}

}  // namespace wac::dns
