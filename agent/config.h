// wacd's configuration: one YAML file (default /etc/wac/wacd.yaml) with
// every knob; command-line flags override it.  Unknown keys and invalid
// values are rejected with the key named.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "netlink/ip.h"
#include "netlink/status.h"

namespace wac::agent {

struct DnsConfig {
  uint16_t tap_group = 5353;             // nfnetlink_log group of the DNS tap
  std::vector<IpAddr> trusted_servers;   // empty: the node's resolvers + cluster DNS
  std::optional<IpAddr> cluster_dns;     // the cluster DNS service address
  uint32_t ttl_grace_seconds = 5;        // added to every record TTL
  uint32_t min_ttl_seconds = 30;
  uint32_t max_ttl_seconds = 86400;
  uint32_t max_addresses_per_name = 256;
  bool operator==(const DnsConfig&) const = default;
};

struct Config {
  std::string node_name;  // default: the host name
  std::string socket = "/run/wac/wacd.sock";
  std::string socket_group;  // "" = root only (0600)
  std::string state_dir = "/var/lib/wac";
  std::vector<std::string> iface_prefixes{"cali"};
  bool endpoint_to_host_allow = true;
  uint32_t verdict_mark = 0x10000;
  std::string log_level = "info";
  DnsConfig dns;
  bool operator==(const Config&) const = default;

  // Loads YAML text over the defaults.  Errors name the key:
  // "dns.minTTLSeconds: expected an unsigned integer, got \"x\"".
  static Status from_yaml(const std::string& text, Config& out);
  static Status from_file(const std::string& path, Config& out);
  Status validate() const;
  std::string to_yaml() const;
};

}  // namespace wac::agent
