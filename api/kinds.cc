#include "api/kinds.h"

#include <algorithm>
#include <cctype>

namespace wac::api {

namespace {

using K = v1::Resource;

std::vector<KindInfo> make_table() {
  return {
      {model::Kind::Namespace, "Namespace", "v1", "Namespace", false, K::kNamespace,
       {"namespace", "namespaces", "ns"}},
      {model::Kind::WorkloadEndpoint, "WorkloadEndpoint", "projectcalico.org/v3", "WorkloadEndpoint", true,
       K::kWorkloadEndpoint, {"workloadendpoint", "workloadendpoints", "wep", "weps"}},
      {model::Kind::NetworkPolicy, "NetworkPolicy", "projectcalico.org/v3", "NetworkPolicy", true,
       K::kNetworkPolicy,
       // Like calicoctl, the short names mean the Calico resource.
       {"networkpolicy", "networkpolicies", "netpol", "netpols", "np", "policy", "policies"}},
      {model::Kind::GlobalNetworkPolicy, "GlobalNetworkPolicy", "projectcalico.org/v3", "GlobalNetworkPolicy",
       false, K::kGlobalNetworkPolicy, {"globalnetworkpolicy", "globalnetworkpolicies", "gnp", "gnps"}},
      {model::Kind::NetworkSet, "NetworkSet", "projectcalico.org/v3", "NetworkSet", true, K::kNetworkSet,
       {"networkset", "networksets", "netset", "netsets"}},
      {model::Kind::GlobalNetworkSet, "GlobalNetworkSet", "projectcalico.org/v3", "GlobalNetworkSet", false,
       K::kGlobalNetworkSet, {"globalnetworkset", "globalnetworksets", "gns"}},
      {model::Kind::K8sNetworkPolicy, "K8sNetworkPolicy", "networking.k8s.io/v1", "NetworkPolicy", true,
       K::kK8SNetworkPolicy,
       {"k8snetworkpolicy", "k8snetworkpolicies", "knp", "knps", "networkpolicy.networking.k8s.io",
        "networkpolicies.networking.k8s.io"}},
      {model::Kind::SecurityGroup, "SecurityGroup", "wac.dev/v1", "SecurityGroup", false, K::kSecurityGroup,
       {"securitygroup", "securitygroups", "sg", "sgs"}},
      {model::Kind::EgressGateway, "EgressGateway", "wac.dev/v1", "EgressGateway", false, K::kEgressGateway,
       {"egressgateway", "egressgateways", "egress", "egw", "egws"}},
  };
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return out;
}

}  // namespace

const std::vector<KindInfo>& all_kinds() {
  static const std::vector<KindInfo> table = make_table();
  return table;
}

const KindInfo* kind_by_name(std::string_view name) {
  for (const auto& k : all_kinds())
    if (name == k.name) return &k;
  return nullptr;
}

const KindInfo* kind_by_alias(std::string_view alias) {
  std::string a = lower(alias);
  // kubectl's "kind.group" form for Calico kinds: "networkpolicies.projectcalico.org".
  constexpr std::string_view calico_group = ".projectcalico.org";
  if (a.size() > calico_group.size() && a.ends_with(calico_group)) {
    a.resize(a.size() - calico_group.size());
    if (a.starts_with("k8s")) return nullptr;
    const KindInfo* k = kind_by_alias(a);
    return k && std::string_view(k->api_version) == "projectcalico.org/v3" ? k : nullptr;
  }
  for (const auto& k : all_kinds()) {
    if (a == lower(k.name)) return &k;
    for (auto al : k.aliases)
      if (a == al) return &k;
  }
  return nullptr;
}

const KindInfo* kind_by_yaml(std::string_view api_version, std::string_view kind) {
  for (const auto& k : all_kinds())
    if (api_version == k.api_version && kind == k.yaml_kind) return &k;
  return nullptr;
}

const KindInfo* kind_of(const v1::Resource& r) {
  for (const auto& k : all_kinds())
    if (r.kind_case() == k.oneof) return &k;
  return nullptr;
}

const KindInfo* kind_info(model::Kind kind) {
  for (const auto& k : all_kinds())
    if (k.kind == kind) return &k;
  return nullptr;
}

const v1::ObjectMeta* metadata_of(const v1::Resource& r) {
  switch (r.kind_case()) {
    case K::kNamespace: return &r.namespace_().metadata();
    case K::kWorkloadEndpoint: return &r.workload_endpoint().metadata();
    case K::kNetworkPolicy: return &r.network_policy().metadata();
    case K::kGlobalNetworkPolicy: return &r.global_network_policy().metadata();
    case K::kNetworkSet: return &r.network_set().metadata();
    case K::kGlobalNetworkSet: return &r.global_network_set().metadata();
    case K::kK8SNetworkPolicy: return &r.k8s_network_policy().metadata();
    case K::kSecurityGroup: return &r.security_group().metadata();
    case K::kEgressGateway: return &r.egress_gateway().metadata();
    case K::KIND_NOT_SET: break;
  }
  return nullptr;
}

v1::ObjectMeta* mutable_metadata_of(v1::Resource& r) {
  switch (r.kind_case()) {
    case K::kNamespace: return r.mutable_namespace_()->mutable_metadata();
    case K::kWorkloadEndpoint: return r.mutable_workload_endpoint()->mutable_metadata();
    case K::kNetworkPolicy: return r.mutable_network_policy()->mutable_metadata();
    case K::kGlobalNetworkPolicy: return r.mutable_global_network_policy()->mutable_metadata();
    case K::kNetworkSet: return r.mutable_network_set()->mutable_metadata();
    case K::kGlobalNetworkSet: return r.mutable_global_network_set()->mutable_metadata();
    case K::kK8SNetworkPolicy: return r.mutable_k8s_network_policy()->mutable_metadata();
    case K::kSecurityGroup: return r.mutable_security_group()->mutable_metadata();
    case K::kEgressGateway: return r.mutable_egress_gateway()->mutable_metadata();
    case K::KIND_NOT_SET: break;
  }
  return nullptr;
}

std::string describe(std::string_view kind, std::string_view ns, std::string_view name) {
  std::string out(kind);
  out += ' ';
  if (!ns.empty()) {
    out += ns;
    out += '/';
  }
  out += name.empty() ? std::string_view("<unnamed>") : name;
  return out;
}

std::string describe(const v1::Resource& r) {
  const KindInfo* k = kind_of(r);
  if (!k) return "Resource <no kind>";
  const v1::ObjectMeta* m = metadata_of(r);
  return describe(k->name, m->namespace_(), m->name());
}

v1::ResourceRef ref_of(const v1::Resource& r) {
  v1::ResourceRef ref;
  if (const KindInfo* k = kind_of(r)) {
    ref.set_kind(k->name);
    ref.set_namespace_(metadata_of(r)->namespace_());
    ref.set_name(metadata_of(r)->name());
  }
  return ref;
}

}  // namespace wac::api
