// Security groups in the calculation: which chains and sets exist, the
// stage in the pod chain (union of groups, drop when none allows, before
// Calico policy), deny-all without rules, membership sets that follow pods,
// and groups named before they are defined.
#include <catch2/catch.hpp>

#include <algorithm>

#include "agent/calc.h"
#include "agent/render.h"
#include "agent/security_groups.h"
#include "agent/syncer.h"
#include "nft/fake.h"

using namespace wac;
using namespace wac::agent;
using model::Direction;

namespace {

const std::string A = "sg-0aaaaaaa";  // web: TCP 80 from B, egress to one CIDR
const std::string B = "sg-0bbbbbbb";  // clients: egress TCP 80 to A, no ingress rules
const std::string U = "sg-0fffffff";  // named by pods, never defined

Cidr C(const char* s) { return *Cidr::parse(s); }

model::Endpoint ep(const std::string& pod, const std::string& node, const std::string& ip,
                   std::vector<std::string> groups, model::Labels labels = {}) {
  model::Endpoint e;
  e.ns = "default";
  e.name = node + "-k8s-" + pod + "-eth0";
  e.pod = pod;
  e.node = node;
  e.interface_name = "cali" + pod;
  e.ip_networks = {C(ip.c_str())};
  e.labels = std::move(labels);
  e.security_groups = std::move(groups);
  return e;
}

model::SecurityGroupPermission allow_tcp(uint16_t port, std::vector<Cidr> cidrs, std::vector<std::string> groups) {
  model::SecurityGroupPermission p;
  p.protocol = 6;
  p.ports = model::PortRange{port, port, ""};
  p.cidrs = std::move(cidrs);
  p.groups = std::move(groups);
  return p;
}

model::SecurityGroup group_a() {
  model::SecurityGroup sg{A, "web", "vpc-1", {}, {}};
  sg.ingress = {allow_tcp(80, {}, {B})};
  model::SecurityGroupPermission out;  // all protocols to the external host's network
  out.cidrs = {C("198.51.100.0/24")};
  sg.egress = {out};
  return sg;
}

model::SecurityGroup group_b() {
  model::SecurityGroup sg{B, "clients", "vpc-1", {}, {}};
  sg.egress = {allow_tcp(80, {}, {A})};
  return sg;
}

const std::vector<std::string>& rules(Calculator& c, const std::string& chain) {
  INFO(chain);
  REQUIRE(c.desired().chains.count(chain));
  return c.desired().chains.at(chain).rules;
}

std::vector<std::string> elements(Calculator& c, const std::string& set) {
  std::vector<std::string> out;
  for (const auto& [k, e] : c.desired().sets.at(set).elements.elements()) out.push_back(k);
  return out;
}

// The set a rule reads ("@sel4-..."), or "".
std::string set_of(const std::string& rule) {
  auto at = rule.find('@');
  if (at == std::string::npos) return "";
  return rule.substr(at + 1, rule.find(' ', at) - at - 1);
}

bool has(const std::vector<std::string>& rules, const std::string& text) {
  return std::any_of(rules.begin(), rules.end(),
                     [&](const std::string& r) { return r.find(text) != std::string::npos; });
}

struct World {
  Calculator calc{CalcConfig{"node1"}};
  World() {
    calc.upsert_security_group(group_a());
    calc.upsert_security_group(group_b());
    calc.upsert_endpoint(ep("web", "node1", "10.244.1.2/32", {A}));
    calc.upsert_endpoint(ep("client", "node1", "10.244.1.3/32", {B}));
    calc.upsert_endpoint(ep("remote-client", "node2", "10.244.2.3/32", {B}));
    calc.upsert_endpoint(ep("plain", "node1", "10.244.1.4/32", {}));
    calc.recompute();
  }
};

}  // namespace

TEST_CASE("sg: a permission becomes Allow rules, one per peer kind, peer on the right side") {
  model::SecurityGroupPermission p = allow_tcp(443, {C("192.0.2.0/24"), C("2001:db8::/32")}, {A, B});
  auto in = security_group_rules(p, Direction::Ingress);
  REQUIRE(in.size() == 3);
  CHECK(in[0].source.nets == p.cidrs);
  CHECK(in[0].destination.ports == std::vector<model::PortRange>{{443, 443, ""}});
  CHECK(in[1].source.selector == "has(sg.aws.tigera.io/sg-0aaaaaaa)");
  CHECK(in[1].name == "from sg-0aaaaaaa");
  CHECK(in[2].source.selector == "has(sg.aws.tigera.io/sg-0bbbbbbb)");
  for (const auto& r : in) CHECK(r.action == model::Action::Allow);
  auto out = security_group_rules(p, Direction::Egress);
  REQUIRE(out.size() == 3);
  CHECK(out[0].destination.nets == p.cidrs);
  CHECK(out[0].source == model::EntityRule{});
  CHECK(out[2].destination.selector == "has(sg.aws.tigera.io/sg-0bbbbbbb)");
  CHECK(out[2].destination.ports == std::vector<model::PortRange>{{443, 443, ""}});
  // ICMP type without code, and no peers at all: nothing to allow.
  model::SecurityGroupPermission ping;
  ping.protocol = 1;
  ping.icmp = model::IcmpMatch{8, std::nullopt};
  ping.cidrs = {C("10.0.0.0/8")};
  REQUIRE(security_group_rules(ping, Direction::Ingress).size() == 1);
  CHECK(security_group_rules(ping, Direction::Ingress)[0].icmp == ping.icmp);
  CHECK(security_group_rules(model::SecurityGroupPermission{}, Direction::Ingress).empty());
}

TEST_CASE("sg: pod chains get a security group stage, pods in no group are unaffected") {
  World w;
  auto& c = w.calc;
  const auto& web_in = rules(c, "pod-default/web-ingress");
  REQUIRE(web_in.size() == 3);
  CHECK(web_in[0] == "meta mark set meta mark and 0xfffeffff");
  CHECK(web_in[1] == "jump sg-0aaaaaaa-ingress");
  CHECK(web_in[2] == "meta mark and 0x00010000 == 0 counter drop comment \"security groups sg-0aaaaaaa: no rule "
                     "allows this\"");
  const auto& web_out = rules(c, "pod-default/web-egress");
  REQUIRE(web_out.size() == 5);  // anti-spoof (2) first
  CHECK(web_out[3] == "jump sg-0aaaaaaa-egress");
  CHECK(rules(c, "pod-default/plain-ingress").empty());
  CHECK(rules(c, "pod-default/plain-egress").size() == 2);  // anti-spoof only

  // Group chains: A's ingress allows TCP 80 from B's members (a shared set).
  const auto& a_in = rules(c, "sg-0aaaaaaa-ingress");
  REQUIRE(a_in.size() == 2);  // IPv4 and IPv6 members of B
  CHECK(a_in[0].starts_with("meta l4proto tcp ip saddr @sel4-"));
  CHECK(a_in[0].find("th dport 80 counter meta mark set meta mark or 0x00010000 return comment \"sg sg-0aaaaaaa "
                     "(web) ingress rule 0 from sg-0bbbbbbb\"") != std::string::npos);
  std::string b_members = set_of(a_in[0]);
  CHECK(c.desired().sets.at(b_members).decl.comment == "has(sg.aws.tigera.io/sg-0bbbbbbb)");
  CHECK(elements(c, b_members) == std::vector<std::string>{"10.244.1.3", "10.244.2.3"});
  CHECK(rules(c, "sg-0aaaaaaa-egress") ==
        std::vector<std::string>{"ip daddr 198.51.100.0/24 counter meta mark set meta mark or 0x00010000 return "
                                 "comment \"sg sg-0aaaaaaa (web) egress rule 0\""});
  CHECK(c.desired().chains.at("sg-0aaaaaaa-ingress").comment == "sg sg-0aaaaaaa (web) ingress");

  // B has no ingress rules: its members accept nothing new.
  CHECK(rules(c, "sg-0bbbbbbb-ingress").empty());
  CHECK(c.desired().chains.at("sg-0bbbbbbb-ingress").comment ==
        "sg sg-0bbbbbbb (clients) ingress: no rules, allows nothing");
  const auto& b_out = rules(c, "sg-0bbbbbbb-egress");
  REQUIRE(b_out.size() == 2);
  CHECK(elements(c, set_of(b_out[0])) == std::vector<std::string>{"10.244.1.2"});

  // The whole state is consistent: every jump and set exists.
  nft::FakeBackend kernel;
  Syncer syncer{kernel};
  auto r = syncer.sync(c.desired());
  INFO(r.status.message());
  CHECK(r.status.ok());
}

TEST_CASE("sg: a group with no egress rules denies all egress") {
  Calculator c({"node1"});
  model::SecurityGroup db{"sg-0ccccccc", "db", "", {allow_tcp(5432, {C("10.244.0.0/16")}, {})}, {}};
  c.upsert_security_group(db);
  c.upsert_endpoint(ep("db", "node1", "10.244.1.9/32", {"sg-0ccccccc"}));
  c.recompute();
  CHECK(rules(c, "sg-0ccccccc-egress").empty());
  CHECK(has(rules(c, "pod-default/db-egress"), "jump sg-0ccccccc-egress"));
  CHECK(has(rules(c, "pod-default/db-egress"), "== 0 counter drop"));
}

TEST_CASE("sg: a pod in several groups gets the union, later groups only while nothing allowed yet") {
  World w;
  auto& c = w.calc;
  c.upsert_endpoint(ep("both", "node1", "10.244.1.5/32", {A, B}));
  c.recompute();
  const auto& in = rules(c, "pod-default/both-ingress");
  REQUIRE(in.size() == 4);
  CHECK(in[1] == "jump sg-0aaaaaaa-ingress");
  CHECK(in[2] == "meta mark and 0x00010000 == 0 jump sg-0bbbbbbb-ingress");
  CHECK(in[3].find("security groups sg-0aaaaaaa, sg-0bbbbbbb: no rule allows this") != std::string::npos);
  // Being in both, it is also a member of each group's set.
  std::string a_members = set_of(rules(c, "sg-0bbbbbbb-egress")[0]);
  CHECK(elements(c, a_members) == std::vector<std::string>{"10.244.1.2", "10.244.1.5"});
}

TEST_CASE("sg: group membership sets follow pods as they come, change groups and go") {
  World w;
  auto& c = w.calc;
  std::string b_members = set_of(rules(c, "sg-0aaaaaaa-ingress")[0]);
  auto chains_before = c.desired().chains;

  // A pod elsewhere joins B: an element, no chain changes.
  c.upsert_endpoint(ep("new-client", "node3", "10.244.3.7/32", {B}));
  c.recompute();
  CHECK(elements(c, b_members) == std::vector<std::string>{"10.244.1.3", "10.244.2.3", "10.244.3.7"});
  CHECK(c.desired().chains == chains_before);

  // Its annotation removed: it leaves the set at once.
  c.upsert_endpoint(ep("remote-client", "node2", "10.244.2.3/32", {}));
  c.recompute();
  CHECK(elements(c, b_members) == std::vector<std::string>{"10.244.1.3", "10.244.3.7"});

  // A host listed for the group by a labelled network set.
  c.upsert_network_set({"", "b-hosts", {{security_group_label(B), ""}}, {C("192.0.2.10/32")}, {}});
  c.recompute();
  CHECK(elements(c, b_members) == std::vector<std::string>{"10.244.1.3", "10.244.3.7", "192.0.2.10"});

  c.remove_endpoint("default", "node3-k8s-new-client-eth0");
  c.recompute();
  CHECK(elements(c, b_members) == std::vector<std::string>{"10.244.1.3", "192.0.2.10"});
  CHECK(c.desired().chains == chains_before);
}

TEST_CASE("sg: a local pod leaving its groups loses the stage, unused group chains and sets go") {
  World w;
  auto& c = w.calc;
  std::string b_members = set_of(rules(c, "sg-0aaaaaaa-ingress")[0]);
  c.upsert_endpoint(ep("web", "node1", "10.244.1.2/32", {}));
  c.recompute();
  CHECK(rules(c, "pod-default/web-ingress").empty());
  CHECK_FALSE(c.desired().chains.count("sg-0aaaaaaa-ingress"));
  CHECK_FALSE(c.desired().chains.count("sg-0aaaaaaa-egress"));
  CHECK_FALSE(c.desired().sets.count(b_members));  // only A's rules used it
  CHECK(c.desired().chains.count("sg-0bbbbbbb-egress"));  // the client still uses B

  c.remove_endpoint("default", "node1-k8s-client-eth0");
  c.recompute();
  CHECK_FALSE(c.desired().chains.count("sg-0bbbbbbb-egress"));
  CHECK(c.selector_set_count() == 0);
}

TEST_CASE("sg: a group named before it is defined allows nothing, then its rules apply") {
  Calculator c({"node1"});
  c.upsert_endpoint(ep("early", "node1", "10.244.1.8/32", {U}));
  c.recompute();
  CHECK(rules(c, "sg-0fffffff-ingress").empty());
  CHECK(c.desired().chains.at("sg-0fffffff-egress").comment == "sg sg-0fffffff egress: not defined, allows nothing");
  CHECK(has(rules(c, "pod-default/early-ingress"), "jump sg-0fffffff-ingress"));
  auto pod_chain = c.desired().chains.at("pod-default/early-ingress");

  model::SecurityGroup sg{U, "late", "", {allow_tcp(22, {C("192.0.2.0/24")}, {})}, {}};
  c.upsert_security_group(sg);
  c.recompute();
  REQUIRE(rules(c, "sg-0fffffff-ingress").size() == 1);
  CHECK(c.desired().chains.at("pod-default/early-ingress") == pod_chain);  // only the group chain changed

  c.remove_security_group(U);
  c.recompute();
  CHECK(rules(c, "sg-0fffffff-ingress").empty());
  CHECK(c.desired().chains.at("pod-default/early-ingress") == pod_chain);
}

TEST_CASE("sg: security groups come before Calico policy, and both must allow") {
  World w;
  auto& c = w.calc;
  model::Policy deny;
  deny.name = "deny-web";
  deny.order = 1;
  deny.selector = "has(sg.aws.tigera.io/sg-0aaaaaaa)";  // Calico policy may select by membership
  deny.applies_ingress = true;
  model::Rule r;
  r.action = model::Action::Deny;
  deny.ingress = {r};
  c.upsert_policy({model::Kind::GlobalNetworkPolicy, "", "deny-web"}, deny);
  c.recompute();
  const auto& in = rules(c, "pod-default/web-ingress");
  REQUIRE(in.size() == 7);
  CHECK(in[1] == "jump sg-0aaaaaaa-ingress");
  CHECK(in[2].find("== 0 counter drop") != std::string::npos);
  CHECK(in[3] == "meta mark set meta mark and 0xfffeffff");  // the policies start afresh
  CHECK(in[4] == "jump gnp-deny-web-ingress");
  CHECK(in[6].find("default deny") != std::string::npos);
  // Not a member, not selected.
  CHECK(rules(c, "pod-default/plain-ingress").empty());
}

TEST_CASE("sg: ICMP and protocol numbers render per family") {
  Calculator c({"node1"});
  model::SecurityGroupPermission ping;
  ping.protocol = 1;
  ping.icmp = model::IcmpMatch{8, std::nullopt};
  ping.cidrs = {C("10.0.0.0/8"), C("fd00::/8")};  // icmp cannot match IPv6: no rule for it
  model::SecurityGroupPermission v6;
  v6.protocol = 58;
  v6.cidrs = {C("fd00::/8")};
  model::SecurityGroupPermission esp;
  esp.protocol = 50;
  esp.groups = {"sg-0ddddddd"};
  c.upsert_security_group({"sg-0ccccccc", "", "", {ping, v6, esp}, {}});
  c.upsert_endpoint(ep("p", "node1", "10.244.1.2/32", {"sg-0ccccccc"}));
  c.recompute();
  const auto& in = rules(c, "sg-0ccccccc-ingress");
  REQUIRE(in.size() == 4);
  CHECK(in[0].starts_with("meta l4proto icmp ip saddr 10.0.0.0/8 icmp type 8 counter"));
  CHECK(in[1].starts_with("meta l4proto ipv6-icmp ip6 saddr fd00::/8 counter"));
  CHECK(in[2].starts_with("meta l4proto 50 ip saddr @sel4-"));
  CHECK(in[3].starts_with("meta l4proto 50 ip6 saddr @sel6-"));
}
