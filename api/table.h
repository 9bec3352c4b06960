// Human-readable output for wacctl: resource tables (get -o table) and the
// agent status report.
#pragma once
#include <string>
#include <vector>

#include "wac/v1/wac.pb.h"

namespace wac::api {

// Columns depend on the kind (kinds are listed one after the other, each
// with its own header); NAMESPACE is shown when `show_namespace`.
std::string format_table(const std::vector<v1::Resource>& resources, bool show_namespace);

std::string format_status(const v1::StatusResponse& status);

// `wacctl get egressgateway` as a table: each gateway group with its
// gateways' state, its routing table and mark, and the local pods using it.
std::string format_egress_status(const v1::EgressStatusResponse& status);

}  // namespace wac::api
