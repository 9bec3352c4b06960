// Egress gateway planning: from the model (EgressGateways, endpoints,
// namespaces), this node's name and its host view (links, addresses, main
// routes) to
//  - nftables: the chains that mark selected pods' packets (client side)
//    and SNAT the clients' traffic (gateway side), and their sets, written
//    into the calculator's DesiredState;
//  - policy routing: the fwmark rules, per-group routes and egress
//    addresses this node should have (netlink::RoutingState);
//  - the gateways this node must probe, and the status report.
// Pure: no kernel access, so every decision is unit-tested without root.
//
// A gateway group is one EgressGateway resource.  It gets a slot from the
// configured table range and mark mask: table = first + slot, mark =
// (slot + 1) << shift of the mask.  Its sets hold every cluster member's
// addresses (client nodes mark only their own pods' packets: the mark chain
// sees only packets from workload interfaces; gateway nodes SNAT packets
// arriving from members anywhere).
//
// Packet path, client node:
//   prerouting (filter, dstnat+10, after service DNAT): a packet from a
//   workload interface to a group's destinations, not to the cluster's own
//   ranges, gets the group's mark (first group in order, then name) ->
//   `ip rule fwmark MARK/MASK lookup TABLE` -> ECMP route over the gateways
//   -> forward (the pod's egress policy applies as always) -> postrouting
//   (nat, srcnat-10): a marked packet leaving for a gateway node keeps its
//   pod address (a null SNAT binding, so the node's own masquerade, at
//   srcnat, does not rewrite it first).
// Gateway node:
//   postrouting (nat, srcnat-10): a member's packet to the group's
//   destinations leaving through the gateway's uplink is SNATed to the
//   egress IP (masquerade when the egress IP is the uplink's own primary
//   address); replies follow conntrack.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/calc.h"
#include "agent/cidr_set.h"
#include "agent/config.h"
#include "agent/egress_report.h"
#include "agent/model.h"
#include "agent/selector.h"
#include "netlink/route.h"

namespace wac::agent::egress {

inline constexpr const char* kMarkChain = "egress-mark";      // base: filter prerouting
inline constexpr const char* kSelectChain = "egress-select";  // first matching group marks
inline constexpr const char* kNatChain = "egress-nat";        // base: nat postrouting
inline constexpr int kMarkPriority = -90;                     // dstnat + 10
inline constexpr int kNatPriority = 90;                       // srcnat - 10

struct Settings {
  std::string node_name;
  EgressConfig config;
  std::vector<std::string> iface_prefixes{"cali"};
};

// One gateway of one group.
struct MemberId {
  std::string group;
  std::string node;
  IpAddr egress_ip;
  auto operator<=>(const MemberId&) const = default;
};

enum class ProbeState { Unknown, Up, Down };

struct ProbeTarget {
  MemberId id;
  IpAddr node_ip;
  model::EgressHealthCheck check;
  bool operator==(const ProbeTarget&) const = default;
};

// Host settings the plan needs (the kernel side decides what to write).
struct SysctlPlan {
  bool forward4 = false, forward6 = false;          // net.ipv{4,6} forwarding on
  bool hash_l4_v4 = false, hash_l4_v6 = false;      // fib_multipath_hash_policy = 1 (per flow)
  std::set<std::string> loose_rp_filter;            // IPv4 interfaces: strict rp_filter -> loose
  bool operator==(const SysctlPlan&) const = default;
};

struct RoutingPlan {
  netlink::RoutingState state;
  SysctlPlan sysctls;
  std::vector<std::string> problems;
};

// Parsed Calico Enterprise annotations of a pod or namespace.
struct AnnotationChoice {
  selector::Selector selector;
  std::optional<selector::Selector> namespace_selector;
};
std::optional<AnnotationChoice> annotation_choice(const std::map<std::string, std::string>& annotations);

// Labels a namespaceSelector sees: the namespace's own plus Calico's and
// Kubernetes' automatic name labels.
model::Labels namespace_labels(const std::string& name, const model::Labels& own);

class Planner {
 public:
  Planner(Settings settings, DesiredState& desired);
  ~Planner();
  Planner(const Planner&) = delete;
  Planner& operator=(const Planner&) = delete;

  void upsert_gateway(const model::EgressGateway& g);
  void remove_gateway(const std::string& name);
  void upsert_endpoint(const model::Endpoint& ep);
  void remove_endpoint(const std::string& ns, const std::string& name);
  void upsert_namespace(const model::Namespace& ns);
  void remove_namespace(const std::string& name);
  // From the prober: Down takes a gateway out of this node's routes.
  // Returns true when the state changed.
  bool set_probe(const MemberId& id, ProbeState state, const std::string& detail);

  // Brings memberships, slots and the egress chains and sets in the
  // DesiredState up to date.
  void recompute(const netlink::HostView& host);

  bool active() const { return !groups_.empty(); }
  // After a successful nftables sync: sets of removed groups, emptied by
  // that sync, can go now.  True when some did (another sync removes them).
  bool synced();
  RoutingPlan routing(const netlink::HostView& host) const;
  std::vector<ProbeTarget> probe_targets() const;
  EgressReport report(const netlink::HostView& host) const;

  // For tests and status: the group's slot (table, mark), if it has one.
  std::optional<std::pair<uint32_t, uint32_t>> table_and_mark(const std::string& group) const;
  // Local pods ("ns/pod") and all members' keys ("ns/name") of a group.
  std::vector<std::string> local_pods(const std::string& group) const;
  std::set<std::string> members(const std::string& group) const;

 private:
  struct Endpoint;
  struct Namespace;
  struct Group;

  bool is_member(const Group& g, const Endpoint& ep) const;
  void refresh_membership(const std::string& key);
  void join(Group& g, const Endpoint& ep);
  void leave(Group& g, const Endpoint& ep);
  void create_sets(Group& g);
  void erase_sets(Group& g);
  void update_nets(Group& g, const model::EgressGateway& next);
  void allocate_slots();
  void render_chains(const netlink::HostView& host);
  void render_shared_sets();
  void erase_everything();
  std::vector<const Group*> in_order() const;
  std::string nat_rule(const Group& g, const model::EgressGatewayMember& m, const netlink::HostView& host,
                       std::vector<std::string>* problems) const;
  std::optional<netlink::NextHop> next_hop(const Group& g, const model::EgressGatewayMember& m, const Cidr& dst,
                                           const netlink::HostView& host, std::string* why) const;
  const netlink::HostLink* uplink(const model::EgressGatewayMember& m, const netlink::HostView& host) const;
  bool has_local_member(const Group& g) const;
  uint32_t slot_capacity() const;

  Settings settings_;
  DesiredState& desired_;
  std::map<std::string, std::unique_ptr<Endpoint>> endpoints_;  // "ns/name"
  std::map<std::string, Namespace> namespaces_;
  std::map<std::string, std::set<std::string>> endpoints_by_ns_;
  std::map<std::string, std::unique_ptr<Group>> groups_;
  std::map<MemberId, std::pair<ProbeState, std::string>> probes_;
  std::set<std::string> dirty_endpoints_;
  std::set<std::string> dirty_groups_;  // re-evaluate every endpoint against these
  std::set<uint32_t> used_slots_;
  std::set<IpAddr> gateway_nodes_;      // elements of the egress-gateways sets
  bool shared_sets_ = false;
  std::set<std::string> retired_sets_;  // emptied; erased after the next sync
};

// ---------------------------------------------------------------- apply checks

// The store as it would be after a request: what the checks see.
struct ClusterView {
  std::vector<const model::EgressGateway*> gateways;
  std::vector<const model::Endpoint*> endpoints;
  std::map<std::string, const model::Namespace*> namespaces;
};

// Checks that need more than one resource, for the gateways named in
// `changed`: another gateway that can match the same traffic with the same
// order; a gateway on an unknown node (a node is known when it is this
// node, runs a WorkloadEndpoint, or is listed in egress.gatewayNodes); an
// egress IP already used by another node.  Messages name the resource and
// field: "EgressGateway b: spec.order: ...".
std::vector<std::string> check_gateways(const ClusterView& after, const std::set<std::string>& changed,
                                        const Settings& settings);

}  // namespace wac::agent::egress
