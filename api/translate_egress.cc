// wac.dev/v1 EgressGateway -> model::EgressGateway, and the Calico
// Enterprise egress annotations on namespaces and pods.
//
// Checks that need the rest of the store (overlapping gateways without an
// order to break the tie, unknown nodes, an egress IP claimed by two nodes)
// are the agent's: agent/egress_plan.h, check_egress_gateways().
#include <map>
#include <set>

#include "api/translate_internal.h"

namespace wac::api::detail {

namespace {

constexpr size_t kMaxGatewaysPerResource = 64;  // next hops of one ECMP route
constexpr uint32_t kMinIntervalMs = 100;
constexpr uint32_t kMaxIntervalMs = 60'000;
constexpr uint32_t kMaxThreshold = 100;

const char* family_name(Family f) { return f == Family::V4 ? "IPv4" : "IPv6"; }

bool is_v6_link_local(const IpAddr& a) { return !a.is_v4() && a.bytes[0] == 0xfe && (a.bytes[1] & 0xc0) == 0x80; }

std::vector<Cidr> checked_nets(const google::protobuf::RepeatedPtrField<std::string>& in, const std::string& path,
                               Ctx& ctx) {
  std::vector<Cidr> out;
  if (size_t(in.size()) > kMaxEntriesPerRuleField) {
    ctx.error(path, "too many CIDRs (" + std::to_string(in.size()) + ", at most " +
                        std::to_string(kMaxEntriesPerRuleField) + ")");
    return out;
  }
  for (int i = 0; i < in.size(); ++i)
    if (auto c = checked_net(in.Get(i), at(path, size_t(i)), ctx)) out.push_back(*c);
  return out;
}

std::optional<IpAddr> checked_address(const std::string& text, const std::string& path, Ctx& ctx) {
  if (text.empty()) {
    ctx.error(path, "required");
    return std::nullopt;
  }
  auto a = IpAddr::parse(text);
  if (!a) ctx.error(path, "invalid IP address " + check::quoted(text));
  else if (!a->is_unicast()) ctx.error(path, check::quoted(text) + " is not a unicast address");
  else return a;
  return std::nullopt;
}

model::EgressGatewayMember translate_member(const v1::EgressGatewayMember& in, const std::string& path, Ctx& ctx) {
  model::EgressGatewayMember m;
  m.node = in.node();
  if (in.node().empty()) ctx.error(at(path, "node"), "required");
  else if (std::string why = check::dns1123_subdomain(in.node()); !why.empty())
    ctx.error(at(path, "node"), "invalid node name " + check::quoted(in.node()) + ": " + why);
  auto node_ip = checked_address(in.node_ip(), at(path, "nodeIP"), ctx);
  auto egress_ip = checked_address(in.egress_ip(), at(path, "egressIP"), ctx);
  if (node_ip && is_v6_link_local(*node_ip))
    ctx.error(at(path, "nodeIP"), "a link-local address cannot be a route's next hop in another table; give the "
                                  "node's global address");
  if (egress_ip && is_v6_link_local(*egress_ip))
    ctx.error(at(path, "egressIP"), "a link-local address is not routable outside its link");
  if (node_ip && egress_ip && node_ip->family != egress_ip->family)
    ctx.error(at(path, "nodeIP"), std::string("must be of the egress IP's family (") +
                                      family_name(egress_ip->family) + ")");
  if (node_ip) m.node_ip = *node_ip;
  if (egress_ip) m.egress_ip = *egress_ip;
  if (!in.interface().empty()) {
    if (std::string why = check::interface_name(in.interface()); !why.empty())
      ctx.error(at(path, "interface"), "invalid interface name " + check::quoted(in.interface()) + ": " + why);
    m.interface = in.interface();
  }
  m.healthy = !in.has_healthy() || in.healthy();
  return m;
}

// One node per family (a node SNATs a family's traffic to one address) and
// each egress IP once.
void check_member_clashes(const std::vector<model::EgressGatewayMember>& members, Ctx& ctx) {
  std::map<std::pair<std::string, Family>, size_t> node_family;
  std::map<IpAddr, size_t> egress;
  for (size_t i = 0; i < members.size(); ++i) {
    const auto& m = members[i];
    std::string path = at("spec.gateways", i);
    if (m.node.empty() || !m.egress_ip.is_unicast()) continue;  // already reported
    auto [it, fresh] = node_family.emplace(std::pair{m.node, m.egress_ip.family}, i);
    if (!fresh)
      ctx.error(at(path, "node"), "node " + check::quoted(m.node) + " already has an " +
                                      family_name(m.egress_ip.family) + " gateway here (spec.gateways[" +
                                      std::to_string(it->second) + "])");
    auto [e, fresh_ip] = egress.emplace(m.egress_ip, i);
    if (!fresh_ip)
      ctx.error(at(path, "egressIP"), m.egress_ip.str() + " is already the egress IP of spec.gateways[" +
                                          std::to_string(e->second) + "]");
  }
}

std::vector<model::EgressGatewayMember> translate_members(const v1::EgressGatewaySpec& spec, Ctx& ctx) {
  std::vector<model::EgressGatewayMember> out;
  if (spec.gateways().empty()) {
    ctx.error("spec.gateways", "at least one gateway is required");
    return out;
  }
  if (size_t(spec.gateways_size()) > kMaxGatewaysPerResource) {
    ctx.error("spec.gateways", "too many gateways (" + std::to_string(spec.gateways_size()) + ", at most " +
                                   std::to_string(kMaxGatewaysPerResource) + ")");
    return out;
  }
  for (int i = 0; i < spec.gateways_size(); ++i)
    out.push_back(translate_member(spec.gateways(i), at("spec.gateways", size_t(i)), ctx));
  check_member_clashes(out, ctx);
  return out;
}

// Destinations of a family no gateway serves would never be redirected:
// written out, that is a mistake; defaulted, only served families are used.
std::vector<Cidr> checked_destinations(const v1::EgressGatewaySpec& spec, const std::set<Family>& served,
                                       Ctx& ctx) {
  std::vector<Cidr> out = checked_nets(spec.destination_cidrs(), "spec.destinationCIDRs", ctx);
  if (spec.destination_cidrs().empty()) {
    for (Family f : served) out.push_back(Cidr{IpAddr{f, {}}, 0});
    return out;
  }
  for (size_t i = 0; i < out.size(); ++i)
    if (!served.count(out[i].family()))
      ctx.error(at("spec.destinationCIDRs", i), std::string(family_name(out[i].family())) +
                                                    " destination, but no gateway has an " +
                                                    family_name(out[i].family()) + " egressIP");
  return out;
}

uint32_t bounded(uint32_t value, uint32_t fallback, uint32_t min, uint32_t max, const std::string& path, Ctx& ctx) {
  if (value == 0) return fallback;
  if (value < min || value > max)
    ctx.error(path, "must be " + std::to_string(min) + "-" + std::to_string(max) + " (got " + std::to_string(value) + ")");
  return value;
}

model::EgressHealthCheck translate_health_check(const v1::EgressHealthCheck& in, Ctx& ctx) {
  using P = model::EgressHealthCheck::Protocol;
  model::EgressHealthCheck hc;
  const std::string& proto = in.protocol();
  if (proto.empty() || proto == "ICMP") hc.protocol = P::ICMP;
  else if (proto == "TCP") hc.protocol = P::TCP;
  else if (proto == "None") hc.protocol = P::None;
  else ctx.error("spec.healthCheck.protocol", "expected ICMP, TCP or None, got " + check::quoted(proto));
  if (hc.protocol == P::TCP) {
    if (in.port() < 1 || in.port() > 65535) ctx.error("spec.healthCheck.port", "a TCP check needs a port 1-65535");
    else hc.port = uint16_t(in.port());
  } else if (in.port() != 0) {
    ctx.error("spec.healthCheck.port", "only a TCP check has a port");
  }
  hc.interval_ms = bounded(in.interval_milliseconds(), 1000, kMinIntervalMs, kMaxIntervalMs,
                           "spec.healthCheck.intervalMilliseconds", ctx);
  hc.timeout_ms = bounded(in.timeout_milliseconds(), std::min<uint32_t>(500, hc.interval_ms / 2), 10,
                          kMaxIntervalMs, "spec.healthCheck.timeoutMilliseconds", ctx);
  if (hc.timeout_ms >= hc.interval_ms)
    ctx.error("spec.healthCheck.timeoutMilliseconds", "must be less than the interval (" +
                                                          std::to_string(hc.interval_ms) + " ms)");
  hc.failure_threshold = bounded(in.failure_threshold(), 3, 1, kMaxThreshold, "spec.healthCheck.failureThreshold", ctx);
  hc.success_threshold = bounded(in.success_threshold(), 1, 1, kMaxThreshold, "spec.healthCheck.successThreshold", ctx);
  return hc;
}

}  // namespace

model::EgressGateway translate_egress_gateway(const v1::EgressGateway& in, Ctx& ctx) {
  const auto& spec = in.spec();
  model::EgressGateway g;
  g.name = in.metadata().name();
  g.labels = {in.metadata().labels().begin(), in.metadata().labels().end()};
  g.namespace_selector = checked_selector(spec.namespace_selector(), "spec.namespaceSelector", SelectorUse::Policy, ctx);
  g.selector = checked_selector(spec.selector(), "spec.selector", SelectorUse::Policy, ctx);
  if (spec.has_order()) g.order = spec.order();
  g.gateways = translate_members(spec, ctx);
  std::set<Family> served;
  for (const auto& m : g.gateways)
    if (m.egress_ip.is_unicast()) served.insert(m.egress_ip.family);
  g.destinations = checked_destinations(spec, served, ctx);
  g.excluded = checked_nets(spec.excluded_cidrs(), "spec.excludedCIDRs", ctx);
  g.health_check = translate_health_check(spec.health_check(), ctx);
  if (!spec.gateway_namespace().empty()) {
    if (std::string why = check::dns1123_label(spec.gateway_namespace()); !why.empty())
      ctx.error("spec.gatewayNamespace", "invalid namespace " + check::quoted(spec.gateway_namespace()) + ": " + why);
    g.gateway_namespace = spec.gateway_namespace();
  }
  return g;
}

void check_egress_annotations(const v1::ObjectMeta& meta, Ctx& ctx) {
  const auto& annotations = meta.annotations();
  auto selector = annotations.find(model::kEgressSelectorAnnotation);
  auto ns_selector = annotations.find(model::kEgressNamespaceSelectorAnnotation);
  if (selector != annotations.end())
    checked_selector(selector->second, at_key("metadata.annotations", selector->first), SelectorUse::Policy, ctx);
  if (ns_selector == annotations.end()) return;
  std::string path = at_key("metadata.annotations", ns_selector->first);
  checked_selector(ns_selector->second, path, SelectorUse::Policy, ctx);
  if (selector == annotations.end())
    ctx.error(path, std::string("needs ") + model::kEgressSelectorAnnotation +
                        " on the same object (it narrows which gateways that selector picks)");
}

}  // namespace wac::api::detail
