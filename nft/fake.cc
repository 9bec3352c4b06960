#include "nft/fake.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

#include "nft/syntax.h"

namespace wac::nft {

namespace {

// An object with only its name set.
template <typename T>
T named(const std::string& name) {
  T t;
  t.name = name;
  return t;
}

using State = FakeBackend::State;
using FakeSet = FakeBackend::FakeSet;

Status fail(int err, const std::string& what) {
  return Status::Error(what + ": " + std::strerror(err), err);
}

const Chain* find_chain(const State& s, const std::string& name) {
  auto it = s.chains.find(name);
  return it == s.chains.end() ? nullptr : &it->second;
}

// Who refers to `chain` from outside it: "rule in chain X" / "element of map Y".
std::optional<std::string> chain_referrer(const State& s, const std::string& chain) {
  for (const auto& [name, c] : s.chains) {
    if (name == chain) continue;
    for (const auto& rule : c.rules) {
      auto refs = rule_references(rule);
      if (std::count(refs.chains.begin(), refs.chains.end(), chain)) return "a rule in chain '" + name + "'";
    }
  }
  for (const auto& [name, set] : s.sets) {
    for (const auto& [key, e] : set.elements) {
      Verdict v;
      if (!e.verdict.empty() && parse_verdict(e.verdict, v) && v.chain == chain) {
        return "element '" + e.key + "' of map '" + name + "'";
      }
    }
  }
  return std::nullopt;
}

std::optional<std::string> set_referrer(const State& s, const std::string& set) {
  for (const auto& [name, c] : s.chains) {
    for (const auto& rule : c.rules) {
      auto refs = rule_references(rule);
      if (std::count(refs.sets.begin(), refs.sets.end(), set)) return "a rule in chain '" + name + "'";
    }
  }
  return std::nullopt;
}

Status check_jump_target(const State& s, const std::string& chain, const std::string& what) {
  const Chain* target = find_chain(s, chain);
  if (!target) return fail(ENOENT, what + ": jump to undefined chain '" + chain + "'");
  if (target->hook) return fail(EOPNOTSUPP, what + ": jump to base chain '" + chain + "'");
  return Status::Ok();
}

Status add_chain(State& s, const Chain& c) {
  auto it = s.chains.find(c.name);
  if (it == s.chains.end()) {
    Chain created = c;
    created.rules.clear();
    created.comment = sanitize_comment(c.comment);
    s.chains.emplace(c.name, std::move(created));
    return Status::Ok();
  }
  Chain& existing = it->second;
  if (!c.hook) return Status::Ok();
  const std::string what = "add chain '" + c.name + "'";
  if (!existing.hook) return fail(EOPNOTSUPP, what + ": existing chain is not a base chain");
  const BaseHook& h = *existing.hook;
  if (h.type != c.hook->type || h.hook != c.hook->hook || h.priority != c.hook->priority) {
    return fail(EOPNOTSUPP, what + ": hook, type or priority differs from the existing chain");
  }
  existing.hook->policy = c.hook->policy;
  return Status::Ok();
}

Status delete_chain(State& s, const std::string& name) {
  const std::string what = "delete chain '" + name + "'";
  if (!find_chain(s, name)) return fail(ENOENT, what);
  if (auto who = chain_referrer(s, name)) return fail(EBUSY, what + ": still referenced by " + *who);
  s.chains.erase(name);
  return Status::Ok();
}

Status add_rule(State& s, const std::string& chain, const std::string& rule) {
  const std::string what = "add rule to chain '" + chain + "'";
  auto it = s.chains.find(chain);
  if (it == s.chains.end()) return fail(ENOENT, what);
  auto refs = rule_references(rule);
  for (const auto& set : refs.sets) {
    if (!s.sets.count(set)) return fail(ENOENT, what + ": undefined set '" + set + "'");
  }
  for (const auto& target : refs.chains) {
    if (auto st = check_jump_target(s, target, what); !st) return st;
  }
  it->second.rules.push_back(rule);
  return Status::Ok();
}

SetDecl stored_decl(const SetDecl& d) {
  SetDecl out = d;
  out.comment = sanitize_comment(d.comment);
  return out;
}

Status add_set(State& s, const SetDecl& d) {
  auto it = s.sets.find(d.name);
  if (it == s.sets.end()) {
    s.sets.emplace(d.name, FakeSet{stored_decl(d), {}});
    return Status::Ok();
  }
  if (it->second.decl == stored_decl(d)) return Status::Ok();
  return fail(EEXIST, "add set '" + d.name + "': exists with a different declaration");
}

Status flush_set(State& s, const std::string& name, bool as_map) {
  const std::string what = std::string(as_map ? "flush map '" : "flush set '") + name + "'";
  auto it = s.sets.find(name);
  if (it == s.sets.end() || it->second.decl.verdict_map != as_map) return fail(ENOENT, what);
  it->second.elements.clear();
  return Status::Ok();
}

Status delete_set(State& s, const std::string& name) {
  const std::string what = "delete set '" + name + "'";
  if (!s.sets.count(name)) return fail(ENOENT, what);
  if (auto who = set_referrer(s, name)) return fail(EBUSY, what + ": still referenced by " + *who);
  s.sets.erase(name);
  return Status::Ok();
}

Status check_element_data(const State& s, const FakeSet& set, const Element& e, const std::string& what) {
  if (e.timeout_ms && !set.decl.timeout) return fail(EINVAL, what + ": timeout on a set without flags timeout");
  if (e.timeout_ms && *e.timeout_ms == 0) return fail(EINVAL, what + ": zero timeout");
  if (set.decl.verdict_map && e.verdict.empty()) return fail(EINVAL, what + ": map element without verdict");
  if (!set.decl.verdict_map && !e.verdict.empty()) return fail(EINVAL, what + ": verdict on a set element");
  if (e.verdict.empty()) return Status::Ok();
  Verdict v;
  if (auto st = parse_verdict(e.verdict, v); !st) return fail(EINVAL, what + ": " + st.message());
  if (v.kind == Verdict::Kind::Jump || v.kind == Verdict::Kind::Goto) return check_jump_target(s, v.chain, what);
  return Status::Ok();
}

Status add_element(State& s, const std::string& set_name, const Element& e) {
  const std::string what = "add element '" + e.key + "' to set '" + set_name + "'";
  auto it = s.sets.find(set_name);
  if (it == s.sets.end()) return fail(ENOENT, what);
  FakeSet& set = it->second;
  ElementKey key;
  if (auto st = parse_element_key(set.decl, e.key, key); !st) return fail(EINVAL, what + ": " + st.message());
  if (auto st = check_element_data(s, set, e, what); !st) return st;
  if (auto found = set.elements.find(key); found != set.elements.end()) {
    if (found->second.verdict != e.verdict) return fail(EEXIST, what + ": exists with a different verdict");
    return Status::Ok();
  }
  if (key.ip && set.decl.interval) {
    for (const auto& [other, _] : set.elements) {
      if (other.ip && other.ip->overlaps(*key.ip)) {
        return fail(EEXIST, what + ": overlaps existing interval '" + other.text() + "'");
      }
    }
  }
  Element stored = e;
  stored.key = key.text();
  stored.comment = sanitize_comment(e.comment);
  set.elements.emplace(key, std::move(stored));
  return Status::Ok();
}

Status delete_element(State& s, const std::string& set_name, const Element& e) {
  const std::string what = "delete element '" + e.key + "' from set '" + set_name + "'";
  auto it = s.sets.find(set_name);
  if (it == s.sets.end()) return fail(ENOENT, what);
  ElementKey key;
  if (auto st = parse_element_key(it->second.decl, e.key, key); !st) return fail(EINVAL, what + ": " + st.message());
  if (!it->second.elements.erase(key)) return fail(ENOENT, what);
  return Status::Ok();
}

Status apply(State& s, const Op& op) {
  using T = Op::Type;
  if (op.type == T::AddTable) {
    s.table = true;
    return Status::Ok();
  }
  if (!s.table) return fail(ENOENT, "table inet wac");
  switch (op.type) {
    case T::AddTable: return Status::Ok();
    case T::DeleteTable: s = State{}; return Status::Ok();
    case T::AddChain: return add_chain(s, op.chain.value_or(named<Chain>(op.name)));
    case T::FlushChain: {
      auto it = s.chains.find(op.name);
      if (it == s.chains.end()) return fail(ENOENT, "flush chain '" + op.name + "'");
      it->second.rules.clear();
      return Status::Ok();
    }
    case T::DeleteChain: return delete_chain(s, op.name);
    case T::AddRule: return add_rule(s, op.name, op.rule);
    case T::AddSet: return add_set(s, op.set.value_or(named<SetDecl>(op.name)));
    case T::FlushSet: return flush_set(s, op.name, op.set && op.set->verdict_map);
    case T::DeleteSet: return delete_set(s, op.name);
    case T::AddElement: return add_element(s, op.name, op.element.value_or(Element{}));
    case T::DeleteElement: return delete_element(s, op.name, op.element.value_or(Element{}));
  }
  return fail(EINVAL, "unknown op");
}

Status apply_set_change(State& s, const SetChange& change) {
  const SetDecl& d = change.set;
  auto it = s.sets.find(d.name);
  if (!s.table || it == s.sets.end()) return fail(ENOENT, "set '" + d.name + "'");
  const SetDecl& have = it->second.decl;
  if (have.key != d.key || have.interval != d.interval || have.verdict_map != d.verdict_map) {
    return fail(EINVAL, "set '" + d.name + "': batch declaration does not match the existing set");
  }
  for (const auto& e : change.remove) {
    if (auto st = delete_element(s, d.name, e); !st) return st;
  }
  for (const auto& e : change.add) {
    if (auto st = add_element(s, d.name, e); !st) return st;
  }
  for (const auto& e : change.refresh) {
    if (auto st = add_element(s, d.name, e); !st) return st;
    if (auto st = delete_element(s, d.name, e); !st) return st;
    if (auto st = add_element(s, d.name, e); !st) return st;
  }
  return Status::Ok();
}

void render_set(std::string& out, const FakeSet& set) {
  const SetDecl& d = set.decl;
  out += std::string("\t") + (d.verdict_map ? "map " : "set ") + d.name + " {\n";
  out += std::string("\t\ttype ") + key_type_name(d.key) + (d.verdict_map ? " : verdict" : "") + "\n";
  if (d.interval || d.timeout) {
    out += "\t\tflags ";
    out += d.interval ? (d.timeout ? "interval,timeout" : "interval") : "timeout";
    out += "\n";
  }
  if (!d.comment.empty()) out += "\t\tcomment \"" + d.comment + "\"\n";
  if (!set.elements.empty()) {
    out += "\t\telements = {\n";
    size_t i = 0;
    for (const auto& [key, e] : set.elements) {
      out += "\t\t\t" + (key.ip ? e.key : "\"" + e.key + "\"");
      if (e.timeout_ms) out += " timeout " + format_timeout(*e.timeout_ms);
      if (!e.comment.empty()) out += " comment \"" + e.comment + "\"";
      if (!e.verdict.empty()) out += " : " + e.verdict;
      out += ++i < set.elements.size() ? ",\n" : "\n";
    }
    out += "\t\t}\n";
  }
  out += "\t}\n";
}

void render_chain(std::string& out, const Chain& c) {
  out += "\tchain " + c.name + " {\n";
  if (!c.comment.empty()) out += "\t\tcomment \"" + c.comment + "\"\n";
  if (c.hook) {
    out += "\t\ttype " + c.hook->type + " hook " + c.hook->hook + " priority " +
           std::to_string(c.hook->priority) + "; policy " + c.hook->policy + ";\n";
  }
  for (const auto& r : c.rules) out += "\t\t" + r + "\n";
  out += "\t}\n";
}

}  // namespace

Status FakeBackend::fail_injected(std::optional<std::string>& injected) {
  std::string message = std::move(*injected);
  injected.reset();
  ++failed_calls_;
  return Status::Error(message, EIO);
}

Status FakeBackend::commit(const Transaction& tx) {
  ++commit_calls_;
  last_transaction_text_ = tx.render();
  transaction_texts_.push_back(last_transaction_text_);
  if (fail_commit_ && fail_commit_in_-- == 0) return fail_injected(fail_commit_);
  if (auto st = validate(tx); !st) {
    ++failed_calls_;
    return st;
  }
  State working = state_;
  const auto& ops = tx.ops();
  for (size_t i = 0; i < ops.size(); ++i) {
    if (auto st = apply(working, ops[i]); !st) {
      ++failed_calls_;
      return Status::Error("transaction op " + std::to_string(i) + ": " + st.message(), st.errno_value());
    }
  }
  state_ = std::move(working);
  return Status::Ok();
}

Status FakeBackend::commit_elements(const ElementBatch& batch) {
  ++element_batch_calls_;
  if (fail_elements_) return fail_injected(fail_elements_);
  State working = state_;
  for (const auto& change : batch) {
    if (auto st = apply_set_change(working, change); !st) {
      ++failed_calls_;
      return st;
    }
  }
  state_ = std::move(working);
  return Status::Ok();
}

Status FakeBackend::fill_sets(const SetFills& fills) {
  ++fill_calls_;
  std::optional<InjectedFill> injected = std::exchange(fail_fill_, std::nullopt);
  size_t budget = injected ? injected->applied : std::numeric_limits<size_t>::max();
  Status st = Status::Ok();
  for (const auto& fill : fills) {
    st = fill_one(fill, budget);
    if (!st) break;
  }
  // Injected: its budget ran out, or everything was applied (a lost ack).
  if (injected && (st.ok() || budget == 0)) st = Status::Error(injected->message, EIO);
  if (!st) ++failed_calls_;
  return st;
}

// Element by element, straight into the state: a fill is not atomic.
// Stops with an error when `budget` (elements before an injected failure)
// runs out.
Status FakeBackend::fill_one(const SetFill& fill, size_t& budget) {
  const std::string& name = fill.set.name;
  auto it = state_.sets.find(name);
  if (!state_.table || it == state_.sets.end()) return fail(ENOENT, "fill set '" + name + "'");
  const SetDecl& have = it->second.decl;
  if (have.key != fill.set.key || have.interval != fill.set.interval || have.verdict_map != fill.set.verdict_map) {
    return fail(EINVAL, "fill set '" + name + "': declaration does not match the existing set");
  }
  if (auto who = set_referrer(state_, name)) {
    return fail(EPERM, "fill set '" + name + "': in use by " + *who + " (packets would see it half loaded)");
  }
  auto spend = [&] {
    if (budget == 0) return false;
    --budget;
    return true;
  };
  for (const auto& e : fill.remove) {
    if (!spend()) return fail(EIO, "injected");
    if (auto st = delete_element(state_, name, e); !st) return st;
    ++filled_elements_;
  }
  for (const Element* e : fill.add) {
    if (!spend()) return fail(EIO, "injected");
    if (auto st = add_element(state_, name, *e); !st) return st;
    ++filled_elements_;
  }
  return Status::Ok();
}

Status FakeBackend::read(Snapshot& out) {
  out = {};
  out.table_exists = state_.table;
  out.chains = state_.chains;
  for (const auto& [name, set] : state_.sets) {
    out.sets[name] = set.decl;
    auto& elements = out.elements[name];
    for (const auto& [key, e] : set.elements) elements.push_back(e);
  }
  return Status::Ok();
}

std::string FakeBackend::render() const {
  if (!state_.table) return {};
  std::string out = std::string("table ") + kFamily + " " + kTable + " {\n";
  bool first = true;
  auto separate = [&] {
    if (!first) out += "\n";
    first = false;
  };
  for (const auto& [name, set] : state_.sets) {
    separate();
    render_set(out, set);
  }
  for (const auto& [name, chain] : state_.chains) {
    separate();
    render_chain(out, chain);
  }
  return out + "}\n";
}

void FakeBackend::fail_next_commit(std::string message) { fail_commit(1, std::move(message)); }
void FakeBackend::fail_commit(int nth, std::string message) {
  fail_commit_ = std::move(message);
  fail_commit_in_ = nth - 1;
}
void FakeBackend::fail_next_fill(size_t applied, std::string message) {
  fail_fill_ = InjectedFill{applied, std::move(message)};
}
void FakeBackend::fail_next_element_batch(std::string message) { fail_elements_ = std::move(message); }

void FakeBackend::advance_time(uint32_t ms) {
  for (auto& [name, set] : state_.sets) {
    for (auto it = set.elements.begin(); it != set.elements.end();) {
      auto& timeout = it->second.timeout_ms;
      if (timeout && *timeout <= ms) {
        it = set.elements.erase(it);
        continue;
      }
      if (timeout) *timeout -= ms;
      ++it;
    }
  }
}

}  // namespace wac::nft
