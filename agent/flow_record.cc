#include "agent/flow_record.h"

#include <cstdio>
#include <ctime>

#include "agent/names.h"

namespace wac::agent {

namespace {

struct ProtocolName {
  uint8_t number;
  const char* name;
};
constexpr ProtocolName kProtocols[] = {{1, "icmp"},  {6, "tcp"},   {17, "udp"},      {33, "dccp"},
                                       {58, "icmpv6"}, {132, "sctp"}, {136, "udplite"}};

std::string endpoint_text(const IpAddr& a, const std::optional<uint16_t>& port) {
  if (!port) return a.str();
  return (a.is_v4() ? a.str() : "[" + a.str() + "]") + ":" + std::to_string(*port);
}

std::string policy_text(const model::Key& k) {
  return std::string(model::kind_name(k.kind)) + " " + (k.ns.empty() ? k.name : k.ns + "/" + k.name);
}

}  // namespace

std::string flow_protocol_name(uint8_t proto) {
  for (const auto& p : kProtocols)
    if (p.number == proto) return p.name;
  return std::to_string(proto);
}

std::optional<uint8_t> flow_protocol_number(const std::string& name) {
  for (const auto& p : kProtocols)
    if (name == p.name) return p.number;
  if (name.empty() || name.size() > 3 || name.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  int n = std::stoi(name);
  if (n > 255) return std::nullopt;
  return uint8_t(n);
}

std::string format_time(std::chrono::system_clock::time_point t) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  std::time_t secs = std::time_t(us / 1000000);
  if (us % 1000000 < 0) --secs;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(((us % 1000000) + 1000000) % 1000000));
  return buf;
}

void apply_decision(const FlowDecision& d, FlowRecord& r) {
  r.allowed = d.allowed;
  r.direction = names::direction_name(d.direction);
  r.reason = reason_name(d.reason);
  if (!d.pod.empty()) {
    r.ns = d.ns;
    r.pod = d.pod;
    r.endpoint = d.endpoint;
  }
  if (d.policy) {
    r.policy = d.policy;
    r.rule_index = d.rule_index;
    r.rule_name = d.rule_name;
    r.rule_action = model::action_name(d.rule_action);
  }
}

nlohmann::ordered_json to_json(const FlowRecord& r) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  j["time"] = format_time(r.time);
  if (!r.node.empty()) j["node"] = r.node;
  j["action"] = r.allowed ? "allow" : "deny";
  if (!r.direction.empty()) j["direction"] = r.direction;
  if (!r.pod.empty()) {
    j["namespace"] = r.ns;
    j["pod"] = r.pod;
    j["endpoint"] = r.endpoint;
  }
  if (!r.interface.empty()) j["interface"] = r.interface;
  j["protocol"] = flow_protocol_name(r.tuple.protocol);
  j["src"] = r.tuple.src.str();
  if (r.tuple.src_port) j["srcPort"] = *r.tuple.src_port;
  j["dst"] = r.tuple.dst.str();
  if (r.tuple.dst_port) j["dstPort"] = *r.tuple.dst_port;
  if (r.tuple.icmp_type) j["icmpType"] = *r.tuple.icmp_type;
  if (r.tuple.icmp_code) j["icmpCode"] = *r.tuple.icmp_code;
  if (r.tuple.fragment) j["fragment"] = true;
  j["reason"] = r.reason;
  if (r.policy) {
    nlohmann::ordered_json p = {{"kind", model::kind_name(r.policy->kind)}};
    if (!r.policy->ns.empty()) p["namespace"] = r.policy->ns;
    p["name"] = r.policy->name;
    j["policy"] = std::move(p);
  }
  if (r.rule_index) {
    nlohmann::ordered_json rule = {{"index", *r.rule_index}};
    if (!r.rule_name.empty()) rule["name"] = r.rule_name;
    rule["action"] = r.rule_action;
    j["rule"] = std::move(rule);
  }
  if (!r.domain.empty()) j["domain"] = r.domain;
  return j;
}

std::string to_json_line(const FlowRecord& r) {
  // Names and labels come from the API, which validates them, but a
  // replacement character is better than an exception in the log path.
  return to_json(r).dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string to_text_line(const FlowRecord& r) {
  std::string time = format_time(r.time);
  std::string out = time.substr(0, 23) + "Z " + (r.allowed ? "ALLOW" : "DENY ") + " ";
  out += (r.direction.empty() ? "?" : r.direction) + " ";
  out += (r.pod.empty() ? "-" : r.ns + "/" + r.pod) + "  ";
  out += flow_protocol_name(r.tuple.protocol) + " " + endpoint_text(r.tuple.src, r.tuple.src_port) + " -> " +
         endpoint_text(r.tuple.dst, r.tuple.dst_port);
  if (r.tuple.icmp_type)
    out += " type " + std::to_string(*r.tuple.icmp_type) + " code " + std::to_string(r.tuple.icmp_code.value_or(0));
  if (!r.domain.empty()) out += " (" + r.domain + ")";
  out += "  ";
  if (r.policy) {
    out += policy_text(*r.policy) + " rule " + std::to_string(r.rule_index.value_or(0));
    if (!r.rule_name.empty()) out += " " + r.rule_name;
    if (r.rule_action == "Pass") out += " (pass)";
  } else {
    out += r.reason;
  }
  return out;
}

}  // namespace wac::agent
