#include "agent/calc.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "agent/dns_rules.h"
#include "agent/names.h"
#include "agent/render.h"

namespace wac::agent {

using model::Direction;
using model::Key;
using selector::Selector;

// Label prefix under which an endpoint carries its namespace's labels, so a
// namespaceSelector is an ordinary selector over endpoint labels (Calico's
// "pcns." convention).
static constexpr const char* kNsLabelPrefix = "pcns.";

struct Calculator::Source {
  std::string ns;  // "" for global network sets
  std::string comment;
  bool is_endpoint = false;
  model::Labels own_labels;
  model::Labels labels;  // effective
  std::vector<Cidr> cidrs;
};

struct Calculator::IpSet {
  Selector sel;
  Family family;
  int refs = 0;
  std::unique_ptr<CidrSet> cidrs;
};

struct Calculator::PolicyState {
  model::Policy p;
  Selector applies = Selector::all();
  std::set<std::string> users;        // local endpoint keys it applies to
  std::vector<std::string> held_sets;  // selector/domain sets its rules use
  bool rendered = false;
};

struct Calculator::LocalEndpoint {
  model::Endpoint ep;
  bool rendered = false;
};

namespace {

Selector must_parse(const std::string& text) {
  auto r = Selector::parse(text);
  if (auto* err = std::get_if<selector::ParseError>(&r))
    // The API validated every selector; reaching this is a bug.
    throw std::logic_error("unvalidated selector reached the calculation: " + err->message);
  return std::get<Selector>(std::move(r));
}

Selector namespace_is(const std::string& ns) {
  return must_parse(std::string(model::kNamespaceLabel) + " == '" + ns + "'");
}

std::string endpoint_key(const std::string& ns, const std::string& name) { return ns + "/" + name; }

double order_of(const model::Policy& p) { return p.order.value_or(std::numeric_limits<double>::infinity()); }

std::string format_order(double order) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", order);
  return buf;
}

bool applies_in(const model::Policy& p, Direction d) {
  return d == Direction::Ingress ? p.applies_ingress : p.applies_egress;
}

const std::vector<model::Rule>& rules_of(const model::Policy& p, Direction d) {
  return d == Direction::Ingress ? p.ingress : p.egress;
}

}  // namespace

void ChainMap::put(nft::Chain chain) {
  auto it = map_.find(chain.name);
  if (it != map_.end() && it->second == chain) return;
  changed_.insert(chain.name);
  if (it != map_.end()) it->second = std::move(chain);
  else map_.emplace(chain.name, std::move(chain));
}

void ChainMap::erase(const std::string& name) {
  if (map_.erase(name)) changed_.insert(name);
}

Calculator::Calculator(CalcConfig cfg) : cfg_(std::move(cfg)) { install_static_objects(); }
Calculator::~Calculator() = default;

// ---------------------------------------------------------------------------
// Static objects: dispatch maps and the base chains that use them.

void Calculator::install_static_objects() {
  for (const char* map : {names::kFromPodMap, names::kToPodMap}) {
    DesiredSet& s = desired_.sets[map];
    s.decl = {map, nft::KeyType::Ifname, true, false, false,
              map == std::string(names::kFromPodMap) ? "pod interface -> its egress chain"
                                                     : "pod interface -> its ingress chain"};
  }
  // A dispatch chain per direction: the map sends a known interface on
  // (goto) to its pod chain, whose return goes straight back to the hook
  // chain; an interface the map does not know falls through to the drop.
  auto dispatch = [&](const char* chain, const char* dir, const char* map, Direction d) {
    FlowDecision no_endpoint;
    no_endpoint.reason = FlowReason::NoEndpoint;
    no_endpoint.direction = d;
    desired_.chains.put({chain, std::string("workload interfaces -> pod chains (") + map + ")", std::nullopt,
                         {std::string(dir) + " vmap @" + map,
                          drop_verdict(chain, "no-endpoint", no_endpoint) +
                              " comment \"workload interface without endpoint\""}});
  };
  dispatch(names::kFromPodChain, "iifname", names::kFromPodMap, Direction::Egress);
  dispatch(names::kToPodChain, "oifname", names::kToPodMap, Direction::Ingress);
  auto per_prefix = [&](const char* dir, const std::string& action) {
    std::vector<std::string> rules;
    for (const auto& prefix : cfg_.iface_prefixes) rules.push_back(std::string(dir) + " \"" + prefix + "*\" " + action);
    return rules;
  };
  auto append = [](std::vector<std::string>& to, std::vector<std::string> more) {
    to.insert(to.end(), more.begin(), more.end());
  };

  nft::Chain fwd{"forward", "pod traffic through this node", nft::BaseHook{"filter", "forward", 0, "accept"}, {}};
  fwd.rules = {"ct state established,related counter accept comment \"reply and ongoing flows\"",
               "ct state invalid counter drop"};
  append(fwd.rules, per_prefix("iifname", std::string("jump ") + names::kFromPodChain));
  append(fwd.rules, per_prefix("oifname", std::string("jump ") + names::kToPodChain));
  desired_.chains.put(fwd);

  nft::Chain in{"input", "pod traffic to this node itself", nft::BaseHook{"filter", "input", 0, "accept"}, {}};
  in.rules = {"ct state established,related accept",
              "icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } accept comment \"neighbour discovery\""};
  append(in.rules, per_prefix("iifname", std::string("jump ") + names::kFromPodChain));
  if (!cfg_.endpoint_to_host_allow) {
    FlowDecision to_host;
    to_host.reason = FlowReason::EndpointToHost;
    to_host.direction = Direction::Egress;
    append(in.rules, per_prefix("iifname", drop_verdict("input", "endpoint-to-host", to_host) +
                                               " comment \"endpoint to host: drop\""));
  }
  desired_.chains.put(in);
  if (cfg_.dns_tap_group) desired_.chains.put(dns_tap_chain(cfg_.iface_prefixes, cfg_.dns_tap_group));
  if (cfg_.flow_logs.enabled) desired_.chains.put(flow_log_deny_chain(cfg_.flow_logs));
}

std::string Calculator::drop_verdict(const std::string& chain, const std::string& slot, const FlowDecision& d) const {
  if (!cfg_.flow_logs.enabled) return "counter drop";
  return "counter " + flow_deny_verdict(flow_decisions_->add(chain, slot, d));
}

// Chains removed since the last sync take their decisions with them (after
// a grace period: packets logged before the sync may still name them).
void Calculator::retire_erased_chain_decisions() {
  if (!cfg_.flow_logs.enabled) return;
  for (const auto& name : desired_.chains.changed())
    if (!desired_.chains.count(name)) flow_decisions_->erase_chain(name);
}

// Rules whose destination selector may match a network set with domains
// render one rule per domain; re-render them when such a set changes.
void Calculator::netset_domains_changed() {
  for (const auto& [key, ps] : policies_) {
    bool selects = std::any_of(ps->p.egress.begin(), ps->p.egress.end(), [](const model::Rule& r) {
      return r.action == model::Action::Allow &&
             (!r.destination.selector.empty() || !r.destination.namespace_selector.empty());
    });
    if (selects && ps->rendered) dirty_policies_.insert(key);
  }
}

// ---------------------------------------------------------------------------
// Sources of addresses: endpoints anywhere in the cluster and network sets.

void Calculator::relabel(Source& src) {
  src.labels = src.own_labels;
  if (src.ns.empty()) return;
  src.labels[model::kNamespaceLabel] = src.ns;
  if (src.is_endpoint) src.labels.try_emplace(model::kOrchestratorLabel, "k8s");
  std::string prefix = kNsLabelPrefix;
  src.labels[prefix + "projectcalico.org/name"] = src.ns;
  src.labels[prefix + "kubernetes.io/metadata.name"] = src.ns;
  if (auto it = namespaces_.find(src.ns); it != namespaces_.end()) {
    for (const auto& [k, v] : it->second.labels) src.labels[prefix + k] = v;
  }
}

void Calculator::add_members(IpSet& set, const Source& src) {
  for (const Cidr& c : src.cidrs)
    if (c.family() == set.family) set.cidrs->add(c, src.comment);
}

void Calculator::remove_members(IpSet& set, const Source& src) {
  for (const Cidr& c : src.cidrs)
    if (c.family() == set.family) set.cidrs->remove(c);
}

void Calculator::join_ipsets(const Source& src) {
  ipset_index_.for_candidates(src.labels, [&](IpSet* set) {
    if (set->sel.matches(src.labels)) add_members(*set, src);
  });
}

void Calculator::leave_ipsets(const Source& src) {
  ipset_index_.for_candidates(src.labels, [&](IpSet* set) {
    if (set->sel.matches(src.labels)) remove_members(*set, src);
  });
}

void Calculator::add_source(const std::string& id, Source src) {
  drop_source(id);
  relabel(src);
  sources_by_ns_[src.ns].insert(id);
  auto& stored = sources_[id] = std::make_unique<Source>(std::move(src));
  source_index_.add(stored.get(), stored->labels);
  join_ipsets(*stored);
}

void Calculator::drop_source(const std::string& id) {
  auto it = sources_.find(id);
  if (it == sources_.end()) return;
  leave_ipsets(*it->second);
  source_index_.remove(it->second.get(), it->second->labels);
  sources_by_ns_[it->second->ns].erase(id);
  sources_.erase(it);
}

void Calculator::upsert_namespace(const model::Namespace& ns) {
  auto it = namespaces_.find(ns.name);
  if (it != namespaces_.end() && it->second == ns) return;
  namespaces_[ns.name] = ns;
  // Namespace labels are part of every member's labels: re-evaluate them.
  std::set<std::string> ids = sources_by_ns_[ns.name];
  for (const auto& id : ids) {
    Source copy = *sources_[id];
    add_source(id, std::move(copy));
  }
  for (auto& [key, le] : local_)
    if (le->ep.ns == ns.name) dirty_endpoints_.insert(key);
  if (netset_domains_.in_namespace(ns.name)) netset_domains_changed();
}

void Calculator::remove_namespace(const std::string& name) {
  if (!namespaces_.count(name)) return;
  model::Namespace empty{name, {}, {}};
  upsert_namespace(empty);
  namespaces_.erase(name);
}

void Calculator::upsert_endpoint(const model::Endpoint& ep) {
  std::string key = endpoint_key(ep.ns, ep.name);
  Source src;
  src.ns = ep.ns;
  src.comment = names::endpoint_label(ep);
  src.is_endpoint = true;
  src.own_labels = ep.labels;
  add_security_group_labels(ep.security_groups, src.own_labels);
  src.cidrs = ep.ip_networks;
  add_source("ep:" + key, std::move(src));

  auto it = local_.find(key);
  if (ep.node == cfg_.node_name) {
    if (it != local_.end() && it->second->ep.interface_name != ep.interface_name) {
      unrender_endpoint(it->second->ep);
      it->second->rendered = false;
    }
    if (it == local_.end()) it = local_.emplace(key, std::make_unique<LocalEndpoint>()).first;
    it->second->ep = ep;
    dirty_endpoints_.insert(key);
  } else if (it != local_.end()) {  // moved away from this node
    unrender_endpoint(it->second->ep);
    local_.erase(it);
    match_endpoint_to_policies(key);  // leaves every policy's users
  }
}

void Calculator::remove_endpoint(const std::string& ns, const std::string& name) {
  std::string key = endpoint_key(ns, name);
  drop_source("ep:" + key);
  if (local_.count(key)) dirty_endpoints_.insert(key);  // recompute() notices it is gone
}

void Calculator::upsert_network_set(const model::NetworkSet& set) {
  Source src;
  src.ns = set.ns;
  src.comment = set.ns.empty() ? "netset " + set.name : "netset " + set.ns + "/" + set.name;
  src.own_labels = set.labels;
  src.cidrs = set.nets;
  std::string id = "set:" + set.ns + "/" + set.name;
  add_source(id, std::move(src));
  if (netset_domains_.update(id, set.ns, set.allowed_egress_domains)) netset_domains_changed();
}

void Calculator::remove_network_set(const std::string& ns, const std::string& name) {
  drop_source("set:" + ns + "/" + name);
  if (netset_domains_.remove("set:" + ns + "/" + name)) netset_domains_changed();
}

// ---------------------------------------------------------------------------
// Selector and domain sets, shared by every rule that uses them.

Selector Calculator::rule_selector(const std::string& sel, const std::string& ns_sel,
                                   const std::string& policy_ns) const {
  Selector s = sel.empty() ? Selector::all() : must_parse(sel);
  if (!ns_sel.empty()) return Selector::both(s, must_parse(ns_sel).with_label_prefix(kNsLabelPrefix));
  if (!policy_ns.empty()) return Selector::both(s, namespace_is(policy_ns));
  return s;
}

std::string Calculator::acquire_ipset(const Selector& sel, Family f, std::vector<std::string>& held) {
  std::string name = names::selector_set(sel.canonical(), f);
  for (int n = 2; ipsets_.count(name) && ipsets_[name]->sel.canonical() != sel.canonical(); ++n)
    name = names::selector_set(sel.canonical(), f) + "-" + std::to_string(n);  // hash collision
  auto& slot = ipsets_[name];
  if (!slot) {
    DesiredSet& ds = desired_.sets[name];
    ds.decl = {name, f == Family::V4 ? nft::KeyType::Ipv4Addr : nft::KeyType::Ipv6Addr, false, true, false,
               names::comment(sel.canonical())};
    slot = std::make_unique<IpSet>(IpSet{sel, f, 0, std::make_unique<CidrSet>(ds.elements)});
    ipset_index_.add(slot.get(), sel);
    source_index_.for_candidates(sel, [&](const Source* src) {
      if (slot->sel.matches(src->labels)) add_members(*slot, *src);
    });
  }
  ++slot->refs;
  held.push_back(name);
  return name;
}

std::string Calculator::acquire_domain_set(const std::string& domain, Family f, std::vector<std::string>& held) {
  std::string name = std::string(f == Family::V4 ? "fqdn4-" : "fqdn6-") + names::hash12(domain);
  if (domain_refs_[name]++ == 0) {
    DesiredSet& ds = desired_.sets[name];
    ds.decl = {name, f == Family::V4 ? nft::KeyType::Ipv4Addr : nft::KeyType::Ipv6Addr, false, false, true,
               names::comment(domain)};
    ds.external_elements = true;
    auto& pair = domain_names_[domain];
    (f == Family::V4 ? pair.first : pair.second) = name;
  }
  held.push_back(name);
  return name;
}

void Calculator::release_ipsets(std::vector<std::string>& held) {
  for (const auto& name : held) {
    if (auto it = ipsets_.find(name); it != ipsets_.end()) {
      if (--it->second->refs > 0) continue;
      ipset_index_.remove(it->second.get(), it->second->sel);
      ipsets_.erase(it);
      desired_.sets.erase(name);
    } else if (auto d = domain_refs_.find(name); d != domain_refs_.end()) {
      if (--d->second > 0) continue;
      domain_refs_.erase(d);
      desired_.sets.erase(name);
      for (auto it2 = domain_names_.begin(); it2 != domain_names_.end();) {
        auto& [v4, v6] = it2->second;
        if (v4 == name) v4.clear();
        if (v6 == name) v6.clear();
        it2 = (v4.empty() && v6.empty()) ? domain_names_.erase(it2) : std::next(it2);
      }
    }
  }
  held.clear();
}

// ---------------------------------------------------------------------------
// Policies.

void Calculator::upsert_policy(const Key& key, const model::Policy& p) {
  auto& slot = policies_[key];
  if (slot && slot->p == p) return;
  if (!slot) slot = std::make_unique<PolicyState>();
  slot->p = p;
  Selector applies = p.selector.empty() ? Selector::all() : must_parse(p.selector);
  if (!p.ns.empty()) applies = Selector::both(applies, namespace_is(p.ns));
  if (!p.namespace_selector.empty())
    applies = Selector::both(applies, must_parse(p.namespace_selector).with_label_prefix(kNsLabelPrefix));
  slot->applies = applies;
  dirty_policies_.insert(key);
  removed_policies_.erase(key);
}

void Calculator::remove_policy(const Key& key) {
  if (!policies_.count(key)) return;
  removed_policies_.insert(key);
  dirty_policies_.erase(key);
}

std::vector<const model::Endpoint*> Calculator::local_endpoints() const {
  std::vector<const model::Endpoint*> out;
  for (const auto& [key, le] : local_) out.push_back(&le->ep);
  return out;
}

size_t Calculator::active_policy_count() const {
  return std::count_if(policies_.begin(), policies_.end(), [](const auto& kv) { return kv.second->rendered; });
}

const model::Policy* Calculator::policy(const Key& key) const {
  auto it = policies_.find(key);
  return it == policies_.end() ? nullptr : &it->second->p;
}

void Calculator::match_policy_to_endpoints(PolicyState& p, const Key& key) {
  for (auto& [ep_key, le] : local_) {
    auto src = sources_.find("ep:" + ep_key);
    bool now = src != sources_.end() && p.applies.matches(src->second->labels);
    bool before = p.users.count(ep_key) > 0;
    if (now) p.users.insert(ep_key);
    else p.users.erase(ep_key);
    if (now || before) dirty_endpoints_.insert(ep_key);  // chain content or order may change
  }
}

void Calculator::match_endpoint_to_policies(const std::string& ep_key) {
  auto src = sources_.find("ep:" + ep_key);
  for (auto& [key, p] : policies_) {
    bool now = src != sources_.end() && local_.count(ep_key) && p->applies.matches(src->second->labels);
    bool before = p->users.count(ep_key) > 0;
    if (now == before) continue;
    if (now) p->users.insert(ep_key);
    else p->users.erase(ep_key);
    dirty_policies_.insert(key);  // may become active or inactive
  }
}

void Calculator::render_policy(const Key& key, PolicyState& ps) {
  std::vector<std::string> old_held = std::move(ps.held_sets);
  ps.held_sets.clear();
  const model::Policy& p = ps.p;
  RuleContext ctx;
  ctx.verdict_mark = cfg_.verdict_mark;
  ctx.policy_label = names::policy_label(p);
  ctx.selector_set = [&](const std::string& sel, const std::string& ns_sel, Family f) {
    return acquire_ipset(rule_selector(sel, ns_sel, p.ns), f, ps.held_sets);
  };
  ctx.domain_set = [&](const std::string& domain, Family f) { return acquire_domain_set(domain, f, ps.held_sets); };
  ctx.netset_domains = [&](const std::string& sel, const std::string& ns_sel) {
    if (netset_domains_.empty()) return std::vector<std::string>{};
    Selector dest = rule_selector(sel, ns_sel, p.ns);
    return netset_domains_.matching([&](const std::string& id) {
      auto it = sources_.find(id);
      return it != sources_.end() && dest.matches(it->second->labels);
    });
  };
  for (Direction d : {Direction::Ingress, Direction::Egress}) {
    std::string name = names::policy_chain(p, d);
    if (!applies_in(p, d)) {
      desired_.chains.erase(name);
      continue;
    }
    if (cfg_.flow_logs.enabled) {
      flow_decisions_->begin_chain(name);
      ctx.flow_logs = cfg_.flow_logs;
      ctx.flow_decision = [&, d](const model::Rule& r, size_t index) {
        FlowDecision fd;
        fd.allowed = r.action != model::Action::Deny;
        fd.direction = d;
        fd.policy = key;
        fd.rule_index = index;
        fd.rule_name = r.name;
        fd.rule_action = r.action;
        return flow_decisions_->add(name, "rule " + std::to_string(index), std::move(fd));
      };
    }
    nft::Chain chain{name, names::comment(ctx.policy_label + " " + names::direction_name(d) +
                                          (p.order ? " order " + format_order(*p.order) : "")),
                     std::nullopt, {}};
    const auto& rules = rules_of(p, d);
    for (size_t i = 0; i < rules.size(); ++i)
      for (auto& text : render_rule(rules[i], d, i, ctx)) chain.rules.push_back(std::move(text));
    desired_.chains.put(std::move(chain));
  }
  release_ipsets(old_held);  // after acquiring, so shared sets are not churned
  ps.rendered = true;
}

void Calculator::unrender_policy(PolicyState& ps) {
  for (Direction d : {Direction::Ingress, Direction::Egress}) desired_.chains.erase(names::policy_chain(ps.p, d));
  release_ipsets(ps.held_sets);
  ps.rendered = false;
}

// ---------------------------------------------------------------------------
// Local endpoints: their chains and dispatch map entries.

std::vector<Key> Calculator::ordered_policies(const std::string& ep_key, Direction d) const {
  std::vector<std::pair<const PolicyState*, Key>> list;
  for (const auto& [key, p] : policies_)
    if (p->users.count(ep_key) && applies_in(p->p, d)) list.push_back({p.get(), key});
  std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) {
    double oa = order_of(a.first->p), ob = order_of(b.first->p);
    if (oa != ob) return oa < ob;
    if (a.first->p.name != b.first->p.name) return a.first->p.name < b.first->p.name;
    return a.second < b.second;
  });
  std::vector<Key> keys;
  for (auto& [p, key] : list) keys.push_back(key);
  return keys;
}

std::optional<EndpointPolicies> Calculator::policies_for(const std::string& ns, const std::string& name) const {
  std::string key = endpoint_key(ns, name);
  if (!local_.count(key)) return std::nullopt;
  return EndpointPolicies{ordered_policies(key, Direction::Ingress), ordered_policies(key, Direction::Egress)};
}

namespace {

// `drop`: the verdict of the anti-spoof rules ("counter drop", or one that
// logs the flow first).
std::vector<std::string> anti_spoof_rules(const model::Endpoint& ep, const std::string& drop) {
  std::vector<std::string> rules;
  for (Family f : {Family::V4, Family::V6}) {
    std::string list;
    for (const Cidr& c : ep.ip_networks)
      if (c.family() == f) list += (list.empty() ? "" : ", ") + c.str();
    const char* ip = f == Family::V4 ? "ip" : "ip6";
    if (list.empty()) {
      rules.push_back(std::string("meta nfproto ") + (f == Family::V4 ? "ipv4" : "ipv6") +
                      (f == Family::V6 ? " ip6 saddr != fe80::/10" : "") + " " + drop +
                      " comment \"anti-spoof: no address of this family\"");
    } else {
      rules.push_back(std::string(ip) + " saddr != { " + list + " }" +
                      (f == Family::V6 ? " ip6 saddr != fe80::/10" : "") + " " + drop +
                      " comment \"anti-spoof\"");
    }
  }
  return rules;
}

}  // namespace

void Calculator::render_endpoint(LocalEndpoint& le) {
  const model::Endpoint& ep = le.ep;
  std::string key = endpoint_key(ep.ns, ep.name);
  char mark[16];
  std::snprintf(mark, sizeof mark, "0x%08x", cfg_.verdict_mark);
  for (Direction d : {Direction::Ingress, Direction::Egress}) {
    nft::Chain chain{names::pod_chain(ep, d),
                     names::comment("endpoint " + ep.ns + "/" + ep.name + " " + names::direction_name(d) + " (" +
                                    ep.interface_name + ")"),
                     std::nullopt, {}};
    if (cfg_.flow_logs.enabled) flow_decisions_->begin_chain(chain.name);
    if (d == Direction::Egress)
      chain.rules = anti_spoof_rules(
          ep, drop_verdict(chain.name, "anti-spoof", pod_flow_decision(ep, d, FlowReason::AntiSpoof)));
    append_security_group_stage(ep, d, chain.rules);
    auto keys = ordered_policies(key, d);
    if (!keys.empty()) {
      chain.rules.push_back(std::string("meta mark set meta mark and ") + [&] {
        char inv[16];
        std::snprintf(inv, sizeof inv, "0x%08x", ~cfg_.verdict_mark);
        return std::string(inv);
      }());
      for (const auto& k : keys) {
        const model::Policy& p = policies_.at(k)->p;
        chain.rules.push_back("jump " + names::policy_chain(p, d));
        chain.rules.push_back(std::string("meta mark and ") + mark + " != 0 return");
      }
      chain.rules.push_back(drop_verdict(chain.name, "default-deny", pod_flow_decision(ep, d, FlowReason::DefaultDeny)) +
                            " comment \"default deny: no policy allowed this\"");
    }
    desired_.chains.put(std::move(chain));
    const char* map = d == Direction::Egress ? names::kFromPodMap : names::kToPodMap;
    desired_.sets[map].elements.put(
        {ep.interface_name, "goto " + names::pod_chain(ep, d), names::comment(names::endpoint_label(ep)), std::nullopt});
  }
  le.rendered = true;
}

void Calculator::unrender_endpoint(const model::Endpoint& ep) {
  for (Direction d : {Direction::Ingress, Direction::Egress}) {
    desired_.chains.erase(names::pod_chain(ep, d));
    const char* map = d == Direction::Egress ? names::kFromPodMap : names::kToPodMap;
    desired_.sets[map].elements.erase(ep.interface_name);
  }
}

// ---------------------------------------------------------------------------

void Calculator::recompute() {
  // 1. Policies removed or changed: which local endpoints do they apply to now?
  for (const Key& key : removed_policies_) {
    auto it = policies_.find(key);
    for (const auto& ep_key : it->second->users) dirty_endpoints_.insert(ep_key);
    if (it->second->rendered) unrender_policy(*it->second);
    policies_.erase(it);
  }
  removed_policies_.clear();
  std::set<Key> changed = std::move(dirty_policies_);
  dirty_policies_.clear();
  for (const Key& key : changed) match_policy_to_endpoints(*policies_.at(key), key);

  // 2. Endpoints added, changed or removed: which policies apply to them now?
  std::set<std::string> endpoints = dirty_endpoints_;
  for (const auto& ep_key : endpoints) match_endpoint_to_policies(ep_key);
  for (const Key& key : dirty_policies_) changed.insert(key);
  dirty_policies_.clear();

  // 3. Render active policies (before endpoints, whose chains jump to them).
  for (const Key& key : changed) {
    auto& ps = *policies_.at(key);
    if (!ps.users.empty()) render_policy(key, ps);
  }

  // 4. Endpoint chains and map entries.
  for (const auto& ep_key : dirty_endpoints_) {
    auto it = local_.find(ep_key);
    if (it == local_.end()) continue;
    if (!sources_.count("ep:" + ep_key)) {  // removed
      unrender_endpoint(it->second->ep);
      local_.erase(it);
      continue;
    }
    render_endpoint(*it->second);
  }
  dirty_endpoints_.clear();
  sync_security_group_chains();  // the groups local endpoints name

  // 5. Policies no longer used by any local endpoint drop their chains and sets.
  for (const Key& key : changed) {
    auto& ps = *policies_.at(key);
    if (ps.users.empty() && ps.rendered) unrender_policy(ps);
  }
  retire_erased_chain_decisions();
}

}  // namespace wac::agent
