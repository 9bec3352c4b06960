// wac.v1 resources -> the validated model (agent/model.h).
//
// Every check Calico (and Kubernetes, for networking.k8s.io/v1
// NetworkPolicy) makes is made here, plus limits that keep hostile input
// cheap.  Each problem names the resource and the field path:
//   NetworkPolicy default/allow-web: spec.ingress[0].source.nets[1]: invalid CIDR "10.0.0.300/8"
//
// Decisions worth knowing:
//  - CIDRs in rule nets/notNets, ipBlock and network set nets may have host
//    bits set ("10.0.0.1/8"); they are masked, as Calico does.  Workload
//    endpoint ipNetworks must be host prefixes (/32, /128 or bare addresses).
//  - A rule mixing IPv4 and IPv6 CIDRs, or CIDRs of the other family than its
//    ipVersion (or than its ICMP/ICMPv6 protocol), is rejected, as Calico does.
//  - Empty `types` is defaulted as Calico does: [Ingress] without egress
//    rules, [Egress] with egress but no ingress rules, both with both.
//    Kubernetes policyTypes is defaulted as Kubernetes does: Ingress always,
//    plus Egress when the policy has egress rules.
//  - Selectors are stored in their canonical text (Selector::canonical()).
//    global() is accepted only as a whole EntityRule namespaceSelector.
//  - domains are accepted only in the destination of egress Allow rules, not
//    combined with nets/notNets/selector/notSelector/namespaceSelector there;
//    they are stored canonical (lower case, no trailing dot), deduplicated.
//  - Calico NetworkPolicy names starting "knp." are reserved: Kubernetes
//    policies are stored as "knp.default.<name>" in the same namespace.
//  - Label keys starting "pcns." are reserved (namespace labels, as seen by
//    namespaceSelector); "projectcalico.org/namespace" must equal the
//    resource's namespace and is refused on global resources.
//  - Fields wac does not implement (serviceAccountSelector, serviceAccounts,
//    services, http, doNotTrack/preDNAT/applyOnForward true, tiers other than
//    "default") are rejected rather than ignored, since ignoring a match
//    would widen what a rule allows.  So are unknown proto fields.
//  - Kubernetes NetworkPolicy is converted as Calico converts it (one rule
//    per protocol and peer, ports of a protocol merged), except that Calico's
//    extra `projectcalico.org/orchestrator == 'k8s'` term is not added; an
//    empty podSelector becomes "all()" (in a peer: all pods of the namespace).
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "agent/model.h"
#include "wac/v1/wac.pb.h"

namespace wac::api {

// Limits (documented in the README's API section).
inline constexpr size_t kMaxResourcesPerRequest = 1'000'000;
inline constexpr size_t kMaxRulesPerDirection = 1000;     // after Kubernetes expansion too
inline constexpr size_t kMaxEntriesPerRuleField = 10'000;  // nets, ports, domains of one rule
inline constexpr size_t kMaxNetsPerNetworkSet = 1'000'000;
inline constexpr size_t kMaxDomainsPerNetworkSet = 10'000;
inline constexpr size_t kMaxLabels = 256;                  // per resource
inline constexpr size_t kMaxAnnotationBytes = 256 * 1024;  // keys + values, as Kubernetes
inline constexpr size_t kMaxSelectorTerms = 1000;          // Kubernetes matchLabels + matchExpressions
inline constexpr size_t kMaxStringBytes = 64 * 1024;       // any other single string
inline constexpr size_t kMaxProblemsReported = 20;

struct Problem {
  std::string resource;  // "NetworkPolicy default/allow-web"; "" for request-level problems
  std::string path;      // "spec.ingress[0].source.nets[1]"; "" for the whole resource
  std::string message;
  std::string str() const;  // "<resource>: <path>: <message>"
};

class Problems {
 public:
  bool ok() const { return items_.empty(); }
  const std::vector<Problem>& items() const { return items_; }
  size_t dropped() const { return dropped_; }
  void add(Problem p);
  void append(const Problems& other);
  // One line per problem; "... and N more problems" when some were dropped.
  std::string str() const;

 private:
  std::vector<Problem> items_;
  size_t dropped_ = 0;
};

// Validates and translates one resource; `out` is complete only when the
// result is ok().  out.source is `in` serialized.
Problems translate(const v1::Resource& in, model::Resource& out);

// A request's resources: each translated, the count limited, and two
// resources with the same key rejected ("duplicate").  `out` is filled only
// when the result is ok().
// The numbers of the fields `m` itself carries that this version of wac does
// not know ("2, 99"; at most eight), or "" when there are none; and the
// problem text that names them.
std::string unknown_field_numbers(const google::protobuf::Message& m);
std::string unknown_fields_message(const std::string& numbers);

Problems translate_all(const google::protobuf::RepeatedPtrField<v1::Resource>& in,
                       std::vector<model::Resource>& out);

// A reference to a resource (delete, get): kind name, scope and names checked.
Problems translate_ref(const v1::ResourceRef& in, model::Key& out);
Problems translate_refs(const google::protobuf::RepeatedPtrField<v1::ResourceRef>& in,
                        std::vector<model::Key>& out);

}  // namespace wac::api
