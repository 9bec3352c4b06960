// Calico selector language: parse once, evaluate many times.
//
// Grammar (Calico projectcalico.org/v3):
//   expr   := or
//   or     := and ( "||" and )*
//   and    := unary ( "&&" unary )*
//   unary  := "!" unary | "(" expr ")" | term
//   term   := "all()" | "global()" | "has(" key ")" | "!has(" key ")"
//           | key "==" str | key "!=" str | key "in" "{" str,* "}" | key "not in" "{" str,* "}"
//           | key "starts with" str | key "ends with" str | key "contains" str
//   str    := '...' | "..."
// `global()` matches resources outside any namespace, i.e. without the
// projectcalico.org/namespace label.  An empty selector means all().
//
// Semantics of an absent label: `k != 'v'` and `k not in {...}` are true,
// every other comparison is false.  Strings have no escapes (as in Calico): a
// string ends at its matching quote, so a value containing ' is written "...".
// Label keys follow Kubernetes syntax: [dns-subdomain "/"] name, where name is
// 1-63 of [A-Za-z0-9._-] beginning and ending alphanumeric.
//
// canonical() is deterministic: single spaces around binary operators, single
// quotes (double only when the value holds a '), set values sorted and
// deduplicated, nested &&/|| flattened, parentheses only where precedence
// needs them, double negation removed, and !(k == v) / !(k in S) written as
// k != v / k not in S (equal meaning, absent labels included).  all() operands
// of && are dropped and an || with an all() operand is all().
// parse(canonical()) reproduces canonical() for every parsed selector.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "agent/model.h"

namespace wac::selector {

struct ParseError {
  std::string message;  // "unexpected '&' at offset 7: expected a label key"
  size_t offset = 0;    // byte offset into the selector text
};

struct Node;  // the parsed expression (defined in selector.cc)

// Limits that keep hostile input cheap.  Nesting counts each '(' and each
// '!' (a '!' directly followed by '(' counts once).
inline constexpr size_t kMaxSelectorLength = 4096;
inline constexpr int kMaxNestingDepth = 64;

// Why `key` is not a valid Kubernetes label key, or "" when it is.
std::string label_key_problem(std::string_view key);

class Selector {
 public:
  // An empty or all-whitespace string parses as all().  Both the text and
  // its canonical form must fit in kMaxSelectorLength.
  static std::variant<Selector, ParseError> parse(std::string_view text);
  static Selector all();

  // Allocation-free; safe to call concurrently on a shared Selector.
  bool matches(const model::Labels& labels) const;
  // Normalized text: stable for equal meaning up to spacing/quoting, so it can
  // key shared sets ("app == 'db' && has(tier)").
  const std::string& canonical() const { return canonical_; }
  bool is_all() const;
  // True when the expression contains global() anywhere.
  bool uses_global() const;
  // Every label key the selector reads, sorted and unique (global() reads
  // projectcalico.org/namespace), so an index knows which label changes can
  // change the result.
  std::vector<std::string> label_keys() const;

  // A necessary condition for a match, so an index can skip most label
  // sets without evaluating: every labels map this selector matches has
  // `key`, with a value in `values` (empty: any value).  nullopt when no
  // single key is required (all(), global(), negations, || over keys).
  struct IndexHint {
    std::string key;
    std::vector<std::string> values;  // sorted, unique; empty = any value
  };
  std::optional<IndexHint> index_hint() const;

  // The same selector with every label key prefixed, e.g. "pcns." so that a
  // namespaceSelector can be evaluated against an endpoint's labels.
  // all() and global() are unchanged.  (A key that grows past the
  // Kubernetes limits this way still matches, but its canonical() text would
  // no longer re-parse.)
  Selector with_label_prefix(std::string_view prefix) const;
  // Conjunction (a && b), simplifying all().  Wrapping an || operand in
  // parentheses adds one nesting level, so canonical() re-parses unless an
  // operand already nests kMaxNestingDepth deep.
  static Selector both(const Selector& a, const Selector& b);

  // Equal canonical text implies equal meaning (not the converse).
  friend bool operator==(const Selector& a, const Selector& b) { return a.canonical_ == b.canonical_; }

 private:
  explicit Selector(std::shared_ptr<const Node> root);
  std::shared_ptr<const Node> root_;
  std::string canonical_;
};

}  // namespace wac::selector
