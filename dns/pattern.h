// Domain patterns for egress rules, with Calico's semantics:
//  - no '*': matches exactly that name ("api.example.com");
//  - one '*' occupying a whole label, at any position, matches ONE OR MORE
//    labels there: "*.example.com" matches "www.example.com" and
//    "a.b.example.com" but not "example.com"; "www.*.com" matches
//    "www.sun.com" and "www.a.b.com" but not "www.com".
// Matching is case-insensitive and ignores one trailing dot, on both sides.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

namespace wac::dns {

class Pattern {
 public:
  // Validates and canonicalizes (lowercase, no trailing dot). On failure
  // returns a message naming the problem and its position.
  static std::variant<Pattern, std::string> parse(std::string_view text);

  const std::string& canonical() const { return canonical_; }
  bool is_wildcard() const { return wildcard_; }
  // Labels before / after the '*' as text without the joining dots
  // ("www.*.com" -> "www", "com"); both empty for a bare "*".
  std::string_view prefix() const;
  std::string_view suffix() const;

  bool matches(std::string_view name) const;
  bool operator==(const Pattern& o) const { return canonical_ == o.canonical_; }

 private:
  std::string canonical_;
  bool wildcard_ = false;
  size_t star_ = 0;  // offset of '*' in canonical_ when wildcard_
};

// Lowercases `name` and drops one trailing dot into `out` (a caller-owned
// buffer, reused). Returns false if the result is not a plausible name
// (empty, over 253 characters, or with an empty label), which can match no
// pattern.
bool canonical_name(std::string_view name, std::string& out);

using PatternId = uint32_t;

// Many patterns, each with a caller-chosen id (an id may carry several
// patterns, and a pattern several ids). match() costs one hash lookup for
// exact names plus one per distinct wildcard "shape" (number of labels
// before and after the '*') among the patterns added, independent of how
// many patterns there are.
class PatternMatcher {
 public:
  void add(PatternId id, const Pattern& p);
  // Removes every pattern added under `id`. Returns how many were removed.
  size_t remove(PatternId id);
  void clear();
  size_t size() const { return count_; }

  // Ids of all patterns matching `name` (any case, optional trailing dot),
  // sorted and without duplicates, written into `out` (cleared first).
  void match(std::string_view name, std::vector<PatternId>& out) const;
  std::vector<PatternId> match(std::string_view name) const;

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>()(s); }
  };
  struct Shape {
    uint16_t prefix_labels, suffix_labels;
    bool operator==(const Shape&) const = default;
  };
  using IdList = std::vector<PatternId>;
  // Wildcard key: prefix text + '*' + suffix text. '*' cannot occur in
  // either part, so the key is unambiguous and built without allocation
  // from the name being matched (see match()).
  static std::string wildcard_key(std::string_view prefix, std::string_view suffix);
  void add_shape(Shape s);
  static void insert_sorted(IdList& ids, PatternId id);
  size_t match_canonical(std::string_view name, std::vector<PatternId>& out) const;

  std::unordered_map<std::string, IdList, StringHash, std::equal_to<>> exact_;
  std::unordered_map<std::string, IdList, StringHash, std::equal_to<>> wildcard_;
  std::vector<std::pair<Shape, size_t>> shapes_;                   // shape -> patterns of that shape
  std::unordered_map<PatternId, std::vector<Pattern>> by_id_;      // for remove()
  size_t count_ = 0;
};

}  // namespace wac::dns
