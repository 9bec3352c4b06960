// Decision ids: stable, unique, mapped back; the rule text that carries them.
#include <catch2/catch.hpp>

#include "agent/flow_decisions.h"

using namespace wac;
using namespace wac::agent;

namespace {

FlowDecision rule_decision(size_t index, model::Action action = model::Action::Deny) {
  FlowDecision d;
  d.allowed = action != model::Action::Deny;
  d.policy = model::Key{model::Kind::GlobalNetworkPolicy, "", "deny-bad"};
  d.rule_index = index;
  d.rule_action = action;
  return d;
}

}  // namespace

TEST_CASE("a decision's id is stable across tables and maps back to it") {
  FlowDecisions a, b;
  uint32_t id = a.add("gnp-deny-bad-ingress", "rule 0", rule_decision(0));
  CHECK(id != 0);
  CHECK(b.add("gnp-deny-bad-ingress", "rule 0", rule_decision(0)) == id);  // a restarted wacd computes the same
  CHECK(a.add("gnp-deny-bad-ingress", "rule 0", rule_decision(0)) == id);  // the IPv6 twin of the rule
  auto found = a.find(id);
  REQUIRE(found);
  CHECK(found->policy->name == "deny-bad");
  CHECK(found->chain == "gnp-deny-bad-ingress");
  CHECK(a.add("gnp-deny-bad-ingress", "rule 1", rule_decision(1)) != id);
  CHECK(a.add("gnp-deny-bad-egress", "rule 0", rule_decision(0)) != id);
  CHECK_FALSE(a.find(id + 12345));
}

TEST_CASE("colliding hashes take the next free id") {
  FlowDecisions t([](std::string_view) { return 0xffffffffu; });
  uint32_t first = t.add("c", "rule 0", rule_decision(0));
  uint32_t second = t.add("c", "rule 1", rule_decision(1));
  uint32_t third = t.add("c", "rule 2", rule_decision(2));
  CHECK(first == 0xffffffffu);
  CHECK(second == 1);  // wraps, skipping 0 (a packet without a mark)
  CHECK(third == 2);
  CHECK(t.find(second)->rule_index == 1);
  CHECK(t.add("c", "rule 1", rule_decision(1)) == second);  // the same key finds its own id again
}

TEST_CASE("a removed decision stays readable for the grace period, then its id is free") {
  auto now = FlowDecisions::Clock::now();
  FlowDecisions t([](std::string_view) { return 7u; }, std::chrono::seconds(60));
  t.set_clock([&] { return now; });
  uint32_t id = t.add("gnp-x-ingress", "rule 0", rule_decision(0));
  t.erase_chain("gnp-x-ingress");
  CHECK(t.find(id));  // a packet logged before the sync that removed the rule
  CHECK(t.add("gnp-y-ingress", "rule 0", rule_decision(0)) == 8);  // not yet reusable

  now += std::chrono::seconds(61);
  CHECK(t.add("gnp-z-ingress", "rule 0", rule_decision(0)) == 7);  // taken over
  CHECK(t.find(7)->chain == "gnp-z-ingress");
}

TEST_CASE("re-rendering a chain keeps its ids and retires the rules that went") {
  auto now = FlowDecisions::Clock::now();
  FlowDecisions t(FlowDecisions::default_hash, std::chrono::seconds(60));
  t.set_clock([&] { return now; });
  uint32_t r0 = t.add("gnp-p-ingress", "rule 0", rule_decision(0));
  uint32_t r1 = t.add("gnp-p-ingress", "rule 1", rule_decision(1));
  t.begin_chain("gnp-p-ingress");
  CHECK(t.add("gnp-p-ingress", "rule 0", rule_decision(0, model::Action::Allow)) == r0);
  CHECK(t.find(r0)->allowed);  // the new content
  now += std::chrono::seconds(120);
  t.add("other", "rule 0", rule_decision(0));  // any write purges what is past its grace
  CHECK(t.find(r0));
  CHECK_FALSE(t.find(r1));
}

TEST_CASE("pod chain decisions name their pod") {
  model::Endpoint ep{"shop", "node1-k8s-db-eth0", "node1", "db", "calidb", {}, {}, {}, {}};
  auto d = pod_flow_decision(ep, model::Direction::Egress, FlowReason::DefaultDeny);
  CHECK(d.ns == "shop");
  CHECK(d.pod == "db");
  CHECK(d.endpoint == "node1-k8s-db-eth0");
  CHECK(std::string(reason_name(d.reason)) == "default-deny");
}

TEST_CASE("the rule text carries the id in the mark (deny) or the prefix (allow)") {
  FlowLogRender r{true, 5354, 1000, true};
  CHECK(flow_deny_verdict(0x5e1f03a2) == "meta mark set 0x5e1f03a2 goto flow-log-deny");
  CHECK(flow_allow_log(0x5e1f03a2, r) ==
        "ct state new limit rate 1000/second burst 1000 packets log prefix \"wac-flow 5e1f03a2\" group 5354");
  nft::Chain c = flow_log_deny_chain(r);
  CHECK(c.name == "flow-log-deny");
  REQUIRE(c.rules.size() == 2);
  CHECK(c.rules[0] == "limit rate 1000/second burst 1000 packets counter log prefix \"wac-flow\" group 5354 drop");
  CHECK(c.rules[1] == "counter drop comment \"not logged: over flowLogs.kernelRateLimit\"");
}

TEST_CASE("decision ids are read back from prefix and mark") {
  CHECK(decision_id("wac-flow", 0x5e1f03a2) == 0x5e1f03a2u);
  CHECK(decision_id("wac-flow 5e1f03a2", 0x10000) == 0x5e1f03a2u);
  CHECK_FALSE(decision_id("wac gnp x: ", 1));      // a Calico Log rule's prefix
  CHECK_FALSE(decision_id("wac-flow 5e1f03", 1));   // too short
  CHECK_FALSE(decision_id("wac-flow 5e1f03zz", 1));
  CHECK_FALSE(decision_id("wac-flowx5e1f03a2", 1));
  CHECK_FALSE(decision_id("", 1));
}
