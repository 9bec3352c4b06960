// wacd's configuration -> the DNS tap's options.
#pragma once
#include "agent/config.h"
#include "agent/dns_tap.h"

namespace wac::agent {

// Trusted servers resolved now (dns_servers.h); the cache file lives in
// the state directory.
DnsTapOptions dns_tap_options(const Config& config);
dns::CacheConfig dns_cache_config(const DnsConfig& dns);

}  // namespace wac::agent
