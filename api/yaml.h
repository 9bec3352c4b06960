// Calico / Kubernetes YAML documents <-> wac.v1 resources, for wacctl.
//
// Reading walks the YAML tree against the proto descriptors (field names are
// the messages' JSON names, i.e. Calico's camelCase), rather than going
// through JSON and JsonStringToMessage: that way every problem carries the
// exact field path and line ("spec.ingres: unknown field (line 7)"), YAML's
// untyped scalars map directly onto Calico's int-or-string fields
// (ports: [80, "8080:8090"]), and the proto-style snake_case names the JSON
// parser would also accept are refused.
//
// Accepted documents: projectcalico.org/v3 NetworkPolicy,
// GlobalNetworkPolicy, NetworkSet, GlobalNetworkSet, WorkloadEndpoint;
// networking.k8s.io/v1 NetworkPolicy; v1 Namespace; and `List` / `<Kind>List`
// documents holding those as items; wac.dev/v1 SecurityGroup; and the JSON
// output of `aws ec2 describe-security-groups` as it stands
// ({"SecurityGroups": [...], "NextToken": ...}), each group becoming one
// SecurityGroup named by its GroupId.  Server-populated metadata
// (resourceVersion, uid, creationTimestamp, generation, managedFields,
// selfLink, ownerReferences, finalizers, deletion*) and a top-level `status`
// are ignored so `kubectl get -o yaml` output can be applied.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/translate.h"
#include "netlink/status.h"
#include "wac/v1/wac.pb.h"

namespace wac::api {

struct Document {
  v1::Resource resource;
  std::string origin;  // "policy.yaml: document 2" or "policy.yaml: document 1, items[3]"
  // Where the resource's spec came from when it was not a `spec:` field:
  // "SecurityGroups[1]" for a group of describe-security-groups output, so
  // problems name the input's own path.  Empty otherwise.
  std::string spec_path;
};

struct YamlOptions {
  // Namespace given to namespaced resources that have none (as kubectl and
  // calicoctl do); empty leaves them without one.
  std::string default_namespace = "default";
};

// Parses every document of `text` (`source` names it in messages: a file
// name or "<stdin>").  On failure the Status message holds one line per
// problem, e.g.
//   policy.yaml: document 2 (NetworkPolicy default/x): spec.ingres: unknown field (line 9)
Status parse_documents(std::string_view text, std::string_view source, std::vector<Document>& out,
                       const YamlOptions& options = {});

// "<origin> (<resource>): <path>: <message>" for a translation problem of a
// parsed document; for a describe-security-groups group the path is the
// input's ("SecurityGroups[1].IpPermissions[0].IpRanges[2].CidrIp").
std::string format_problem(const Document& doc, const Problem& p);

// Calico-shaped JSON: {"apiVersion", "kind", "metadata", "spec"}, with
// numeric ports and protocols written as numbers, as Calico writes them.
nlohmann::ordered_json to_json(const v1::Resource& r);
// One resource: that object; otherwise a v1 List.  Pretty-printed.
std::string to_json_text(const std::vector<v1::Resource>& resources);
// One YAML document per resource, separated by "---"; parse_documents()
// reads it back to the same resources.
std::string to_yaml_text(const std::vector<v1::Resource>& resources);

}  // namespace wac::api
