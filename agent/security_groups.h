// AWS security groups in the agent: membership labels, object names, and
// the translation of a group's permissions into Allow rules that
// render_rule() writes.  Pure functions; the Calculator
// (calc_security_groups.cc) decides which groups are rendered.
//
// Membership is a label: a pod whose aws.tigera.io/security-groups
// annotation names group G carries "sg.aws.tigera.io/G": "" (the label
// Calico's AWS integration gives members), so a reference to G in another
// group's rule is the selector has(sg.aws.tigera.io/G) and its addresses live
// in one shared selector set that follows pods as they come and go.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "agent/model.h"

namespace wac::agent {

// "sg.aws.tigera.io/sg-0123456789abcdef0"
std::string security_group_label(std::string_view group_id);
// "has(sg.aws.tigera.io/sg-0123456789abcdef0)": every member of the group.
std::string security_group_selector(std::string_view group_id);
// Adds the membership label of each group to `labels`.
void add_security_group_labels(const std::vector<std::string>& group_ids, model::Labels& labels);

// "sg-0123456789abcdef0-ingress": the group's rules for one direction.
std::string security_group_chain(std::string_view group_id, model::Direction d);

// One permission as Allow rules for `d`: one for its CIDRs (both families)
// and one per referenced group; the peer is the source for ingress and the
// destination for egress, ports are always destination ports (as in AWS).
// Never a rule without a peer: a permission with none yields no rules.
std::vector<model::Rule> security_group_rules(const model::SecurityGroupPermission& p, model::Direction d);

// What the Calculator keeps for a group rendered on this node.
struct RenderedSecurityGroup {
  std::vector<std::string> held_sets;  // selector sets its references use
  bool defined = false;                // false: referenced by a pod, not applied (allows nothing)
};

}  // namespace wac::agent
