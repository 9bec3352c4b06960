// The resources the agent last accepted, kept in the state directory so a
// restarted wacd reconciles the kernel to the last known state rather than
// to nothing.  Records are length-delimited wac.v1.Resource messages (the
// exact bytes clients sent); written atomically (temp file, fsync, rename).
#pragma once
#include <string>
#include <vector>

#include "netlink/status.h"

namespace wac::agent {

Status write_state_file(const std::string& path, const std::vector<std::string>& records);
// A missing file is not an error (first start); a corrupt one is reported,
// and the records read before the damage are returned.
Status read_state_file(const std::string& path, std::vector<std::string>& records);

}  // namespace wac::agent
