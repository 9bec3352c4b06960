// Names and comments of the nftables objects the agent renders.  Names say
// what an object serves (pod, policy); sets keyed by content use a short hash
// and carry the content in their comment.
#pragma once
#include <string>
#include <string_view>

#include "agent/model.h"

namespace wac::agent::names {

inline constexpr const char* kFromPodMap = "from-pod";
inline constexpr const char* kToPodMap = "to-pod";
inline constexpr const char* kFromPodChain = "dispatch-from-pod";
inline constexpr const char* kToPodChain = "dispatch-to-pod";

std::string hash12(std::string_view text);                 // 12 hex digits, stable
std::string endpoint_label(const model::Endpoint& ep);     // "default/frontend"
std::string pod_chain(const model::Endpoint& ep, model::Direction d);  // "pod-default/frontend-egress"
std::string policy_label(const model::Policy& p);          // "gnp allow-db", "np default/x", "knp default/y"
std::string policy_chain(const model::Policy& p, model::Direction d);  // "gnp-allow-db-ingress"
std::string selector_set(std::string_view canonical, Family f);        // "sel4-3f2a1b9c7d10"
// A safe nftables comment: printable ASCII without '"' or '\\', at most 120 bytes.
std::string comment(std::string_view text);
const char* direction_name(model::Direction d);  // "ingress" | "egress"

}  // namespace wac::agent::names
