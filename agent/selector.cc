#include "agent/selector.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>

namespace wac::selector {

enum class Op : uint8_t {
  All,
  Global,
  Has,
  Equal,
  NotEqual,
  In,
  NotIn,
  StartsWith,
  EndsWith,
  Contains,
  Not,
  And,
  Or,
};

// One node of the expression tree.  Everything matches() needs is built at
// parse time (keys and values as std::string, sets sorted) so evaluation
// never allocates.
struct Node {
  Op op = Op::All;
  std::string key;                  // label key of a term (global(): the namespace label)
  std::string value;                // ==, !=, starts with, ends with, contains
  std::vector<std::string> values;  // in / not in: sorted, unique
  std::vector<Node> operands;       // !: one; && and ||: two or more, never of their own kind

  bool matches(const model::Labels& labels) const;
};

namespace {

// ---------------------------------------------------------------------------
// Evaluation.

bool value_matches(const Node& n, const std::string& v) {
  switch (n.op) {
    case Op::Equal: return v == n.value;
    case Op::NotEqual: return v != n.value;
    case Op::In: return std::binary_search(n.values.begin(), n.values.end(), v);
    case Op::NotIn: return !std::binary_search(n.values.begin(), n.values.end(), v);
    case Op::StartsWith: return v.starts_with(n.value);
    case Op::EndsWith: return v.ends_with(n.value);
    case Op::Contains: return v.find(n.value) != std::string::npos;
    default: return false;
  }
}

}  // namespace

bool Node::matches(const model::Labels& labels) const {
  switch (op) {
    case Op::All: return true;
    case Op::Global: return labels.find(key) == labels.end();
    case Op::Has: return labels.find(key) != labels.end();
    case Op::Not: return !operands.front().matches(labels);
    case Op::And:
      for (const Node& o : operands)
        if (!o.matches(labels)) return false;
      return true;
    case Op::Or:
      for (const Node& o : operands)
        if (o.matches(labels)) return true;
      return false;
    default: break;
  }
  auto it = labels.find(key);
  // Calico: a missing label satisfies only the negative comparisons.
  if (it == labels.end()) return op == Op::NotEqual || op == Op::NotIn;
  return value_matches(*this, it->second);
}

namespace {

// ---------------------------------------------------------------------------
// Building normalized trees.  Both the parser and both() go through these, so
// every tree has the same shape for the same text and canonical() is stable.

Node leaf(Op op, std::string key = {}) {
  Node n;
  n.op = op;
  n.key = std::move(key);
  return n;
}

// !x, folding double negation and the comparisons that have an exact dual
// (absent labels included: !(k == v) is k != v, !(k in S) is k not in S).
Node negate(Node operand) {
  switch (operand.op) {
    case Op::Not: return std::move(operand.operands.front());
    case Op::Equal: operand.op = Op::NotEqual; return operand;
    case Op::NotEqual: operand.op = Op::Equal; return operand;
    case Op::In: operand.op = Op::NotIn; return operand;
    case Op::NotIn: operand.op = Op::In; return operand;
    default: break;
  }
  Node n = leaf(Op::Not);
  n.operands.push_back(std::move(operand));
  return n;
}

// a && b && ... or a || b || ..., flattened, with all() simplified away.
Node combine(Op op, std::vector<Node> parts) {
  std::vector<Node> flat;
  for (Node& part : parts) {
    if (part.op == op) {
      for (Node& inner : part.operands) flat.push_back(std::move(inner));
    } else if (part.op == Op::All) {
      if (op == Op::Or) return leaf(Op::All);
    } else {
      flat.push_back(std::move(part));
    }
  }
  if (flat.empty()) return leaf(Op::All);
  if (flat.size() == 1) return std::move(flat.front());
  Node n = leaf(op);
  n.operands = std::move(flat);
  return n;
}

// ---------------------------------------------------------------------------
// Canonical text.

// Values never contain both quote characters: the grammar has no escapes.
void append_quoted(std::string& out, const std::string& v) {
  char quote = v.find('\'') == std::string::npos ? '\'' : '"';
  out += quote;
  out += v;
  out += quote;
}

const char* operator_text(Op op) {
  switch (op) {
    case Op::Equal: return " == ";
    case Op::NotEqual: return " != ";
    case Op::In: return " in ";
    case Op::NotIn: return " not in ";
    case Op::StartsWith: return " starts with ";
    case Op::EndsWith: return " ends with ";
    case Op::Contains: return " contains ";
    default: return " ? ";
  }
}

void render(const Node& n, std::string& out);

void render_joined(const Node& n, const char* separator, std::string& out) {
  for (size_t i = 0; i < n.operands.size(); ++i) {
    const Node& o = n.operands[i];
    if (i > 0) out += separator;
    // Only || inside && needs parentheses: everything else binds tighter.
    bool parens = n.op == Op::And && o.op == Op::Or;
    if (parens) out += '(';
    render(o, out);
    if (parens) out += ')';
  }
}

void render(const Node& n, std::string& out) {
  switch (n.op) {
    case Op::All: out += "all()"; return;
    case Op::Global: out += "global()"; return;
    case Op::Has: out += "has(" + n.key + ")"; return;
    case Op::And: render_joined(n, " && ", out); return;
    case Op::Or: render_joined(n, " || ", out); return;
    case Op::Not: {
      // "!(k contains 'x')" rather than "!k contains 'x'", which reads as if
      // ! applied to the key; the parser counts "!(" as one nesting level so
      // the extra parentheses never push canonical text over the limit.
      const Node& o = n.operands.front();
      bool parens = o.op != Op::Has && o.op != Op::All && o.op != Op::Global;
      out += parens ? "!(" : "!";
      render(o, out);
      if (parens) out += ')';
      return;
    }
    default: break;
  }
  out += n.key;
  out += operator_text(n.op);
  if (n.op == Op::In || n.op == Op::NotIn) {
    out += '{';
    for (size_t i = 0; i < n.values.size(); ++i) {
      if (i > 0) out += ", ";
      append_quoted(out, n.values[i]);
    }
    out += '}';
  } else {
    append_quoted(out, n.value);
  }
}

// ---------------------------------------------------------------------------
// Label keys (Kubernetes qualified names).

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_name_char(char c) { return is_alnum(c) || c == '-' || c == '_' || c == '.'; }
// What the scanner reads as one word: a key, an operator word or a function name.
bool is_word_char(char c) { return is_name_char(c) || c == '/'; }

std::string dns_subdomain_problem(std::string_view s) {
  if (s.size() > 253) return "the prefix is longer than 253 characters";
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty()) return "the prefix has an empty DNS label (two dots, or a dot at an end)";
    if (label.size() > 63) return "the prefix has a DNS label longer than 63 characters";
    for (char c : label)
      if (!is_lower_alnum(c) && c != '-')
        return "the prefix must be a lowercase DNS subdomain (a-z, 0-9, '-' and '.')";
    if (label.front() == '-' || label.back() == '-')
      return "the prefix has a DNS label that does not begin and end with a letter or digit";
    if (dot == std::string_view::npos) return {};
    start = dot + 1;
  }
}

}  // namespace

std::string label_key_problem(std::string_view key) {
  if (key.empty()) return "a label key may not be empty";
  std::string_view name = key;
  if (size_t slash = key.find('/'); slash != std::string_view::npos) {
    std::string_view prefix = key.substr(0, slash);
    name = key.substr(slash + 1);
    if (name.find('/') != std::string_view::npos) return "a label key has at most one '/'";
    if (prefix.empty()) return "the prefix before '/' is empty";
    if (std::string why = dns_subdomain_problem(prefix); !why.empty()) return why;
    if (name.empty()) return "the name after '/' is empty";
  }
  if (name.size() > 63) return "the name is longer than 63 characters";
  for (char c : name)
    if (!is_name_char(c)) return "the name may only contain letters, digits, '-', '_' and '.'";
  if (!is_alnum(name.front()) || !is_alnum(name.back()))
    return "the name must begin and end with a letter or digit";
  return {};
}

namespace {

// ---------------------------------------------------------------------------
// Parser: recursive descent over the text, no separate token list.  Errors
// unwind as a Failure and become the ParseError that parse() returns.

struct Failure {
  ParseError error;
};

constexpr const char* kTermExpected = "a label key, has(), all(), global(), '!' or '('";
constexpr const char* kOperatorExpected = "an operator (==, !=, in, not in, contains, starts with, ends with)";

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Node parse_selector() {
    skip_space();
    if (at_end()) return leaf(Op::All);
    Node n = parse_or(0);
    skip_space();
    if (!at_end()) unexpected("'&&', '||' or the end of the selector");
    return n;
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;

  [[noreturn]] void fail_at(size_t offset, const std::string& what, const std::string& detail) {
    throw Failure{{what + " at offset " + std::to_string(offset) + ": " + detail, offset}};
  }
  [[noreturn]] void unexpected(const std::string& expected) {
    fail_at(pos_, "unexpected " + describe(pos_), "expected " + expected);
  }

  // The token at `at`, for error messages: a whole word, one character, or
  // the hex value of an unprintable byte.
  std::string describe(size_t at) const {
    if (at >= text_.size()) return "end of selector";
    char c = text_[at];
    if (is_word_char(c)) {
      size_t end = at;
      while (end < text_.size() && end - at < 40 && is_word_char(text_[end])) ++end;
      return "'" + std::string(text_.substr(at, end - at)) + "'";
    }
    if (c == '\'') return "\"'\"";
    if (c >= 0x20 && c < 0x7f) return std::string("'") + c + "'";
    char hex[16];
    std::snprintf(hex, sizeof hex, "byte 0x%02x", unsigned(static_cast<unsigned char>(c)));
    return hex;
  }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }
  void skip_space() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++pos_;
  }
  // Skips whitespace, then consumes `s` if it comes next.
  bool take(std::string_view s) {
    skip_space();
    if (text_.substr(pos_, s.size()) != s) return false;
    pos_ += s.size();
    return true;
  }
  std::string_view read_word() {
    size_t start = pos_;
    while (!at_end() && is_word_char(peek())) ++pos_;
    return text_.substr(start, pos_ - start);
  }
  void expect(std::string_view s, const std::string& expected) {
    if (!take(s)) unexpected(expected);
  }
  void enter(int& depth, size_t at) {
    if (++depth > kMaxNestingDepth)
      fail_at(at, "nesting too deep",
              "at most " + std::to_string(kMaxNestingDepth) + " levels of '(' and '!' are allowed");
  }

  Node parse_or(int depth) {
    std::vector<Node> parts;
    parts.push_back(parse_and(depth));
    while (take("||")) parts.push_back(parse_and(depth));
    return parts.size() == 1 ? std::move(parts.front()) : combine(Op::Or, std::move(parts));
  }

  Node parse_and(int depth) {
    std::vector<Node> parts;
    parts.push_back(parse_unary(depth));
    while (take("&&")) parts.push_back(parse_unary(depth));
    return parts.size() == 1 ? std::move(parts.front()) : combine(Op::And, std::move(parts));
  }

  // Runs of '!' are counted in a loop rather than by recursion, so
  // "!!!!..." costs no stack before the depth limit stops it.
  Node parse_unary(int depth) {
    int negations = 0;
    while (take("!")) {
      enter(depth, pos_ - 1);
      ++negations;
    }
    skip_space();
    Node n;
    if (peek() == '(') {
      if (negations == 0) enter(depth, pos_);
      n = parse_group(depth);
    } else {
      n = parse_term();
    }
    for (int i = 0; i < negations; ++i) n = negate(std::move(n));
    return n;
  }

  Node parse_group(int depth) {
    size_t open = pos_++;
    Node n = parse_or(depth);
    expect(")", "')' to close the '(' at offset " + std::to_string(open));
    return n;
  }

  Node parse_term() {
    size_t at = pos_;
    if (!is_word_char(peek())) unexpected(kTermExpected);
    std::string_view word = read_word();
    skip_space();
    if (peek() == '(') return parse_function(word, at);
    return parse_comparison(checked_key(word, at));
  }

  std::string checked_key(std::string_view word, size_t at) {
    if (std::string why = label_key_problem(word); !why.empty())
      fail_at(at, "invalid label key '" + std::string(word) + "'", why);
    return std::string(word);
  }

  Node parse_function(std::string_view name, size_t at) {
    ++pos_;  // '('
    if (name == "all" || name == "global") {
      expect(")", "')': " + std::string(name) + "() takes no arguments");
      return name == "all" ? leaf(Op::All) : leaf(Op::Global, model::kNamespaceLabel);
    }
    if (name != "has") fail_at(at, "unknown function '" + std::string(name) + "'", "expected all(), global() or has()");
    skip_space();
    size_t key_at = pos_;
    if (!is_word_char(peek())) unexpected("a label key");
    std::string key = checked_key(read_word(), key_at);
    expect(")", "')' to close has(");
    return leaf(Op::Has, std::move(key));
  }

  Node parse_comparison(std::string key) {
    Node n = leaf(Op::Equal, std::move(key));
    skip_space();
    size_t op_at = pos_;
    if (take("==")) {
      n.value = parse_string();
      return n;
    }
    if (take("!=")) {
      n.op = Op::NotEqual;
      n.value = parse_string();
      return n;
    }
    std::string_view word = read_word();
    if (word == "in" || word == "not") {
      n.op = word == "in" ? Op::In : Op::NotIn;
      if (word == "not") expect_word("in", "'in' after 'not'");
      n.values = parse_set();
      return n;
    }
    if (word == "contains" || word == "starts" || word == "ends") {
      n.op = word == "contains" ? Op::Contains : word == "starts" ? Op::StartsWith : Op::EndsWith;
      if (word != "contains") expect_word("with", "'with' after '" + std::string(word) + "'");
      n.value = parse_string();
      return n;
    }
    pos_ = op_at;
    unexpected(kOperatorExpected);
  }

  void expect_word(std::string_view word, const std::string& expected) {
    skip_space();
    size_t at = pos_;
    if (read_word() != word) {
      pos_ = at;
      unexpected(expected);
    }
  }

  std::string parse_string() {
    skip_space();
    char quote = peek();
    if (quote != '\'' && quote != '"') unexpected("a quoted string");
    size_t open = pos_;
    size_t close = text_.find(quote, open + 1);
    if (close == std::string_view::npos)
      fail_at(open, "unterminated string", std::string("expected a closing ") + quote);
    for (size_t i = open + 1; i < close; ++i) {
      auto c = static_cast<unsigned char>(text_[i]);
      // No label value can hold one, and they would leak into logs and
      // nftables comments.
      if (c < 0x20 || c == 0x7f) {
        pos_ = i;
        unexpected("printable characters inside a string");
      }
    }
    pos_ = close + 1;
    return std::string(text_.substr(open + 1, close - open - 1));
  }

  std::vector<std::string> parse_set() {
    expect("{", "'{' to start a set of values");
    std::vector<std::string> values;
    if (!take("}")) {
      do {
        values.push_back(parse_string());
        if (take("}")) break;
        expect(",", "',' or '}'");
      } while (true);
    }
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    return values;
  }
};

// ---------------------------------------------------------------------------
// Tree walks.

void add_prefix(Node& n, std::string_view prefix) {
  if (n.op != Op::All && n.op != Op::Global && !n.key.empty()) n.key.insert(0, prefix);
  for (Node& o : n.operands) add_prefix(o, prefix);
}

bool contains_global(const Node& n) {
  if (n.op == Op::Global) return true;
  return std::any_of(n.operands.begin(), n.operands.end(), contains_global);
}

void collect_keys(const Node& n, std::vector<std::string>& out) {
  if (!n.key.empty()) out.push_back(n.key);
  for (const Node& o : n.operands) collect_keys(o, out);
}

}  // namespace

// ---------------------------------------------------------------------------
// Selector.

Selector::Selector(std::shared_ptr<const Node> root) : root_(std::move(root)) { render(*root_, canonical_); }

std::variant<Selector, ParseError> Selector::parse(std::string_view text) {
  if (text.size() > kMaxSelectorLength)
    return ParseError{"selector too long (" + std::to_string(text.size()) + " bytes) at offset " +
                          std::to_string(kMaxSelectorLength) + ": at most " + std::to_string(kMaxSelectorLength) +
                          " bytes are allowed",
                      kMaxSelectorLength};
  Node root;
  try {
    root = Parser(text).parse_selector();
  } catch (const Failure& f) {
    return f.error;
  }
  Selector sel(std::make_shared<const Node>(std::move(root)));
  // Normalizing can add spaces ("a=='b'" -> "a == 'b'").  Selectors are
  // stored as canonical text and parsed again later, so that text must be
  // within the limit too.
  if (sel.canonical().size() > kMaxSelectorLength)
    return ParseError{"selector too long at offset " + std::to_string(text.size()) + ": its normalized form (" +
                          std::to_string(sel.canonical().size()) + " bytes) must be at most " +
                          std::to_string(kMaxSelectorLength) + " bytes",
                      text.size()};
  return sel;
}

Selector Selector::all() {
  static const Selector kAll(std::make_shared<const Node>(leaf(Op::All)));
  return kAll;
}

bool Selector::matches(const model::Labels& labels) const { return root_->matches(labels); }

bool Selector::is_all() const { return root_->op == Op::All; }

bool Selector::uses_global() const { return contains_global(*root_); }

namespace {

using Hint = Selector::IndexHint;

// Prefer a hint with values (few members) over one without; among those,
// the one with fewer values; avoid the namespace label, which every
// namespaced resource carries.
bool better_hint(const Hint& a, const Hint& b) {
  auto rank = [](const Hint& h) {
    size_t r = h.values.empty() ? 1'000'000 : h.values.size();
    if (h.key == model::kNamespaceLabel) r += 500'000;
    return r;
  };
  return rank(a) < rank(b);
}

std::optional<Hint> hint_of(const Node& n) {
  switch (n.op) {
    case Op::Equal: return Hint{n.key, {n.value}};
    case Op::In:
      if (n.values.empty()) return std::nullopt;  // matches nothing; never indexed
      return Hint{n.key, n.values};
    case Op::Has:
    case Op::StartsWith:
    case Op::EndsWith:
    case Op::Contains: return Hint{n.key, {}};
    case Op::And: {
      std::optional<Hint> best;
      for (const Node& o : n.operands)
        if (auto h = hint_of(o); h && (!best || better_hint(*h, *best))) best = std::move(h);
      return best;
    }
    case Op::Or: {
      // Every operand must require the same key; values merge (any wins).
      std::optional<Hint> merged;
      for (const Node& o : n.operands) {
        auto h = hint_of(o);
        if (!h || (merged && merged->key != h->key)) return std::nullopt;
        if (!merged) {
          merged = std::move(h);
        } else if (merged->values.empty() || h->values.empty()) {
          merged->values.clear();
        } else {
          merged->values.insert(merged->values.end(), h->values.begin(), h->values.end());
          std::sort(merged->values.begin(), merged->values.end());
          merged->values.erase(std::unique(merged->values.begin(), merged->values.end()), merged->values.end());
        }
      }
      return merged;
    }
    default: return std::nullopt;  // all(), global(), !=, not in, !has(), !
  }
}

}  // namespace

std::optional<Selector::IndexHint> Selector::index_hint() const { return hint_of(*root_); }

std::vector<std::string> Selector::label_keys() const {
  std::vector<std::string> keys;
  collect_keys(*root_, keys);
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

Selector Selector::with_label_prefix(std::string_view prefix) const {
  if (prefix.empty() || is_all()) return *this;
  Node copy = *root_;
  add_prefix(copy, prefix);
  return Selector(std::make_shared<const Node>(std::move(copy)));
}

Selector Selector::both(const Selector& a, const Selector& b) {
  if (a.is_all()) return b;
  if (b.is_all()) return a;
  std::vector<Node> parts;
  parts.push_back(*a.root_);
  parts.push_back(*b.root_);
  return Selector(std::make_shared<const Node>(combine(Op::And, std::move(parts))));
}

}  // namespace wac::selector
