// Policy rules -> nftables rule text.  Pure functions: the caller supplies
// the names of the sets that selectors and domains resolve to.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "agent/flow_decisions.h"
#include "agent/model.h"
#include "netlink/ip.h"

namespace wac::agent {

struct RuleContext {
  // Name of the nft set holding the addresses an entity selector matches
  // (scoped to the policy's namespace by the caller), for one family.
  std::function<std::string(const std::string& selector, const std::string& namespace_selector,
                            Family family)>
      selector_set;
  // Name of the nft set holding addresses learned for a domain pattern.
  std::function<std::string(const std::string& domain, Family family)> domain_set;
  // allowedEgressDomains of the network sets an egress Allow destination
  // (selector, namespace selector) matches; each gets one more rule whose
  // destination is that domain's set instead of the selector. Unset: none.
  std::function<std::vector<std::string>(const std::string& selector, const std::string& namespace_selector)>
      netset_domains;
  uint32_t verdict_mark = 0;  // set by Allow/Pass before returning to the pod chain
  std::string policy_label;   // for comments: "gnp allow-db"
  // Flow logs (agent/flow_decisions.h): the decision id of rule `index`.
  // Unset: a Deny is a plain `counter drop` and nothing is logged.
  std::function<uint32_t(const model::Rule& rule, size_t index)> flow_decision;
  FlowLogRender flow_logs;  // log_allowed: Allow and Pass rules get a log rule before them
};

// Up to two nft rules (IPv4, IPv6) for one Calico rule; none when the rule
// cannot match any family (e.g. ipVersion 6 with only IPv4 nets).  With
// allowed flows logged, each Allow/Pass rule is preceded by its log rule.
std::vector<std::string> render_rule(const model::Rule& rule, model::Direction dir, size_t index,
                                     const RuleContext& ctx);

std::string protocol_name(uint8_t proto);  // "tcp", "udp", "icmp", "ipv6-icmp", "sctp", or the number

}  // namespace wac::agent
