#include "agent/model.h"

#include <array>

namespace wac::model {

namespace {
struct KindInfo {
  Kind kind;
  const char* name;
  bool namespaced;
};
constexpr std::array<KindInfo, 9> kKinds{{
    {Kind::Namespace, "Namespace", false},
    {Kind::WorkloadEndpoint, "WorkloadEndpoint", true},
    {Kind::NetworkPolicy, "NetworkPolicy", true},
    {Kind::GlobalNetworkPolicy, "GlobalNetworkPolicy", false},
    {Kind::NetworkSet, "NetworkSet", true},
    {Kind::GlobalNetworkSet, "GlobalNetworkSet", false},
    {Kind::K8sNetworkPolicy, "K8sNetworkPolicy", true},
    {Kind::EgressGateway, "EgressGateway", false},
    {Kind::SecurityGroup, "SecurityGroup", false},
}};
}  // namespace

const char* kind_name(Kind k) {
  for (const auto& info : kKinds)
    if (info.kind == k) return info.name;
  return "Unknown";
}

std::optional<Kind> kind_from_name(std::string_view name) {
  for (const auto& info : kKinds)
    if (name == info.name) return info.kind;
  return std::nullopt;
}

bool kind_is_namespaced(Kind k) {
  for (const auto& info : kKinds)
    if (info.kind == k) return info.namespaced;
  return false;
}

const char* action_name(Action a) {
  switch (a) {
    case Action::Allow: return "Allow";
    case Action::Deny: return "Deny";
    case Action::Log: return "Log";
    case Action::Pass: return "Pass";
  }
  return "?";
}

std::string Key::str() const {
  return std::string(kind_name(kind)) + " " + (ns.empty() ? name : ns + "/" + name);
}

}  // namespace wac::model
