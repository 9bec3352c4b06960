#include "agent/dns_rules.h"

namespace wac::agent {

nft::Chain dns_tap_chain(const std::vector<std::string>& iface_prefixes, uint16_t group) {
  nft::Chain chain{kDnsTapChain, "DNS responses to local pods -> wacd's DNS tap (nflog group " + std::to_string(group) + ")",
                   nft::BaseHook{"filter", "postrouting", kDnsTapPriority, "accept"}, {}};
  for (const auto& prefix : iface_prefixes)
    chain.rules.push_back("oifname \"" + prefix + "*\" meta l4proto { tcp, udp } th sport 53 counter log group " +
                          std::to_string(group));
  return chain;
}

}  // namespace wac::agent
