// The resource kinds the API carries, in one table: kind names, the
// apiVersion/kind pair of their YAML form, scope, and the spellings wacctl
// accepts on its command line.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/model.h"
#include "wac/v1/wac.pb.h"

namespace wac::api {

struct KindInfo {
  model::Kind kind;
  const char* name;         // kind name in the API and in messages: "K8sNetworkPolicy"
  const char* api_version;  // YAML apiVersion: "networking.k8s.io/v1"
  const char* yaml_kind;    // YAML kind: "NetworkPolicy"
  bool namespaced;
  v1::Resource::KindCase oneof;
  std::vector<std::string_view> aliases;  // lower-case command-line spellings
};

// Every kind wac.v1 carries today, in a stable display order.
const std::vector<KindInfo>& all_kinds();

// Exact kind name ("NetworkPolicy"); nullptr if unknown.
const KindInfo* kind_by_name(std::string_view name);
// kubectl/calicoctl spelling, case-insensitive: "netpol", "gnp", "wep",
// "networkpolicies", "NetworkPolicy", "networkpolicy.projectcalico.org".
const KindInfo* kind_by_alias(std::string_view alias);
// YAML apiVersion + kind; nullptr if wac does not support that pair.
const KindInfo* kind_by_yaml(std::string_view api_version, std::string_view kind);
const KindInfo* kind_of(const v1::Resource& r);  // nullptr when no kind is set
const KindInfo* kind_info(model::Kind k);        // nullptr for kinds without a wac.v1 message yet

// The metadata of whichever kind `r` holds (nullptr when no kind is set).
const v1::ObjectMeta* metadata_of(const v1::Resource& r);
v1::ObjectMeta* mutable_metadata_of(v1::Resource& r);

// "NetworkPolicy default/allow-web", "GlobalNetworkSet corp-nets".
std::string describe(std::string_view kind, std::string_view ns, std::string_view name);
std::string describe(const v1::Resource& r);

v1::ResourceRef ref_of(const v1::Resource& r);

}  // namespace wac::api
