#include "agent/egress_plan.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <tuple>

#include "agent/names.h"

namespace wac::agent::egress {

using netlink::HostView;
using selector::Selector;

namespace {

constexpr Family kFamilies[] = {Family::V4, Family::V6};
constexpr const char* kClusterSet[] = {"egress-cluster4", "egress-cluster6"};
constexpr const char* kGatewaysSet[] = {"egress-gateways4", "egress-gateways6"};
constexpr const char* kNodeNameLabel = "projectcalico.org/name";
constexpr const char* kK8sNameLabel = "kubernetes.io/metadata.name";

size_t fi(Family f) { return f == Family::V4 ? 0 : 1; }
const char* ip_word(Family f) { return f == Family::V4 ? "ip" : "ip6"; }
const char* family_label(Family f) { return f == Family::V4 ? "IPv4" : "IPv6"; }

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

std::optional<Selector> parse_or_none(const std::string& text) {
  auto parsed = Selector::parse(text);
  if (auto* s = std::get_if<Selector>(&parsed)) return std::move(*s);
  return std::nullopt;  // the API validated it; an unparsable one selects nothing
}

double order_of(const model::EgressGateway& g) { return g.order.value_or(std::numeric_limits<double>::infinity()); }

bool orders_tie(const model::EgressGateway& a, const model::EgressGateway& b) { return order_of(a) == order_of(b); }

std::string endpoint_key(const std::string& ns, const std::string& name) { return ns + "/" + name; }

std::string set_name(const std::string& group, const char* what, Family f) {
  // Set names may be 255 bytes; a resource name up to 253.
  std::string base = group.size() <= 200 ? group : names::hash12(group);
  return "egw-" + base + "-" + what + (f == Family::V4 ? "4" : "6");
}

// Destinations with the ones inside another removed (an interval set, and
// a routing table, need each range once).
std::vector<Cidr> folded(const std::vector<Cidr>& in, Family f) {
  std::vector<Cidr> out;
  for (const Cidr& c : in) {
    if (c.family() != f) continue;
    bool inside = false;
    for (const Cidr& other : in)
      if (other != c && other.family() == f && other.contains(c)) inside = true;
    if (!inside && std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool serves(const model::EgressGateway& g, Family f) {
  for (const auto& m : g.gateways)
    if (m.egress_ip.family == f) return true;
  return false;
}

bool has_family(const std::vector<Cidr>& v, Family f) {
  return std::any_of(v.begin(), v.end(), [&](const Cidr& c) { return c.family() == f; });
}

bool intersects(const std::vector<Cidr>& a, const std::vector<Cidr>& b) {
  for (const Cidr& x : a)
    for (const Cidr& y : b)
      if (x.family() == y.family() && (x.contains(y) || y.contains(x))) return true;
  return false;
}

// The selection part of a gateway, compiled.
struct Selection {
  std::optional<Selector> namespace_selector;  // nullopt with selector nullopt: annotation only
  std::optional<Selector> selector;
  bool by_spec = false;
};

Selection compile(const model::EgressGateway& g) {
  Selection s;
  s.by_spec = !g.namespace_selector.empty() || !g.selector.empty();
  if (!s.by_spec) return s;
  s.namespace_selector = g.namespace_selector.empty() ? Selector::all() : parse_or_none(g.namespace_selector);
  s.selector = g.selector.empty() ? Selector::all() : parse_or_none(g.selector);
  return s;
}

bool selected_by_spec(const Selection& s, const model::Labels& pod_labels, const model::Labels& ns_labels) {
  return s.by_spec && s.namespace_selector && s.selector && s.namespace_selector->matches(ns_labels) &&
         s.selector->matches(pod_labels);
}

// Calico Enterprise: the selector picks gateways by their labels; the
// namespaceSelector (if any) the namespace they live in; without one,
// gateways of the pod's own namespace (here: or of none).
template <class NsLabels>
bool chosen_by(const AnnotationChoice& c, const model::EgressGateway& g, const std::string& pod_ns,
               NsLabels&& ns_labels) {
  if (!c.selector.matches(g.labels)) return false;
  if (!c.namespace_selector) return g.gateway_namespace.empty() || g.gateway_namespace == pod_ns;
  return !g.gateway_namespace.empty() && c.namespace_selector->matches(ns_labels(g.gateway_namespace));
}

// Which gateways a pod uses.  An annotation that picks at least one gateway
// is the pod's own choice and wins over spec selectors; otherwise the
// gateways whose selectors match it.
template <class Gateways, class NsLabels>
std::vector<std::string> memberships(const Gateways& gateways, const model::Labels& pod_labels,
                                     const std::string& pod_ns, const AnnotationChoice* choice,
                                     const model::Labels& own_ns_labels, NsLabels&& ns_labels) {
  std::vector<std::string> out;
  if (choice) {
    for (const auto& [name, g, sel] : gateways)
      if (chosen_by(*choice, *g, pod_ns, ns_labels)) out.push_back(name);
    if (!out.empty()) return out;
  }
  for (const auto& [name, g, sel] : gateways)
    if (selected_by_spec(*sel, pod_labels, own_ns_labels)) out.push_back(name);
  return out;
}

}  // namespace

std::optional<AnnotationChoice> annotation_choice(const std::map<std::string, std::string>& annotations) {
  auto sel = annotations.find(model::kEgressSelectorAnnotation);
  if (sel == annotations.end()) return std::nullopt;
  auto parsed = parse_or_none(sel->second);
  if (!parsed) return std::nullopt;
  AnnotationChoice c{std::move(*parsed), std::nullopt};
  if (auto ns = annotations.find(model::kEgressNamespaceSelectorAnnotation); ns != annotations.end())
    c.namespace_selector = parse_or_none(ns->second);
  return c;
}

model::Labels namespace_labels(const std::string& name, const model::Labels& own) {
  model::Labels out = own;
  out[kNodeNameLabel] = name;
  out[kK8sNameLabel] = name;
  return out;
}

// ---------------------------------------------------------------- state

struct Planner::Endpoint {
  std::string ns, name, label, node;
  model::Labels labels;
  std::vector<Cidr> ips;
  std::optional<AnnotationChoice> choice;
  std::set<std::string> groups;
};

struct Planner::Namespace {
  model::Labels labels;  // with the automatic name labels
  std::optional<AnnotationChoice> choice;
};

struct Planner::Group {
  model::EgressGateway g;
  Selection selection;
  std::optional<uint32_t> slot;
  std::set<std::string> members;  // endpoint keys
  std::unique_ptr<CidrSet> src[2], dst[2], excl[2];
  std::vector<Cidr> applied_dst, applied_excl;  // what dst/excl hold
};

Planner::Planner(Settings settings, DesiredState& desired) : settings_(std::move(settings)), desired_(desired) {}
Planner::~Planner() = default;

void Planner::upsert_gateway(const model::EgressGateway& g) {
  auto& slot = groups_[g.name];
  if (slot && slot->g == g) return;
  if (!slot) {
    slot = std::make_unique<Group>();
    slot->g.name = g.name;
    create_sets(*slot);
  }
  update_nets(*slot, g);
  slot->g = g;
  slot->selection = compile(g);
  dirty_groups_.insert(g.name);
}

void Planner::remove_gateway(const std::string& name) {
  auto it = groups_.find(name);
  if (it == groups_.end()) return;
  Group& g = *it->second;
  for (const auto& key : g.members)
    if (auto ep = endpoints_.find(key); ep != endpoints_.end()) {
      leave(g, *ep->second);
      ep->second->groups.erase(name);
    }
  update_nets(g, model::EgressGateway{});
  erase_sets(g);
  if (g.slot) used_slots_.erase(*g.slot);
  for (auto p = probes_.begin(); p != probes_.end();) p = p->first.group == name ? probes_.erase(p) : std::next(p);
  groups_.erase(it);
  dirty_groups_.insert(name);  // other pods may fall back to spec selectors now
}

void Planner::upsert_endpoint(const model::Endpoint& ep) {
  std::string key = endpoint_key(ep.ns, ep.name);
  auto& slot = endpoints_[key];
  if (slot) {
    for (const auto& name : slot->groups)
      if (auto g = groups_.find(name); g != groups_.end()) leave(*g->second, *slot);
    endpoints_by_ns_[slot->ns].erase(key);
  } else {
    slot = std::make_unique<Endpoint>();
  }
  slot->ns = ep.ns;
  slot->name = ep.name;
  slot->label = names::endpoint_label(ep);
  slot->node = ep.node;
  slot->labels = ep.labels;
  slot->ips = ep.ip_networks;
  slot->choice = annotation_choice(ep.annotations);
  slot->groups.clear();
  endpoints_by_ns_[ep.ns].insert(key);
  dirty_endpoints_.insert(key);
}

void Planner::remove_endpoint(const std::string& ns, const std::string& name) {
  std::string key = endpoint_key(ns, name);
  auto it = endpoints_.find(key);
  if (it == endpoints_.end()) return;
  for (const auto& group : it->second->groups)
    if (auto g = groups_.find(group); g != groups_.end()) {
      leave(*g->second, *it->second);
      g->second->members.erase(key);
    }
  endpoints_by_ns_[ns].erase(key);
  endpoints_.erase(it);
  dirty_endpoints_.erase(key);
}

void Planner::upsert_namespace(const model::Namespace& ns) {
  namespaces_[ns.name] = {namespace_labels(ns.name, ns.labels), annotation_choice(ns.annotations)};
  for (const auto& key : endpoints_by_ns_[ns.name]) dirty_endpoints_.insert(key);
  // A gateway's namespace is what namespaceSelector annotations look at.
  for (const auto& [name, g] : groups_)
    if (g->g.gateway_namespace == ns.name) dirty_groups_.insert(name);
}

void Planner::remove_namespace(const std::string& name) {
  if (!namespaces_.erase(name)) return;
  for (const auto& key : endpoints_by_ns_[name]) dirty_endpoints_.insert(key);
  for (const auto& [gname, g] : groups_)
    if (g->g.gateway_namespace == name) dirty_groups_.insert(gname);
}

bool Planner::set_probe(const MemberId& id, ProbeState state, const std::string& detail) {
  if (!groups_.count(id.group)) return false;
  auto& slot = probes_[id];
  bool changed = slot.first != state;
  slot = {state, detail};
  return changed;
}

// ---------------------------------------------------------------- sets

void Planner::create_sets(Group& g) {
  for (Family f : kFamilies) {
    auto key = f == Family::V4 ? nft::KeyType::Ipv4Addr : nft::KeyType::Ipv6Addr;
    auto make = [&](const char* what, const std::string& comment) {
      std::string name = set_name(g.g.name, what, f);
      retired_sets_.erase(name);  // reused before its removal was synced: emptied, not fresh
      DesiredSet& ds = desired_.sets[name];
      ds.decl = {name, key, false, true, false, names::comment("egress gateway " + g.g.name + ": " + comment)};
      return std::make_unique<CidrSet>(ds.elements);
    };
    g.src[fi(f)] = make("src", "its pods");
    g.dst[fi(f)] = make("dst", "destinations");
    g.excl[fi(f)] = make("excl", "excluded destinations");
  }
}

// Erased only after the sync that empties them: a set erased and declared
// again before a sync would start from a fresh element table and never
// remove what the kernel still holds.
void Planner::erase_sets(Group& g) {
  for (Family f : kFamilies)
    for (const char* what : {"src", "dst", "excl"}) retired_sets_.insert(set_name(g.g.name, what, f));
}

bool Planner::synced() {
  bool any = false;
  for (const auto& name : retired_sets_) any |= desired_.sets.erase(name) > 0;
  retired_sets_.clear();
  return any;
}

void Planner::update_nets(Group& g, const model::EgressGateway& next) {
  auto sync = [&](std::vector<Cidr>& applied, const std::vector<Cidr>& want, std::unique_ptr<CidrSet>* sets) {
    for (const Cidr& c : applied)
      if (std::find(want.begin(), want.end(), c) == want.end()) sets[fi(c.family())]->remove(c);
    for (const Cidr& c : want)
      if (std::find(applied.begin(), applied.end(), c) == applied.end()) sets[fi(c.family())]->add(c, "");
    applied = want;
  };
  sync(g.applied_dst, next.destinations, g.dst);
  sync(g.applied_excl, next.excluded, g.excl);
}

void Planner::join(Group& g, const Endpoint& ep) {
  for (const Cidr& c : ep.ips) g.src[fi(c.family())]->add(c, ep.label);
}

void Planner::leave(Group& g, const Endpoint& ep) {
  for (const Cidr& c : ep.ips) g.src[fi(c.family())]->remove(c);
}

// ---------------------------------------------------------------- membership

void Planner::refresh_membership(const std::string& key) {
  auto it = endpoints_.find(key);
  if (it == endpoints_.end()) return;
  Endpoint& ep = *it->second;
  std::vector<std::tuple<std::string, const model::EgressGateway*, const Selection*>> gateways;
  for (const auto& [name, g] : groups_) gateways.emplace_back(name, &g->g, &g->selection);
  auto ns = namespaces_.find(ep.ns);
  model::Labels own = ns != namespaces_.end() ? ns->second.labels : namespace_labels(ep.ns, {});
  const AnnotationChoice* choice = ep.choice ? &*ep.choice
                                   : ns != namespaces_.end() && ns->second.choice ? &*ns->second.choice
                                                                                  : nullptr;
  auto labels_of = [&](const std::string& name) {
    auto n = namespaces_.find(name);
    return n != namespaces_.end() ? n->second.labels : namespace_labels(name, {});
  };
  auto now_list = memberships(gateways, ep.labels, ep.ns, choice, own, labels_of);
  std::set<std::string> now(now_list.begin(), now_list.end());
  for (const auto& name : ep.groups)
    if (!now.count(name))
      if (auto g = groups_.find(name); g != groups_.end()) {
        leave(*g->second, ep);
        g->second->members.erase(key);
      }
  for (const auto& name : now)
    if (!ep.groups.count(name)) {
      Group& g = *groups_.at(name);
      join(g, ep);
      g.members.insert(key);
    }
  ep.groups = std::move(now);
}

bool Planner::has_local_member(const Group& g) const {
  for (const auto& key : g.members)
    if (auto ep = endpoints_.find(key); ep != endpoints_.end() && ep->second->node == settings_.node_name)
      return true;
  return false;
}

// ---------------------------------------------------------------- slots

uint32_t Planner::slot_capacity() const {
  const auto& c = settings_.config;
  uint64_t tables = uint64_t(c.table_last) - c.table_first + 1;
  uint64_t marks = uint64_t(c.mark_mask >> __builtin_ctz(c.mark_mask));  // values 1..max
  return uint32_t(std::min(tables, marks));
}

// A name keeps its slot (table and mark) as long as it exists; a new one
// starts at a slot derived from its name, so a restart usually hands out
// the same tables as before.
void Planner::allocate_slots() {
  uint32_t capacity = slot_capacity();
  for (auto& [name, g] : groups_) {
    if (g->slot || used_slots_.size() >= capacity) continue;
    uint32_t start = uint32_t(std::stoull(names::hash12(name), nullptr, 16) % capacity);
    for (uint32_t i = 0; i < capacity; ++i) {
      uint32_t s = (start + i) % capacity;
      if (used_slots_.insert(s).second) {
        g->slot = s;
        break;
      }
    }
  }
}

std::optional<std::pair<uint32_t, uint32_t>> Planner::table_and_mark(const std::string& group) const {
  auto it = groups_.find(group);
  if (it == groups_.end() || !it->second->slot) return std::nullopt;
  uint32_t s = *it->second->slot;
  const auto& c = settings_.config;
  return std::pair{c.table_first + s, (s + 1) << __builtin_ctz(c.mark_mask)};
}

// ---------------------------------------------------------------- nftables

std::vector<const Planner::Group*> Planner::in_order() const {
  std::vector<const Group*> out;
  for (const auto& [name, g] : groups_) out.push_back(g.get());
  std::stable_sort(out.begin(), out.end(),
                   [](const Group* a, const Group* b) { return order_of(a->g) < order_of(b->g); });
  return out;
}

const netlink::HostLink* Planner::uplink(const model::EgressGatewayMember& m, const HostView& host) const {
  return m.interface.empty() ? host.default_link(m.egress_ip.family) : host.link(m.interface);
}

std::string Planner::nat_rule(const Group& g, const model::EgressGatewayMember& m, const HostView& host,
                              std::vector<std::string>* problems) const {
  Family f = m.egress_ip.family;
  const netlink::HostLink* link = uplink(m, host);
  if (!link) {
    if (problems)
      problems->push_back("gateway " + m.egress_ip.str() + ": " +
                          (m.interface.empty() ? std::string("no ") + family_label(f) + " default route to find the uplink"
                                               : "interface " + m.interface + " does not exist"));
    return {};
  }
  const char* ip = ip_word(f);
  std::string rule = std::string(ip) + " saddr @" + set_name(g.g.name, "src", f) + " " + ip + " daddr @" +
                     set_name(g.g.name, "dst", f);
  if (has_family(g.g.excluded, f)) rule += std::string(" ") + ip + " daddr != @" + set_name(g.g.name, "excl", f);
  rule += std::string(" ") + ip + " daddr != @" + kClusterSet[fi(f)] + " oifname \"" + link->name + "\"";
  // The uplink's own primary address: masquerade follows it if it changes.
  const netlink::HostAddress* own = host.address(m.egress_ip);
  bool masquerade = own && own->protocol != settings_.config.route_protocol && own->ifindex == link->ifindex &&
                    !own->secondary;
  rule += masquerade ? " counter masquerade" : std::string(" counter snat ") + ip + " to " + m.egress_ip.str();
  rule += " comment \"" + names::comment("egress gateway " + g.g.name + ": " + m.egress_ip.str() + " via " + link->name) +
          "\"";
  return rule;
}

void Planner::render_chains(const HostView& host) {
  nft::Chain mark{kMarkChain, "egress gateways: marks pod packets for policy routing",
                  nft::BaseHook{"filter", "prerouting", kMarkPriority, "accept"}, {}};
  for (const auto& prefix : settings_.iface_prefixes)
    mark.rules.push_back("iifname \"" + prefix + "*\" jump " + kSelectChain);

  nft::Chain select{kSelectChain, "the first matching egress gateway (order, then name) marks", std::nullopt, {}};
  select.rules = {std::string("ip daddr @") + kClusterSet[0] + " return comment \"cluster destinations stay inside\"",
                  std::string("ip6 daddr @") + kClusterSet[1] + " return comment \"cluster destinations stay inside\""};

  const uint32_t mask = settings_.config.mark_mask;
  nft::Chain nat{kNatChain, "egress gateways: SNAT on gateway nodes, pod address kept on the way there",
                 nft::BaseHook{"nat", "postrouting", kNatPriority, "accept"}, {}};
  for (Family f : kFamilies)
    nat.rules.push_back("meta mark and " + hex32(mask) + " != 0 rt " + ip_word(f) + " nexthop @" +
                        kGatewaysSet[fi(f)] + " counter snat " + ip_word(f) + " to " + ip_word(f) +
                        " saddr comment \"to a gateway node: keeps the pod address\"");

  for (const Group* g : in_order()) {
    auto slot = table_and_mark(g->g.name);
    for (Family f : kFamilies) {
      if (!slot || !serves(g->g, f) || !has_family(g->g.destinations, f)) continue;
      const char* ip = ip_word(f);
      std::string rule = std::string(ip) + " saddr @" + set_name(g->g.name, "src", f) + " " + ip + " daddr @" +
                         set_name(g->g.name, "dst", f);
      if (has_family(g->g.excluded, f)) rule += std::string(" ") + ip + " daddr != @" + set_name(g->g.name, "excl", f);
      rule += " meta mark set meta mark and " + hex32(~mask) + " or " + hex32(slot->second) +
              " return comment \"" + names::comment("egress gateway " + g->g.name) + "\"";
      select.rules.push_back(std::move(rule));
    }
    for (const auto& m : g->g.gateways)
      if (m.node == settings_.node_name)
        if (std::string rule = nat_rule(*g, m, host, nullptr); !rule.empty()) nat.rules.push_back(std::move(rule));
  }
  desired_.chains.put(std::move(mark));
  desired_.chains.put(std::move(select));
  desired_.chains.put(std::move(nat));
}

void Planner::render_shared_sets() {
  if (!shared_sets_) {
    for (Family f : kFamilies) {
      auto key = f == Family::V4 ? nft::KeyType::Ipv4Addr : nft::KeyType::Ipv6Addr;
      retired_sets_.erase(kClusterSet[fi(f)]);
      retired_sets_.erase(kGatewaysSet[fi(f)]);
      DesiredSet& cluster = desired_.sets[kClusterSet[fi(f)]];
      cluster.decl = {kClusterSet[fi(f)], key, false, true, false, "egress: the cluster's own ranges (egress.clusterCIDRs)"};
      for (const Cidr& c : folded(settings_.config.cluster_cidrs, f)) cluster.elements.put({c.str(), "", "", std::nullopt});
      DesiredSet& gws = desired_.sets[kGatewaysSet[fi(f)]];
      gws.decl = {kGatewaysSet[fi(f)], key, false, false, false, "egress: gateway nodes (next hops)"};
    }
    shared_sets_ = true;
  }
  std::set<IpAddr> want;
  for (const auto& [name, g] : groups_)
    for (const auto& m : g->g.gateways)
      if (m.node != settings_.node_name) want.insert(m.node_ip);
  for (const IpAddr& a : gateway_nodes_)
    if (!want.count(a)) desired_.sets[kGatewaysSet[fi(a.family)]].elements.erase(a.str());
  for (const IpAddr& a : want)
    if (!gateway_nodes_.count(a)) desired_.sets[kGatewaysSet[fi(a.family)]].elements.put({a.str(), "", "", std::nullopt});
  gateway_nodes_ = std::move(want);
}

void Planner::erase_everything() {
  for (const char* chain : {kMarkChain, kSelectChain, kNatChain}) desired_.chains.erase(chain);
  if (!shared_sets_) return;
  for (Family f : kFamilies) {
    for (const char* name : {kClusterSet[fi(f)], kGatewaysSet[fi(f)]}) {
      DesiredSet& ds = desired_.sets[name];
      std::vector<std::string> keys;
      for (const auto& [key, e] : ds.elements.elements()) keys.push_back(key);
      for (const auto& key : keys) ds.elements.erase(key);
      retired_sets_.insert(name);
    }
  }
  gateway_nodes_.clear();
  shared_sets_ = false;
}

void Planner::recompute(const HostView& host) {
  if (!dirty_groups_.empty()) {
    for (const auto& [key, ep] : endpoints_) dirty_endpoints_.insert(key);
    dirty_groups_.clear();
  }
  for (const auto& key : dirty_endpoints_) refresh_membership(key);
  dirty_endpoints_.clear();
  allocate_slots();
  if (groups_.empty()) {
    erase_everything();
    return;
  }
  render_shared_sets();
  render_chains(host);
}

// ---------------------------------------------------------------- routing

std::optional<netlink::NextHop> Planner::next_hop(const Group& g, const model::EgressGatewayMember& m,
                                                  const Cidr& dst, const HostView& host, std::string* why) const {
  if (!m.healthy) {
    *why = "marked unhealthy through the API";
    return std::nullopt;
  }
  if (m.node == settings_.node_name) {
    const netlink::HostLink* link = uplink(m, host);
    if (!link || !link->up) {
      *why = link ? "uplink " + link->name + " is down" : "no uplink interface";
      return std::nullopt;
    }
    // This node is the gateway: on to wherever the main table sends the
    // destination through the uplink; SNAT happens here on the way out.
    const netlink::MainRoute* r = host.lookup(dst, link->ifindex);
    if (!r) {
      *why = "no main-table route to " + dst.str() + " via " + link->name;
      return std::nullopt;
    }
    return netlink::NextHop{r->gateway, link->ifindex};
  }
  auto probe = probes_.find({g.g.name, m.node, m.egress_ip});
  if (probe != probes_.end() && probe->second.first == ProbeState::Down) {
    *why = "health probe: " + probe->second.second;
    return std::nullopt;
  }
  const netlink::MainRoute* r = host.lookup(Cidr::host(m.node_ip));
  if (!r || r->gateway) {
    *why = "nodeIP " + m.node_ip.str() + " is not on a network this node is directly connected to";
    return std::nullopt;
  }
  return netlink::NextHop{m.node_ip, r->ifindex};
}

RoutingPlan Planner::routing(const HostView& host) const {
  RoutingPlan plan;
  const auto& c = settings_.config;
  for (const Group* g : in_order()) {
    auto slot = table_and_mark(g->g.name);
    bool client = has_local_member(*g);
    if (client && !slot)
      plan.problems.push_back("egress gateway " + g->g.name + ": no free routing table and mark (egress.tableRange, "
                                                              "egress.markMask)");
    for (Family f : kFamilies) {
      std::vector<Cidr> dsts = folded(g->g.destinations, f);
      if (!client || !slot || !serves(g->g, f) || dsts.empty()) continue;
      plan.state.rules.push_back({f, c.rule_priority, slot->second, c.mark_mask, slot->first});
      (f == Family::V4 ? plan.sysctls.forward4 : plan.sysctls.forward6) = true;
      for (const Cidr& dst : dsts) {
        netlink::Route route{slot->first, dst, netlink::Route::Type::Unicast, {}};
        for (const auto& m : g->g.gateways) {
          std::string why;
          if (m.egress_ip.family != f) continue;
          if (auto hop = next_hop(*g, m, dst, host, &why)) route.nexthops.push_back(*hop);
        }
        std::sort(route.nexthops.begin(), route.nexthops.end());
        route.nexthops.erase(std::unique(route.nexthops.begin(), route.nexthops.end()), route.nexthops.end());
        // No gateway left: fail closed, rather than let the traffic out
        // with the node's address.
        if (route.nexthops.empty()) route.type = netlink::Route::Type::Unreachable;
        if (route.nexthops.size() > 1) (f == Family::V4 ? plan.sysctls.hash_l4_v4 : plan.sysctls.hash_l4_v6) = true;
        for (const auto& hop : route.nexthops)
          if (const netlink::HostLink* l = host.link(hop.ifindex); l && f == Family::V4) plan.sysctls.loose_rp_filter.insert(l->name);
        plan.state.routes.push_back(std::move(route));
      }
    }
    for (const auto& m : g->g.gateways) {
      if (m.node != settings_.node_name) continue;
      Family f = m.egress_ip.family;
      (f == Family::V4 ? plan.sysctls.forward4 : plan.sysctls.forward6) = true;
      const netlink::HostLink* link = uplink(m, host);
      if (!link) {
        nat_rule(*g, m, host, &plan.problems);  // reports why
        continue;
      }
      if (f == Family::V4) plan.sysctls.loose_rp_filter.insert(link->name);
      const netlink::HostAddress* own = host.address(m.egress_ip);
      if (own && own->protocol != c.route_protocol) continue;  // the host's own: not ours to add or remove
      plan.state.addresses.push_back({link->ifindex, m.egress_ip});
    }
  }
  std::sort(plan.state.rules.begin(), plan.state.rules.end());
  plan.state.rules.erase(std::unique(plan.state.rules.begin(), plan.state.rules.end()), plan.state.rules.end());
  std::sort(plan.state.addresses.begin(), plan.state.addresses.end());
  plan.state.addresses.erase(std::unique(plan.state.addresses.begin(), plan.state.addresses.end()),
                             plan.state.addresses.end());
  return plan;
}

std::vector<ProbeTarget> Planner::probe_targets() const {
  std::vector<ProbeTarget> out;
  for (const auto& [name, g] : groups_) {
    if (g->g.health_check.protocol == model::EgressHealthCheck::Protocol::None || !has_local_member(*g)) continue;
    for (const auto& m : g->g.gateways)
      if (m.node != settings_.node_name && m.healthy)
        out.push_back({{name, m.node, m.egress_ip}, m.node_ip, g->g.health_check});
  }
  return out;
}

// ---------------------------------------------------------------- report

std::vector<std::string> Planner::local_pods(const std::string& group) const {
  std::vector<std::string> out;
  auto it = groups_.find(group);
  if (it == groups_.end()) return out;
  for (const auto& key : it->second->members)
    if (auto ep = endpoints_.find(key); ep != endpoints_.end() && ep->second->node == settings_.node_name)
      out.push_back(ep->second->label);
  return out;
}

std::set<std::string> Planner::members(const std::string& group) const {
  auto it = groups_.find(group);
  return it == groups_.end() ? std::set<std::string>{} : it->second->members;
}

EgressReport Planner::report(const HostView& host) const {
  EgressReport r;
  RoutingPlan plan = routing(host);
  r.problems = plan.problems;
  if (active() && settings_.config.cluster_cidrs.empty())
    r.problems.push_back("egress.clusterCIDRs is empty: traffic to the cluster's own pod and service ranges is "
                         "sent to the gateways too");
  for (const Group* g : in_order()) {
    EgressGroupReport gr;
    gr.name = g->g.name;
    if (auto slot = table_and_mark(g->g.name)) std::tie(gr.table, gr.mark) = *slot;
    gr.local_pods = local_pods(g->g.name);
    for (const auto& m : g->g.gateways) {
      EgressMemberReport mr{m.node, m.node_ip.str(), m.egress_ip.str(), "", "", "", m.node == settings_.node_name, false};
      std::vector<Cidr> dsts = folded(g->g.destinations, m.egress_ip.family);
      std::string why;
      auto hop = next_hop(*g, m, dsts.empty() ? Cidr{IpAddr{m.egress_ip.family, {}}, 0} : dsts.front(), host, &why);
      for (const auto& route : plan.state.routes)
        if (hop && route.table == gr.table && route.family() == m.egress_ip.family &&
            std::find(route.nexthops.begin(), route.nexthops.end(), *hop) != route.nexthops.end())
          mr.in_route = true;
      if (mr.local)
        if (const netlink::HostLink* link = uplink(m, host)) mr.interface = link->name;
      auto probe = probes_.find({g->g.name, m.node, m.egress_ip});
      if (!m.healthy) {
        mr.state = "Unhealthy";
        mr.detail = why;
      } else if (mr.local) {
        mr.state = hop ? "Healthy" : "Down";
        mr.detail = hop ? "this node (SNAT here)" : why;
      } else if (probe != probes_.end() && probe->second.first != ProbeState::Unknown) {
        mr.state = probe->second.first == ProbeState::Up ? "Healthy" : "Down";
        mr.detail = probe->second.second;
      } else {
        mr.state = "Unknown";
        mr.detail = g->g.health_check.protocol == model::EgressHealthCheck::Protocol::None ? "not probed (healthCheck None)"
                    : gr.local_pods.empty() ? "not probed: no local pods use it"
                                            : "not probed yet";
        if (!hop && !why.empty()) mr.detail = why;
      }
      gr.gateways.push_back(std::move(mr));
    }
    if (!gr.local_pods.empty() && !gr.table) gr.problems.push_back("no free routing table and mark");
    // Same order, overlapping destinations, shared pod: name order decides.
    for (const Group* other : in_order()) {
      if (other == g || !orders_tie(other->g, g->g) || !intersects(other->g.destinations, g->g.destinations)) continue;
      for (const auto& key : g->members)
        if (other->members.count(key)) {
          gr.problems.push_back("shares pod " + key + " with egress gateway " + other->g.name +
                                " at the same order; the name that sorts first wins");
          break;
        }
    }
    r.groups.push_back(std::move(gr));
  }
  return r;
}

// ---------------------------------------------------------------- apply checks

std::vector<std::string> check_gateways(const ClusterView& after, const std::set<std::string>& changed,
                                        const Settings& settings) {
  std::vector<std::string> problems;
  std::vector<Selection> selections;
  std::vector<std::tuple<std::string, const model::EgressGateway*, const Selection*>> gateways;
  selections.reserve(after.gateways.size());
  for (const auto* g : after.gateways) selections.push_back(compile(*g));
  for (size_t i = 0; i < after.gateways.size(); ++i)
    gateways.emplace_back(after.gateways[i]->name, after.gateways[i], &selections[i]);

  std::set<std::string> known_nodes(settings.config.gateway_nodes.begin(), settings.config.gateway_nodes.end());
  known_nodes.insert(settings.node_name);
  for (const auto* ep : after.endpoints) known_nodes.insert(ep->node);

  // Who uses which gateway, as the planner would decide it.
  auto ns_labels = [&](const std::string& name) {
    auto it = after.namespaces.find(name);
    return it != after.namespaces.end() ? namespace_labels(name, it->second->labels) : namespace_labels(name, {});
  };
  std::map<std::string, std::vector<const model::Endpoint*>> users;
  for (const auto* ep : after.endpoints) {
    auto ns = after.namespaces.find(ep->ns);
    auto choice = annotation_choice(ep->annotations);
    if (!choice && ns != after.namespaces.end()) choice = annotation_choice(ns->second->annotations);
    for (const auto& name :
         memberships(gateways, ep->labels, ep->ns, choice ? &*choice : nullptr, ns_labels(ep->ns), ns_labels))
      users[name].push_back(ep);
  }

  std::map<IpAddr, std::pair<std::string, std::string>> egress_owner;  // egress IP -> (node, gateway)
  for (const auto* g : after.gateways)
    if (!changed.count(g->name))
      for (const auto& m : g->gateways) egress_owner.emplace(m.egress_ip, std::pair{m.node, g->name});

  for (size_t i = 0; i < after.gateways.size(); ++i) {
    const model::EgressGateway& a = *after.gateways[i];
    if (!changed.count(a.name)) continue;
    std::string who = "EgressGateway " + a.name + ": ";
    for (size_t k = 0; k < a.gateways.size(); ++k) {
      const auto& m = a.gateways[k];
      std::string path = "spec.gateways[" + std::to_string(k) + "]";
      if (!known_nodes.count(m.node))
        problems.push_back(who + path + ".node: unknown node \"" + m.node +
                           "\" (known: this node, nodes running a WorkloadEndpoint, egress.gatewayNodes)");
      auto [owner, fresh] = egress_owner.emplace(m.egress_ip, std::pair{m.node, a.name});
      if (!fresh && owner->second.first != m.node)
        problems.push_back(who + path + ".egressIP: " + m.egress_ip.str() + " is already the egress IP of node " +
                           owner->second.first + " (EgressGateway " + owner->second.second + ")");
    }
    for (size_t j = 0; j < after.gateways.size(); ++j) {
      const model::EgressGateway& b = *after.gateways[j];
      if (i == j || !orders_tie(a, b) || !intersects(a.destinations, b.destinations)) continue;
      if (changed.count(b.name) && b.name < a.name) continue;  // the pair is reported once
      std::string shared;
      if (selections[i].by_spec && selections[j].by_spec && a.namespace_selector == b.namespace_selector &&
          a.selector == b.selector)
        shared = "the same selectors";
      for (const auto* ep : users[a.name]) {
        if (!shared.empty()) break;
        const auto& other = users[b.name];
        if (std::find(other.begin(), other.end(), ep) != other.end()) shared = "pod " + ep->ns + "/" + ep->name;
      }
      if (shared.empty()) continue;
      std::string order = a.order ? std::to_string(*a.order) : std::string("unset");
      problems.push_back(who + "spec.order: matches the same traffic as EgressGateway " + b.name + " (" + shared +
                         ", overlapping destinations) with the same order (" + order +
                         "); give one of them a lower spec.order");
    }
  }
  return problems;
}

}  // namespace wac::agent::egress
