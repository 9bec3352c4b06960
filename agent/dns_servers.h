// Which DNS servers the tap believes. Only responses whose source is one of
// them are learned from, so a pod (or any host) sending forged "responses"
// from port 53 opens nothing.
//
// Default (dns.trustedServers empty): the node's resolvers plus the cluster
// DNS service address (dns.clusterDNS). The node's resolvers are the
// `nameserver` lines of /etc/resolv.conf; when those are all loopback (a
// local stub such as systemd-resolved's 127.0.0.53, which pods cannot use),
// the upstream servers in /run/systemd/resolve/resolv.conf are added, as the
// kubelet hands those to pods with dnsPolicy Default.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "netlink/ip.h"

namespace wac::agent {

// The addresses of the `nameserver` lines of resolv.conf text, in order,
// without duplicates. Lines that do not parse (a scope id, a typo) are
// skipped: they name nothing the tap could match.
std::vector<IpAddr> parse_nameservers(const std::string& resolv_conf);

struct TrustedServerSources {
  std::vector<IpAddr> configured;        // dns.trustedServers
  std::optional<IpAddr> cluster_dns;     // dns.clusterDNS
  std::string resolv_conf = "/etc/resolv.conf";
  std::string stub_upstream = "/run/systemd/resolve/resolv.conf";
};

// `configured` when it is not empty; else the node's resolvers and the
// cluster DNS address. Sorted, without duplicates.
std::vector<IpAddr> trusted_dns_servers(const TrustedServerSources& sources);

}  // namespace wac::agent
