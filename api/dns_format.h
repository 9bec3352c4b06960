// The DNS tap's reports for wacctl and the server: proto conversion and
// human-readable text (`wacctl dns`, the DNS part of `wacctl status`).
#pragma once
#include <string>

#include "agent/dns_report.h"
#include "wac/v1/wac.pb.h"

namespace wac::api {

void to_proto(const agent::DnsTapStats& stats, v1::DnsStats& out);
void to_proto(const agent::DnsReport& report, v1::DnsResponse& out);

// Names with their addresses and remaining TTLs, then the patterns in use
// with their sets.
std::string format_dns(const v1::DnsResponse& dns);
// A few lines for `wacctl status`.
std::string format_dns_status(const v1::DnsStats& stats);

}  // namespace wac::api
