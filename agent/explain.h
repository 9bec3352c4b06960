// `wacctl explain POD`: which policies and rules apply to a local pod, in
// the order the dataplane evaluates them, and the nftables chains that
// implement each step.  Read from the Calculator (the same state that
// rendered the ruleset), so the answer cannot disagree with the kernel's
// rules except while a sync is pending or failing.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "agent/model.h"

namespace wac::agent {

class Calculator;

struct ExplainedRule {
  size_t index = 0;    // position in the policy's rule list (as in the nft comments)
  std::string action;  // Allow, Deny, Log, Pass
  std::string name;    // the rule's metadata name, if any
  std::string match;   // "tcp from selector role == 'client' to ports 80"; "" = everything
};

struct ExplainedPolicy {
  model::Key key;
  std::optional<double> order;  // nullopt: unordered (evaluated last)
  std::string chain;            // "gnp-allow-web-ingress"
  std::vector<ExplainedRule> rules;
  std::vector<std::string> nft_rules;  // the chain's rules as programmed
};

struct ExplainedDirection {
  model::Direction direction = model::Direction::Ingress;
  std::string map;    // "to-pod": interface -> pod chain
  std::string chain;  // "pod-default/web-ingress"
  std::vector<std::string> security_group_chains;  // evaluated before the policies
  std::vector<ExplainedPolicy> policies;           // in evaluation order
  std::string otherwise;                           // what happens when nothing decided
};

struct Explanation {
  std::string ns;
  std::string pod;
  std::string endpoint;  // WorkloadEndpoint name
  std::string interface_name;
  std::vector<std::string> addresses;
  std::vector<std::string> security_groups;
  ExplainedDirection ingress;
  ExplainedDirection egress;
};

// A Calico rule's match in words ("" for a rule that matches everything).
std::string describe_match(const model::Rule& rule);

// For the local endpoint of pod `pod` (or the endpoint named so) in `ns`;
// nullopt with `error` set when there is none on this node.
// Call on the thread that owns the Calculator.
std::optional<Explanation> explain_pod(Calculator& calc, const std::string& ns, const std::string& pod,
                                       std::string* error);

}  // namespace wac::agent
