#include "agent/explain.h"

#include <boost/asio/post.hpp>

#include "agent/agent.h"
#include "agent/calc.h"
#include "agent/names.h"
#include "agent/render.h"
#include "agent/security_groups.h"

namespace wac::agent {

using model::Direction;

namespace {

std::string join(const std::vector<std::string>& items, const char* sep = ", ") {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
  return out;
}

std::string cidrs(const std::vector<Cidr>& nets) {
  std::vector<std::string> texts;
  for (const auto& c : nets) texts.push_back(c.str());
  return join(texts);
}

std::string ports(const std::vector<model::PortRange>& list) {
  std::vector<std::string> texts;
  for (const auto& p : list) {
    if (!p.name.empty()) texts.push_back(p.name);
    else if (p.first == p.last) texts.push_back(std::to_string(p.first));
    else texts.push_back(std::to_string(p.first) + "-" + std::to_string(p.last));
  }
  return join(texts);
}

std::string icmp(const model::IcmpMatch& m) {
  std::string out = "type " + (m.type ? std::to_string(*m.type) : std::string("any"));
  if (m.code) out += " code " + std::to_string(*m.code);
  return out;
}

// The parts of one side of a rule, in Calico's field names.
std::vector<std::string> entity_parts(const model::EntityRule& e) {
  std::vector<std::string> parts;
  if (!e.nets.empty()) parts.push_back("nets " + cidrs(e.nets));
  if (!e.not_nets.empty()) parts.push_back("notNets " + cidrs(e.not_nets));
  if (!e.selector.empty()) parts.push_back("selector " + e.selector);
  if (!e.not_selector.empty()) parts.push_back("notSelector " + e.not_selector);
  if (!e.namespace_selector.empty()) parts.push_back("namespaceSelector " + e.namespace_selector);
  if (!e.ports.empty()) parts.push_back("ports " + ports(e.ports));
  if (!e.not_ports.empty()) parts.push_back("notPorts " + ports(e.not_ports));
  if (!e.domains.empty()) parts.push_back("domains " + join(e.domains));
  return parts;
}

std::string otherwise(Direction d, bool has_policies, bool in_security_groups, bool host_allowed) {
  std::string what;
  if (has_policies) what = "dropped: no policy allowed it (default deny)";
  else what = std::string("allowed: no policy selects this pod for ") + names::direction_name(d);
  if (in_security_groups) what = "after its security groups allowed it, " + what;
  if (d == Direction::Egress)
    what += std::string("; allowed traffic to the node itself is then ") +
            (host_allowed ? "accepted (endpointToHostAction: Accept)" : "dropped (endpointToHostAction: Drop)");
  return what;
}

const model::Endpoint* find_local(const Calculator& calc, const std::string& ns, const std::string& pod) {
  const model::Endpoint* by_name = nullptr;
  for (const model::Endpoint* ep : calc.local_endpoints()) {
    if (ep->ns != ns) continue;
    if (ep->pod == pod) return ep;
    if (ep->name == pod) by_name = ep;
  }
  return by_name;
}

ExplainedPolicy explain_policy(Calculator& calc, const model::Key& key, Direction d) {
  ExplainedPolicy out;
  out.key = key;
  const model::Policy* p = calc.policy(key);
  if (!p) return out;  // cannot happen for a key policies_for() returned
  out.order = p->order;
  out.chain = names::policy_chain(*p, d);
  const auto& rules = d == Direction::Ingress ? p->ingress : p->egress;
  for (size_t i = 0; i < rules.size(); ++i)
    out.rules.push_back({i, model::action_name(rules[i].action), rules[i].name, describe_match(rules[i])});
  if (auto chain = calc.desired().chains.find(out.chain); chain != calc.desired().chains.end())
    out.nft_rules = chain->second.rules;
  return out;
}

ExplainedDirection explain_direction(Calculator& calc, const model::Endpoint& ep, Direction d,
                                     const std::vector<model::Key>& keys) {
  ExplainedDirection out;
  out.direction = d;
  out.map = d == Direction::Ingress ? names::kToPodMap : names::kFromPodMap;
  out.chain = names::pod_chain(ep, d);
  for (const auto& group : ep.security_groups) out.security_group_chains.push_back(security_group_chain(group, d));
  for (const auto& key : keys) out.policies.push_back(explain_policy(calc, key, d));
  out.otherwise = otherwise(d, !keys.empty(), !ep.security_groups.empty(), calc.config().endpoint_to_host_allow);
  return out;
}

}  // namespace

std::string describe_match(const model::Rule& r) {
  std::vector<std::string> parts;
  if (r.ip_version) parts.push_back("IPv" + std::to_string(r.ip_version));
  if (r.protocol) parts.push_back(protocol_name(*r.protocol));
  if (r.not_protocol) parts.push_back("not " + protocol_name(*r.not_protocol));
  if (r.icmp) parts.push_back("icmp " + icmp(*r.icmp));
  if (r.not_icmp) parts.push_back("not icmp " + icmp(*r.not_icmp));
  if (auto from = entity_parts(r.source); !from.empty()) parts.push_back("from " + join(from, " "));
  if (auto to = entity_parts(r.destination); !to.empty()) parts.push_back("to " + join(to, " "));
  return join(parts, " ");
}

std::optional<Explanation> explain_pod(Calculator& calc, const std::string& ns, const std::string& pod,
                                       std::string* error) {
  const model::Endpoint* ep = find_local(calc, ns, pod);
  auto policies = ep ? calc.policies_for(ep->ns, ep->name) : std::nullopt;
  if (!policies) {
    if (error) *error = "no endpoint of pod " + ns + "/" + pod + " on this node";
    return std::nullopt;
  }
  Explanation out;
  out.ns = ep->ns;
  out.pod = ep->pod.empty() ? ep->name : ep->pod;
  out.endpoint = ep->name;
  out.interface_name = ep->interface_name;
  for (const auto& c : ep->ip_networks) out.addresses.push_back(c.str());
  out.security_groups = ep->security_groups;
  out.ingress = explain_direction(calc, *ep, Direction::Ingress, policies->ingress);
  out.egress = explain_direction(calc, *ep, Direction::Egress, policies->egress);
  return out;
}

// Agent's side of Service::explain (declared in agent.h): read on the agent
// thread, which owns the Calculator.
void Agent::explain(std::string ns, std::string pod, std::function<void(ApiError, Explanation)> done) {
  boost::asio::post(io_, [this, ns = std::move(ns), pod = std::move(pod), done = std::move(done)] {
    std::string error;
    auto found = explain_pod(calc_, ns, pod, &error);
    if (!found) return done({ApiError::Code::NotFound, error}, {});
    done({}, std::move(*found));
  });
}

}  // namespace wac::agent
