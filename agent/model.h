// The validated model: what the API hands the agent after validation.
// Everything here is plain data; invariants (parsable selectors, masked
// CIDRs, port ranges in order) hold because api/ validated them.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "netlink/ip.h"

namespace wac::model {

using Labels = std::map<std::string, std::string>;

// Resource kinds; the string forms are the Calico/Kubernetes kind names.
enum class Kind {
  Namespace,
  WorkloadEndpoint,
  NetworkPolicy,        // projectcalico.org/v3, namespaced
  GlobalNetworkPolicy,  // projectcalico.org/v3
  NetworkSet,           // projectcalico.org/v3, namespaced
  GlobalNetworkSet,     // projectcalico.org/v3
  K8sNetworkPolicy,     // networking.k8s.io/v1 NetworkPolicy (stored translated, see below)
  EgressGateway,        // wac.dev/v1 (issue 4)
  SecurityGroup,        // wac.dev/v1, AWS describe-security-groups shape (issue 8)
};
const char* kind_name(Kind k);
std::optional<Kind> kind_from_name(std::string_view name);
bool kind_is_namespaced(Kind k);

// Identity of any resource: kind + namespace ("" for cluster-scoped) + name.
struct Key {
  Kind kind;
  std::string ns;
  std::string name;
  auto operator<=>(const Key&) const = default;
  std::string str() const;  // "NetworkPolicy default/allow-web"
};

// Label key Calico puts on every namespaced endpoint and network set.
inline constexpr const char* kNamespaceLabel = "projectcalico.org/namespace";
inline constexpr const char* kOrchestratorLabel = "projectcalico.org/orchestrator";
// Pod annotation naming the security groups a pod is in (Calico's AWS
// security group integration): a JSON list of group IDs.
inline constexpr const char* kSecurityGroupsAnnotation = "aws.tigera.io/security-groups";
// Membership label: every member of group G carries "sg.aws.tigera.io/G": ""
// (endpoints from the annotation; network sets may carry it to list hosts).
inline constexpr const char* kSecurityGroupLabelPrefix = "sg.aws.tigera.io/";

enum class Action { Allow, Deny, Log, Pass };
const char* action_name(Action a);  // "Allow", "Deny", "Log", "Pass"
enum class Direction { Ingress, Egress };

struct PortRange {
  uint16_t first = 0;
  uint16_t last = 0;    // == first for a single port
  std::string name;     // named port ("http"), resolved per endpoint; empty if numeric
  auto operator<=>(const PortRange&) const = default;
};

struct IcmpMatch {
  std::optional<uint8_t> type;
  std::optional<uint8_t> code;  // only with type
  auto operator<=>(const IcmpMatch&) const = default;
};

// Source or destination of a rule (Calico EntityRule).
struct EntityRule {
  std::vector<Cidr> nets;
  std::vector<Cidr> not_nets;
  std::string selector;            // Calico selector text, "" = none
  std::string not_selector;
  std::string namespace_selector;  // "" = none (same namespace for namespaced policy)
  std::vector<PortRange> ports;
  std::vector<PortRange> not_ports;
  std::vector<std::string> domains;  // destination of egress Allow rules only (canonical lower-case)
  auto operator<=>(const EntityRule&) const = default;
};

struct Rule {
  Action action = Action::Allow;
  uint8_t ip_version = 0;               // 0 = both, 4, 6
  std::optional<uint8_t> protocol;      // IP protocol number; nullopt = any
  std::optional<uint8_t> not_protocol;
  std::optional<IcmpMatch> icmp;
  std::optional<IcmpMatch> not_icmp;
  EntityRule source;
  EntityRule destination;
  std::string name;  // optional metadata name for display / flow logs
  auto operator<=>(const Rule&) const = default;
};

// Calico NetworkPolicy / GlobalNetworkPolicy, and Kubernetes NetworkPolicy
// translated the way Calico translates it ("knp.default.<name>", order 1000).
struct Policy {
  std::string ns;    // "" for global policies
  std::string name;  // for k8s policies: "knp.default.<name>"
  std::optional<double> order;  // nullopt sorts last ("infinite")
  std::string selector;         // endpoints the policy applies to ("" = all())
  std::string namespace_selector;  // GlobalNetworkPolicy only
  bool applies_ingress = false;    // `types`, defaulted as Calico does
  bool applies_egress = false;
  std::vector<Rule> ingress;
  std::vector<Rule> egress;
  bool from_k8s = false;
  auto operator<=>(const Policy&) const = default;
};

struct NamedPort {
  std::string name;
  uint8_t protocol = 6;
  uint16_t port = 0;
  auto operator<=>(const NamedPort&) const = default;
};

struct Endpoint {
  std::string ns;
  std::string name;           // WorkloadEndpoint name
  std::string node;
  std::string pod;
  std::string interface_name; // host-side interface ("cali1a2b3c4d5e6")
  std::vector<Cidr> ip_networks;  // host prefixes (/32, /128)
  Labels labels;                  // as given; namespace labels are added by the agent
  std::map<std::string, std::string> annotations;
  std::vector<NamedPort> ports;
  // Security group IDs from the aws.tigera.io/security-groups annotation,
  // sorted and unique; empty: the endpoint is in no group.
  std::vector<std::string> security_groups;
  auto operator<=>(const Endpoint&) const = default;
};

struct Namespace {
  std::string name;
  Labels labels;
  std::map<std::string, std::string> annotations;
  auto operator<=>(const Namespace&) const = default;
};

struct NetworkSet {
  std::string ns;  // "" for GlobalNetworkSet
  std::string name;
  Labels labels;
  std::vector<Cidr> nets;
  std::vector<std::string> allowed_egress_domains;
  auto operator<=>(const NetworkSet&) const = default;
};

// One AWS IpPermission, validated.  Allows traffic of the protocol (and
// ports) whose peer -- the source for ingress, the destination for egress --
// is in one of `cidrs` or a member of one of `groups`.
struct SecurityGroupPermission {
  std::optional<uint8_t> protocol;  // nullopt: all protocols ("-1")
  std::optional<PortRange> ports;   // tcp/udp destination ports; nullopt: all
  std::optional<IcmpMatch> icmp;    // icmp/icmpv6 type (and code); nullopt: all
  std::vector<Cidr> cidrs;          // IpRanges and Ipv6Ranges
  std::vector<std::string> groups;  // UserIdGroupPairs[].GroupId, sorted and unique
  auto operator<=>(const SecurityGroupPermission&) const = default;
};

// An AWS security group (wac.dev/v1 SecurityGroup): allow-only and stateful.
struct SecurityGroup {
  std::string id;    // GroupId, also the resource name
  std::string name;  // GroupName, for display
  std::string vpc_id;
  std::vector<SecurityGroupPermission> ingress;  // IpPermissions
  std::vector<SecurityGroupPermission> egress;   // IpPermissionsEgress
  auto operator<=>(const SecurityGroup&) const = default;
};

// Calico Enterprise's way of choosing an egress gateway: on a pod (first)
// or its namespace, a selector over gateway labels and, optionally, one over
// the labels of the gateway's namespace.
inline constexpr const char* kEgressSelectorAnnotation = "egress.projectcalico.org/selector";
inline constexpr const char* kEgressNamespaceSelectorAnnotation = "egress.projectcalico.org/namespaceSelector";

// One gateway of an EgressGateway: a node that SNATs to egress_ip.
struct EgressGatewayMember {
  std::string node;
  IpAddr node_ip;    // clients route to it (same family as egress_ip)
  IpAddr egress_ip;
  std::string interface;  // "" = the interface of the node's default route
  bool healthy = true;    // false: out of service through the API
  auto operator<=>(const EgressGatewayMember&) const = default;
};

struct EgressHealthCheck {
  enum class Protocol { ICMP, TCP, None };
  Protocol protocol = Protocol::ICMP;
  uint16_t port = 0;  // TCP
  uint32_t interval_ms = 1000;
  uint32_t timeout_ms = 500;
  uint32_t failure_threshold = 3;
  uint32_t success_threshold = 1;
  auto operator<=>(const EgressHealthCheck&) const = default;
};

// wac.dev/v1 EgressGateway (cluster-scoped).
struct EgressGateway {
  std::string name;
  Labels labels;                   // selected by the Calico Enterprise annotations
  std::string namespace_selector;  // canonical; both "" = annotation-selected only
  std::string selector;
  std::vector<Cidr> destinations;  // defaulted to 0.0.0.0/0 and ::/0
  std::vector<Cidr> excluded;
  std::optional<double> order;     // nullopt sorts last
  std::vector<EgressGatewayMember> gateways;
  EgressHealthCheck health_check;
  std::string gateway_namespace;   // for the namespaceSelector annotation
  auto operator<=>(const EgressGateway&) const = default;
};

}  // namespace wac::model

namespace wac::model {

using Body = std::variant<Namespace, Endpoint, Policy, NetworkSet, SecurityGroup, EgressGateway>;

struct Resource {
  Key key;
  Body body;
  // The resource as the client sent it (a serialized wac.v1.Resource), kept
  // so get/list return exactly what was applied.
  std::string source;
  bool operator==(const Resource&) const = default;
};

}  // namespace wac::model
