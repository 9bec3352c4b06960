#include "agent/security_groups.h"

namespace wac::agent {

std::string security_group_label(std::string_view group_id) {
  return std::string(model::kSecurityGroupLabelPrefix) + std::string(group_id);
}

std::string security_group_selector(std::string_view group_id) {
  return "has(" + security_group_label(group_id) + ")";
}

void add_security_group_labels(const std::vector<std::string>& group_ids, model::Labels& labels) {
  for (const auto& id : group_ids) labels[security_group_label(id)] = "";
}

std::string security_group_chain(std::string_view group_id, model::Direction d) {
  return std::string(group_id) + "-" + (d == model::Direction::Ingress ? "ingress" : "egress");
}

std::vector<model::Rule> security_group_rules(const model::SecurityGroupPermission& p, model::Direction d) {
  const bool ingress = d == model::Direction::Ingress;
  model::Rule base;
  base.action = model::Action::Allow;
  base.protocol = p.protocol;
  base.icmp = p.icmp;
  if (p.ports) base.destination.ports = {*p.ports};
  auto peer = [&](model::Rule& r) -> model::EntityRule& { return ingress ? r.source : r.destination; };

  std::vector<model::Rule> out;
  if (!p.cidrs.empty()) {
    model::Rule r = base;
    peer(r).nets = p.cidrs;
    out.push_back(std::move(r));
  }
  for (const auto& group : p.groups) {
    model::Rule r = base;
    peer(r).selector = security_group_selector(group);
    r.name = (ingress ? "from " : "to ") + group;
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace wac::agent
