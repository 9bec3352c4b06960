// The DNS response hold: tables `ip wac-dns` and `ip6 wac-dns` whose one
// chain sends DNS responses on their way to local pods to NFQUEUE, so the
// DNS tap can put their addresses into the kernel sets before the pod sees
// the answer (and connects).
//
// Why separate tables, written with libnftnl: this kernel family may lack
// nft_queue (the native `queue` statement), while the xtables NFQUEUE target
// through nft_compat is widely built in. nft cannot write a compat
// expression from text (it lists it as `queue num N bypass`, with a warning
// that iptables-nft manages the table), so the `inet wac` table, which the
// agent writes and reconciles through libnftables, must never contain one.
// These tables are replaced whole in one atomic batch and are not touched by
// the syncer.
//
// The rule carries the bypass flag: while no process listens on the queue
// (wacd stopped), responses pass unheld, so DNS never depends on wacd.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "netlink/status.h"

namespace wac::nft {

inline constexpr const char* kDnsHoldTable = "wac-dns";
inline constexpr const char* kDnsHoldChain = "hold-dns-responses";
// After source NAT (100): the source is the address the pod queried (a
// Service VIP is already un-DNATed), and both forwarded and locally
// generated responses pass here. The log tap in `inet wac` runs later.
inline constexpr int kDnsHoldPriority = 101;

struct DnsHoldSpec {
  uint16_t queue = 0;
  std::vector<std::string> iface_prefixes{"cali"};  // workload interfaces (responses to pods)
};

// Creates or replaces both tables in one batch. EOPNOTSUPP / ENOENT when the
// kernel has neither nft_compat nor xt_NFQUEUE.
Status install_dns_hold(const DnsHoldSpec& spec);
// Deletes both tables if present.
Status remove_dns_hold();

}  // namespace wac::nft
