// AWS security groups in the calculation.
//
// A local endpoint in at least one group gets a stage at the top of its pod
// chain (after anti-spoofing, before any Calico policy):
//
//   meta mark set meta mark and 0xfffeffff
//   jump sg-0aaa...-ingress                              # each Allow sets the mark and returns
//   meta mark and 0x00010000 == 0 jump sg-0bbb...-ingress   # the union: later groups only if needed
//   meta mark and 0x00010000 == 0 counter drop comment "security groups sg-0aaa..., sg-0bbb...: ..."
//
// Traffic must pass this stage and then the endpoint's policies, as with
// Calico Enterprise's AWS integration, whose security group tiers come
// before all network policy.  Group chains exist while a local endpoint
// names the group; a group named but not (yet) applied renders as an empty
// chain, so its members allow nothing in either direction beyond what
// their other groups allow.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <stdexcept>

#include "agent/calc.h"
#include "agent/names.h"
#include "agent/render.h"

namespace wac::agent {

using model::Direction;

namespace {

std::string hex_mark(uint32_t mark) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", mark);
  return buf;
}

std::string joined(const std::vector<std::string>& ids) {
  std::string out;
  for (const auto& id : ids) out += (out.empty() ? "" : ", ") + id;
  return out;
}

std::string group_label(const std::string& id, const model::SecurityGroup* sg) {
  return "sg " + id + (sg && !sg->name.empty() ? " (" + sg->name + ")" : "");
}

}  // namespace

void Calculator::upsert_security_group(const model::SecurityGroup& sg) {
  auto it = security_groups_.find(sg.id);
  if (it != security_groups_.end() && it->second == sg) return;
  security_groups_[sg.id] = sg;
  dirty_groups_.insert(sg.id);
}

void Calculator::remove_security_group(const std::string& group_id) {
  if (security_groups_.erase(group_id)) dirty_groups_.insert(group_id);
}

void Calculator::append_security_group_stage(const model::Endpoint& ep, Direction d,
                                             std::vector<std::string>& rules) const {
  if (ep.security_groups.empty()) return;  // in no group: security groups do not apply
  const std::string mark = hex_mark(cfg_.verdict_mark);
  rules.push_back("meta mark set meta mark and " + hex_mark(~cfg_.verdict_mark));
  for (size_t i = 0; i < ep.security_groups.size(); ++i) {
    std::string jump = "jump " + security_group_chain(ep.security_groups[i], d);
    rules.push_back(i == 0 ? jump : "meta mark and " + mark + " == 0 " + jump);
  }
  std::string drop = drop_verdict(names::pod_chain(ep, d), "security-groups",
                                 pod_flow_decision(ep, d, FlowReason::SecurityGroups));
  rules.push_back("meta mark and " + mark + " == 0 " + drop + " comment \"" +
                  names::comment("security groups " + joined(ep.security_groups) + ": no rule allows this") + "\"");
}

void Calculator::render_security_group(const std::string& group_id, RenderedSecurityGroup& r) {
  std::vector<std::string> old_held = std::move(r.held_sets);
  r.held_sets.clear();
  auto found = security_groups_.find(group_id);
  const model::SecurityGroup* sg = found == security_groups_.end() ? nullptr : &found->second;
  RuleContext ctx;
  ctx.verdict_mark = cfg_.verdict_mark;
  ctx.policy_label = group_label(group_id, sg);
  // A group reference matches members in every namespace, and network sets
  // that carry the membership label.
  ctx.selector_set = [&](const std::string& sel, const std::string& ns_sel, Family f) {
    return acquire_ipset(rule_selector(sel, ns_sel, ""), f, r.held_sets);
  };
  ctx.domain_set = [](const std::string& domain, Family) -> std::string {
    throw std::logic_error("a security group rule has a domain: " + domain);
  };
  for (Direction d : {Direction::Ingress, Direction::Egress}) {
    const std::vector<model::SecurityGroupPermission>* perms = nullptr;
    if (sg) perms = d == Direction::Ingress ? &sg->ingress : &sg->egress;
    std::string about = ctx.policy_label + " " + names::direction_name(d);
    if (!sg) about += ": not defined, allows nothing";
    else if (perms->empty()) about += ": no rules, allows nothing";
    nft::Chain chain{security_group_chain(group_id, d), names::comment(about), std::nullopt, {}};
    for (size_t i = 0; perms && i < perms->size(); ++i)
      for (const model::Rule& rule : security_group_rules((*perms)[i], d))
        for (auto& text : render_rule(rule, d, i, ctx)) chain.rules.push_back(std::move(text));
    desired_.chains.put(std::move(chain));
  }
  release_ipsets(old_held);  // after acquiring, so shared sets are not churned
  if (!sg) spdlog::warn("security group {} is named by a local endpoint but not defined: it allows nothing", group_id);
  else if (!r.defined) spdlog::info("security group {}: rules rendered", group_id);
  r.defined = sg != nullptr;
}

void Calculator::unrender_security_group(const std::string& group_id, RenderedSecurityGroup& r) {
  for (Direction d : {Direction::Ingress, Direction::Egress}) desired_.chains.erase(security_group_chain(group_id, d));
  release_ipsets(r.held_sets);
}

// Renders the groups local endpoints name (and only those), after the
// endpoints themselves are up to date.
void Calculator::sync_security_group_chains() {
  std::set<std::string> wanted;
  for (const model::Endpoint* ep : local_endpoints())
    wanted.insert(ep->security_groups.begin(), ep->security_groups.end());
  for (auto it = rendered_groups_.begin(); it != rendered_groups_.end();) {
    if (wanted.count(it->first)) {
      ++it;
      continue;
    }
    unrender_security_group(it->first, it->second);
    it = rendered_groups_.erase(it);
  }
  for (const auto& id : wanted) {
    auto [it, added] = rendered_groups_.try_emplace(id);
    if (added || dirty_groups_.count(id)) render_security_group(id, it->second);
  }
  dirty_groups_.clear();
}

}  // namespace wac::agent
