// The static part of DNS policy in `inet wac`: the tap chain that copies DNS
// responses on their way to local pods to nfnetlink_log, where wacd's DNS tap
// reads them.
//
// The tap is passive (`log` copies, the packet goes on), so DNS keeps
// working whether or not wacd runs. It sits in postrouting after source NAT:
//  - both forwarded responses (from a DNS server elsewhere) and responses
//    generated on this node (a node-local resolver) pass there, with the
//    output interface known, so "to a local pod" is a plain oifname match;
//  - reply packets of a DNATed flow (a pod asking a Service VIP) have their
//    source rewritten back to the VIP by then, so the source the tap checks
//    against the trusted servers is the address the pod asked;
//  - only responses that policy let through to the pod are seen.
// The race with a pod that connects right after its lookup is closed by the
// DNS hold (nft/dns_hold.h), which runs before this chain.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "nft/ruleset.h"

namespace wac::agent {

inline constexpr const char* kDnsTapChain = "dns-tap";
// After srcnat (100) and the DNS hold (nft::kDnsHoldPriority = 101).
inline constexpr int kDnsTapPriority = 102;

// One rule per workload interface prefix. The calculator adds it unless
// the tap is disabled (group 0).
nft::Chain dns_tap_chain(const std::vector<std::string>& iface_prefixes, uint16_t group);

}  // namespace wac::agent
