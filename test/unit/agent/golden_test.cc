// The whole ruleset the agent renders for a small cluster, compared with a
// golden file that the kernel tests load with `nft -c -f` and `nft -f`.
// WAC_UPDATE_GOLDEN=1 rewrites the file.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "agent/calc.h"
#include "agent/syncer.h"

using namespace wac;
using namespace wac::agent;
using model::Action;

namespace {

Cidr C(const char* s) { return *Cidr::parse(s); }

model::Endpoint ep(const std::string& ns, const std::string& pod, const std::string& node, const char* v4,
                   const char* v6, model::Labels labels) {
  model::Endpoint e{ns, node + "-k8s-" + pod + "-eth0", node, pod, "cali" + pod, {C(v4)}, std::move(labels), {}, {}};
  if (v6) e.ip_networks.push_back(C(v6));
  return e;
}

model::Rule rule(Action a) {
  model::Rule r;
  r.action = a;
  return r;
}

std::string golden_ruleset() {
  CalcConfig cfg{"node1"};
  cfg.flow_logs = {true, 5354, 1000, /*log_allowed=*/true};  // denies and allows carry their decision ids
  Calculator c(cfg);
  c.upsert_namespace({"shop", {{"env", "prod"}}, {}});
  c.upsert_namespace({"tools", {{"env", "ops"}}, {}});
  c.upsert_endpoint(ep("shop", "db", "node1", "10.244.1.2/32", "fd00:244:0:1::2/128", {{"app", "db"}}));
  c.upsert_endpoint(ep("shop", "fe", "node1", "10.244.1.3/32", nullptr, {{"role", "frontend"}}));
  c.upsert_endpoint(ep("tools", "ops", "node2", "10.244.2.4/32", nullptr, {{"role", "ops"}}));
  // Its domains join the egress rule that selects it (learned-address sets).
  c.upsert_network_set(
      {"", "corp", {{"corp", "true"}}, {C("198.51.100.0/24"), C("2001:db8::/32")}, {"*.corp.example"}});

  model::Policy deny;  // order 10: Deny from bad, Log, Pass for ops
  deny.name = "deny-bad";
  deny.order = 10;
  deny.selector = "app == 'db'";
  deny.applies_ingress = true;
  model::Rule d = rule(Action::Deny);
  d.source.selector = "role == 'bad'";
  model::Rule log = rule(Action::Log);
  log.protocol = 17;
  model::Rule pass = rule(Action::Pass);
  pass.source.selector = "role == 'ops'";
  deny.ingress = {d, log, pass};
  c.upsert_policy({model::Kind::GlobalNetworkPolicy, "", "deny-bad"}, deny);

  model::Policy np;  // namespaced: frontends of this namespace and of prod-labelled namespaces
  np.ns = "shop";
  np.name = "db";
  np.order = 20;
  np.selector = "app == 'db'";
  np.applies_ingress = np.applies_egress = true;
  model::Rule fe = rule(Action::Allow);
  fe.protocol = 6;
  fe.source.selector = "role == 'frontend'";
  fe.destination.ports = {{5432, 5432, ""}, {6000, 6010, ""}};
  model::Rule cross = fe;
  cross.source.namespace_selector = "env == 'ops'";
  model::Rule ping = rule(Action::Allow);
  ping.protocol = 1;
  ping.icmp = model::IcmpMatch{8, std::nullopt};
  np.ingress = {fe, cross, ping};
  model::Rule corp = rule(Action::Allow);
  corp.destination.selector = "corp == 'true'";
  corp.destination.namespace_selector = "global()";
  model::Rule no_smtp = rule(Action::Deny);
  no_smtp.protocol = 6;
  no_smtp.destination.nets = {C("203.0.113.0/24")};
  no_smtp.destination.not_ports = {{25, 25, ""}};
  model::Rule api = rule(Action::Allow);  // a domain rule: DNS-learned addresses with kernel timeouts
  api.protocol = 6;
  api.destination.domains = {"api.example.com"};
  api.destination.ports = {{443, 443, ""}};
  np.egress = {corp, no_smtp, api};
  c.upsert_policy({model::Kind::NetworkPolicy, "shop", "db"}, np);
  c.recompute();
  return Syncer::full_plan(c.desired(), nft::Snapshot{}).render();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("rendered ruleset matches the golden file") {
  const std::string path = std::string(WAC_TEST_DATA) + "/golden/agent_ruleset.nft";
  std::string text = golden_ruleset();
  if (std::getenv("WAC_UPDATE_GOLDEN")) std::ofstream(path) << text;
  CHECK(text == read_file(path));
}
