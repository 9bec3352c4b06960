// Text for operators: `wacctl explain` and `wacctl reload`.
#pragma once
#include <string>

#include "wac/v1/wac.pb.h"

namespace wac::api {

// Pod, then each direction: the pod chain, security group chains, every
// policy in evaluation order with its chain and rules, and what happens
// when nothing decided.  `with_nft` adds each policy chain's nft rules.
std::string format_explanation(const v1::ExplainResponse& e, bool with_nft = false);

// One line per changed key: applied, needs a restart, or failed.
std::string format_reload(const v1::ReloadResponse& r);

}  // namespace wac::api
