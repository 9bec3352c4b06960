// The agent: owns the model store and the calculation on one Asio thread,
// implements the API's Service, and keeps the kernel in sync.
#pragma once
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>

#include "agent/calc.h"
#include "agent/dns_tap.h"
#include "agent/egress.h"
#include "agent/flow_log.h"
#include "agent/service.h"
#include "agent/syncer.h"
#include "nft/backend.h"

namespace wac::agent {

struct AgentOptions {
  CalcConfig calc;
  std::string state_file;  // resources persisted here (empty: not persisted)
  std::chrono::milliseconds retry_min{500};
  std::chrono::milliseconds retry_max{30000};
  EgressConfig egress;
  bool egress_routing = false;  // program policy routing (rtnetlink); off in tests
};

class Agent : public Service {
 public:
  Agent(boost::asio::io_context& io, AgentOptions opts, nft::Backend& backend);

  // Loads resources (from the state file, through the caller's translation)
  // before the first sync, so a restart reconciles to the last known state
  // instead of an empty one.  Call before start().
  void preload(std::vector<model::Resource> resources);
  // First (full) sync: reads the kernel table and reconciles.
  void start();

  void apply(std::vector<model::Resource> resources, Done done) override;
  void remove(std::vector<model::Key> keys, Done done) override;
  void replace_all(std::vector<model::Resource> resources, uint64_t revision, Done done) override;
  void list(std::optional<model::Kind> kind, std::string ns, std::string name,
            std::function<void(std::vector<model::Resource>)> done) override;
  void status(std::function<void(StatusReport)> done) override;
  void egress_status(std::function<void(EgressReport)> done) override;
  void dns_report(std::string name_filter, std::function<void(DnsReport)> done) override;
  void explain(std::string ns, std::string pod, std::function<void(ApiError, Explanation)> done) override;  // explain.cc
  // The DNS tap to tell which domain sets exist after each sync (agent_dns.cc).
  void set_dns_tap(DnsTap* tap) { dns_tap_ = tap; }
  // Flow logs: the hub WatchFlows reads, and the logger to tell which local
  // endpoint has which address after each calculation. Call before start().
  void set_flow_logs(FlowHub* hub, FlowLogger* logger);
  std::shared_ptr<FlowWatch> watch_flows(size_t recent, bool follow, std::function<void()> wake) override;

  // Interface presence, from the link monitor (call on the agent thread).
  // Dispatch maps are keyed by interface name, so enforcement needs no
  // change when an interface comes or goes; this feeds status and logs.
  void interface_added(const std::string& name);
  void interface_removed(const std::string& name);
  void set_link_stats(uint64_t events, uint64_t resyncs) {
    report_.link_events = events;
    report_.link_resyncs = resyncs;
  }

  // Another process changed the table (from the table guard; agent
  // thread): restore it with a full sync and count it in status.
  void foreign_change(const std::string& who);

  // Called on the agent thread after every accepted change (for persistence).
  // After every accepted change, before the client is answered: all
  // resources, and the keys this change stored or erased.
  std::function<void(const std::map<model::Key, model::Resource>&, const std::vector<model::Key>&)> on_change;
  // The state file's counters, for status (agent thread; unset: none).
  std::function<StateFileStats()> state_file_stats;
  // Called on the agent thread after every sync that did something (metrics).
  std::function<void(const SyncResult&)> on_sync;
  // For `explain` and tests; call on the agent thread.
  Calculator& calculator() { return calc_; }
  // Every accepted resource (agent thread): what a state file rewrite writes.
  const std::map<model::Key, model::Resource>& resources() const { return resources_; }
  boost::asio::io_context& io() { return io_; }

 private:
  void store(const model::Resource& r);
  void erase(const model::Key& key);
  void changed(Done done);
  void run_sync();
  void egress_changed();  // probes, links or addresses moved: recompute and sync
  void schedule_retry();
  void dns_before_sync();
  void dns_after_sync(const SyncResult& r);
  void recompute();  // the calculation, egress plan and flow log endpoints after a change
  void publish_flow_endpoints();
  void record(const SyncResult& r);
  bool is_workload_interface(const std::string& name) const;
  void report_interfaces(StatusReport& r) const;

  boost::asio::io_context& io_;
  AgentOptions opts_;
  Calculator calc_;
  Syncer syncer_;
  std::unique_ptr<egress::Manager> egress_;
  DnsTap* dns_tap_ = nullptr;
  FlowHub* flow_hub_ = nullptr;
  FlowLogger* flow_logger_ = nullptr;
  DomainSetMap dns_published_;  // the domain sets the tap was last told about
  std::map<model::Key, model::Resource> resources_;
  std::vector<model::Key> touched_;  // stored or erased since the last on_change
  uint64_t revision_ = 0;
  std::vector<Done> waiting_;  // answered after the next sync
  bool sync_posted_ = false;
  boost::asio::steady_timer retry_timer_;
  std::chrono::milliseconds retry_delay_;
  StatusReport report_;
  std::set<std::string> interfaces_;  // present on this node (all, not only workload ones)
  bool interfaces_known_ = false;     // false until the link monitor reports
};

}  // namespace wac::agent
