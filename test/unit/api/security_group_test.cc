// AWS security groups: `aws ec2 describe-security-groups` output and the
// wac.dev/v1 SecurityGroup form -> wac.v1 -> model, validation with the
// input's own field paths, and the pod annotation.
#include <google/protobuf/util/message_differencer.h>

#include <cstdio>
#include <sstream>

#include "api/kinds.h"
#include "api/table.h"
#include "helpers.h"

using namespace wac;
using namespace wac::api;
using namespace wac::api::test;

namespace {

const std::string kWeb = "sg-0a1b2c3d4e5f60718";
const std::string kClients = "sg-0b2c3d4e5f6a70819";
const std::string kDb = "sg-0c3d4e5f";

Cidr C(const char* s) { return *Cidr::parse(s); }

const model::SecurityGroup& group_of(const model::Resource& r) { return body<model::SecurityGroup>(r); }

model::Resource translated_doc(const Document& doc) {
  model::Resource out;
  Problems p = translate(doc.resource, out);
  INFO(doc.origin << ": " << p.str());
  REQUIRE(p.ok());
  return out;
}

// Every problem of the documents in `text`, formatted as wacctl prints them
// (parse problems, else translation problems); "" when there are none.
std::string wacctl_problems(const std::string& text, const std::string& source = "sg.json") {
  std::vector<Document> docs;
  Status s = parse_documents(text, source, docs);
  if (!s.ok()) {
    CHECK(docs.empty());
    return s.message();
  }
  std::string out;
  for (const auto& doc : docs) {
    model::Resource r;
    Problems problems = translate(doc.resource, r);
    for (const auto& p : problems.items()) out += (out.empty() ? "" : "\n") + format_problem(doc, p);
  }
  return out;
}

// describe-security-groups output holding one group with these permissions
// (a JSON list) as IpPermissions.
std::string one_group(const std::string& ingress, const std::string& extra = "") {
  return R"({"SecurityGroups": [{"GroupId": "sg-0123abcd", "GroupName": "g", "IpPermissions": )" + ingress +
         extra + "}]}";
}

std::string permission_problem(const std::string& permission) {
  return wacctl_problems(one_group("[" + permission + "]"));
}

const std::string kPrefix = "sg.json: document 1 (SecurityGroup sg-0123abcd): SecurityGroups[0].IpPermissions[0]";

}  // namespace

TEST_CASE("security groups: describe-security-groups output is read as it stands") {
  auto docs = documents(fixture("describe_security_groups.json"), "sgs.json");
  REQUIRE(docs.size() == 3);
  for (size_t i = 0; i < docs.size(); ++i) {
    CHECK(docs[i].resource.kind_case() == v1::Resource::kSecurityGroup);
    CHECK(docs[i].origin == "sgs.json: document 1");
    CHECK(docs[i].spec_path == "SecurityGroups[" + std::to_string(i) + "]");
  }
  // Informational fields are kept for get/list.
  const auto& spec = docs[0].resource.security_group().spec();
  CHECK(docs[0].resource.security_group().metadata().name() == kWeb);
  CHECK(spec.owner_id() == "123456789012");
  CHECK(spec.security_group_arn().ends_with("security-group/sg-0a1b2c3d4e5f60718"));
  REQUIRE(spec.tags_size() == 2);
  CHECK(spec.tags(1).key() == "team");
  CHECK(spec.ip_permissions(0).user_id_group_pairs(0).description() == "HTTP from the clients");
  CHECK(spec.ip_permissions(1).ip_ranges(0).description() == "partner office");

  SECTION("web: tcp from a group, a port range from v4 and v6 ranges, icmp type, udp; AWS's default egress") {
    model::Resource r = translated_doc(docs[0]);
    CHECK(r.key == model::Key{model::Kind::SecurityGroup, "", kWeb});
    const auto& sg = group_of(r);
    CHECK(sg.id == kWeb);
    CHECK(sg.name == "web");
    CHECK(sg.vpc_id == "vpc-0123456789abcdef0");
    REQUIRE(sg.ingress.size() == 4);
    CHECK(sg.ingress[0].protocol == uint8_t(6));
    CHECK(sg.ingress[0].ports == model::PortRange{80, 80, ""});
    CHECK(sg.ingress[0].cidrs.empty());
    CHECK(sg.ingress[0].groups == std::vector<std::string>{kClients});
    CHECK(sg.ingress[1].ports == model::PortRange{443, 8443, ""});
    CHECK(sg.ingress[1].cidrs == std::vector<Cidr>{C("203.0.113.0/24"), C("2001:db8:113::/48")});
    CHECK(sg.ingress[2].protocol == uint8_t(1));
    CHECK(sg.ingress[2].icmp == model::IcmpMatch{8, std::nullopt});  // ToPort -1: every code
    CHECK_FALSE(sg.ingress[2].ports);
    CHECK(sg.ingress[3].protocol == uint8_t(17));
    CHECK(sg.ingress[3].ports == model::PortRange{53, 53, ""});
    REQUIRE(sg.egress.size() == 1);
    CHECK_FALSE(sg.egress[0].protocol);  // "-1": all protocols
    CHECK_FALSE(sg.egress[0].ports);
    CHECK(sg.egress[0].cidrs == std::vector<Cidr>{C("0.0.0.0/0"), C("::/0")});
  }
  SECTION("clients: no ingress; egress to two groups (one peered), icmpv6, a protocol number") {
    model::Resource r = translated_doc(docs[1]);
    const auto& sg = group_of(r);
    CHECK(sg.ingress.empty());
    REQUIRE(sg.egress.size() == 3);
    CHECK(sg.egress[0].groups == std::vector<std::string>{kWeb, kDb});  // sorted
    CHECK(sg.egress[1].protocol == uint8_t(58));
    CHECK_FALSE(sg.egress[1].icmp);  // -1/-1: all types and codes
    CHECK(sg.egress[1].cidrs == std::vector<Cidr>{C("fd00:244::/48")});
    CHECK(sg.egress[2].protocol == uint8_t(50));
    CHECK_FALSE(sg.egress[2].ports);  // as AWS: other protocols have no ports
  }
  SECTION("db: an 8-digit ID, no egress rules (denies all egress)") {
    model::Resource r = translated_doc(docs[2]);
    const auto& sg = group_of(r);
    CHECK(sg.id == kDb);
    CHECK(sg.ingress.size() == 1);
    CHECK(sg.egress.empty());
  }
}

TEST_CASE("security groups: prefix lists are refused with the input's path, and nothing is applied") {
  std::string text = fixture("describe_security_groups_prefix_list.json");
  CHECK(wacctl_problems(text, "s3.json") ==
        "s3.json: document 1 (SecurityGroup sg-0d4e5f6a7b8c9d0e1): "
        "SecurityGroups[0].IpPermissionsEgress[0].PrefixListIds[0].PrefixListId: prefix lists are not supported: "
        "wac cannot resolve \"pl-6ea54007\" without AWS; list its CIDRs in IpRanges/Ipv6Ranges instead "
        "(aws ec2 get-managed-prefix-list-entries)");
  // The server's view of the same batch: rejected as a whole.
  google::protobuf::RepeatedPtrField<v1::Resource> batch;
  for (const auto& d : documents(fixture("describe_security_groups.json"))) *batch.Add() = d.resource;
  for (const auto& d : documents(text)) *batch.Add() = d.resource;
  std::vector<model::Resource> out;
  Problems p = translate_all(batch, out);
  CHECK_FALSE(p.ok());
  CHECK(out.empty());
  CHECK(p.str().find("SecurityGroup sg-0d4e5f6a7b8c9d0e1: spec.IpPermissionsEgress[0].PrefixListIds[0].PrefixListId") !=
        std::string::npos);
}

TEST_CASE("security groups: an invalid CIDR names group and field as the input does") {
  std::string text = R"({"SecurityGroups": [
    {"GroupId": "sg-0123abcd", "IpPermissions": [], "IpPermissionsEgress": []},
    {"GroupId": "sg-0456cdef", "IpPermissions": [
      {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
       "IpRanges": [{"CidrIp": "10.0.0.0/8"}, {"CidrIp": "192.0.2.0/24"}, {"CidrIp": "x"}]}]}]})";
  CHECK(wacctl_problems(text) ==
        "sg.json: document 1 (SecurityGroup sg-0456cdef): SecurityGroups[1].IpPermissions[0].IpRanges[2].CidrIp: "
        "invalid CIDR \"x\"");
}

TEST_CASE("security groups: protocols and ports as AWS defines them") {
  auto perm = [](const std::string& fields) {
    return R"({"IpRanges": [{"CidrIp": "192.0.2.0/24"}], )" + fields + "}";
  };
  auto one = [&](const std::string& fields) {
    std::vector<Document> docs = documents(one_group("[" + perm(fields) + "]"), "sg.json");
    REQUIRE(docs.size() == 1);
    model::Resource r = translated_doc(docs[0]);
    const auto& sg = group_of(r);
    REQUIRE(sg.ingress.size() == 1);
    return sg.ingress[0];
  };
  SECTION("accepted") {
    CHECK_FALSE(one(R"("IpProtocol": "-1")").protocol);
    CHECK_FALSE(one(R"("IpProtocol": "-1", "FromPort": 22, "ToPort": 22)").ports);  // AWS ignores them
    CHECK(one(R"("IpProtocol": "TCP", "FromPort": -1, "ToPort": -1)").protocol == uint8_t(6));
    CHECK_FALSE(one(R"("IpProtocol": "tcp", "FromPort": -1, "ToPort": -1)").ports);
    CHECK_FALSE(one(R"("IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535)").ports);
    CHECK(one(R"("IpProtocol": "udp", "FromPort": 0, "ToPort": 1023)").ports == model::PortRange{0, 1023, ""});
    CHECK(one(R"("IpProtocol": "6", "FromPort": 22, "ToPort": 22)").ports == model::PortRange{22, 22, ""});
    CHECK(one(R"("IpProtocol": "icmp", "FromPort": 3, "ToPort": 4)").icmp == model::IcmpMatch{3, 4});
    CHECK_FALSE(one(R"("IpProtocol": "icmp", "FromPort": -1, "ToPort": -1)").icmp);
    CHECK_FALSE(one(R"("IpProtocol": "icmpv6")").icmp);  // port range optional for icmpv6
    CHECK(one(R"("IpProtocol": "132", "FromPort": 5, "ToPort": 6)").protocol == uint8_t(132));
    CHECK_FALSE(one(R"("IpProtocol": "132", "FromPort": 5, "ToPort": 6)").ports);
    CHECK(one(R"("IpProtocol": "0")").protocol == uint8_t(0));
    auto masked = documents(one_group(R"([{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.1.2.3/8"}]}])"));
    model::Resource r = translated_doc(masked[0]);
    CHECK(group_of(r).ingress[0].cidrs == std::vector<Cidr>{C("10.0.0.0/8")});
  }
  SECTION("rejected") {
    CHECK(permission_problem(perm(R"("FromPort": 1, "ToPort": 1)")) ==
          kPrefix + ".IpProtocol: required (\"-1\" for all protocols, tcp, udp, icmp, icmpv6 or a number)");
    CHECK(permission_problem(perm(R"("IpProtocol": "gre")")) ==
          kPrefix + ".IpProtocol: invalid protocol \"gre\" (expected \"-1\" for all, tcp, udp, icmp, icmpv6 or a "
                    "number 0-255)");
    CHECK(permission_problem(perm(R"("IpProtocol": "256")")).find("invalid protocol \"256\"") != std::string::npos);
    CHECK(permission_problem(perm(R"("IpProtocol": "tcp")")) ==
          kPrefix + ".FromPort: required for \"tcp\" (FromPort and ToPort -1: all ports)");
    CHECK(permission_problem(perm(R"("IpProtocol": "tcp", "FromPort": 80)")) ==
          kPrefix + ".ToPort: required with FromPort");
    CHECK(permission_problem(perm(R"("IpProtocol": "udp", "FromPort": 90, "ToPort": 80)")) ==
          kPrefix + ".ToPort: ToPort 80 is below FromPort 90");
    CHECK(permission_problem(perm(R"("IpProtocol": "tcp", "FromPort": 1, "ToPort": 70000)")) ==
          kPrefix + ".ToPort: port 70000 is out of range (0-65535, or -1 for all)");
    CHECK(permission_problem(perm(R"("IpProtocol": "tcp", "FromPort": -1, "ToPort": 80)")) ==  // the -1 is named
          kPrefix + ".FromPort: FromPort and ToPort must both be -1 (all ports) or both be ports 0-65535");
    CHECK(permission_problem(perm(R"("IpProtocol": "icmp")")) ==
          kPrefix + ".FromPort: required for \"icmp\" (FromPort and ToPort -1: all types and codes)");
    CHECK(permission_problem(perm(R"("IpProtocol": "icmp", "FromPort": -1, "ToPort": 0)")) ==
          kPrefix + ".ToPort: must be -1 when FromPort (the ICMP type) is -1: all types means all codes");
    CHECK(permission_problem(perm(R"("IpProtocol": "icmpv6", "FromPort": 256, "ToPort": -1)")) ==
          kPrefix + ".FromPort: ICMP type 256 is out of range (0-255, or -1 for all)");
  }
}

TEST_CASE("security groups: peers") {
  CHECK(permission_problem(R"({"IpProtocol": "-1"})") ==
        kPrefix + ": no peers: a permission needs IpRanges, Ipv6Ranges or UserIdGroupPairs");
  CHECK(permission_problem(R"({"IpProtocol": "-1", "IpRanges": [{"CidrIp": "fd00::/8"}]})") ==
        kPrefix + ".IpRanges[0].CidrIp: \"fd00::/8\" is an IPv6 CIDR: IPv6 ranges go in Ipv6Ranges[].CidrIpv6");
  CHECK(permission_problem(R"({"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "10.0.0.0/8"}]})") ==
        kPrefix + ".Ipv6Ranges[0].CidrIpv6: \"10.0.0.0/8\" is an IPv4 CIDR: IPv4 ranges go in IpRanges[].CidrIp");
  CHECK(permission_problem(R"({"IpProtocol": "-1", "IpRanges": [{"Description": "x"}]})") ==
        kPrefix + ".IpRanges[0].CidrIp: required");
  CHECK(permission_problem(R"({"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupName": "default"}]})") ==
        kPrefix +
            ".UserIdGroupPairs[0].GroupId: required: groups are matched by GroupId, not by GroupName \"default\"");
  CHECK(permission_problem(R"({"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": "sg-XYZ"}]})") ==
        kPrefix + ".UserIdGroupPairs[0].GroupId: invalid security group ID \"sg-XYZ\": expected \"sg-\" followed by 8 "
                  "to 17 lower-case hex digits");
}

TEST_CASE("security groups: group IDs, unknown fields, document shape") {
  CHECK(wacctl_problems(R"({"SecurityGroups": [{"GroupName": "nameless", "IpPermissions": []}]})") ==
        "sg.json: document 1 (SecurityGroup <unnamed>): SecurityGroups[0].GroupId: required");
  CHECK(wacctl_problems(R"({"SecurityGroups": [{"GroupId": "sg-123", "IpPermissions": []}]})") ==
        "sg.json: document 1 (SecurityGroup sg-123): SecurityGroups[0].GroupId: invalid security group ID "
        "\"sg-123\": expected \"sg-\" followed by 8 to 17 lower-case hex digits");
  // Fields AWS does not print (or wac does not know) are errors, with the line.
  CHECK(wacctl_problems(one_group("[]", R"(, "IpPermissionz": [])")) ==
        "sg.json: document 1 (SecurityGroup sg-0123abcd): SecurityGroups[0].IpPermissionz: unknown field (line 1)");
  CHECK(wacctl_problems(R"({"SecurityGroups": [], "Groups": []})") ==
        "sg.json: document 1 (describe-security-groups output): Groups: unknown field (line 1)");
  CHECK(wacctl_problems(R"({"SecurityGroups": {}})") ==
        "sg.json: document 1: SecurityGroups: expected a list, got a mapping (line 1)");
  CHECK(wacctl_problems(R"({"SecurityGroups": [], "NextToken": "abc"})").empty());
  CHECK(documents(R"({"SecurityGroups": []})").empty());

  // The wac.dev/v1 form names the fields under spec.
  CHECK(problems("apiVersion: wac.dev/v1\nkind: SecurityGroup\nmetadata: {name: sg-0123abcd}\n"
                 "spec: {GroupId: sg-0456cdef}\n") ==
        "SecurityGroup sg-0123abcd: spec.GroupId: \"sg-0456cdef\" differs from metadata.name \"sg-0123abcd\"");
  CHECK(problems("apiVersion: wac.dev/v1\nkind: SecurityGroup\nmetadata: {name: sg-0123abcd, namespace: x}\n") ==
        "SecurityGroup x/sg-0123abcd: metadata.namespace: must be empty: SecurityGroup is cluster-scoped");
}

TEST_CASE("security groups: the wac.dev/v1 form, output and read-back") {
  auto docs = documents(fixture("security_group.yaml"), "security_group.yaml");
  REQUIRE(docs.size() == 2);
  model::Resource group = translated_doc(docs[0]);
  const auto& sg = group_of(group);
  CHECK(sg.id == "sg-0123abcd");
  REQUIRE(sg.ingress.size() == 2);
  CHECK(sg.ingress[0].groups == std::vector<std::string>{kWeb});
  CHECK_FALSE(sg.ingress[1].protocol);
  model::Resource endpoint = translated_doc(docs[1]);
  CHECK(body<model::Endpoint>(endpoint).security_groups == std::vector<std::string>{"sg-0123abcd", kWeb});

  // Output keeps AWS's names; "-1" stays a string; reading it back gives the same resources.
  for (const auto& doc : documents(fixture("describe_security_groups.json"))) {
    std::vector<v1::Resource> one{doc.resource};
    nlohmann::ordered_json j = to_json(doc.resource);
    CHECK(j["apiVersion"] == "wac.dev/v1");
    CHECK(j["kind"] == "SecurityGroup");
    CHECK(j["spec"].contains("GroupId"));  // AWS's names (empty lists are left out)
    auto back = documents(to_yaml_text(one));
    REQUIRE(back.size() == 1);
    INFO(to_yaml_text(one));
    CHECK(google::protobuf::util::MessageDifferencer::Equals(back[0].resource, doc.resource));
    auto back_json = documents(to_json_text(one));
    CHECK(google::protobuf::util::MessageDifferencer::Equals(back_json[0].resource, doc.resource));
  }
  auto web = documents(fixture("describe_security_groups.json"))[0].resource;
  CHECK(to_json(web)["spec"]["IpPermissionsEgress"][0]["IpProtocol"] == "-1");
  CHECK(to_yaml_text({web}).find("IpProtocol: \"-1\"") != std::string::npos);

  CHECK(kind_by_alias("sg")->kind == model::Kind::SecurityGroup);
  CHECK(kind_by_alias("securitygroups")->kind == model::Kind::SecurityGroup);
  // wacctl get securitygroups: one row per group, words as below.
  std::istringstream table(format_table({web}, false));
  auto words = [](const std::string& line) {
    std::istringstream in(line);
    std::string w, out;
    while (in >> w) out += (out.empty() ? "" : " ") + w;
    return out;
  };
  std::string header, row;
  std::getline(table, header);
  std::getline(table, row);
  CHECK(words(header) == "NAME GROUP-NAME VPC INGRESS EGRESS");
  CHECK(words(row) == "sg-0a1b2c3d4e5f60718 web vpc-0123456789abcdef0 4 1");
}

namespace {

std::string endpoint_with(const std::string& annotation, const std::string& labels = "{}") {
  return "apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata:\n  name: n-k8s-p-eth0\n"
         "  namespace: default\n  labels: " + labels + "\n  annotations:\n    aws.tigera.io/security-groups: '" +
         annotation + "'\nspec: {interfaceName: calip, ipNetworks: [10.244.1.2/32]}\n";
}

const std::string kAnnotationPath =
    "WorkloadEndpoint default/n-k8s-p-eth0: metadata.annotations[\"aws.tigera.io/security-groups\"]: ";

}  // namespace

TEST_CASE("security groups: the pod annotation") {
  model::Resource two = translated(endpoint_with(R"(["sg-0b2c3d4e", "sg-0a1b2c3d", "sg-0b2c3d4e"])"));
  CHECK(body<model::Endpoint>(two).security_groups == std::vector<std::string>{"sg-0a1b2c3d", "sg-0b2c3d4e"});
  model::Resource none = translated(endpoint_with("[]"));
  CHECK(body<model::Endpoint>(none).security_groups.empty());
  CHECK(problems(endpoint_with("sg-0a1b2c3d")) ==
        kAnnotationPath + "expected a JSON list of security group IDs such as [\"sg-0123456789abcdef0\"], got "
                          "\"sg-0a1b2c3d\"");
  CHECK(problems(endpoint_with(R"(["sg-0a1b2c3d", 7])")) ==
        kAnnotationPath + "element 1: expected a security group ID string, got \"7\"");
  // Calico's documentation writes '["<sg-id>, <sg-id>"]'; that is one (invalid) ID.
  CHECK(problems(endpoint_with(R"(["sg-0a1b2c3d, sg-0b2c3d4e"])")) ==
        kAnnotationPath + "element 0: invalid security group ID \"sg-0a1b2c3d, sg-0b2c3d4e\": expected \"sg-\" "
                          "followed by 8 to 17 lower-case hex digits");
  std::string many = "[";
  for (int i = 0; i < 17; ++i) {
    char id[32];
    std::snprintf(id, sizeof id, "%s\"sg-%08x\"", i ? "," : "", i);
    many += id;
  }
  CHECK(problems(endpoint_with(many + "]")) == kAnnotationPath + "too many security groups (17, at most 16)");
  CHECK(problems(endpoint_with(std::string(5000, '['))) ==
        kAnnotationPath + "too long for a list of security group IDs (5000 bytes, at most 4096)");
  // Membership comes from the annotation only; a label may repeat it.
  CHECK(problems(endpoint_with("[]", "{sg.aws.tigera.io/sg-0a1b2c3d: \"\"}")) ==
        "WorkloadEndpoint default/n-k8s-p-eth0: metadata.labels[\"sg.aws.tigera.io/sg-0a1b2c3d\"]: membership labels "
        "come from the aws.tigera.io/security-groups annotation, which does not list \"sg-0a1b2c3d\"");
  CHECK(problems(endpoint_with(R"(["sg-0a1b2c3d"])", "{sg.aws.tigera.io/sg-0a1b2c3d: \"\"}")).empty());
  CHECK(problems(endpoint_with(R"(["sg-0a1b2c3d"])", "{sg.aws.tigera.io/sg-0a1b2c3d: \"yes\"}")) ==
        "WorkloadEndpoint default/n-k8s-p-eth0: metadata.labels[\"sg.aws.tigera.io/sg-0a1b2c3d\"]: must have an "
        "empty value, as for every member");
  CHECK(problems(endpoint_with("[]", "{sg.aws.tigera.io/other: \"\"}")).find("which does not list \"other\"") !=
        std::string::npos);
  // Network sets may carry it: that is how hosts join a group.
  CHECK(problems("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: db-hosts\n"
                 "  labels: {sg.aws.tigera.io/sg-0a1b2c3d: \"\"}\nspec: {nets: [192.0.2.10/32]}\n")
            .empty());
}
