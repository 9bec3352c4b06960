#include "nft/ruleset.h"

#include "nft/element_key.h"
#include "nft/syntax.h"

namespace wac::nft {

const char* key_type_name(KeyType k) {
  switch (k) {
    case KeyType::Ipv4Addr: return "ipv4_addr";
    case KeyType::Ipv6Addr: return "ipv6_addr";
    case KeyType::Ifname: return "ifname";
  }
  return "ipv4_addr";
}

void Transaction::add_chain(const Chain& c) {
  Chain decl = c;
  decl.rules.clear();  // a declaration never carries rules
  Op op{Op::Type::AddChain, c.name};
  op.chain = std::move(decl);
  ops_.push_back(std::move(op));
}

void Transaction::replace_chain(const Chain& c) {
  add_chain(c);
  ops_.push_back({Op::Type::FlushChain, c.name});
  for (const auto& rule : c.rules) {
    Op op{Op::Type::AddRule, c.name};
    op.rule = rule;
    ops_.push_back(std::move(op));
  }
}

void Transaction::delete_chain(const std::string& name) { ops_.push_back({Op::Type::DeleteChain, name}); }

void Transaction::add_set(const SetDecl& s) {
  Op op{Op::Type::AddSet, s.name};
  op.set = s;
  ops_.push_back(std::move(op));
}

void Transaction::flush_set(const std::string& name) { ops_.push_back({Op::Type::FlushSet, name}); }

void Transaction::flush_set(const SetDecl& s) {
  Op op{Op::Type::FlushSet, s.name};
  op.set = s;
  ops_.push_back(std::move(op));
}

void Transaction::delete_set(const std::string& name) { ops_.push_back({Op::Type::DeleteSet, name}); }

void Transaction::add_element(const std::string& set, const Element& e) {
  Op op{Op::Type::AddElement, set};
  op.element = e;
  ops_.push_back(std::move(op));
}

void Transaction::delete_element(const std::string& set, const Element& e) {
  Op op{Op::Type::DeleteElement, set};
  op.element = e;
  ops_.push_back(std::move(op));
}

void Transaction::refresh_element(const std::string& set, const Element& e) {
  add_element(set, e);
  delete_element(set, e);
  add_element(set, e);
}

namespace {

// An object with only its name set.
template <typename T>
T named(const std::string& name) {
  T t;
  t.name = name;
  return t;
}

const std::string kTableRef = std::string(kFamily) + " " + kTable;

std::string quoted(std::string_view text) { return "\"" + sanitize_comment(text) + "\""; }

std::string render_key(const std::string& key) {
  if (auto iv = parse_ip_key(key)) return interval_text(*iv);
  return "\"" + key + "\"";  // ifname; validate() rejected '"' in it
}

std::string render_chain_decl(const Chain& c) {
  std::string body;
  if (c.hook) {
    const BaseHook& h = *c.hook;
    body += " type " + h.type + " hook " + h.hook + " priority " + std::to_string(h.priority) + ";";
    if (!h.policy.empty()) body += " policy " + h.policy + ";";
  }
  if (!c.comment.empty()) body += " comment " + quoted(c.comment) + ";";
  std::string line = "add chain " + kTableRef + " " + c.name;
  if (!body.empty()) line += " {" + body + " }";
  return line;
}

std::string render_set_decl(const SetDecl& s) {
  std::string line = std::string(s.verdict_map ? "add map " : "add set ") + kTableRef + " " + s.name +
                     " { type " + key_type_name(s.key);
  if (s.verdict_map) line += " : verdict";
  line += ";";
  if (s.interval || s.timeout) {
    line += " flags ";
    if (s.interval) line += "interval";
    if (s.interval && s.timeout) line += ",";
    if (s.timeout) line += "timeout";
    line += ";";
  }
  if (!s.comment.empty()) line += " comment " + quoted(s.comment) + ";";
  return line + " }";
}

std::string render_element(const Element& e, bool with_data) {
  std::string text = render_key(e.key);
  if (!with_data) return text;
  if (e.timeout_ms) text += " timeout " + format_timeout(*e.timeout_ms);
  if (!e.comment.empty()) text += " comment " + quoted(e.comment);
  if (!e.verdict.empty()) text += " : " + e.verdict;
  return text;
}

std::string render_op(const Op& op) {
  using T = Op::Type;
  const std::string& n = op.name;
  switch (op.type) {
    case T::AddTable: return "add table " + kTableRef;
    case T::DeleteTable: return "delete table " + kTableRef;
    case T::AddChain: return render_chain_decl(op.chain ? *op.chain : named<Chain>(n));
    case T::FlushChain: return "flush chain " + kTableRef + " " + n;
    case T::DeleteChain: return "delete chain " + kTableRef + " " + n;
    case T::AddRule: return "add rule " + kTableRef + " " + n + " " + op.rule;
    case T::AddSet: return render_set_decl(op.set ? *op.set : named<SetDecl>(n));
    case T::FlushSet:
      return std::string(op.set && op.set->verdict_map ? "flush map " : "flush set ") + kTableRef + " " + n;
    case T::DeleteSet: return "delete set " + kTableRef + " " + n;
    case T::AddElement:
      return "add element " + kTableRef + " " + n + " { " + render_element(op.element.value_or(Element{}), true) + " }";
    case T::DeleteElement:
      return "delete element " + kTableRef + " " + n + " { " + render_element(op.element.value_or(Element{}), false) + " }";
  }
  return {};
}

}  // namespace

std::string Transaction::render() const {
  std::string out;
  for (const auto& op : ops_) {
    out += render_op(op);
    out += '\n';
  }
  return out;
}

}  // namespace wac::nft
