#include <catch2/catch.hpp>

#include "agent/render.h"

using namespace wac;
using namespace wac::agent;
using model::Action;
using model::Direction;

namespace {
RuleContext ctx() {
  RuleContext c;
  c.verdict_mark = 0x10000;
  c.policy_label = "gnp test";
  c.selector_set = [](const std::string& sel, const std::string& ns, Family f) {
    return std::string(f == Family::V4 ? "sel4-" : "sel6-") + sel;
  };
  c.domain_set = [](const std::string& d, Family f) { return std::string(f == Family::V4 ? "fqdn4-" : "fqdn6-") + d; };
  return c;
}
Cidr C(const char* s) { return *Cidr::parse(s); }
}  // namespace

TEST_CASE("allow rule with protocol and ports renders one family-neutral rule") {
  model::Rule r;
  r.protocol = 6;
  r.destination.ports = {{80, 80, ""}, {8000, 8080, ""}};
  auto out = render_rule(r, Direction::Ingress, 0, ctx());
  REQUIRE(out.size() == 1);
  CHECK(out[0] ==
        "meta l4proto tcp th dport { 80, 8000-8080 } counter meta mark set meta mark or 0x00010000 return "
        "comment \"gnp test ingress rule 0\"");
}

TEST_CASE("selector rule renders one rule per family with its set") {
  model::Rule r;
  r.action = Action::Deny;
  r.source.selector = "x";
  auto out = render_rule(r, Direction::Ingress, 3, ctx());
  REQUIRE(out.size() == 2);
  CHECK(out[0] == "ip saddr @sel4-x counter drop comment \"gnp test ingress rule 3\"");
  CHECK(out[1] == "ip6 saddr @sel6-x counter drop comment \"gnp test ingress rule 3\"");
}

TEST_CASE("nets restrict the rule to their family and drop covered CIDRs") {
  model::Rule r;
  r.destination.nets = {C("10.0.0.0/8"), C("10.1.0.0/16"), C("192.0.2.0/24")};
  r.destination.not_nets = {C("10.9.0.0/16")};
  auto out = render_rule(r, Direction::Egress, 0, ctx());
  REQUIRE(out.size() == 1);
  CHECK(out[0].starts_with("ip daddr { 10.0.0.0/8, 192.0.2.0/24 } ip daddr != 10.9.0.0/16 counter"));
}

TEST_CASE("ipVersion and ICMP choose the family") {
  model::Rule r;
  r.ip_version = 6;
  r.destination.nets = {C("10.0.0.0/8")};
  CHECK(render_rule(r, Direction::Egress, 0, ctx()).empty());

  model::Rule icmp;
  icmp.protocol = 1;
  icmp.icmp = model::IcmpMatch{8, 0};
  auto out = render_rule(icmp, Direction::Ingress, 0, ctx());
  REQUIRE(out.size() == 1);
  CHECK(out[0].starts_with("meta l4proto icmp icmp type 8 icmp code 0 counter"));

  model::Rule v4only;
  v4only.ip_version = 4;
  out = render_rule(v4only, Direction::Ingress, 0, ctx());
  REQUIRE(out.size() == 1);
  CHECK(out[0].starts_with("meta nfproto ipv4 counter"));
}

TEST_CASE("not-matches, log and pass") {
  model::Rule r;
  r.action = Action::Log;
  r.not_protocol = 17;
  r.source.not_selector = "bad";
  auto out = render_rule(r, Direction::Ingress, 1, ctx());
  REQUIRE(out.size() == 2);
  CHECK(out[0].find("meta l4proto != udp ip saddr != @sel4-bad counter log prefix") == 0);

  model::Rule pass;
  pass.action = Action::Pass;
  out = render_rule(pass, Direction::Egress, 2, ctx());
  REQUIRE(out.size() == 1);
  CHECK(out[0].find("return comment \"gnp test egress rule 2 (pass)\"") != std::string::npos);
}

TEST_CASE("each domain of a rule is its own alternative") {
  model::Rule r;
  r.protocol = 6;
  r.destination.ports = {{443, 443, ""}};
  r.destination.domains = {"api.example.com", "*.example.org"};
  auto out = render_rule(r, Direction::Egress, 0, ctx());
  REQUIRE(out.size() == 4);
  CHECK(out[0].starts_with("meta l4proto tcp ip daddr @fqdn4-api.example.com th dport 443"));
  CHECK(out[3].starts_with("meta l4proto tcp ip6 daddr @fqdn6-*.example.org th dport 443"));
}

namespace {
RuleContext flow_ctx(bool log_allowed) {
  RuleContext c = ctx();
  c.flow_logs = {true, 5354, 1000, log_allowed};
  c.flow_decision = [](const model::Rule& r, size_t index) { return uint32_t(0xabc00000 + index); };
  return c;
}
}  // namespace

TEST_CASE("with flow logs a Deny hands its decision id to the logging chain") {
  model::Rule r;
  r.action = Action::Deny;
  r.source.selector = "x";
  auto out = render_rule(r, Direction::Ingress, 3, flow_ctx(false));
  REQUIRE(out.size() == 2);
  CHECK(out[0] ==
        "ip saddr @sel4-x counter meta mark set 0xabc00003 goto flow-log-deny comment \"gnp test ingress rule 3\"");
  CHECK(out[1].starts_with("ip6 saddr @sel6-x counter meta mark set 0xabc00003 goto flow-log-deny"));

  model::Rule allow;
  allow.protocol = 6;
  CHECK(render_rule(allow, Direction::Ingress, 0, flow_ctx(false)).size() == 1);  // allowed flows: not logged
}

TEST_CASE("logging allowed flows puts a log rule with the same match before each Allow and Pass") {
  model::Rule r;
  r.protocol = 6;
  r.destination.ports = {{5432, 5432, ""}};
  auto out = render_rule(r, Direction::Ingress, 1, flow_ctx(true));
  REQUIRE(out.size() == 2);
  CHECK(out[0] ==
        "meta l4proto tcp th dport 5432 ct state new limit rate 1000/second burst 1000 packets "
        "log prefix \"wac-flow abc00001\" group 5354 comment \"flow log: gnp test ingress rule 1\"");
  CHECK(out[1] ==
        "meta l4proto tcp th dport 5432 counter meta mark set meta mark or 0x00010000 return "
        "comment \"gnp test ingress rule 1\"");

  model::Rule everything;  // no match at all: the log rule starts with its statements
  everything.action = Action::Pass;
  out = render_rule(everything, Direction::Egress, 0, flow_ctx(true));
  REQUIRE(out.size() == 2);
  CHECK(out[0].starts_with("ct state new limit rate 1000/second"));

  model::Rule log;  // a Calico Log rule neither allows nor denies
  log.action = Action::Log;
  CHECK(render_rule(log, Direction::Egress, 0, flow_ctx(true)).size() == 1);
}
