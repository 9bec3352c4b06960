#include "agent/flow_decisions.h"

#include <charconv>
#include <cstdio>

namespace wac::agent {

namespace {

// Retired decisions are dropped at most this often (a sweep of the table).
constexpr auto kPurgeInterval = std::chrono::seconds(10);

std::string hex8(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

std::string limit(uint32_t rate) {
  return "limit rate " + std::to_string(rate) + "/second burst " + std::to_string(rate) + " packets";
}

}  // namespace

const char* reason_name(FlowReason r) {
  switch (r) {
    case FlowReason::PolicyRule: return "policy";
    case FlowReason::DefaultDeny: return "default-deny";
    case FlowReason::SecurityGroups: return "security-groups";
    case FlowReason::AntiSpoof: return "anti-spoof";
    case FlowReason::NoEndpoint: return "no-endpoint";
    case FlowReason::EndpointToHost: return "endpoint-to-host";
  }
  return "unknown";
}

FlowDecision pod_flow_decision(const model::Endpoint& ep, model::Direction d, FlowReason reason) {
  FlowDecision fd;
  fd.reason = reason;
  fd.direction = d;
  fd.ns = ep.ns;
  fd.pod = ep.pod.empty() ? ep.name : ep.pod;
  fd.endpoint = ep.name;
  return fd;
}

uint32_t FlowDecisions::default_hash(std::string_view text) {
  uint32_t h = 2166136261u;
  for (unsigned char c : text) h = (h ^ c) * 16777619u;
  return h ? h : 1;
}

FlowDecisions::FlowDecisions(Hash hash, std::chrono::seconds grace) : hash_(std::move(hash)), grace_(grace) {}

void FlowDecisions::retire_locked(const std::string& chain, Clock::time_point now) {
  auto it = by_chain_.find(chain);
  if (it == by_chain_.end()) return;
  for (uint32_t id : it->second)
    if (auto e = by_id_.find(id); e != by_id_.end()) e->second.retired = now;
  by_chain_.erase(it);
}

void FlowDecisions::purge_locked(Clock::time_point now) {
  if (now - last_purge_ < kPurgeInterval) return;
  last_purge_ = now;
  std::erase_if(by_id_, [&](const auto& kv) { return kv.second.retired && now - *kv.second.retired > grace_; });
}

void FlowDecisions::begin_chain(const std::string& chain) {
  std::lock_guard lock(mu_);
  retire_locked(chain, now_());
}

void FlowDecisions::erase_chain(const std::string& chain) {
  std::lock_guard lock(mu_);
  retire_locked(chain, now_());
}

uint32_t FlowDecisions::add(const std::string& chain, const std::string& slot, FlowDecision decision) {
  std::lock_guard lock(mu_);
  auto now = now_();
  purge_locked(now);
  std::string key = chain + '\n' + slot;
  decision.chain = chain;
  // Probe from the hash: the same key finds its old id (live or retired); a
  // retired entry past its grace may be taken over.
  uint32_t id = hash_(key);
  for (;; id = id + 1 ? id + 1 : 1) {
    if (id == 0) continue;
    auto it = by_id_.find(id);
    if (it == by_id_.end()) break;
    Entry& e = it->second;
    if (e.key == key || (e.retired && now - *e.retired > grace_)) break;
  }
  Entry& e = by_id_[id];
  bool was_live = e.key == key && !e.retired;
  e = {key, std::move(decision), std::nullopt};
  if (!was_live) by_chain_[chain].push_back(id);
  return id;
}

std::optional<FlowDecision> FlowDecisions::find(uint32_t id) const {
  std::lock_guard lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  return it->second.decision;
}

size_t FlowDecisions::size() const {
  std::lock_guard lock(mu_);
  return by_id_.size();
}

std::string flow_deny_verdict(uint32_t id) {
  return "meta mark set 0x" + hex8(id) + " goto " + kFlowLogDenyChain;
}

std::string flow_allow_log(uint32_t id, const FlowLogRender& r) {
  return "ct state new " + limit(r.kernel_rate) + " log prefix \"" + kFlowLogPrefix + " " + hex8(id) + "\" group " +
         std::to_string(r.group);
}

nft::Chain flow_log_deny_chain(const FlowLogRender& r) {
  nft::Chain c;
  c.name = kFlowLogDenyChain;
  c.comment = "denied packets: flow log to wacd (nflog group " + std::to_string(r.group) +
              "), then drop; meta mark = decision id";
  c.rules = {limit(r.kernel_rate) + " counter log prefix \"" + kFlowLogPrefix + "\" group " + std::to_string(r.group) +
                 " drop",
             "counter drop comment \"not logged: over flowLogs.kernelRateLimit\""};
  return c;
}

std::optional<uint32_t> decision_id(std::string_view prefix, uint32_t mark) {
  std::string_view base = kFlowLogPrefix;
  if (!prefix.starts_with(base)) return std::nullopt;
  prefix.remove_prefix(base.size());
  if (prefix.empty()) return mark;  // a deny: the id is in the mark
  if (prefix.size() != 9 || prefix[0] != ' ') return std::nullopt;
  uint32_t id = 0;
  auto [end, ec] = std::from_chars(prefix.data() + 1, prefix.data() + prefix.size(), id, 16);
  if (ec != std::errc() || end != prefix.data() + prefix.size()) return std::nullopt;
  return id;
}

}  // namespace wac::agent
