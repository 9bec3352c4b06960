// Kubernetes networking.k8s.io/v1 NetworkPolicy -> model::Policy, the way
// Calico converts it (libcalico-go's K8sNetworkPolicyToCalico), with the
// validation the Kubernetes API server would have done first.
#include <algorithm>
#include <map>

#include "api/translate_internal.h"

namespace wac::api::detail {

namespace {

constexpr double kK8sPolicyOrder = 1000;  // Calico's order for converted Kubernetes policies
constexpr const char* kK8sPolicyPrefix = "knp.default.";

// ------------------------------------------------------------ label selectors

std::string quoted_value(const std::string& v) { return "'" + v + "'"; }  // values were checked: no quotes

std::string expression_term(const v1::LabelSelectorRequirement& e, const std::string& path, Ctx& ctx) {
  if (std::string why = check::label_key(e.key()); !why.empty()) {
    ctx.error(at(path, "key"), "invalid label key " + check::quoted(e.key()) + ": " + why);
    return {};
  }
  for (int i = 0; i < e.values_size(); ++i)
    if (std::string why = check::label_value(e.values(i)); !why.empty()) {
      ctx.error(at(at(path, "values"), size_t(i)), "invalid label value " + check::quoted(e.values(i)) + ": " + why);
      return {};
    }
  const std::string& op = e.operator_();
  bool takes_values = op == "In" || op == "NotIn";
  if (!takes_values && op != "Exists" && op != "DoesNotExist") {
    ctx.error(at(path, "operator"),
              "invalid operator " + check::quoted(op) + " (expected In, NotIn, Exists or DoesNotExist)");
    return {};
  }
  if (takes_values && e.values().empty()) {
    ctx.error(at(path, "values"), "must be specified when operator is In or NotIn");
    return {};
  }
  if (!takes_values && !e.values().empty()) {
    ctx.error(at(path, "values"), "may not be specified when operator is Exists or DoesNotExist");
    return {};
  }
  if (op == "Exists") return "has(" + e.key() + ")";
  if (op == "DoesNotExist") return "! has(" + e.key() + ")";
  std::string list;
  for (const auto& v : e.values()) list += (list.empty() ? "" : ", ") + quoted_value(v);
  return e.key() + (op == "In" ? " in { " : " not in { ") + list + " }";
}

// Calico selector text for a Kubernetes label selector; "all()" when it has
// no terms (for a namespaceSelector that means every namespace).
std::string k8s_selector(const v1::LabelSelector& s, const std::string& path, Ctx& ctx) {
  size_t terms = size_t(s.match_labels_size()) + size_t(s.match_expressions_size());
  if (terms > kMaxSelectorTerms) {
    ctx.error(path, "too many selector terms (" + std::to_string(terms) + ", at most " +
                        std::to_string(kMaxSelectorTerms) + ")");
    return {};
  }
  std::vector<std::string> parts;
  std::map<std::string, std::string> labels(s.match_labels().begin(), s.match_labels().end());
  for (const auto& [key, value] : labels) {
    std::string lpath = at_key(at(path, "matchLabels"), key);
    std::string why = check::label_key(key);
    if (why.empty()) why = check::label_value(value);
    if (!why.empty()) ctx.error(lpath, "invalid label " + check::quoted(key) + ": " + why);
    else parts.push_back(key + " == " + quoted_value(value));
  }
  for (int i = 0; i < s.match_expressions_size(); ++i) {
    std::string term = expression_term(s.match_expressions(i), at(at(path, "matchExpressions"), size_t(i)), ctx);
    if (!term.empty()) parts.push_back(term);
  }
  if (!ctx.ok()) return {};
  if (parts.empty()) return "all()";
  std::string text;
  for (const auto& p : parts) text += (text.empty() ? "" : " && ") + p;
  // Canonical form, and a guard: what we generate must parse.
  return checked_selector(text, path, SelectorUse::Entity, ctx);
}

// ------------------------------------------------------------ peers

struct Peer {
  std::string selector, namespace_selector;
  std::vector<Cidr> nets, not_nets;
};

std::optional<Peer> translate_ip_block(const v1::IPBlock& b, const std::string& path, Ctx& ctx) {
  if (b.cidr().empty()) {
    ctx.error(at(path, "cidr"), "required");
    return std::nullopt;
  }
  auto cidr = checked_net(b.cidr(), at(path, "cidr"), ctx);
  if (!cidr) return std::nullopt;
  Peer peer;
  peer.nets.push_back(*cidr);
  if (size_t(b.except_size()) > kMaxEntriesPerRuleField) {
    ctx.error(at(path, "except"), "too many entries (" + std::to_string(b.except_size()) + ")");
    return std::nullopt;
  }
  for (int i = 0; i < b.except_size(); ++i) {
    std::string epath = at(at(path, "except"), size_t(i));
    auto ex = checked_net(b.except(i), epath, ctx);
    if (!ex) continue;
    // As Kubernetes: each exception must be a strict subset of cidr.
    if (!cidr->contains(*ex) || ex->prefix == cidr->prefix)
      ctx.error(epath, ex->str() + " must be a strict subset of cidr " + cidr->str());
    else peer.not_nets.push_back(*ex);
  }
  return peer;
}

std::optional<Peer> translate_peer(const v1::K8sNetworkPolicyPeer& in, const std::string& path, Ctx& ctx) {
  bool selectors = in.has_pod_selector() || in.has_namespace_selector();
  if (in.has_ip_block()) {
    if (selectors) {
      ctx.error(path, "may not specify both ipBlock and another peer (podSelector/namespaceSelector)");
      return std::nullopt;
    }
    return translate_ip_block(in.ip_block(), at(path, "ipBlock"), ctx);
  }
  if (!selectors) {
    ctx.error(path, "must specify a peer (podSelector, namespaceSelector or ipBlock)");
    return std::nullopt;
  }
  Peer peer;
  // A peer without podSelector means every pod (of the selected namespaces);
  // "all()" rather than "" keeps it a selector, i.e. limited to endpoints.
  peer.selector = in.has_pod_selector() ? k8s_selector(in.pod_selector(), at(path, "podSelector"), ctx) : "all()";
  if (in.has_namespace_selector())
    peer.namespace_selector = k8s_selector(in.namespace_selector(), at(path, "namespaceSelector"), ctx);
  return peer;
}

// ------------------------------------------------------------ ports

struct Port {
  uint8_t protocol;
  std::optional<model::PortRange> range;  // nullopt = every port of the protocol
};

std::optional<Port> translate_port(const v1::K8sNetworkPolicyPort& in, const std::string& path, Ctx& ctx) {
  Port port{check::kProtoTCP, std::nullopt};  // Kubernetes defaults the protocol to TCP
  const std::string& proto = in.protocol();
  if (proto == "UDP") port.protocol = check::kProtoUDP;
  else if (proto == "SCTP") port.protocol = check::kProtoSCTP;
  else if (!proto.empty() && proto != "TCP") {
    ctx.error(at(path, "protocol"), "unsupported protocol " + check::quoted(proto) + " (expected TCP, UDP or SCTP)");
    return std::nullopt;
  }
  if (in.port().empty()) {
    if (in.has_end_port()) ctx.error(at(path, "endPort"), "may not be specified without port");
    return port;
  }
  model::PortRange range;
  if (std::string why = check::parse_port(in.port(), range); !why.empty() || in.port().find(':') != std::string::npos) {
    ctx.error(at(path, "port"), why.empty() ? "invalid port " + check::quoted(in.port()) : why);
    return std::nullopt;
  }
  if (in.has_end_port()) {
    if (!range.name.empty()) {
      ctx.error(at(path, "endPort"), "may not be specified with a named port");
      return std::nullopt;
    }
    if (in.end_port() < range.first || in.end_port() > 65535) {
      ctx.error(at(path, "endPort"), "must be between port (" + std::to_string(range.first) + ") and 65535");
      return std::nullopt;
    }
    range.last = uint16_t(in.end_port());
  }
  port.range = range;
  return port;
}

// Calico's SimplifyPorts: numeric ports merged into the fewest ranges,
// named ports first; left alone when there is at most one numeric port.
std::vector<model::PortRange> simplify_ports(std::vector<model::PortRange> ports) {
  std::vector<model::PortRange> named, numeric;
  uint64_t numeric_count = 0;
  for (const auto& p : ports) {
    if (!p.name.empty()) named.push_back(p);
    else numeric.push_back(p), numeric_count += uint64_t(p.last - p.first) + 1;
  }
  if (numeric_count <= 1) return ports;
  std::sort(numeric.begin(), numeric.end());
  std::vector<model::PortRange> out = named;
  for (const auto& p : numeric) {
    if (out.size() > named.size() && uint32_t(p.first) <= uint32_t(out.back().last) + 1)
      out.back().last = std::max(out.back().last, p.last);
    else out.push_back(p);
  }
  return out;
}

// Protocol -> ports, keyed by Calico's protocol text ("" = no port
// restriction at all) so rules come out in Calico's (sorted) order.
struct ProtocolPorts {
  std::optional<uint8_t> protocol;
  bool all_ports = false;
  std::vector<model::PortRange> ports;
};

std::map<std::string, ProtocolPorts> group_ports(const std::vector<Port>& ports) {
  std::map<std::string, ProtocolPorts> groups;
  if (ports.empty()) {
    groups[""] = {std::nullopt, true, {}};
    return groups;
  }
  for (const auto& port : ports) {
    ProtocolPorts& g = groups[check::protocol_display(port.protocol)];
    if (g.all_ports && g.protocol) continue;  // already every port of this protocol
    g.protocol = port.protocol;
    if (!port.range) g.all_ports = true, g.ports.clear();
    else g.ports.push_back(*port.range);
  }
  return groups;
}

// ------------------------------------------------------------ rules

template <class K8sRule>
void translate_k8s_rule(const K8sRule& in, const google::protobuf::RepeatedPtrField<v1::K8sNetworkPolicyPeer>& peers_in,
                        const char* peers_name, const std::string& path, model::Direction dir,
                        std::vector<model::Rule>& out, Ctx& ctx) {
  if (size_t(peers_in.size()) > kMaxEntriesPerRuleField || size_t(in.ports_size()) > kMaxEntriesPerRuleField) {
    ctx.error(path, "too many peers or ports");
    return;
  }
  std::vector<std::optional<Peer>> peers;
  for (int i = 0; i < peers_in.size(); ++i) {
    auto peer = translate_peer(peers_in.Get(i), at(at(path, peers_name), size_t(i)), ctx);
    if (peer) peers.push_back(std::move(peer));
  }
  if (peers_in.empty()) peers.push_back(std::nullopt);  // no peers: from/to anywhere
  std::vector<Port> ports;
  for (int i = 0; i < in.ports_size(); ++i)
    if (auto p = translate_port(in.ports(i), at(at(path, "ports"), size_t(i)), ctx)) ports.push_back(*p);
  if (!ctx.ok()) return;

  for (const auto& [name, group] : group_ports(ports)) {
    std::vector<model::PortRange> dest_ports = group.all_ports ? std::vector<model::PortRange>{} : simplify_ports(group.ports);
    for (const auto& peer : peers) {
      if (out.size() >= kMaxRulesPerDirection) {
        ctx.error(path, "expands to more than " + std::to_string(kMaxRulesPerDirection) + " rules");
        return;
      }
      model::Rule r;
      r.action = model::Action::Allow;
      r.protocol = group.protocol;
      r.destination.ports = dest_ports;
      model::EntityRule& e = dir == model::Direction::Ingress ? r.source : r.destination;
      if (peer) {
        e.selector = peer->selector;
        e.namespace_selector = peer->namespace_selector;
        e.nets = peer->nets;
        e.not_nets = peer->not_nets;
      }
      out.push_back(std::move(r));
    }
  }
}

void apply_policy_types(const v1::K8sNetworkPolicySpec& spec, model::Policy& p, Ctx& ctx) {
  for (int i = 0; i < spec.policy_types_size(); ++i) {
    const std::string& t = spec.policy_types(i);
    bool* flag = t == "Ingress" ? &p.applies_ingress : t == "Egress" ? &p.applies_egress : nullptr;
    if (!flag) ctx.error(at("spec.policyTypes", size_t(i)), "invalid policy type " + check::quoted(t) +
                                                                  " (expected Ingress or Egress)");
    else if (*flag) ctx.error(at("spec.policyTypes", size_t(i)), "duplicate value " + check::quoted(t));
    else *flag = true;
  }
  // Kubernetes defaulting: every policy affects ingress; egress when it has egress rules.
  if (spec.policy_types().empty()) {
    p.applies_ingress = true;
    p.applies_egress = spec.egress_size() > 0;
  }
}

}  // namespace

model::Policy translate_k8s_network_policy(const v1::K8sNetworkPolicy& in, Ctx& ctx) {
  const auto& spec = in.spec();
  model::Policy p;
  p.ns = in.metadata().namespace_();
  p.name = kK8sPolicyPrefix + in.metadata().name();
  p.order = kK8sPolicyOrder;
  p.from_k8s = true;
  p.selector = k8s_selector(spec.pod_selector(), "spec.podSelector", ctx);  // absent = {} = every pod
  apply_policy_types(spec, p, ctx);
  if (size_t(spec.ingress_size()) > kMaxRulesPerDirection || size_t(spec.egress_size()) > kMaxRulesPerDirection) {
    ctx.error("spec", "too many rules (at most " + std::to_string(kMaxRulesPerDirection) + " per direction)");
    return p;
  }
  for (int i = 0; i < spec.ingress_size() && ctx.ok(); ++i)
    translate_k8s_rule(spec.ingress(i), spec.ingress(i).from(), "from", at("spec.ingress", size_t(i)),
                       model::Direction::Ingress, p.ingress, ctx);
  for (int i = 0; i < spec.egress_size() && ctx.ok(); ++i)
    translate_k8s_rule(spec.egress(i), spec.egress(i).to(), "to", at("spec.egress", size_t(i)),
                       model::Direction::Egress, p.egress, ctx);
  return p;
}

}  // namespace wac::api::detail
