// Flow records between the agent's form (agent/flow_record.h) and the
// WatchFlows messages; wacctl prints them back through the agent's JSON
// and text forms, so a streamed record reads exactly like a file line.
#pragma once
#include "agent/flow_record.h"
#include "wac/v1/wac.pb.h"

namespace wac::api {

void to_proto(const agent::FlowRecord& r, v1::FlowRecord& out);
// False (and `why`) for a message no wacd sends: bad address, kind or protocol.
bool from_proto(const v1::FlowRecord& in, agent::FlowRecord& out, std::string& why);

}  // namespace wac::api
