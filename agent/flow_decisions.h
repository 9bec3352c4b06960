// Flow log decisions: which rule decided a logged packet.
//
// Every rule that logs a flow carries a 32-bit decision id, and the agent
// keeps a table id -> decision (pod chain, policy, rule index, action):
//
//   deny:  <match> counter meta mark set 0x5e1f03a2 goto flow-log-deny
//          chain flow-log-deny {
//            limit rate 1000/second burst 1000 packets counter log prefix "wac-flow" group 5354 drop
//            counter drop comment "not logged: over flowLogs.kernelRateLimit"
//          }
//   allow: <match> ct state new limit rate 1000/second burst 1000 packets log prefix "wac-flow 5e1f03a2" group 5354
//          <match> counter meta mark set meta mark or 0x00010000 return
//
// A denied packet is dropped anyway, so its mark may carry the id: every deny
// needs one rule only, and one shared chain holds the single kernel limit
// (a `limit` that fails ends its rule, so it cannot sit in a rule that must
// drop). An allowed packet keeps its mark (the verdict bit, egress gateway
// marks), so its id goes in the log prefix of a rule of its own.
//
// Ids are a hash of (chain, rule slot), so a restarted wacd computes the
// ids the kernel already holds; a collision takes the next free id. A
// decision that goes away stays readable for a minute, for packets logged
// before the sync that removed its rule.
//
// Thread-safe: the calculation writes (agent thread), the flow log reader
// looks up (its own thread).
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agent/model.h"
#include "nft/ruleset.h"

namespace wac::agent {

inline constexpr const char* kFlowLogDenyChain = "flow-log-deny";
inline constexpr const char* kFlowLogPrefix = "wac-flow";

// How the rules log (from flowLogs in the config); disabled: they do not.
struct FlowLogRender {
  bool enabled = false;
  uint16_t group = 5354;
  uint32_t kernel_rate = 1000;  // packets per second, per logging rule
  bool log_allowed = false;
};

// Why a packet was dropped or allowed.
enum class FlowReason {
  PolicyRule,      // a Calico policy rule (Deny, or Allow/Pass when allowed flows are logged)
  DefaultDeny,     // the pod's policies selected it and none allowed this
  SecurityGroups,  // the pod's security groups allow nothing like this
  AntiSpoof,       // the pod sent from an address that is not its own
  NoEndpoint,      // a workload interface with no endpoint
  EndpointToHost,  // pod -> host with endpointToHostAction: Drop
};
const char* reason_name(FlowReason r);  // "policy", "default-deny", ...

struct FlowDecision {
  bool allowed = false;
  FlowReason reason = FlowReason::PolicyRule;
  model::Direction direction = model::Direction::Ingress;
  // PolicyRule: which policy and rule.
  std::optional<model::Key> policy;
  size_t rule_index = 0;
  std::string rule_name;
  model::Action rule_action = model::Action::Deny;
  // Decisions in one pod's chain name the pod; policy chains are shared by
  // many pods, and the packet's address tells which one.
  std::string ns, pod, endpoint;
  std::string chain;  // the nftables chain holding the rule
  bool operator==(const FlowDecision&) const = default;
};

// A decision of one pod's own chain (default deny, anti-spoof, ...).
FlowDecision pod_flow_decision(const model::Endpoint& ep, model::Direction d, FlowReason reason);

class FlowDecisions {
 public:
  using Clock = std::chrono::steady_clock;
  using Hash = std::function<uint32_t(std::string_view)>;
  static uint32_t default_hash(std::string_view text);  // FNV-1a, never 0

  explicit FlowDecisions(Hash hash = default_hash, std::chrono::seconds grace = std::chrono::seconds(60));

  // A chain is about to be rendered again: its decisions are retired unless
  // add() brings them back.
  void begin_chain(const std::string& chain);
  // The id of decision `slot` ("rule 3", "default-deny") of `chain`, which
  // it names from now on.
  uint32_t add(const std::string& chain, const std::string& slot, FlowDecision decision);
  // The chain is gone: its decisions are retired.
  void erase_chain(const std::string& chain);

  // Any thread.
  std::optional<FlowDecision> find(uint32_t id) const;
  size_t size() const;  // live and retired

  // For tests: time passes.
  void set_clock(std::function<Clock::time_point()> now) { now_ = std::move(now); }

 private:
  struct Entry {
    std::string key;  // chain + '\n' + slot
    FlowDecision decision;
    std::optional<Clock::time_point> retired;
  };
  void retire_locked(const std::string& chain, Clock::time_point now);
  void purge_locked(Clock::time_point now);

  Hash hash_;
  std::chrono::seconds grace_;
  std::function<Clock::time_point()> now_ = [] { return Clock::now(); };
  mutable std::mutex mu_;
  std::unordered_map<uint32_t, Entry> by_id_;
  std::map<std::string, std::vector<uint32_t>> by_chain_;  // live ids per chain
  Clock::time_point last_purge_{};
};

// ---- rule text

// The verdict of a logged deny: "meta mark set 0x5e1f03a2 goto flow-log-deny".
std::string flow_deny_verdict(uint32_t id);
// The statements of an allowed flow's log rule, after its match.
std::string flow_allow_log(uint32_t id, const FlowLogRender& r);
// The chain every logged deny ends in.
nft::Chain flow_log_deny_chain(const FlowLogRender& r);

// The decision id of a packet logged with `prefix` and `mark`; nullopt when
// the prefix is not a flow log's.
std::optional<uint32_t> decision_id(std::string_view prefix, uint32_t mark);

}  // namespace wac::agent
