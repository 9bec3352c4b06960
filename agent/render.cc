#include "agent/render.h"

#include <algorithm>

#include "agent/names.h"

namespace wac::agent {

using model::Action;
using model::Direction;
using model::EntityRule;
using model::PortRange;
using model::Rule;

std::string protocol_name(uint8_t proto) {
  switch (proto) {
    case 1: return "icmp";
    case 6: return "tcp";
    case 17: return "udp";
    case 58: return "ipv6-icmp";
    case 132: return "sctp";
    case 136: return "udplite";
    default: return std::to_string(proto);
  }
}

namespace {

bool has_family(const std::vector<Cidr>& nets, Family f) {
  return std::any_of(nets.begin(), nets.end(), [f](const Cidr& c) { return c.family() == f; });
}

bool entity_is_family_specific(const EntityRule& e) {
  return !e.nets.empty() || !e.not_nets.empty() || !e.selector.empty() || !e.not_selector.empty() ||
         !e.namespace_selector.empty() || !e.domains.empty();
}

bool family_specific(const Rule& r) {
  bool icmp_proto = r.protocol && (*r.protocol == 1 || *r.protocol == 58);
  return r.ip_version != 0 || icmp_proto || r.icmp || r.not_icmp ||
         entity_is_family_specific(r.source) || entity_is_family_specific(r.destination);
}

bool rule_can_match(const Rule& r, Family f) {
  if (r.ip_version == 4 && f != Family::V4) return false;
  if (r.ip_version == 6 && f != Family::V6) return false;
  if (r.protocol && *r.protocol == 1 && f != Family::V4) return false;
  if (r.protocol && *r.protocol == 58 && f != Family::V6) return false;
  for (const EntityRule* e : {&r.source, &r.destination}) {
    if (!e->nets.empty() && !has_family(e->nets, f)) return false;
  }
  return true;
}

// Nets of one family with any CIDR inside another dropped: nft rejects
// overlapping intervals in a set.
std::string net_list(const std::vector<Cidr>& nets, Family f) {
  std::vector<Cidr> kept;
  for (const Cidr& c : nets) {
    if (c.family() != f) continue;
    bool inside = std::any_of(nets.begin(), nets.end(),
                              [&](const Cidr& o) { return o != c && o.contains(c) && o.prefix < c.prefix; });
    if (!inside && std::find(kept.begin(), kept.end(), c) == kept.end()) kept.push_back(c);
  }
  std::sort(kept.begin(), kept.end());
  if (kept.size() == 1) return kept[0].str();
  std::string out = "{ ";
  for (size_t i = 0; i < kept.size(); ++i) out += (i ? ", " : "") + kept[i].str();
  return out + " }";
}

std::string port_list(const std::vector<PortRange>& ports) {
  auto one = [](const PortRange& p) {
    return p.first == p.last ? std::to_string(p.first) : std::to_string(p.first) + "-" + std::to_string(p.last);
  };
  if (ports.size() == 1) return one(ports[0]);
  std::string out = "{ ";
  for (size_t i = 0; i < ports.size(); ++i) out += (i ? ", " : "") + one(ports[i]);
  return out + " }";
}

class RuleWriter {
 public:
  // domain_for_selector: the destination's selector (and namespace
  // selector) are replaced by its destination.domains, for the rules that
  // allow the domains of the network sets the selector matches.
  RuleWriter(const Rule& r, std::optional<Family> f, const RuleContext& ctx, bool domain_for_selector = false)
      : r_(r), f_(f), ctx_(ctx), domain_for_selector_(domain_for_selector) {}

  // The rule, preceded by its flow log rule when allowed flows are logged.
  void write(Direction dir, size_t index, std::vector<std::string>& out) {
    family_guard();
    protocol();
    entity(r_.source, "saddr", "sport");
    entity(r_.destination, "daddr", "dport");
    icmp();
    std::string match = out_;
    if (logs_allowed_flow()) out.push_back(allow_log_rule(match, dir, index));
    verdict(dir, index);
    out.push_back(out_);
  }

 private:
  void add(const std::string& s) {
    if (!out_.empty()) out_ += ' ';
    out_ += s;
  }
  const char* ip() const { return *f_ == Family::V4 ? "ip" : "ip6"; }

  void family_guard() {
    // Address matches already imply the family; only say it when nothing else will.
    if (!f_) return;
    bool implied = entity_is_family_specific(r_.source) || entity_is_family_specific(r_.destination) || r_.icmp ||
                   r_.not_icmp;
    if (!implied) add(*f_ == Family::V4 ? "meta nfproto ipv4" : "meta nfproto ipv6");
  }

  void protocol() {
    if (r_.protocol) add("meta l4proto " + protocol_name(*r_.protocol));
    if (r_.not_protocol) add("meta l4proto != " + protocol_name(*r_.not_protocol));
  }

  void entity(const EntityRule& e, const char* addr, const char* port) {
    if (f_) {
      std::string a = std::string(ip()) + " " + addr + " ";
      if (has_family(e.nets, *f_)) add(a + net_list(e.nets, *f_));
      if (has_family(e.not_nets, *f_)) add(a + "!= " + net_list(e.not_nets, *f_));
      bool selector_replaced = domain_for_selector_ && &e == &r_.destination;
      if ((!e.selector.empty() || !e.namespace_selector.empty()) && !selector_replaced)
        add(a + "@" + ctx_.selector_set(e.selector, e.namespace_selector, *f_));
      if (!e.not_selector.empty()) add(a + "!= @" + ctx_.selector_set(e.not_selector, e.namespace_selector, *f_));
      for (const auto& d : e.domains) add(a + "@" + ctx_.domain_set(d, *f_));
    }
    if (!e.ports.empty()) add(std::string("th ") + port + " " + port_list(e.ports));
    if (!e.not_ports.empty()) add(std::string("th ") + port + " != " + port_list(e.not_ports));
  }

  void icmp() {
    const char* kw = (f_ && *f_ == Family::V6) ? "icmpv6" : "icmp";
    if (r_.icmp && r_.icmp->type) {
      add(std::string(kw) + " type " + std::to_string(*r_.icmp->type));
      if (r_.icmp->code) add(std::string(kw) + " code " + std::to_string(*r_.icmp->code));
    }
    if (r_.not_icmp && r_.not_icmp->type) {
      // notICMP with a code excludes only that (type, code) pair.
      if (r_.not_icmp->code)
        add(std::string(kw) + " type . " + kw + " code != " + std::to_string(*r_.not_icmp->type) + " . " +
            std::to_string(*r_.not_icmp->code));
      else
        add(std::string(kw) + " type != " + std::to_string(*r_.not_icmp->type));
    }
  }

  bool logs_allowed_flow() const {
    return ctx_.flow_decision && ctx_.flow_logs.log_allowed && (r_.action == Action::Allow || r_.action == Action::Pass);
  }

  std::string describe(Direction dir, size_t index) const {
    std::string what = ctx_.policy_label + " " + names::direction_name(dir) + " rule " + std::to_string(index);
    if (!r_.name.empty()) what += " " + r_.name;
    return what;
  }

  std::string allow_log_rule(const std::string& match, Direction dir, size_t index) const {
    std::string log = flow_allow_log(ctx_.flow_decision(r_, index), ctx_.flow_logs);
    return (match.empty() ? "" : match + " ") + log + " comment \"" + names::comment("flow log: " + describe(dir, index)) +
           "\"";
  }

  void verdict(Direction dir, size_t index) {
    std::string what = describe(dir, index);
    char mark[32];
    std::snprintf(mark, sizeof mark, "0x%08x", ctx_.verdict_mark);
    switch (r_.action) {
      case Action::Allow:
        add(std::string("counter meta mark set meta mark or ") + mark + " return");
        break;
      case Action::Pass:
        // One tier: passing skips the remaining policies and the tier's
        // default deny; the namespace profile that follows allows.
        add(std::string("counter meta mark set meta mark or ") + mark + " return");
        what += " (pass)";
        break;
      case Action::Deny:
        add(ctx_.flow_decision ? "counter " + flow_deny_verdict(ctx_.flow_decision(r_, index)) : "counter drop");
        break;
      case Action::Log:
        add("counter log prefix \"" + names::comment("wac " + ctx_.policy_label).substr(0, 60) + ": \" level info");
        break;
    }
    add("comment \"" + names::comment(what) + "\"");
  }

  const Rule& r_;
  std::optional<Family> f_;
  const RuleContext& ctx_;
  bool domain_for_selector_;
  std::string out_;
};

bool selects_destination(const Rule& r) {
  return !r.destination.selector.empty() || !r.destination.namespace_selector.empty();
}

// One rule per family for each allowedEgressDomains domain of the network
// sets the destination selector matches (egress Allow only, as Calico).
void append_netset_domain_rules(const Rule& rule, Direction dir, size_t index, const RuleContext& ctx,
                                std::vector<std::string>& out) {
  if (dir != Direction::Egress || rule.action != Action::Allow || !selects_destination(rule) || !ctx.netset_domains)
    return;
  for (const auto& domain : ctx.netset_domains(rule.destination.selector, rule.destination.namespace_selector)) {
    Rule one = rule;
    one.destination.domains = {domain};
    for (Family f : {Family::V4, Family::V6})
      if (rule_can_match(one, f)) RuleWriter(one, f, ctx, true).write(dir, index, out);
  }
}

}  // namespace

std::vector<std::string> render_rule(const Rule& rule, Direction dir, size_t index, const RuleContext& ctx) {
  std::vector<std::string> out;
  if (rule.destination.domains.size() > 1) {
    // Domains are alternatives: one nft rule per domain set.
    for (const auto& d : rule.destination.domains) {
      Rule one = rule;
      one.destination.domains = {d};
      auto part = render_rule(one, dir, index, ctx);
      out.insert(out.end(), part.begin(), part.end());
    }
    return out;
  }
  if (!family_specific(rule)) {
    RuleWriter(rule, std::nullopt, ctx).write(dir, index, out);
    return out;
  }
  for (Family f : {Family::V4, Family::V6}) {
    if (rule_can_match(rule, f)) RuleWriter(rule, f, ctx).write(dir, index, out);
  }
  append_netset_domain_rules(rule, dir, index, ctx, out);
  return out;
}

}  // namespace wac::agent
