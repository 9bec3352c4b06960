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
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "agent/model.h"

namespace wac::selector {

struct ParseError {
  std::string message;  // "selector: unexpected '&' at offset 7, expected a label key"
  size_t offset = 0;
};

struct Node;  // the parsed expression (defined in selector.cc)

// Limits that keep hostile input cheap.
inline constexpr size_t kMaxSelectorLength = 4096;
inline constexpr int kMaxNestingDepth = 64;

class Selector {
 public:
  // An empty or all-whitespace string parses as all().
  static std::variant<Selector, ParseError> parse(std::string_view text);
  static Selector all();

  bool matches(const model::Labels& labels) const;
  // Normalized text: stable for equal meaning up to spacing/quoting, so it can
  // key shared sets ("app == 'db' && has(tier)").
  const std::string& canonical() const { return canonical_; }
  bool is_all() const;

  // The same selector with every label key prefixed, e.g. "pcns." so that a
  // namespaceSelector can be evaluated against an endpoint's labels.
  Selector with_label_prefix(std::string_view prefix) const;
  // Conjunction (a && b), simplifying all().
  static Selector both(const Selector& a, const Selector& b);

 private:
  explicit Selector(std::shared_ptr<const Node> root);
  std::shared_ptr<const Node> root_;
  std::string canonical_;
};

}  // namespace wac::selector
