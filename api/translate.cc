// Resource dispatch, metadata, endpoints, namespaces and network sets, and
// the checks every message gets (UTF-8, sizes, unknown fields).  Policies
// are in translate_policy.cc and translate_k8s.cc.
#include "api/translate.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/reflection.h>
#include <google/protobuf/unknown_field_set.h>

#include <map>
#include <set>

#include "agent/selector.h"
#include "api/kinds.h"
#include "api/translate_internal.h"
#include "dns/pattern.h"

namespace wac::api {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

std::string Problem::str() const {
  std::string out = resource;
  for (const std::string* part : {&path, &message}) {
    if (part->empty()) continue;
    if (!out.empty()) out += ": ";
    out += *part;
  }
  return out;
}

void Problems::add(Problem p) {
  if (items_.size() >= kMaxProblemsReported) {
    ++dropped_;
    return;
  }
  items_.push_back(std::move(p));
}

void Problems::append(const Problems& other) {
  for (const auto& p : other.items_) add(p);
  dropped_ += other.dropped_;
}

std::string Problems::str() const {
  std::string out;
  for (const auto& p : items_) {
    if (!out.empty()) out += '\n';
    out += p.str();
  }
  if (dropped_ > 0) out += "\n... and " + std::to_string(dropped_) + " more problems";
  return out;
}

namespace detail {

void Ctx::error(std::string path, std::string message) {
  problems_.add({resource_, std::move(path), std::move(message)});
}

std::string checked_selector(std::string_view text, const std::string& path, SelectorUse use, Ctx& ctx) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return {};
  auto parsed = selector::Selector::parse(text);
  if (auto* err = std::get_if<selector::ParseError>(&parsed)) {
    ctx.error(path, "invalid selector " + check::quoted(text) + ": " + err->message);
    return {};
  }
  const auto& sel = std::get<selector::Selector>(parsed);
  std::string canonical = sel.canonical();
  // As Calico: global() selects resources outside any namespace and only
  // makes sense, alone, as the namespace part of a rule's peer.
  if (sel.uses_global()) {
    if (use != SelectorUse::EntityNamespace)
      ctx.error(path, "global() can only be used in a rule's namespaceSelector");
    else if (canonical != "global()")
      ctx.error(path, "global() cannot be combined with other selector terms");
  }
  return canonical;
}

std::optional<Cidr> checked_net(std::string_view text, const std::string& path, Ctx& ctx) {
  auto cidr = Cidr::parse(text, /*allow_host_bits=*/true);
  if (!cidr) ctx.error(path, "invalid CIDR " + check::quoted(text));
  return cidr;
}

}  // namespace detail

namespace {

using detail::at;
using detail::at_key;
using detail::Ctx;

constexpr size_t kMaxStringBytesAny = 256 * 1024;  // one annotation may be this large, as in Kubernetes

// ------------------------------------------------------------ every message

class MessageChecker {
 public:
  explicit MessageChecker(Ctx& ctx) : ctx_(ctx) {}

  void check(const Message& m, const std::string& path) {
    const auto* refl = m.GetReflection();
    if (std::string unknown = unknown_field_numbers(m); !unknown.empty())
      ctx_.error(path, unknown_fields_message(unknown));
    std::vector<const FieldDescriptor*> fields;
    refl->ListFields(m, &fields);
    for (const FieldDescriptor* f : fields) {
      if (!ctx_.wants_more()) return;
      if (f->is_map()) check_map(m, f, at(path, f->json_name()));
      else if (f->is_repeated()) check_repeated(m, f, at(path, f->json_name()));
      else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) check(refl->GetMessage(m, f), at(path, f->json_name()));
      else if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) check_string(refl->GetString(m, f), [&] { return at(path, f->json_name()); });
    }
  }

 private:
  template <class PathFn>
  void check_string(const std::string& s, PathFn path) {
    if (s.size() > kMaxStringBytesAny)
      ctx_.error(path(), "too long (" + std::to_string(s.size()) + " bytes, at most " +
                             std::to_string(kMaxStringBytesAny) + ")");
    else if (!check::valid_utf8(s))
      ctx_.error(path(), "invalid UTF-8");
  }

  void check_repeated(const Message& m, const FieldDescriptor* f, const std::string& path) {
    const auto* refl = m.GetReflection();
    int n = refl->FieldSize(m, f);
    for (int i = 0; i < n && ctx_.wants_more(); ++i) {
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) check(refl->GetRepeatedMessage(m, f, i), at(path, size_t(i)));
      else if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING)
        check_string(refl->GetRepeatedString(m, f, i), [&] { return at(path, size_t(i)); });
    }
  }

  void check_map(const Message& m, const FieldDescriptor* f, const std::string& path) {
    const auto* refl = m.GetReflection();
    const FieldDescriptor* key = f->message_type()->map_key();
    const FieldDescriptor* value = f->message_type()->map_value();
    int n = refl->FieldSize(m, f);
    for (int i = 0; i < n && ctx_.wants_more(); ++i) {
      const Message& entry = refl->GetRepeatedMessage(m, f, i);
      const std::string& k = entry.GetReflection()->GetString(entry, key);
      if (!check::valid_utf8(k)) {
        ctx_.error(at_key(path, k), "key with invalid UTF-8");
        continue;
      }
      if (value->cpp_type() == FieldDescriptor::CPPTYPE_STRING)
        check_string(entry.GetReflection()->GetString(entry, value), [&] { return at_key(path, k); });
    }
  }

  Ctx& ctx_;
};

// ------------------------------------------------------------ metadata

std::string safe_for_message(std::string_view s) {
  if (s.size() <= check::kMaxNameLength && check::valid_utf8(s) &&
      s.find_first_of(std::string_view("\0\n\r\t\"", 5)) == std::string_view::npos)
    return std::string(s);
  return check::quoted(s, 40);
}

std::string resource_label(const v1::Resource& r) {
  const KindInfo* k = kind_of(r);
  if (!k) return "Resource";
  const v1::ObjectMeta* m = metadata_of(r);
  return describe(k->name, safe_for_message(m->namespace_()), safe_for_message(m->name()));
}

// Label keys the agent itself manages on endpoints and network sets.
constexpr std::string_view kNamespaceLabelPrefix = "pcns.";

void check_labels(const v1::ObjectMeta& meta, const KindInfo& kind, Ctx& ctx) {
  if (size_t(meta.labels_size()) > kMaxLabels)
    ctx.error("metadata.labels", "too many labels (" + std::to_string(meta.labels_size()) + ", at most " +
                                     std::to_string(kMaxLabels) + ")");
  // Sorted, so problems come out in a stable order.
  std::map<std::string, std::string> sorted(meta.labels().begin(), meta.labels().end());
  for (const auto& [key, value] : sorted) {
    std::string path = at_key("metadata.labels", key);
    if (std::string why = check::label_key(key); !why.empty())
      ctx.error(path, "invalid label key " + check::quoted(key) + ": " + why);
    if (std::string why = check::label_value(value); !why.empty())
      ctx.error(path, "invalid label value " + check::quoted(value) + ": " + why);
    if (kind.kind == model::Kind::Namespace) continue;
    if (key.starts_with(kNamespaceLabelPrefix))
      ctx.error(path, "label keys starting \"pcns.\" are reserved for namespace labels");
    if (key == model::kNamespaceLabel) {
      if (!kind.namespaced)
        ctx.error(path, std::string(model::kNamespaceLabel) + " is not allowed on cluster-scoped resources");
      else if (value != meta.namespace_())
        ctx.error(path, std::string(model::kNamespaceLabel) + " must equal metadata.namespace " +
                            check::quoted(meta.namespace_()));
    }
  }
}

void check_annotations(const google::protobuf::Map<std::string, std::string>& annotations, const std::string& path,
                       Ctx& ctx) {
  size_t total = 0;
  std::map<std::string, std::string> sorted(annotations.begin(), annotations.end());
  for (const auto& [key, value] : sorted) {
    total += key.size() + value.size();
    std::string lowered = key;
    for (char& c : lowered) c = char(std::tolower(static_cast<unsigned char>(c)));
    // Kubernetes (and Calico) check annotation keys lower-cased.
    if (std::string why = check::label_key(lowered); !why.empty())
      ctx.error(at_key(path, key), "invalid annotation key " + check::quoted(key) + ": " + why);
  }
  if (total > kMaxAnnotationBytes)
    ctx.error(path, "annotations are too large (" + std::to_string(total) + " bytes, at most " +
                        std::to_string(kMaxAnnotationBytes) + ")");
}

void check_metadata(const v1::ObjectMeta& meta, const KindInfo& kind, Ctx& ctx) {
  const std::string& name = meta.name();
  std::string why = kind.kind == model::Kind::Namespace ? check::dns1123_label(name) : check::dns1123_subdomain(name);
  if (name.empty()) ctx.error("metadata.name", "required");
  else if (!why.empty()) ctx.error("metadata.name", "invalid name " + check::quoted(name) + ": " + why);

  const std::string& ns = meta.namespace_();
  if (kind.namespaced) {
    if (ns.empty()) ctx.error("metadata.namespace", std::string("required for ") + kind.name);
    else if (std::string w = check::dns1123_label(ns); !w.empty())
      ctx.error("metadata.namespace", "invalid namespace " + check::quoted(ns) + ": " + w);
  } else if (!ns.empty()) {
    ctx.error("metadata.namespace", std::string("must be empty: ") + kind.name + " is cluster-scoped");
  }
  check_labels(meta, kind, ctx);
  check_annotations(meta.annotations(), "metadata.annotations", ctx);
}

model::Labels labels_of(const v1::ObjectMeta& meta) { return {meta.labels().begin(), meta.labels().end()}; }
std::map<std::string, std::string> annotations_of(const v1::ObjectMeta& meta) {
  return {meta.annotations().begin(), meta.annotations().end()};
}

// ------------------------------------------------------------ kinds

model::Namespace translate_namespace(const v1::Namespace& in) {
  return {in.metadata().name(), labels_of(in.metadata()), annotations_of(in.metadata())};
}

void check_optional_name(const std::string& value, const std::string& path, Ctx& ctx) {
  if (value.empty()) return;
  if (std::string why = check::dns1123_subdomain(value); !why.empty())
    ctx.error(path, "invalid value " + check::quoted(value) + ": " + why);
}

std::vector<model::NamedPort> translate_endpoint_ports(const v1::WorkloadEndpointSpec& spec, Ctx& ctx) {
  std::vector<model::NamedPort> out;
  if (size_t(spec.ports_size()) > kMaxEntriesPerRuleField) {
    ctx.error("spec.ports", "too many ports (" + std::to_string(spec.ports_size()) + ")");
    return out;
  }
  for (int i = 0; i < spec.ports_size(); ++i) {
    const auto& p = spec.ports(i);
    std::string path = at("spec.ports", size_t(i));
    if (!p.name().empty())
      if (std::string why = check::port_name(p.name()); !why.empty())
        ctx.error(at(path, "name"), "invalid port name " + check::quoted(p.name()) + ": " + why);
    auto proto = check::protocol_number(p.protocol());
    if (p.protocol().empty()) ctx.error(at(path, "protocol"), "required (TCP, UDP or SCTP)");
    else if (!proto) ctx.error(at(path, "protocol"), check::protocol_error(p.protocol()));
    else if (!check::protocol_has_ports(*proto))
      ctx.error(at(path, "protocol"), "protocol " + check::quoted(p.protocol()) + " has no ports");
    if (p.port() < 1 || p.port() > 65535) ctx.error(at(path, "port"), "must be 1-65535");
    if (p.host_port() > 65535) ctx.error(at(path, "hostPort"), "must be 0-65535");
    if (!p.host_ip().empty() && !IpAddr::parse(p.host_ip()))
      ctx.error(at(path, "hostIP"), "invalid IP address " + check::quoted(p.host_ip()));
    if (p.name().empty() && p.host_port() == 0) ctx.error(path, "a port needs a name or a hostPort");
    // Unnamed ports (hostPort only) play no part in policy.
    if (!p.name().empty() && proto) out.push_back({p.name(), *proto, uint16_t(p.port())});
  }
  return out;
}

model::Endpoint translate_workload_endpoint(const v1::WorkloadEndpoint& in, Ctx& ctx) {
  const auto& spec = in.spec();
  model::Endpoint ep;
  ep.ns = in.metadata().namespace_();
  ep.name = in.metadata().name();
  ep.node = spec.node();
  ep.pod = spec.pod();
  ep.interface_name = spec.interface_name();
  ep.labels = labels_of(in.metadata());
  ep.annotations = annotations_of(in.metadata());

  if (spec.interface_name().empty()) ctx.error("spec.interfaceName", "required");
  else if (std::string why = check::interface_name(spec.interface_name()); !why.empty())
    ctx.error("spec.interfaceName", "invalid interface name " + check::quoted(spec.interface_name()) + ": " + why);
  check_optional_name(spec.orchestrator(), "spec.orchestrator", ctx);
  check_optional_name(spec.workload(), "spec.workload", ctx);
  check_optional_name(spec.node(), "spec.node", ctx);
  check_optional_name(spec.pod(), "spec.pod", ctx);
  check_optional_name(spec.endpoint(), "spec.endpoint", ctx);
  check_optional_name(spec.service_account_name(), "spec.serviceAccountName", ctx);
  if (!spec.container_id().empty())
    if (std::string why = check::container_id(spec.container_id()); !why.empty())
      ctx.error("spec.containerID", "invalid container ID " + check::quoted(spec.container_id()) + ": " + why);
  if (!spec.mac().empty())
    if (std::string why = check::mac_address(spec.mac()); !why.empty())
      ctx.error("spec.mac", "invalid value " + check::quoted(spec.mac()) + ": " + why);
  for (int i = 0; i < spec.profiles_size(); ++i) check_optional_name(spec.profiles(i), at("spec.profiles", size_t(i)), ctx);

  if (size_t(spec.ip_networks_size()) > kMaxEntriesPerRuleField)
    ctx.error("spec.ipNetworks", "too many networks (" + std::to_string(spec.ip_networks_size()) + ")");
  else
    for (int i = 0; i < spec.ip_networks_size(); ++i) {
      const std::string& text = spec.ip_networks(i);
      auto cidr = Cidr::parse(text, true);
      if (!cidr) ctx.error(at("spec.ipNetworks", size_t(i)), "invalid CIDR " + check::quoted(text));
      else if (!cidr->is_host())
        ctx.error(at("spec.ipNetworks", size_t(i)),
                  check::quoted(text) + " is not a single address (must be /32 for IPv4 or /128 for IPv6)");
      else ep.ip_networks.push_back(*cidr);
    }
  ep.ports = translate_endpoint_ports(spec, ctx);
  ep.security_groups = detail::endpoint_security_groups(in.metadata(), ctx);
  detail::check_security_group_labels(in.metadata(), ep.security_groups, ctx);
  return ep;
}

std::vector<std::string> translate_domains(const google::protobuf::RepeatedPtrField<std::string>& in,
                                           const std::string& path, size_t limit, Ctx& ctx) {
  std::vector<std::string> out;
  if (size_t(in.size()) > limit) {
    ctx.error(path, "too many domains (" + std::to_string(in.size()) + ", at most " + std::to_string(limit) + ")");
    return out;
  }
  std::set<std::string> seen;
  for (int i = 0; i < in.size(); ++i) {
    auto parsed = dns::Pattern::parse(in.Get(i));
    if (auto* why = std::get_if<std::string>(&parsed)) {
      ctx.error(at(path, size_t(i)), "invalid domain " + check::quoted(in.Get(i)) + ": " + *why);
      continue;
    }
    const std::string& canonical = std::get<dns::Pattern>(parsed).canonical();
    if (seen.insert(canonical).second) out.push_back(canonical);
  }
  return out;
}

model::NetworkSet translate_network_set(const v1::ObjectMeta& meta, const v1::NetworkSetSpec& spec, Ctx& ctx) {
  model::NetworkSet set;
  set.ns = meta.namespace_();
  set.name = meta.name();
  set.labels = labels_of(meta);
  if (size_t(spec.nets_size()) > kMaxNetsPerNetworkSet) {
    ctx.error("spec.nets", "too many nets (" + std::to_string(spec.nets_size()) + ", at most " +
                               std::to_string(kMaxNetsPerNetworkSet) + ")");
  } else {
    set.nets.reserve(size_t(spec.nets_size()));
    for (int i = 0; i < spec.nets_size(); ++i) {
      auto cidr = Cidr::parse(spec.nets(i), true);
      if (cidr) set.nets.push_back(*cidr);
      else if (ctx.wants_more()) ctx.error(at("spec.nets", size_t(i)), "invalid CIDR " + check::quoted(spec.nets(i)));
    }
  }
  set.allowed_egress_domains =
      translate_domains(spec.allowed_egress_domains(), "spec.allowedEgressDomains", kMaxDomainsPerNetworkSet, ctx);
  return set;
}

const Message& inner_message(const v1::Resource& r) {
  const auto* refl = r.GetReflection();
  const FieldDescriptor* f = refl->GetOneofFieldDescriptor(r, r.GetDescriptor()->FindOneofByName("kind"));
  return refl->GetMessage(r, f);
}

model::Body translate_body(const v1::Resource& in, Ctx& ctx) {
  switch (in.kind_case()) {
    case v1::Resource::kNamespace: return translate_namespace(in.namespace_());
    case v1::Resource::kWorkloadEndpoint: return translate_workload_endpoint(in.workload_endpoint(), ctx);
    case v1::Resource::kNetworkPolicy: return detail::translate_network_policy(in.network_policy(), ctx);
    case v1::Resource::kGlobalNetworkPolicy:
      return detail::translate_global_network_policy(in.global_network_policy(), ctx);
    case v1::Resource::kNetworkSet:
      return translate_network_set(in.network_set().metadata(), in.network_set().spec(), ctx);
    case v1::Resource::kGlobalNetworkSet:
      return translate_network_set(in.global_network_set().metadata(), in.global_network_set().spec(), ctx);
    case v1::Resource::kK8SNetworkPolicy: return detail::translate_k8s_network_policy(in.k8s_network_policy(), ctx);
    case v1::Resource::kSecurityGroup: return detail::translate_security_group(in.security_group(), ctx);
    case v1::Resource::kEgressGateway: return detail::translate_egress_gateway(in.egress_gateway(), ctx);
    case v1::Resource::KIND_NOT_SET: break;
  }
  return model::Namespace{};
}

}  // namespace

std::string unknown_field_numbers(const google::protobuf::Message& m) {
  const auto& u = m.GetReflection()->GetUnknownFields(m);
  std::string out;
  for (int i = 0; i < u.field_count() && i < 8; ++i) {
    if (!out.empty()) out += ", ";
    out += std::to_string(u.field(i).number());
  }
  return out;
}

std::string unknown_fields_message(const std::string& numbers) {
  return "contains fields this version of wac does not know (field numbers " + numbers + ")";
}

namespace {

// Map entries (labels, annotations) sorted by key: the same resource always
// has the same bytes, so re-applying it is recognised as no change (agent.cc
// compares sources) whatever order the sender's map iterated in.
std::string deterministic_bytes(const google::protobuf::Message& message) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }  // the coded stream trims `out` to what was written when it goes
  return out;
}

}  // namespace

Problems translate(const v1::Resource& in, model::Resource& out) {
  Ctx ctx(resource_label(in));
  const KindInfo* kind = kind_of(in);
  std::string unknown = unknown_field_numbers(in);
  if (!kind) {
    // A kind of a newer wac arrives as an unknown field of the Resource.
    ctx.error("", unknown.empty() ? std::string("no resource kind set")
                                  : "a kind this version of wac does not know (field numbers " + unknown + ")");
    return ctx.take();
  }
  if (!unknown.empty()) {
    ctx.error("", unknown_fields_message(unknown));
    return ctx.take();
  }
  // Encoding and size problems first: the checks below assume sane strings.
  MessageChecker(ctx).check(inner_message(in), "");
  if (!ctx.ok()) return ctx.take();
  const v1::ObjectMeta& meta = *metadata_of(in);
  check_metadata(meta, *kind, ctx);
  if (kind->kind == model::Kind::Namespace || kind->kind == model::Kind::WorkloadEndpoint)
    detail::check_egress_annotations(meta, ctx);
  model::Body body = translate_body(in, ctx);
  if (!ctx.ok()) return ctx.take();
  out.key = {kind->kind, meta.namespace_(), meta.name()};
  out.body = std::move(body);
  out.source = deterministic_bytes(in);
  return ctx.take();
}

Problems translate_all(const google::protobuf::RepeatedPtrField<v1::Resource>& in, std::vector<model::Resource>& out) {
  Problems problems;
  if (size_t(in.size()) > kMaxResourcesPerRequest) {
    problems.add({"", "resources", "too many resources in one request (" + std::to_string(in.size()) +
                                       ", at most " + std::to_string(kMaxResourcesPerRequest) + ")"});
    return problems;
  }
  std::vector<model::Resource> result(size_t(in.size()));
  std::map<model::Key, int> first_index;
  for (int i = 0; i < in.size(); ++i) {
    if (!kind_of(in.Get(i))) {  // no name to go by: the position says which
      Problems p = translate(in.Get(i), result[size_t(i)]);
      for (auto problem : p.items()) {
        problem.resource = "resources[" + std::to_string(i) + "]";
        problems.add(std::move(problem));
      }
      continue;
    }
    problems.append(translate(in.Get(i), result[size_t(i)]));
    if (!problems.ok()) continue;
    auto [it, inserted] = first_index.emplace(result[size_t(i)].key, i);
    if (!inserted)
      problems.add({resource_label(in.Get(i)), "",
                    "duplicate: resources[" + std::to_string(i) + "] and resources[" + std::to_string(it->second) +
                        "] have the same kind, namespace and name"});
  }
  if (problems.ok()) out = std::move(result);
  return problems;
}

Problems translate_ref(const v1::ResourceRef& in, model::Key& out) {
  Ctx ctx(describe(safe_for_message(in.kind()), safe_for_message(in.namespace_()), safe_for_message(in.name())));
  const KindInfo* kind = kind_by_name(in.kind());
  if (!kind) {
    std::string known;
    for (const auto& k : all_kinds()) known += std::string(known.empty() ? "" : ", ") + k.name;
    ctx.error("kind", "unknown kind " + check::quoted(in.kind()) + " (expected one of " + known + ")");
    return ctx.take();
  }
  v1::ObjectMeta meta;
  meta.set_name(in.name());
  meta.set_namespace_(in.namespace_());
  if (!check::valid_utf8(in.namespace_())) ctx.error("namespace", "invalid UTF-8");
  if (!check::valid_utf8(in.name())) ctx.error("name", "invalid UTF-8");
  if (!ctx.ok()) return ctx.take();
  Ctx meta_ctx(ctx.resource());
  check_metadata(meta, *kind, meta_ctx);
  // Report against the reference's own field names.
  Problems problems = meta_ctx.take();
  for (const auto& p : problems.items())
    ctx.error(p.path == "metadata.name" ? "name" : p.path == "metadata.namespace" ? "namespace" : p.path, p.message);
  if (ctx.ok()) out = {kind->kind, in.namespace_(), in.name()};
  return ctx.take();
}

Problems translate_refs(const google::protobuf::RepeatedPtrField<v1::ResourceRef>& in, std::vector<model::Key>& out) {
  Problems problems;
  if (size_t(in.size()) > kMaxResourcesPerRequest) {
    problems.add({"", "refs", "too many references in one request (" + std::to_string(in.size()) + ")"});
    return problems;
  }
  std::vector<model::Key> keys(size_t(in.size()));
  for (int i = 0; i < in.size(); ++i) problems.append(translate_ref(in.Get(i), keys[size_t(i)]));
  if (problems.ok()) out = std::move(keys);
  return problems;
}

}  // namespace wac::api
