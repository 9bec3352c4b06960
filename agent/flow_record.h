// One flow log record: a connection attempt wac denied (or allowed), the
// pod it concerns, and the rule that decided. The same record is a JSON
// line in the flow log file, a WatchFlows message, and a line of
// `wacctl flows`.
//
//   {"time":"2024-06-01T10:00:00.123456Z","node":"node1","action":"deny","direction":"ingress",
//    "namespace":"shop","pod":"db","endpoint":"node1-k8s-db-eth0","interface":"calidb","protocol":"tcp",
//    "src":"10.244.1.9","srcPort":40312,"dst":"10.244.1.2","dstPort":5432,"reason":"policy",
//    "policy":{"kind":"GlobalNetworkPolicy","name":"deny-bad"},"rule":{"index":0,"action":"Deny"}}
//
// Fields that are not known are left out (ports of ICMP, the pod of a
// packet from an interface without endpoint, the domain of an address no
// DNS answer named).
#pragma once
#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "agent/flow_decisions.h"
#include "agent/flow_packet.h"
#include "agent/model.h"

namespace wac::agent {

struct FlowRecord {
  std::chrono::system_clock::time_point time;
  std::string node;
  bool allowed = false;
  std::string direction;          // "ingress" | "egress"; "" when the decision is unknown
  std::string ns, pod, endpoint;  // the local pod the decision was about
  std::string interface;          // its workload interface
  FlowTuple tuple;
  std::string reason;             // reason_name(), or "unknown": the decision id was not found
  std::optional<model::Key> policy;
  std::optional<size_t> rule_index;
  std::string rule_name;
  std::string rule_action;        // "Deny", "Allow", "Pass"
  std::string domain;             // a DNS name of the remote address, when the DNS tap learned one
  bool operator==(const FlowRecord&) const = default;
};

// The decision's part of a record (action, direction, reason, policy, rule,
// and the pod when the decision names one).
void apply_decision(const FlowDecision& d, FlowRecord& r);

// Keys in a fixed, readable order (time first), as the file has them.
nlohmann::ordered_json to_json(const FlowRecord& r);
std::string to_json_line(const FlowRecord& r);  // one line, no newline
// "2024-06-01T10:00:00.123Z DENY  ingress shop/db  tcp 10.244.1.9:40312 -> 10.244.1.2:5432  GlobalNetworkPolicy deny-bad rule 0"
std::string to_text_line(const FlowRecord& r);

std::string flow_protocol_name(uint8_t proto);  // "tcp", "udp", "icmp", "icmpv6", ..., or the number
std::optional<uint8_t> flow_protocol_number(const std::string& name);
std::string format_time(std::chrono::system_clock::time_point t);  // RFC 3339, UTC, microseconds

}  // namespace wac::agent
