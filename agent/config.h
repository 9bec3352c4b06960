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
  // Hold DNS responses to pods (NFQUEUE) until their addresses are in the
  // kernel, so a connection right after the lookup is never dropped.
  bool hold_responses = true;
  uint16_t hold_queue = 5353;            // NFQUEUE number of the hold
  // How often learned addresses are written to <stateDir>/dns-cache.json
  // (also when wacd stops); a failed write is retried at the next one.
  uint32_t cache_save_interval_seconds = 30;
  bool operator==(const DnsConfig&) const = default;
};

// Egress gateways (issue 4): how this node marks, routes and probes.
struct EgressConfig {
  // The cluster's pod and service ranges: never sent to a gateway.
  std::vector<Cidr> cluster_cidrs;
  // Policy-routing tables wacd may use, one per gateway group.
  uint32_t table_first = 20000;
  uint32_t table_last = 20999;
  uint32_t rule_priority = 100;      // of the `ip rule fwmark ... lookup T`
  uint32_t mark_mask = 0x0ff00000;   // fwmark bits wacd may use (contiguous)
  uint8_t route_protocol = 87;       // marks wacd's rules, routes and addresses as its own
  bool set_sysctls = true;           // else only report forwarding/rp_filter/hash settings
  std::vector<std::string> gateway_nodes;  // nodes known without endpoints (see README)
  bool operator==(const EgressConfig&) const = default;
};

// The optional TCP listener for a remote controller; the unix socket is
// always served.  Mutual TLS unless `insecure` (plaintext, logged loudly).
struct ListenConfig {
  std::string address;    // "IP:PORT" or "[IPv6]:PORT"; "" = no TCP listener
  std::string tls_cert;   // the server's certificate chain (PEM file)
  std::string tls_key;    // its private key (PEM file)
  std::string client_ca;  // CA(s) that sign accepted client certificates (PEM file)
  // A client is accepted if its certificate's common name or its whole
  // subject ("CN=ctl,O=ops", RFC 2253) is listed; empty = any the CA signed.
  std::vector<std::string> allowed_subjects;
  bool insecure = false;  // plaintext TCP without authentication
  bool operator==(const ListenConfig&) const = default;
};

// Flow logs: denied (and optionally allowed) connections as JSON lines in
// a file and on the WatchFlows stream (agent/flow_log.h).
struct FlowLogConfig {
  bool enabled = false;
  uint16_t nflog_group = 5354;       // must differ from dns.tapGroup
  std::string file;                  // "" = <stateDir>/flows.log
  uint32_t max_file_size_mb = 100;   // then FILE is renamed to FILE.1 and a new one started
  bool log_allowed = false;          // also flows a policy rule allowed (first packet)
  uint32_t rate_limit = 100;         // records per second written and streamed
  uint32_t burst = 200;              // records above the rate allowed at once
  uint32_t kernel_rate_limit = 1000; // packets per second (per logging rule) the kernel passes to wacd
  bool operator==(const FlowLogConfig&) const = default;
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
  std::string metrics_address = "127.0.0.1:9475";  // Prometheus endpoint, IPv4; "" = none
  ListenConfig listen;
  DnsConfig dns;
  EgressConfig egress;
  FlowLogConfig flow_logs;
  bool operator==(const Config&) const = default;

  // flowLogs.file, with the default under the state directory applied.
  std::string flow_log_file() const;

  // Loads YAML text over the defaults.  Errors name the key:
  // "dns.minTTLSeconds: expected an unsigned integer, got \"x\"".
  static Status from_yaml(const std::string& text, Config& out);
  static Status from_file(const std::string& path, Config& out);
  Status validate() const;
  std::string to_yaml() const;
};

}  // namespace wac::agent
