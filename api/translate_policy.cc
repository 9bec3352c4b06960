// Calico NetworkPolicy / GlobalNetworkPolicy and their rules.
#include <strings.h>

#include <cmath>
#include <set>

#include "api/translate_internal.h"
#include "dns/pattern.h"

namespace wac::api::detail {

namespace {

constexpr const char* kPortsNeedProtocol =
    "rules that specify ports must set protocol to TCP, UDP, SCTP or UDPLite";

std::string count_error(std::string_view what, size_t n, size_t max) {
  return "too many " + std::string(what) + " (" + std::to_string(n) + ", at most " + std::to_string(max) + ")";
}

std::optional<model::Action> parse_action(const std::string& text, const std::string& path, Ctx& ctx) {
  static const std::pair<const char*, model::Action> kActions[] = {
      {"Allow", model::Action::Allow}, {"Deny", model::Action::Deny},
      {"Log", model::Action::Log},     {"Pass", model::Action::Pass}};
  if (text.empty()) {
    ctx.error(path, "required (Allow, Deny, Log or Pass)");
    return std::nullopt;
  }
  for (const auto& [name, action] : kActions)
    if (text == name) return action;
  std::string msg = "invalid action " + check::quoted(text) + " (expected Allow, Deny, Log or Pass)";
  for (const auto& [name, action] : kActions)
    if (strcasecmp(text.c_str(), name) == 0) msg += "; did you mean " + std::string(name) + "?";
  ctx.error(path, msg);
  return std::nullopt;
}

std::optional<uint8_t> parse_protocol(const std::string& text, const std::string& path, Ctx& ctx) {
  if (text.empty()) return std::nullopt;
  auto n = check::protocol_number(text);
  if (!n) ctx.error(path, check::protocol_error(text));
  return n;
}

std::optional<model::IcmpMatch> parse_icmp(const v1::IcmpFields& in, const std::string& path, Ctx& ctx) {
  model::IcmpMatch m;
  if (in.has_type()) {
    if (in.type() < 0 || in.type() > 254) ctx.error(at(path, "type"), "must be 0-254");
    else m.type = uint8_t(in.type());
  }
  if (in.has_code()) {
    if (!in.has_type()) ctx.error(at(path, "code"), "ICMP code specified without an ICMP type");
    else if (in.code() < 0 || in.code() > 255) ctx.error(at(path, "code"), "must be 0-255");
    else m.code = uint8_t(in.code());
  }
  if (!m.type) return std::nullopt;  // "icmp: {}" restricts nothing
  return m;
}

std::vector<Cidr> parse_nets(const google::protobuf::RepeatedPtrField<std::string>& in, const std::string& path,
                             Ctx& ctx) {
  std::vector<Cidr> out;
  if (size_t(in.size()) > kMaxEntriesPerRuleField) {
    ctx.error(path, count_error("nets", size_t(in.size()), kMaxEntriesPerRuleField));
    return out;
  }
  for (int i = 0; i < in.size(); ++i)
    if (auto c = checked_net(in.Get(i), at(path, size_t(i)), ctx)) out.push_back(*c);
  return out;
}

std::vector<model::PortRange> parse_ports(const google::protobuf::RepeatedPtrField<std::string>& in,
                                          const std::string& path, Ctx& ctx) {
  std::vector<model::PortRange> out;
  if (size_t(in.size()) > kMaxEntriesPerRuleField) {
    ctx.error(path, count_error("ports", size_t(in.size()), kMaxEntriesPerRuleField));
    return out;
  }
  for (int i = 0; i < in.size(); ++i) {
    model::PortRange r;
    if (std::string why = check::parse_port(in.Get(i), r); !why.empty()) ctx.error(at(path, size_t(i)), why);
    else out.push_back(r);
  }
  return out;
}

// What a rule's entity may contain depends on where it sits.
struct EntityPlace {
  model::Direction direction;
  bool destination;
  model::Action action;
};

bool domains_allowed(const EntityPlace& place) {
  return place.direction == model::Direction::Egress && place.destination && place.action == model::Action::Allow;
}

void check_domain_combination(const v1::EntityRule& in, const std::string& path, Ctx& ctx) {
  const std::pair<bool, const char*> others[] = {
      {in.nets_size() > 0, "nets"},         {in.not_nets_size() > 0, "notNets"},
      {!in.selector().empty(), "selector"}, {!in.not_selector().empty(), "notSelector"},
      {!in.namespace_selector().empty(), "namespaceSelector"}};
  for (const auto& [set, name] : others)
    if (set)
      ctx.error(at(path, "domains"), std::string("domains cannot be combined with ") + name +
                                         " in the same destination (use a separate rule)");
}

std::vector<std::string> parse_domains(const v1::EntityRule& in, const std::string& path, const EntityPlace& place,
                                       Ctx& ctx) {
  std::vector<std::string> out;
  if (in.domains().empty()) return out;
  std::string dpath = at(path, "domains");
  if (!domains_allowed(place)) {
    ctx.error(dpath, "domains are only allowed in the destination of egress Allow rules");
    return out;
  }
  check_domain_combination(in, path, ctx);
  if (size_t(in.domains_size()) > kMaxEntriesPerRuleField) {
    ctx.error(dpath, count_error("domains", size_t(in.domains_size()), kMaxEntriesPerRuleField));
    return out;
  }
  std::set<std::string> seen;
  for (int i = 0; i < in.domains_size(); ++i) {
    auto parsed = dns::Pattern::parse(in.domains(i));
    if (auto* why = std::get_if<std::string>(&parsed)) {
      ctx.error(at(dpath, size_t(i)), "invalid domain " + check::quoted(in.domains(i)) + ": " + *why);
      continue;
    }
    const std::string& canonical = std::get<dns::Pattern>(parsed).canonical();
    if (seen.insert(canonical).second) out.push_back(canonical);
  }
  return out;
}

model::EntityRule translate_entity(const v1::EntityRule& in, const std::string& path, const EntityPlace& place,
                                   Ctx& ctx) {
  model::EntityRule e;
  e.nets = parse_nets(in.nets(), at(path, "nets"), ctx);
  e.not_nets = parse_nets(in.not_nets(), at(path, "notNets"), ctx);
  e.selector = checked_selector(in.selector(), at(path, "selector"), SelectorUse::Entity, ctx);
  e.not_selector = checked_selector(in.not_selector(), at(path, "notSelector"), SelectorUse::Entity, ctx);
  e.namespace_selector =
      checked_selector(in.namespace_selector(), at(path, "namespaceSelector"), SelectorUse::EntityNamespace, ctx);
  e.ports = parse_ports(in.ports(), at(path, "ports"), ctx);
  e.not_ports = parse_ports(in.not_ports(), at(path, "notPorts"), ctx);
  e.domains = parse_domains(in, path, place, ctx);
  if (in.has_service_accounts())
    ctx.error(at(path, "serviceAccounts"), "service account matches are not supported by wac");
  if (in.has_services()) ctx.error(at(path, "services"), "service matches are not supported by wac");
  return e;
}

// Ports only exist for some protocols; Calico requires the rule to say which.
void check_ports_protocol(const v1::Rule& in, const std::optional<uint8_t>& protocol, const std::string& path,
                          Ctx& ctx) {
  if (protocol && check::protocol_has_ports(*protocol)) return;
  const std::pair<const v1::EntityRule*, const char*> sides[] = {{&in.source(), "source"},
                                                                 {&in.destination(), "destination"}};
  for (const auto& [side, name] : sides) {
    if (side->ports_size() > 0) ctx.error(at(at(path, name), "ports"), kPortsNeedProtocol);
    if (side->not_ports_size() > 0) ctx.error(at(at(path, name), "notPorts"), kPortsNeedProtocol);
  }
}

// ICMP fields need an ICMP protocol, which also fixes the IP version.
void check_icmp_protocol(const v1::Rule& in, const model::Rule& r, const std::string& path, Ctx& ctx) {
  auto is_icmp = [](const std::optional<uint8_t>& p) {
    return p && (*p == check::kProtoICMP || *p == check::kProtoICMPv6);
  };
  if (in.has_icmp() && !is_icmp(r.protocol))
    ctx.error(at(path, "icmp"), "rules that specify ICMP fields must set protocol to ICMP or ICMPv6");
  if (in.has_not_icmp() && !is_icmp(r.protocol))
    ctx.error(at(path, "notICMP"), "rules that specify ICMP fields must set protocol to ICMP or ICMPv6");
  for (const auto& p : {r.protocol, r.not_protocol}) {
    if (!p || r.ip_version == 0) continue;
    if (*p == check::kProtoICMP && r.ip_version != 4)
      ctx.error(at(path, "ipVersion"), "must be 4 with protocol ICMP");
    if (*p == check::kProtoICMPv6 && r.ip_version != 6)
      ctx.error(at(path, "ipVersion"), "must be 6 with protocol ICMPv6");
  }
}

// As Calico: all CIDRs of a rule are of one family, matching ipVersion (and,
// here, the family an ICMP/ICMPv6 protocol implies).
void check_net_families(const model::Rule& r, const std::string& path, Ctx& ctx) {
  int family = r.ip_version;
  std::string family_from = family ? "ipVersion " + std::to_string(family) : "";
  if (!family && r.protocol == check::kProtoICMP) family = 4, family_from = "protocol ICMP";
  if (!family && r.protocol == check::kProtoICMPv6) family = 6, family_from = "protocol ICMPv6";
  const std::pair<const std::vector<Cidr>*, std::string> lists[] = {
      {&r.source.nets, "source.nets"}, {&r.source.not_nets, "source.notNets"},
      {&r.destination.nets, "destination.nets"}, {&r.destination.not_nets, "destination.notNets"}};
  for (const auto& [nets, name] : lists) {
    for (size_t i = 0; i < nets->size(); ++i) {
      int f = (*nets)[i].family() == Family::V4 ? 4 : 6;
      if (family == 0) {
        family = f;
        family_from = at(name, i) + " (" + (*nets)[i].str() + ")";
      } else if (f != family) {
        ctx.error(at(path, at(name, i)), "IPv" + std::to_string(f) + " CIDR " + (*nets)[i].str() +
                                             " does not match the rule's IP version, set by " + family_from);
        return;
      }
    }
  }
}

std::optional<model::Rule> translate_rule(const v1::Rule& in, const std::string& path, model::Direction dir,
                                          Ctx& ctx) {
  model::Rule r;
  auto action = parse_action(in.action(), at(path, "action"), ctx);
  if (action) r.action = *action;
  if (in.has_ip_version()) {
    if (in.ip_version() != 4 && in.ip_version() != 6) ctx.error(at(path, "ipVersion"), "must be 4 or 6");
    else r.ip_version = uint8_t(in.ip_version());
  }
  r.protocol = parse_protocol(in.protocol(), at(path, "protocol"), ctx);
  r.not_protocol = parse_protocol(in.not_protocol(), at(path, "notProtocol"), ctx);
  if (in.has_icmp()) r.icmp = parse_icmp(in.icmp(), at(path, "icmp"), ctx);
  if (in.has_not_icmp()) r.not_icmp = parse_icmp(in.not_icmp(), at(path, "notICMP"), ctx);
  if (in.has_http()) ctx.error(at(path, "http"), "HTTP matches are not supported by wac");
  if (in.has_metadata()) {
    for (const auto& [key, value] : in.metadata().annotations())
      if (std::string why = check::label_key(key); !why.empty())
        ctx.error(at_key(at(path, "metadata.annotations"), key), "invalid annotation key: " + why);
  }
  if (!action) return std::nullopt;  // the entity checks depend on the action
  r.source = translate_entity(in.source(), at(path, "source"), {dir, false, r.action}, ctx);
  r.destination = translate_entity(in.destination(), at(path, "destination"), {dir, true, r.action}, ctx);
  check_ports_protocol(in, r.protocol, path, ctx);
  check_icmp_protocol(in, r, path, ctx);
  check_net_families(r, path, ctx);
  return r;
}

std::vector<model::Rule> translate_rules(const google::protobuf::RepeatedPtrField<v1::Rule>& in,
                                         const std::string& path, model::Direction dir, Ctx& ctx) {
  std::vector<model::Rule> out;
  if (size_t(in.size()) > kMaxRulesPerDirection) {
    ctx.error(path, count_error("rules", size_t(in.size()), kMaxRulesPerDirection));
    return out;
  }
  for (int i = 0; i < in.size() && ctx.wants_more(); ++i)
    if (auto r = translate_rule(in.Get(i), at(path, size_t(i)), dir, ctx)) out.push_back(std::move(*r));
  return out;
}

void apply_types(const google::protobuf::RepeatedPtrField<std::string>& types, const char* path_name,
                 model::Policy& p, Ctx& ctx) {
  std::string path = at("spec", path_name);
  for (int i = 0; i < types.size(); ++i) {
    const std::string& t = types.Get(i);
    bool* flag = t == "Ingress" ? &p.applies_ingress : t == "Egress" ? &p.applies_egress : nullptr;
    if (!flag) {
      std::string msg = "invalid policy type " + check::quoted(t) + " (expected Ingress or Egress)";
      if (strcasecmp(t.c_str(), "ingress") == 0) msg += "; did you mean Ingress?";
      if (strcasecmp(t.c_str(), "egress") == 0) msg += "; did you mean Egress?";
      ctx.error(at(path, size_t(i)), msg);
    } else if (*flag) {
      ctx.error(at(path, size_t(i)), "'" + t + "' type specified more than once");
    } else {
      *flag = true;
    }
  }
}

template <class Spec>
model::Policy translate_common(const v1::ObjectMeta& meta, const Spec& spec, Ctx& ctx) {
  model::Policy p;
  p.ns = meta.namespace_();
  p.name = meta.name();
  if (!spec.tier().empty() && spec.tier() != "default")
    ctx.error("spec.tier", "tiers are not supported by wac (only \"default\")");
  if (spec.has_order()) {
    if (!std::isfinite(spec.order())) ctx.error("spec.order", "must be a finite number");
    else p.order = spec.order();
  }
  p.selector = checked_selector(spec.selector(), "spec.selector", SelectorUse::Policy, ctx);
  if (!spec.service_account_selector().empty())
    ctx.error("spec.serviceAccountSelector", "service account selectors are not supported by wac");
  p.ingress = translate_rules(spec.ingress(), "spec.ingress", model::Direction::Ingress, ctx);
  p.egress = translate_rules(spec.egress(), "spec.egress", model::Direction::Egress, ctx);
  apply_types(spec.types(), "types", p, ctx);
  if (spec.types().empty()) {
    p.applies_ingress = spec.ingress_size() > 0 || spec.egress_size() == 0;
    p.applies_egress = spec.egress_size() > 0;
  }
  return p;
}

}  // namespace

model::Policy translate_network_policy(const v1::NetworkPolicy& in, Ctx& ctx) {
  if (in.metadata().name().starts_with("knp."))
    ctx.error("metadata.name", "names starting \"knp.\" are reserved for Kubernetes NetworkPolicies");
  return translate_common(in.metadata(), in.spec(), ctx);
}

model::Policy translate_global_network_policy(const v1::GlobalNetworkPolicy& in, Ctx& ctx) {
  const auto& spec = in.spec();
  model::Policy p = translate_common(in.metadata(), spec, ctx);
  p.namespace_selector = checked_selector(spec.namespace_selector(), "spec.namespaceSelector", SelectorUse::Policy, ctx);
  if (spec.do_not_track()) ctx.error("spec.doNotTrack", "doNotTrack policies are not supported by wac");
  if (spec.pre_dnat()) ctx.error("spec.preDNAT", "preDNAT policies are not supported by wac");
  if (spec.apply_on_forward()) ctx.error("spec.applyOnForward", "applyOnForward policies are not supported by wac");
  return p;
}

}  // namespace wac::api::detail
