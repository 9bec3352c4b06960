#include "agent/dns_config.h"

#include <algorithm>

#include "agent/dns_servers.h"

namespace wac::agent {

dns::CacheConfig dns_cache_config(const DnsConfig& d) {
  dns::CacheConfig c;
  c.grace = std::chrono::seconds(d.ttl_grace_seconds);
  c.min_timeout = std::chrono::seconds(d.min_ttl_seconds);
  c.max_timeout = std::chrono::seconds(d.max_ttl_seconds);
  c.max_addrs_per_key = d.max_addresses_per_name;
  // A repeat answer extends an element only when that moves its expiry by
  // more than this; at most the grace, so the kernel never drops an address
  // before its TTL has passed.
  c.refresh_threshold = std::min(c.refresh_threshold, c.grace);
  return c;
}

DnsTapOptions dns_tap_options(const Config& config) {
  const DnsConfig& d = config.dns;
  DnsTapOptions o;
  o.nflog_group = d.tap_group;
  o.hold = d.hold_responses;
  o.hold_queue = d.hold_queue;
  o.iface_prefixes = config.iface_prefixes;
  o.trusted_servers = trusted_dns_servers({d.trusted_servers, d.cluster_dns});
  o.cache = dns_cache_config(d);
  o.cache_file = config.state_dir + "/dns-cache.json";
  o.cache_save_interval = std::chrono::seconds(d.cache_save_interval_seconds);
  return o;
}

}  // namespace wac::agent
