// wac.dev/v1 SecurityGroup -> model::SecurityGroup, with AWS's semantics
// for IpProtocol, FromPort and ToPort, and the pod annotation that names a
// pod's groups.
//
// Security groups only allow, so anything wac cannot enforce exactly is
// rejected rather than dropped: a prefix list (which needs AWS to resolve),
// a permission without peers, a port range AWS itself would refuse.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>

#include "api/translate_internal.h"

namespace wac::api::detail {

namespace {

// AWS lets a network interface carry at most 16 groups (its highest quota).
constexpr size_t kMaxSecurityGroupsPerEndpoint = 16;
constexpr size_t kMaxSecurityGroupsAnnotationBytes = 4096;
constexpr int kAll = -1;  // FromPort/ToPort: all ports, all ICMP types or codes

struct ProtocolSpec {
  std::optional<uint8_t> number;  // nullopt: all protocols
};

// IpProtocol as AWS writes it: "-1" (all), a name, or a number 0-255.
std::optional<ProtocolSpec> parse_ip_protocol(std::string_view text) {
  if (text == "-1") return ProtocolSpec{std::nullopt};
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  if (lower == "tcp") return ProtocolSpec{check::kProtoTCP};
  if (lower == "udp") return ProtocolSpec{check::kProtoUDP};
  if (lower == "icmp") return ProtocolSpec{check::kProtoICMP};
  if (lower == "icmpv6") return ProtocolSpec{check::kProtoICMPv6};
  if (auto n = check::parse_decimal(text, 255)) return ProtocolSpec{uint8_t(*n)};
  return std::nullopt;
}

class PermissionReader {
 public:
  PermissionReader(const v1::IpPermission& in, std::string path, Ctx& ctx)
      : in_(in), path_(std::move(path)), ctx_(ctx) {}

  model::SecurityGroupPermission read() {
    protocol();
    peers();
    return out_;
  }

 private:
  std::string at_field(std::string_view field) const { return at(path_, field); }

  void protocol() {
    const std::string& text = in_.ip_protocol();
    if (text.empty()) {
      ctx_.error(at_field("IpProtocol"), "required (\"-1\" for all protocols, tcp, udp, icmp, icmpv6 or a number)");
      return;
    }
    auto proto = parse_ip_protocol(text);
    if (!proto) {
      ctx_.error(at_field("IpProtocol"), "invalid protocol " + check::quoted(text) +
                                             " (expected \"-1\" for all, tcp, udp, icmp, icmpv6 or a number 0-255)");
      return;
    }
    out_.protocol = proto->number;
    if (!proto->number) return;  // all protocols: AWS ignores any port range
    switch (*proto->number) {
      case check::kProtoTCP:
      case check::kProtoUDP: return port_range();
      case check::kProtoICMP: return icmp(/*ports_required=*/true);
      case check::kProtoICMPv6: return icmp(/*ports_required=*/false);
      default: return;  // as AWS: other protocols allow all ports, whatever the range says
    }
  }

  // Both bounds present, or neither (then `required` decides).
  bool both_or_neither(bool required, const char* what_all) {
    bool from = in_.has_from_port(), to = in_.has_to_port();
    if (from && to) return true;
    if (from != to) {
      ctx_.error(at_field(from ? "ToPort" : "FromPort"), "required with " + std::string(from ? "FromPort" : "ToPort"));
    } else if (required) {
      ctx_.error(at_field("FromPort"), std::string("required for ") + check::quoted(in_.ip_protocol()) + " (FromPort " +
                                           "and ToPort -1: " + what_all + ")");
    }
    return false;
  }

  void port_range() {
    if (!both_or_neither(/*required=*/true, "all ports")) return;
    int32_t from = in_.from_port(), to = in_.to_port();
    if (from == kAll && to == kAll) return;
    if (from == kAll || to == kAll) {
      ctx_.error(at_field(from == kAll ? "FromPort" : "ToPort"),
                 "FromPort and ToPort must both be -1 (all ports) or both be ports 0-65535");
      return;
    }
    bool ok = true;
    for (auto [field, value] : {std::pair{"FromPort", from}, std::pair{"ToPort", to}}) {
      if (value < 0 || value > 65535) {
        ctx_.error(at_field(field), "port " + std::to_string(value) + " is out of range (0-65535, or -1 for all)");
        ok = false;
      }
    }
    if (!ok) return;
    if (from > to) {
      ctx_.error(at_field("ToPort"), "ToPort " + std::to_string(to) + " is below FromPort " + std::to_string(from));
      return;
    }
    if (from == 0 && to == 65535) return;  // every port: no port match at all
    out_.ports = model::PortRange{uint16_t(from), uint16_t(to), ""};
  }

  // FromPort is the ICMP type, ToPort the code, -1 meaning all.
  void icmp(bool ports_required) {
    if (!both_or_neither(ports_required, "all types and codes")) return;
    int32_t type = in_.from_port(), code = in_.to_port();
    bool ok = true;
    for (auto [field, value, what] :
         {std::tuple{"FromPort", type, "ICMP type"}, std::tuple{"ToPort", code, "ICMP code"}}) {
      if (value < kAll || value > 255) {
        ctx_.error(at_field(field),
                   std::string(what) + " " + std::to_string(value) + " is out of range (0-255, or -1 for all)");
        ok = false;
      }
    }
    if (!ok) return;
    if (type == kAll) {
      if (code != kAll)
        ctx_.error(at_field("ToPort"), "must be -1 when FromPort (the ICMP type) is -1: all types means all codes");
      return;
    }
    model::IcmpMatch m;
    m.type = uint8_t(type);
    if (code != kAll) m.code = uint8_t(code);
    out_.icmp = m;
  }

  template <class List>
  bool within_limit(const List& list, const char* field) {
    if (size_t(list.size()) <= kMaxEntriesPerRuleField) return true;
    ctx_.error(at_field(field), "too many entries (" + std::to_string(list.size()) + ", at most " +
                                    std::to_string(kMaxEntriesPerRuleField) + ")");
    return false;
  }

  void cidr(const std::string& text, Family family, const std::string& path) {
    if (text.empty()) {
      ctx_.error(path, "required");
      return;
    }
    auto c = checked_net(text, path, ctx_);
    if (!c) return;
    if (c->family() != family) {
      ctx_.error(path, check::quoted(text) + (family == Family::V4
                                                  ? " is an IPv6 CIDR: IPv6 ranges go in Ipv6Ranges[].CidrIpv6"
                                                  : " is an IPv4 CIDR: IPv4 ranges go in IpRanges[].CidrIp"));
      return;
    }
    out_.cidrs.push_back(*c);
  }

  void peers() {
    if (within_limit(in_.ip_ranges(), "IpRanges"))
      for (int i = 0; i < in_.ip_ranges_size() && ctx_.wants_more(); ++i)
        cidr(in_.ip_ranges(i).cidr_ip(), Family::V4, at(at(at_field("IpRanges"), size_t(i)), "CidrIp"));
    if (within_limit(in_.ipv6_ranges(), "Ipv6Ranges"))
      for (int i = 0; i < in_.ipv6_ranges_size() && ctx_.wants_more(); ++i)
        cidr(in_.ipv6_ranges(i).cidr_ipv6(), Family::V6, at(at(at_field("Ipv6Ranges"), size_t(i)), "CidrIpv6"));
    if (within_limit(in_.user_id_group_pairs(), "UserIdGroupPairs"))
      for (int i = 0; i < in_.user_id_group_pairs_size() && ctx_.wants_more(); ++i)
        group_pair(in_.user_id_group_pairs(i), at(at_field("UserIdGroupPairs"), size_t(i)));
    std::sort(out_.groups.begin(), out_.groups.end());
    out_.groups.erase(std::unique(out_.groups.begin(), out_.groups.end()), out_.groups.end());

    for (int i = 0; i < in_.prefix_list_ids_size() && ctx_.wants_more(); ++i) {
      const std::string& id = in_.prefix_list_ids(i).prefix_list_id();
      ctx_.error(at(at(at_field("PrefixListIds"), size_t(i)), "PrefixListId"),
                 "prefix lists are not supported: wac cannot resolve " + check::quoted(id) +
                     " without AWS; list its CIDRs in IpRanges/Ipv6Ranges instead "
                     "(aws ec2 get-managed-prefix-list-entries)");
    }
    bool no_peers = in_.ip_ranges_size() == 0 && in_.ipv6_ranges_size() == 0 && in_.user_id_group_pairs_size() == 0;
    if (no_peers && in_.prefix_list_ids_size() == 0)
      ctx_.error(path_, "no peers: a permission needs IpRanges, Ipv6Ranges or UserIdGroupPairs");
  }

  void group_pair(const v1::UserIdGroupPair& pair, const std::string& path) {
    const std::string& id = pair.group_id();
    if (id.empty()) {
      ctx_.error(at(path, "GroupId"), pair.group_name().empty()
                                          ? "required"
                                          : "required: groups are matched by GroupId, not by GroupName " +
                                                check::quoted(pair.group_name()));
      return;
    }
    if (std::string why = check::security_group_id(id); !why.empty()) {
      ctx_.error(at(path, "GroupId"), "invalid security group ID " + check::quoted(id) + ": " + why);
      return;
    }
    out_.groups.push_back(id);
  }

  const v1::IpPermission& in_;
  std::string path_;
  Ctx& ctx_;
  model::SecurityGroupPermission out_;
};

std::vector<model::SecurityGroupPermission> translate_permissions(
    const google::protobuf::RepeatedPtrField<v1::IpPermission>& in, const std::string& path, Ctx& ctx) {
  std::vector<model::SecurityGroupPermission> out;
  if (size_t(in.size()) > kMaxRulesPerDirection) {
    ctx.error(path, "too many permissions (" + std::to_string(in.size()) + ", at most " +
                        std::to_string(kMaxRulesPerDirection) + ")");
    return out;
  }
  for (int i = 0; i < in.size() && ctx.wants_more(); ++i)
    out.push_back(PermissionReader(in.Get(i), at(path, size_t(i)), ctx).read());
  return out;
}

}  // namespace

model::SecurityGroup translate_security_group(const v1::SecurityGroup& in, Ctx& ctx) {
  const std::string& name = in.metadata().name();
  const auto& spec = in.spec();
  if (!name.empty())
    if (std::string why = check::security_group_id(name); !why.empty())
      ctx.error("metadata.name", "invalid security group ID " + check::quoted(name) + ": " + why);
  if (!spec.group_id().empty() && spec.group_id() != name)
    ctx.error("spec.GroupId", check::quoted(spec.group_id()) + " differs from metadata.name " + check::quoted(name));

  model::SecurityGroup sg;
  sg.id = name;
  sg.name = spec.group_name();
  sg.vpc_id = spec.vpc_id();
  sg.ingress = translate_permissions(spec.ip_permissions(), "spec.IpPermissions", ctx);
  sg.egress = translate_permissions(spec.ip_permissions_egress(), "spec.IpPermissionsEgress", ctx);
  return sg;
}

std::vector<std::string> endpoint_security_groups(const v1::ObjectMeta& meta, Ctx& ctx) {
  auto it = meta.annotations().find(model::kSecurityGroupsAnnotation);
  if (it == meta.annotations().end()) return {};
  const std::string path = at_key("metadata.annotations", it->first);
  const std::string& text = it->second;
  // Sixteen IDs with spacing fit easily; anything longer is refused before
  // parsing, so hostile nesting never reaches the JSON parser.
  if (text.size() > kMaxSecurityGroupsAnnotationBytes) {
    ctx.error(path, "too long for a list of security group IDs (" + std::to_string(text.size()) + " bytes, at most " +
                        std::to_string(kMaxSecurityGroupsAnnotationBytes) + ")");
    return {};
  }
  auto list = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (list.is_discarded() || !list.is_array()) {
    ctx.error(path, "expected a JSON list of security group IDs such as [\"sg-0123456789abcdef0\"], got " +
                        check::quoted(text));
    return {};
  }
  if (list.size() > kMaxSecurityGroupsPerEndpoint) {
    ctx.error(path, "too many security groups (" + std::to_string(list.size()) + ", at most " +
                        std::to_string(kMaxSecurityGroupsPerEndpoint) + ")");
    return {};
  }
  std::vector<std::string> groups;
  for (size_t i = 0; i < list.size(); ++i) {
    std::string where = "element " + std::to_string(i) + ": ";
    if (!list[i].is_string()) {
      ctx.error(path, where + "expected a security group ID string, got " + check::quoted(list[i].dump()));
      continue;
    }
    const std::string& id = list[i].get_ref<const std::string&>();
    if (std::string why = check::security_group_id(id); !why.empty()) {
      ctx.error(path, where + "invalid security group ID " + check::quoted(id) + ": " + why);
      continue;
    }
    groups.push_back(id);
  }
  std::sort(groups.begin(), groups.end());
  groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
  return groups;
}

void check_security_group_labels(const v1::ObjectMeta& meta, const std::vector<std::string>& groups, Ctx& ctx) {
  // Sorted, so problems come out in a stable order.
  std::map<std::string, std::string> labels(meta.labels().begin(), meta.labels().end());
  const std::string_view prefix = model::kSecurityGroupLabelPrefix;
  for (const auto& [key, value] : labels) {
    if (!key.starts_with(prefix)) continue;
    std::string group = key.substr(prefix.size());
    // A label that repeats the annotation (as Calico Enterprise writes it)
    // is harmless; one that claims more would forge membership.
    if (!std::binary_search(groups.begin(), groups.end(), group))
      ctx.error(at_key("metadata.labels", key), std::string("membership labels come from the ") +
                                                    model::kSecurityGroupsAnnotation +
                                                    " annotation, which does not list " + check::quoted(group));
    else if (!value.empty())
      ctx.error(at_key("metadata.labels", key), "must have an empty value, as for every member");
  }
}

}  // namespace wac::api::detail
