// Pieces shared by translate.cc, translate_policy.cc and translate_k8s.cc.
// Not part of the api/ interface.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/model.h"
#include "api/translate.h"
#include "api/validate.h"
#include "wac/v1/wac.pb.h"

namespace wac::api::detail {

// Collects the problems of one resource.  Paths are built by the caller
// only when a problem is reported; hot loops ask wants_more() first so a
// million bad entries cost no more than twenty.
class Ctx {
 public:
  explicit Ctx(std::string resource) : resource_(std::move(resource)) {}
  void error(std::string path, std::string message);
  bool ok() const { return problems_.ok(); }
  bool wants_more() const { return problems_.items().size() < kMaxProblemsReported; }
  const std::string& resource() const { return resource_; }
  Problems take() { return std::move(problems_); }

 private:
  std::string resource_;
  Problems problems_;
};

inline std::string at(std::string_view base, std::string_view field) {
  std::string p(base);
  if (!p.empty()) p += '.';
  p += field;
  return p;
}
inline std::string at(std::string_view base, size_t index) {
  return std::string(base) + "[" + std::to_string(index) + "]";
}
inline std::string at_key(std::string_view base, std::string_view key) {
  return std::string(base) + "[" + check::quoted(key) + "]";
}

// Where a selector appears decides whether global() is allowed in it.
enum class SelectorUse { Policy, Entity, EntityNamespace };

// Parses `text`; returns its canonical form ("" for an empty or blank
// selector, which means "none" in rules and all() for a policy).
std::string checked_selector(std::string_view text, const std::string& path, SelectorUse use, Ctx& ctx);

// CIDR with host bits masked (as Calico masks nets); nullopt after
// reporting a problem.
std::optional<Cidr> checked_net(std::string_view text, const std::string& path, Ctx& ctx);

// Checks a policy name ("knp." is reserved for translated Kubernetes
// policies) and collects policy-wide pieces shared by the Calico kinds.
model::Policy translate_network_policy(const v1::NetworkPolicy& in, Ctx& ctx);
model::Policy translate_global_network_policy(const v1::GlobalNetworkPolicy& in, Ctx& ctx);
model::Policy translate_k8s_network_policy(const v1::K8sNetworkPolicy& in, Ctx& ctx);

// wac.dev/v1 SecurityGroup (translate_security_group.cc).
model::SecurityGroup translate_security_group(const v1::SecurityGroup& in, Ctx& ctx);
// The groups a WorkloadEndpoint's aws.tigera.io/security-groups annotation
// names, sorted and unique ({} without the annotation).
std::vector<std::string> endpoint_security_groups(const v1::ObjectMeta& meta, Ctx& ctx);
// Membership labels (sg.aws.tigera.io/<GroupId>) on a WorkloadEndpoint may
// only repeat what its annotation says: membership comes from the annotation.
void check_security_group_labels(const v1::ObjectMeta& meta, const std::vector<std::string>& groups, Ctx& ctx);

// wac.dev/v1 EgressGateway (translate_egress.cc).
model::EgressGateway translate_egress_gateway(const v1::EgressGateway& in, Ctx& ctx);
// The Calico Enterprise egress annotations of a namespace or pod must hold
// valid selectors (egress.projectcalico.org/selector, .../namespaceSelector).
void check_egress_annotations(const v1::ObjectMeta& meta, Ctx& ctx);

}  // namespace wac::api::detail
