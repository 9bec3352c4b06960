// What the API layer asks of the agent.  api/ translates and validates
// requests into model resources, then calls these; the agent applies them
// on its own thread and answers through the callback (from that thread).
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "agent/dns_report.h"
#include "agent/egress_report.h"
#include "agent/explain.h"
#include "agent/flow_hub.h"
#include "agent/model.h"
#include "agent/state_file.h"
#include "netlink/status.h"

namespace wac::agent {

struct StatusReport {
  std::string node_name;
  uint64_t revision = 0;  // last replace-all revision accepted (0 = none)
  std::map<std::string, uint64_t> counts;  // resources by kind name
  uint64_t local_endpoints = 0;
  uint64_t syncs = 0;
  uint64_t sync_errors = 0;
  bool last_sync_ok = true;
  std::string last_sync_error;
  std::chrono::microseconds last_sync_duration{0};
  std::chrono::system_clock::time_point last_sync_time{};
  std::vector<std::string> dataplane_errors;  // most recent first, bounded
  uint64_t chains = 0, sets = 0, elements = 0;  // programmed
  std::vector<std::string> endpoints_without_interface;  // "ns/name (ifname)"
  std::vector<std::string> interfaces_without_endpoint;
  uint64_t link_events = 0, link_resyncs = 0;
  uint64_t foreign_changes = 0;     // table changes by other processes, each repaired
  std::string last_foreign_change;  // who made the last one
  DnsTapStats dns;                  // the DNS tap (enabled = false when it does not run)
  StateFileStats state_file;        // path "" when nothing is persisted
};

// Errors carry a gRPC-like code so api/ can map them.
struct ApiError {
  enum class Code { Ok, InvalidArgument, NotFound, FailedPrecondition, Internal };
  Code code = Code::Ok;
  std::string message;
  bool ok() const { return code == Code::Ok; }
};

class Service {
 public:
  virtual ~Service() = default;
  using Done = std::function<void(ApiError)>;
  // All-or-nothing: either every resource is stored and programmed into the
  // desired state, or none is.
  virtual void apply(std::vector<model::Resource> resources, Done done) = 0;
  virtual void remove(std::vector<model::Key> keys, Done done) = 0;
  // The complete desired set of resources; anything not in it is deleted.
  // A revision lower than the current one is rejected (FailedPrecondition).
  virtual void replace_all(std::vector<model::Resource> resources, uint64_t revision, Done done) = 0;
  virtual void list(std::optional<model::Kind> kind, std::string ns, std::string name,
                    std::function<void(std::vector<model::Resource>)> done) = 0;
  virtual void status(std::function<void(StatusReport)> done) = 0;
  // Egress gateways as this node programs them (wacctl get egressgateway).
  virtual void egress_status(std::function<void(EgressReport)> done) { done({}); }
  // Learned DNS names (those containing `name_filter`, or all), the domain
  // sets they feed, and the tap's counters (wacctl dns).
  virtual void dns_report(std::string name_filter, std::function<void(DnsReport)> done) { done({}); }
  // The policies, rules and chains that apply to a local pod (wacctl explain).
  virtual void explain(std::string ns, std::string pod, std::function<void(ApiError, Explanation)> done) {
    done({ApiError::Code::Internal, "explain is not supported by this agent"}, {});
  }
  // Flow log records (wacctl flows): up to `recent` of the latest, then, if
  // `follow`, every new one. `wake` runs (on any thread) when records are
  // queued. nullptr: flow logs are off. Any thread.
  virtual std::shared_ptr<FlowWatch> watch_flows(size_t recent, bool follow, std::function<void()> wake) {
    return nullptr;
  }
};

}  // namespace wac::agent
