// wacd's Prometheus metrics (prometheus-cpp), served as text on
// `metricsAddress` (default 127.0.0.1:9475, path /metrics).
//
// Two kinds of source:
//  - events recorded as they happen: syncs by path and result with their
//    duration, and every kernel operation's latency (nft/ reports them
//    through nft::OperationObserver, so it needs no metrics library);
//  - the agent's own counts (endpoints, policies, chains, sets, elements,
//    dataplane errors, link events, the DNS tap, egress gateways), read from
//    the agent at scrape time, so they can never drift from what `wacctl
//    status`, `wacctl dns` and `wacctl egress` show.
//
// Adding metrics elsewhere in wacd (e.g. the DNS tap): build families on
// registry() with the usual prometheus-cpp builders, once, at start:
//
//   auto& seen = prometheus::BuildCounter().Name("wac_dns_responses_total")
//                    .Help("DNS responses seen by the tap").Register(metrics.registry());
//   prometheus::Counter& parsed = seen.Add({{"result", "parsed"}});
//   ...  parsed.Increment();   // any thread; counters are atomic
//
// Names start with "wac_"; counters end in "_total", durations are
// histograms in seconds ending in "_seconds".  The registry exists whether
// or not the endpoint is served, so registering never depends on config.
#pragma once
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "agent/dns_report.h"
#include "agent/egress_report.h"
#include "agent/flow_log.h"
#include "agent/service.h"
#include "agent/syncer.h"
#include "netlink/status.h"
#include "nft/backend.h"

namespace prometheus {
class Exposer;
}

namespace wac::agent {

class Agent;

// The agent's counts as metric families (exposed for tests).
// `active_policies`: policies that apply to at least one local endpoint.
std::vector<prometheus::MetricFamily> status_families(const StatusReport& report, size_t active_policies);
// The DNS tap's counters, and the addresses learned per domain pattern in use.
std::vector<prometheus::MetricFamily> dns_families(const DnsTapStats& stats, const std::vector<LearnedName>& names);
// Each egress gateway's state as this node sees it, and the local pods using it.
std::vector<prometheus::MetricFamily> egress_families(const EgressReport& report);
std::vector<prometheus::MetricFamily> flow_log_families(const FlowLogStats& stats);

class Metrics {
 public:
  explicit Metrics(std::string version = "0.1.0");
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  prometheus::Registry& registry() { return *registry_; }

  // Any thread.
  void record_sync(const SyncResult& r);
  void record_nft_operation(const nft::OperationTiming& t);

  // Reads the agent's counts on every scrape (through Agent::status, which
  // runs on the agent thread; a scrape waits for it at most `timeout`).
  void collect_from(Agent& agent, std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // Flow log counters, read on every scrape from `source` (any thread).
  void collect_flow_logs(std::function<FlowLogStats()> source);

  // Serves /metrics on "IPv4:PORT" (Debian's civetweb has no IPv6); ""
  // stops serving.  On failure the old address keeps serving.
  Status serve(const std::string& address);
  std::string address() const;

  // Everything a scrape would return, as Prometheus text (tests, debugging).
  std::string text() const;

 private:
  class AgentCollector;
  class FlowLogCollector;
  std::unique_ptr<prometheus::Exposer> listen(const std::string& address, Status& status);

  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<AgentCollector> agent_collector_;
  std::shared_ptr<FlowLogCollector> flow_collector_;
  prometheus::Family<prometheus::Counter>& syncs_;
  prometheus::Family<prometheus::Histogram>& sync_seconds_;
  prometheus::Family<prometheus::Counter>& nft_ops_;
  prometheus::Family<prometheus::Histogram>& nft_seconds_;

  mutable std::mutex mu_;  // guards the exposer and its address
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::string address_;
};

}  // namespace wac::agent
