#include "api/control_format.h"

#include <sstream>

namespace wac::api {

namespace {

std::string policy_title(const v1::ExplainPolicy& p) {
  std::ostringstream out;
  out << p.kind() << " " << (p.namespace_().empty() ? "" : p.namespace_() + "/") << p.name();
  if (p.has_order()) out << " (order " << p.order() << ")";
  else out << " (no order)";
  return out.str();
}

void format_rule(const v1::ExplainRule& r, std::ostream& out) {
  out << "       rule " << r.index();
  if (!r.name().empty()) out << " \"" << r.name() << "\"";
  out << ": " << r.action() << " " << (r.match().empty() ? "everything" : r.match()) << "\n";
}

void format_direction(const v1::ExplainDirection& d, bool with_nft, std::ostream& out) {
  out << d.direction() << ": " << d.map() << " map -> chain " << d.chain() << "\n";
  for (const auto& chain : d.security_group_chains()) out << "  security group: chain " << chain << "\n";
  if (d.policies().empty()) out << "  no policy applies\n";
  int n = 0;
  for (const auto& p : d.policies()) {
    out << "  " << ++n << ". " << policy_title(p) << " -> chain " << p.chain() << "\n";
    if (p.rules().empty()) out << "       (no " << d.direction() << " rules: allows nothing)\n";
    for (const auto& r : p.rules()) format_rule(r, out);
    if (with_nft)
      for (const auto& rule : p.nft_rules()) out << "         nft: " << rule << "\n";
  }
  out << "  otherwise " << d.otherwise() << "\n";
}

}  // namespace

std::string format_explanation(const v1::ExplainResponse& e, bool with_nft) {
  std::ostringstream out;
  out << "Pod " << e.namespace_() << "/" << e.pod() << " (endpoint " << e.endpoint() << ", interface "
      << e.interface();
  for (const auto& a : e.addresses()) out << ", " << a;
  out << ")\n";
  if (!e.security_groups().empty()) {
    out << "Security groups:";
    for (const auto& g : e.security_groups()) out << " " << g;
    out << "\n";
  }
  out << "\n";
  format_direction(e.ingress(), with_nft, out);
  out << "\n";
  format_direction(e.egress(), with_nft, out);
  return out.str();
}

std::string format_reload(const v1::ReloadResponse& r) {
  std::ostringstream out;
  for (const auto& k : r.applied()) out << "applied: " << k << "\n";
  for (const auto& k : r.needs_restart()) out << "needs restart (running value kept): " << k << "\n";
  for (const auto& k : r.failed()) out << "failed (running value kept): " << k << "\n";
  if (r.applied().empty() && r.needs_restart().empty() && r.failed().empty()) out << "configuration unchanged\n";
  return out.str();
}

}  // namespace wac::api
