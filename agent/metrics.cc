#include "agent/metrics.h"

#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include <future>
#include <map>
#include <optional>
#include <sstream>

#include "agent/agent.h"

namespace wac::agent {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// 50 us (an element batch) to 30 s (a full sync of a very large table).
const prometheus::Histogram::BucketBoundaries& latency_buckets() {
  static const prometheus::Histogram::BucketBoundaries b{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                         0.005,   0.01,   0.025,   0.05,   0.1,   0.25,
                                                         0.5,     1,      2.5,     5,      10,    30};
  return b;
}

double seconds(std::chrono::microseconds us) { return double(us.count()) / 1e6; }

const SyncResult::Path kSyncPaths[] = {SyncResult::Path::Elements, SyncResult::Path::Transaction,
                                       SyncResult::Path::Full};
const nft::OperationTiming::Kind kOperations[] = {nft::OperationTiming::Kind::Transaction,
                                                  nft::OperationTiming::Kind::Elements,
                                                  nft::OperationTiming::Kind::Read};

MetricFamily family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

MetricFamily single(std::string name, std::string help, MetricType type, double value) {
  MetricFamily f = family(std::move(name), std::move(help), type);
  ClientMetric m;
  if (type == MetricType::Counter) m.counter.value = value;
  else m.gauge.value = value;
  f.metric.push_back(std::move(m));
  return f;
}

}  // namespace

namespace {
ClientMetric labelled(std::vector<prometheus::ClientMetric::Label> labels, MetricType type, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  if (type == MetricType::Counter) m.counter.value = value;
  else m.gauge.value = value;
  return m;
}

MetricFamily by_label(std::string name, std::string help, MetricType type, const std::string& label,
                      const std::vector<std::pair<std::string, uint64_t>>& values) {
  MetricFamily f = family(std::move(name), std::move(help), type);
  for (const auto& [value, n] : values) f.metric.push_back(labelled({{label, value}}, type, double(n)));
  return f;
}

void append_state_file(std::vector<MetricFamily>& out, const StateFileStats& s) {
  out.push_back(by_label("wac_state_file_writes_total",
                         "writes of the accepted resources (journal appends and snapshots), by result",
                         MetricType::Counter, "result", {{"ok", s.writes}, {"error", s.write_errors}}));
  out.push_back(single("wac_state_file_load_errors_total", "damaged state files met at start", MetricType::Counter,
                       double(s.load_errors)));
  out.push_back(single("wac_state_file_behind",
                       "1 while accepted changes are missing from the state file (a write failed; retried)",
                       MetricType::Gauge, s.behind ? 1 : 0));
}
}  // namespace

std::vector<MetricFamily> status_families(const StatusReport& r, size_t active_policies) {
  const auto gauge = MetricType::Gauge;
  const auto counter = MetricType::Counter;
  std::vector<MetricFamily> out;
  out.push_back(single("wac_agent_up", "1 if the agent answered the scrape in time", gauge, 1));
  out.push_back(single("wac_local_endpoints", "workload endpoints on this node", gauge, double(r.local_endpoints)));
  out.push_back(single("wac_active_policies", "policies that apply to at least one local endpoint", gauge,
                       double(active_policies)));
  MetricFamily resources = family("wac_resources", "resources stored, by kind", gauge);
  for (const auto& [kind, n] : r.counts) {
    ClientMetric m;
    m.label.push_back({"kind", kind});
    m.gauge.value = double(n);
    resources.metric.push_back(std::move(m));
  }
  out.push_back(std::move(resources));
  out.push_back(single("wac_dataplane_chains", "chains in the desired ruleset (programmed while wac_last_sync_success is 1)",
                       gauge, double(r.chains)));
  out.push_back(single("wac_dataplane_sets", "sets and maps in the desired ruleset", gauge, double(r.sets)));
  out.push_back(single("wac_dataplane_set_elements", "elements of the sets and maps wac programs", gauge,
                       double(r.elements)));
  out.push_back(single("wac_last_sync_success", "1 if the last dataplane sync succeeded", gauge,
                       r.last_sync_ok ? 1 : 0));
  double last_sync = r.last_sync_time.time_since_epoch().count() == 0
                         ? 0
                         : std::chrono::duration<double>(r.last_sync_time.time_since_epoch()).count();
  out.push_back(single("wac_last_sync_timestamp_seconds", "when the last dataplane sync finished (unix time)", gauge,
                       last_sync));
  out.push_back(single("wac_dataplane_errors_total",
                       "syncs that left the dataplane out of date (retried with back-off)", counter,
                       double(r.sync_errors)));
  out.push_back(single("wac_foreign_changes_total", "changes to table inet wac by other processes, each repaired",
                       counter, double(r.foreign_changes)));
  out.push_back(single("wac_link_events_total", "netlink link events seen", counter, double(r.link_events)));
  out.push_back(single("wac_link_resyncs_total", "link re-dumps after a netlink overrun", counter,
                       double(r.link_resyncs)));
  out.push_back(single("wac_endpoints_without_interface", "local endpoints whose interface does not exist", gauge,
                       double(r.endpoints_without_interface.size())));
  out.push_back(single("wac_workload_interfaces_without_endpoint",
                       "workload interfaces with no endpoint (their traffic is dropped)", gauge,
                       double(r.interfaces_without_endpoint.size())));
  out.push_back(single("wac_snapshot_revision", "last replace-all revision accepted (0 = none)", gauge,
                       double(r.revision)));
  if (!r.state_file.path.empty()) append_state_file(out, r.state_file);
  return out;
}


std::vector<MetricFamily> dns_families(const DnsTapStats& s, const std::vector<LearnedName>& names) {
  const auto gauge = MetricType::Gauge;
  const auto counter = MetricType::Counter;
  std::vector<MetricFamily> out;
  out.push_back(single("wac_dns_tap_up", "1 if the DNS tap runs", gauge, s.enabled ? 1 : 0));
  out.push_back(single("wac_dns_hold_active", "1 if DNS responses are held until their addresses are programmed",
                       gauge, s.hold_active ? 1 : 0));
  out.push_back(single("wac_dns_packets_total", "packets the tap received (log and hold paths)", counter,
                       double(s.parse.responses_seen + s.held_copies_skipped)));
  out.push_back(single("wac_dns_responses_parsed_total", "DNS responses parsed", counter, double(s.parse.parsed)));
  out.push_back(by_label("wac_dns_rejected_total", "packets or responses the tap did not learn from, by reason",
                         counter, "reason",
                         {{"untrusted", s.parse.untrusted},
                          {"malformed", s.parse.malformed},
                          {"not_response", s.parse.not_response},
                          {"fragment", s.parse.fragments},
                          {"packet_error", s.parse.packet_errors},
                          {"tcp_incomplete", s.parse.tcp_incomplete},
                          {"cname_loop", s.parse.cname_loops},
                          {"chain_too_long", s.parse.chains_too_long},
                          {"answers_truncated", s.parse.answers_truncated}}));
  out.push_back(by_label("wac_dns_tap_enobufs_total", "netlink overruns of the tap's sockets (packets lost)", counter,
                         "path", {{"log", s.nflog_enobufs}, {"hold", s.hold_enobufs}}));
  out.push_back(single("wac_dns_hold_unheld_total",
                       "DNS responses that reached pods unheld while the hold was on (queue full: fail-open)", counter,
                       double(s.unheld)));
  out.push_back(single("wac_dns_evictions_total", "learned addresses dropped because their name was at its cap",
                       counter, double(s.parse.evictions)));
  out.push_back(single("wac_dns_element_batches_total", "element batches the tap committed", counter,
                       double(s.batches)));
  out.push_back(single("wac_dns_element_write_errors_total", "element batches (or parts) the kernel refused",
                       counter, double(s.write_errors)));
  out.push_back(by_label("wac_dns_cache_saves_total", "writes of the DNS cache file, by result", counter, "result",
                         {{"ok", s.cache_saves}, {"error", s.cache_save_errors}}));
  out.push_back(single("wac_dns_cache_load_errors_total",
                       "damaged DNS cache files met at start (skipped; the kernel's sets keep their addresses)",
                       counter, double(s.cache_load_errors)));
  out.push_back(single("wac_dns_learned_names", "names with addresses learned", gauge, double(s.names)));
  out.push_back(single("wac_dns_learned_addresses", "addresses learned, all names", gauge, double(s.addresses)));
  std::map<std::string, uint64_t> per_pattern;
  for (const auto& name : names)
    for (const auto& pattern : name.patterns) per_pattern[pattern] += name.addresses.size();
  out.push_back(by_label("wac_dns_learned_addresses_by_pattern",
                         "addresses learned for the names each domain pattern in use matches", gauge, "pattern",
                         {per_pattern.begin(), per_pattern.end()}));
  return out;
}

std::vector<MetricFamily> egress_families(const EgressReport& r) {
  static const char* const kStates[] = {"Healthy", "Unhealthy", "Down", "Unknown"};
  MetricFamily state = family("wac_egress_gateway_state",
                              "1 for each gateway's current state (Healthy, Unhealthy by the API, Down by probe or "
                              "link, Unknown)",
                              MetricType::Gauge);
  MetricFamily in_route = family("wac_egress_gateway_in_route", "1 if the gateway is a next hop of its group's route",
                                 MetricType::Gauge);
  MetricFamily pods = family("wac_egress_local_pods", "local pods whose traffic uses the group", MetricType::Gauge);
  for (const auto& group : r.groups) {
    for (const auto& gw : group.gateways) {
      std::vector<ClientMetric::Label> who{{"group", group.name}, {"node", gw.node}, {"egress_ip", gw.egress_ip}};
      for (const char* s : kStates) {
        auto labels = who;
        labels.push_back({"state", s});
        state.metric.push_back(labelled(std::move(labels), MetricType::Gauge, gw.state == s ? 1 : 0));
      }
      in_route.metric.push_back(labelled(who, MetricType::Gauge, gw.in_route ? 1 : 0));
    }
    pods.metric.push_back(labelled({{"group", group.name}}, MetricType::Gauge, double(group.local_pods.size())));
  }
  return {std::move(state), std::move(in_route), std::move(pods),
          single("wac_egress_problems", "node-wide egress problems reported (see wacctl egress)", MetricType::Gauge,
                 double(r.problems.size()))};
}

std::vector<MetricFamily> flow_log_families(const FlowLogStats& s) {
  const auto counter = MetricType::Counter;
  std::vector<MetricFamily> out;
  out.push_back(single("wac_flow_logs_up", "1 if wacd reads its flow log nflog group", MetricType::Gauge,
                       s.listening ? 1 : 0));
  out.push_back(single("wac_flow_logs_packets_total", "logged packets read from the flow log nflog group", counter,
                       double(s.packets)));
  out.push_back(single("wac_flow_logs_written_total", "flow records written to the flow log file", counter,
                       double(s.written)));
  out.push_back(single("wac_flow_logs_rate_limited_total",
                       "logged packets over flowLogs.rateLimit/burst: no record written", counter,
                       double(s.rate_limited)));
  out.push_back(single("wac_flow_logs_nflog_enobufs_total",
                       "times the kernel dropped logged packets because wacd's socket buffer was full", counter,
                       double(s.nflog_enobufs)));
  out.push_back(single("wac_flow_logs_unparsed_total",
                       "packets in the flow log group wacd could not read (headers, or not a flow log rule's)", counter,
                       double(s.unparsed)));
  out.push_back(single("wac_flow_logs_unknown_decisions_total",
                       "records whose rule wacd no longer knows (written with reason \"unknown\")", counter,
                       double(s.unknown_decisions)));
  out.push_back(single("wac_flow_logs_write_errors_total", "flow records the file could not take", counter,
                       double(s.write_errors)));
  out.push_back(single("wac_flow_logs_watcher_lost_total", "flow records dropped for WatchFlows callers reading too slowly",
                       counter, double(s.watcher_lost)));
  out.push_back(single("wac_flow_logs_watchers", "WatchFlows calls following the flow log now", MetricType::Gauge,
                       double(s.watchers)));
  return out;
}

class Metrics::FlowLogCollector : public prometheus::Collectable {
 public:
  void attach(std::function<FlowLogStats()> source) {
    std::lock_guard lock(mu_);
    source_ = std::move(source);
  }
  std::vector<MetricFamily> Collect() const override {
    std::lock_guard lock(mu_);
    return source_ ? flow_log_families(source_()) : std::vector<MetricFamily>{};
  }

 private:
  mutable std::mutex mu_;
  std::function<FlowLogStats()> source_;
};

// Asks the agent at scrape time; the agent thread may be busy with a long
// sync, so the wait is bounded and an unanswered scrape says so.
class Metrics::AgentCollector : public prometheus::Collectable {
 public:
  void attach(Agent& agent, std::chrono::milliseconds timeout) {
    std::lock_guard lock(mu_);
    agent_ = &agent;
    timeout_ = timeout;
  }

  std::vector<MetricFamily> Collect() const override {
    Agent* agent;
    std::chrono::milliseconds timeout;
    {
      std::lock_guard lock(mu_);
      agent = agent_;
      timeout = timeout_;
    }
    if (!agent) return {};
    using Answer = std::pair<StatusReport, size_t>;
    auto answer = std::make_shared<std::promise<Answer>>();
    std::future<Answer> future = answer->get_future();
    agent->status([answer, agent](StatusReport report) {
      answer->set_value({std::move(report), agent->calculator().active_policy_count()});
    });
    if (future.wait_for(timeout) != std::future_status::ready) {
      spdlog::warn("metrics: the agent did not answer within {} ms; scrape without its counts", timeout.count());
      return {single("wac_agent_up", "1 if the agent answered the scrape in time", MetricType::Gauge, 0)};
    }
    auto [report, active] = future.get();
    auto out = status_families(report, active);
    append(out, dns_families(report.dns, learned_names(*agent)));
    if (auto egress = egress_report(*agent, timeout)) append(out, egress_families(*egress));
    return out;
  }

 private:
  static void append(std::vector<MetricFamily>& out, std::vector<MetricFamily> more) {
    for (auto& f : more) out.push_back(std::move(f));
  }
  // The tap answers on the caller's thread (it has its own lock).
  static std::vector<LearnedName> learned_names(Agent& agent) {
    std::vector<LearnedName> names;
    agent.dns_report("", [&](DnsReport r) { names = std::move(r.names); });
    return names;
  }
  static std::optional<EgressReport> egress_report(Agent& agent, std::chrono::milliseconds timeout) {
    auto answer = std::make_shared<std::promise<EgressReport>>();
    auto future = answer->get_future();
    agent.egress_status([answer](EgressReport r) { answer->set_value(std::move(r)); });
    if (future.wait_for(timeout) != std::future_status::ready) return std::nullopt;
    return future.get();
  }

  mutable std::mutex mu_;
  Agent* agent_ = nullptr;
  std::chrono::milliseconds timeout_{5000};
};

Metrics::Metrics(std::string version)
    : registry_(std::make_shared<prometheus::Registry>()),
      agent_collector_(std::make_shared<AgentCollector>()),
      flow_collector_(std::make_shared<FlowLogCollector>()),
      syncs_(prometheus::BuildCounter()
                 .Name("wac_syncs_total")
                 .Help("dataplane syncs by path (elements: one libnftnl batch; transaction: one libnftables "
                       "transaction; full: read back and reconcile) and result")
                 .Register(*registry_)),
      sync_seconds_(prometheus::BuildHistogram()
                        .Name("wac_sync_duration_seconds")
                        .Help("time to bring the kernel to the desired state, by sync path")
                        .Register(*registry_)),
      nft_ops_(prometheus::BuildCounter()
                   .Name("wac_nft_operations_total")
                   .Help("kernel operations on table inet wac by kind (transaction: libnftables; elements: "
                         "libnftnl batch; read: listing) and result")
                   .Register(*registry_)),
      nft_seconds_(prometheus::BuildHistogram()
                       .Name("wac_nft_operation_duration_seconds")
                       .Help("latency of one nftables transaction, element batch or table read")
                       .Register(*registry_)) {
  // Every series exists from the start, so rates work from the first scrape.
  for (auto path : kSyncPaths) {
    for (const char* result : {"ok", "error"}) syncs_.Add({{"path", path_name(path)}, {"result", result}});
    sync_seconds_.Add({{"path", path_name(path)}}, latency_buckets());
  }
  for (auto op : kOperations) {
    for (const char* result : {"ok", "error"}) nft_ops_.Add({{"operation", nft::operation_name(op)}, {"result", result}});
    nft_seconds_.Add({{"operation", nft::operation_name(op)}}, latency_buckets());
  }
  prometheus::BuildGauge()
      .Name("wac_build_info")
      .Help("wacd's version (always 1)")
      .Register(*registry_)
      .Add({{"version", std::move(version)}})
      .Set(1);
}

Metrics::~Metrics() { (void)serve(""); }

void Metrics::record_sync(const SyncResult& r) {
  if (r.path == SyncResult::Path::Nothing) return;
  const char* path = path_name(r.path);
  syncs_.Add({{"path", path}, {"result", r.status.ok() ? "ok" : "error"}}).Increment();
  sync_seconds_.Add({{"path", path}}, latency_buckets()).Observe(seconds(r.duration));
}

void Metrics::record_nft_operation(const nft::OperationTiming& t) {
  const char* op = nft::operation_name(t.kind);
  nft_ops_.Add({{"operation", op}, {"result", t.ok ? "ok" : "error"}}).Increment();
  nft_seconds_.Add({{"operation", op}}, latency_buckets()).Observe(seconds(t.duration));
}

void Metrics::collect_from(Agent& agent, std::chrono::milliseconds timeout) { agent_collector_->attach(agent, timeout); }

void Metrics::collect_flow_logs(std::function<FlowLogStats()> source) { flow_collector_->attach(std::move(source)); }

std::unique_ptr<prometheus::Exposer> Metrics::listen(const std::string& address, Status& status) {
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    exposer = std::make_unique<prometheus::Exposer>(address, /*num_threads=*/2);
  } catch (const std::exception& e) {
    status = Status::Error("cannot serve metrics on " + address + ": " + e.what());
    return nullptr;
  }
  exposer->RegisterCollectable(registry_);
  exposer->RegisterCollectable(agent_collector_);
  exposer->RegisterCollectable(flow_collector_);
  status = Status::Ok();
  return exposer;
}

Status Metrics::serve(const std::string& address) {
  std::lock_guard lock(mu_);
  if (address == address_ && (exposer_ || address.empty())) return Status::Ok();
  Status status;
  std::unique_ptr<prometheus::Exposer> fresh;
  if (!address.empty()) fresh = listen(address, status);
  if (!status.ok() && exposer_) {
    // The new address may overlap the old one (same port, 0.0.0.0): free
    // it and try again, and if that fails too, go back to the old address.
    exposer_.reset();
    fresh = listen(address, status);
    if (!status.ok()) {
      Status back;
      exposer_ = listen(address_, back);
      return status;
    }
  }
  if (!status.ok()) return status;
  exposer_ = std::move(fresh);  // the old listener (if any) closes here
  address_ = address;
  return Status::Ok();
}

std::string Metrics::address() const {
  std::lock_guard lock(mu_);
  return exposer_ ? address_ : "";
}

std::string Metrics::text() const {
  std::vector<MetricFamily> families = registry_->Collect();
  for (auto& f : agent_collector_->Collect()) families.push_back(std::move(f));
  for (auto& f : flow_collector_->Collect()) families.push_back(std::move(f));
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace wac::agent
