// The egress gateways as one node sees them (wacctl get egressgateway):
// plain data, filled on the agent thread.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace wac::agent {

struct EgressMemberReport {
  std::string node, node_ip, egress_ip;
  std::string interface;  // resolved on the gateway node itself ("" elsewhere)
  std::string state;      // Healthy, Unhealthy (API), Down (probe or link), Unknown
  std::string detail;
  bool local = false;     // this node
  bool in_route = false;  // a next hop of the group's route here
};

struct EgressGroupReport {
  std::string name;
  uint32_t table = 0;  // 0: none allocated
  uint32_t mark = 0;
  std::vector<EgressMemberReport> gateways;
  std::vector<std::string> local_pods;  // "ns/pod"
  std::vector<std::string> problems;
};

struct EgressReport {
  std::vector<EgressGroupReport> groups;
  std::vector<std::string> problems;  // node-wide
};

}  // namespace wac::agent
