// wacd: the wac node agent.
#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cstdlib>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <filesystem>
#include <functional>
#include <iostream>

#include "agent/agent.h"
#include "agent/config.h"
#include "agent/dns_config.h"
#include "agent/flow_log.h"
#include "agent/link_monitor.h"
#include "agent/metrics.h"
#include "agent/reload.h"
#include "agent/table_guard.h"
#include "agent/state_file.h"
#include "api/server.h"
#include "api/translate.h"

using namespace wac;

namespace {

constexpr const char* kDefaultConfig = "/etc/wac/wacd.yaml";

std::string host_name() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

struct Flags {
  std::string config = kDefaultConfig;
  bool check_config = false;
  std::optional<std::string> node_name, socket, state_dir, log_level, metrics_address;
  std::vector<std::string> iface_prefixes;
};

// Config file, then flags over it.  A missing default config file is fine.
Status load_config(const Flags& f, agent::Config& cfg) {
  cfg.node_name = host_name();
  bool explicit_file = f.config != kDefaultConfig;
  if (explicit_file || std::filesystem::exists(f.config)) {
    if (Status s = agent::Config::from_file(f.config, cfg); !s.ok()) return s;
  }
  if (f.node_name) cfg.node_name = *f.node_name;
  if (f.socket) cfg.socket = *f.socket;
  if (f.state_dir) cfg.state_dir = *f.state_dir;
  if (f.log_level) cfg.log_level = *f.log_level;
  if (f.metrics_address) cfg.metrics_address = *f.metrics_address;
  if (!f.iface_prefixes.empty()) cfg.iface_prefixes = f.iface_prefixes;
  return cfg.validate();
}

agent::FlowLogOptions flow_log_options(const agent::Config& cfg) {
  agent::FlowLogOptions o;
  o.node_name = cfg.node_name;
  o.nflog_group = cfg.flow_logs.nflog_group;
  o.file = cfg.flow_log_file();
  o.max_file_bytes = uint64_t(cfg.flow_logs.max_file_size_mb) << 20;
  o.rate_limit = cfg.flow_logs.rate_limit;
  o.burst = cfg.flow_logs.burst;
  return o;
}

// Keeps resources.db (snapshot + journal) in step with the agent: each
// accepted change reaches the journal before the client is answered.  A
// write that fails (disk full, read-only disk) is an environmental error:
// logged once per distinct error and counted (status, metrics), never
// fatal.  The agent keeps enforcing what it accepted, and the whole state
// is written at the next change or retry, so no change is skipped.
class StateWriter {
 public:
  static constexpr std::chrono::seconds kRetryInterval{10};

  explicit StateWriter(std::string path) : store_(std::move(path)) {}

  std::vector<model::Resource> load() {
    std::vector<std::string> records;
    if (Status s = store_.load(records); !s.ok())
      spdlog::error("{} (continuing with the {} records before the damage)", s.message(), records.size());
    std::vector<model::Resource> out;
    for (const auto& bytes : records)
      if (auto r = parse_record(bytes)) out.push_back(std::move(*r));
    return out;
  }

  void changed(const std::map<model::Key, model::Resource>& resources, const std::vector<model::Key>& keys) {
    if (!store_.behind()) note(store_.record(changes_of(resources, keys)));
    if (store_.behind() || store_.wants_compaction()) compact(resources);
  }

  // Called every kRetryInterval: writes what a failed write left out.
  void catch_up(const std::map<model::Key, model::Resource>& resources) {
    if (store_.behind()) compact(resources);
  }

  void compact(const std::map<model::Key, model::Resource>& resources) {
    std::vector<std::pair<std::string, std::string>> records;
    records.reserve(resources.size());
    for (const auto& [key, r] : resources) records.emplace_back(key.str(), r.source);
    note(store_.compact(records));
  }

  const agent::StateFileStats& stats() const { return store_.stats(); }

 private:
  static std::vector<agent::StateChange> changes_of(const std::map<model::Key, model::Resource>& resources,
                                                    const std::vector<model::Key>& keys) {
    std::vector<agent::StateChange> changes;
    for (const auto& key : keys) {
      auto it = resources.find(key);
      changes.push_back({key.str(), it == resources.end() ? std::nullopt : std::optional(it->second.source)});
    }
    return changes;
  }

  // One line when a write starts failing (or fails differently), one when
  // the files are whole again; retries in between are quiet.
  void note(const Status& s) {
    if (!s.ok()) {
      if (s.message() != failing_)
        spdlog::error("{}; wacd keeps enforcing what it accepted and writes the whole state at the next change "
                      "(or within {} s); a restart before then starts from the older file",
                      s.message(), kRetryInterval.count());
      failing_ = s.message();
    } else if (!failing_.empty() && !store_.behind()) {
      spdlog::info("state file {}: written again; it holds every accepted change", store_.snapshot_path());
      failing_.clear();
    }
  }

  static std::optional<model::Resource> parse_record(const std::string& bytes) {
    v1::Resource proto;
    model::Resource r;
    if (!proto.ParseFromString(bytes)) {
      spdlog::error("state file: skipping an unreadable record");
      return std::nullopt;
    }
    if (auto problems = api::translate(proto, r); !problems.ok()) {
      spdlog::error("state file: skipping a record that no longer validates: {}", problems.str());
      return std::nullopt;
    }
    return r;
  }

  agent::StateStore store_;
  std::string failing_;  // the error last logged, until a write succeeds
};

// Under systemd, stderr is a journal stream (JOURNAL_STREAM names its device
// and inode): log to the journal directly, so each line keeps its level as
// the syslog priority (`journalctl -p warning`) and carries wacd's fields.
void log_to_journal_when_stderr_is_it() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  struct stat st{};
  if (!stream || ::fstat(STDERR_FILENO, &st) != 0) return;
  if (std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) != stream) return;
  auto journal = std::make_shared<spdlog::sinks::systemd_sink_mt>("wacd");
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("wacd", std::move(journal)));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"wacd - Workload Access Controls node agent.\n"
               "Enforces Calico-model network policy for the pods of this node in the nftables table `inet wac`,\n"
               "driven over gRPC (wacctl, or a cluster controller). Stopping wacd leaves the rules in place."};
  Flags f;
  app.add_option("-c,--config", f.config, "YAML configuration file")->capture_default_str();
  app.add_flag("--check-config", f.check_config, "validate the configuration, print it, and exit");
  app.add_option("--node-name", f.node_name, "this node's name (default: the host name)");
  app.add_option("--socket", f.socket, "gRPC unix socket (default /run/wac/wacd.sock)");
  app.add_option("--state-dir", f.state_dir, "state directory (default /var/lib/wac)");
  app.add_option("--iface-prefix", f.iface_prefixes, "workload interface prefix (repeatable; default cali)");
  app.add_option("--log-level", f.log_level, "trace, debug, info, warn or error");
  app.add_option("--metrics-address", f.metrics_address,
                 "Prometheus metrics on IPv4:PORT, path /metrics (\"\" = off; default 127.0.0.1:9475)");
  CLI11_PARSE(app, argc, argv);

  agent::Config cfg;
  if (Status s = load_config(f, cfg); !s.ok()) {
    std::cerr << "wacd: invalid configuration: " << s.message() << "\n";
    return 2;
  }
  if (f.check_config) {
    std::cout << cfg.to_yaml() << "\n";
    return 0;
  }
  log_to_journal_when_stderr_is_it();
  spdlog::set_level(spdlog::level::from_str(cfg.log_level));
  std::error_code ec;
  std::filesystem::create_directories(cfg.state_dir, ec);
  if (ec) spdlog::warn("cannot create state directory {}: {}", cfg.state_dir, ec.message());

  boost::asio::io_context io;
  agent::Metrics metrics;  // before the backend, which reports every kernel operation to it
  auto backend = nft::make_kernel_backend([&](const nft::OperationTiming& t) { metrics.record_nft_operation(t); });
  agent::AgentOptions opts;
  opts.calc = {cfg.node_name, cfg.iface_prefixes, cfg.verdict_mark, cfg.endpoint_to_host_allow};
  opts.calc.dns_tap_group = cfg.dns.tap_group;
  opts.calc.flow_logs = {cfg.flow_logs.enabled, cfg.flow_logs.nflog_group, cfg.flow_logs.kernel_rate_limit,
                         cfg.flow_logs.log_allowed};
  opts.egress = cfg.egress;
  opts.egress_routing = true;
  opts.state_file = cfg.state_dir + "/resources.db";
  agent::Agent agent(io, opts, *backend);
  StateWriter state(opts.state_file);
  {
    // Folding the journal in at start also rewrites an old-format snapshot
    // under real keys, so a later delete cannot resurrect its records.
    std::map<model::Key, model::Resource> loaded;
    for (auto& r : state.load()) loaded[r.key] = std::move(r);
    state.compact(loaded);
    std::vector<model::Resource> resources;
    for (auto& [key, r] : loaded) resources.push_back(std::move(r));
    agent.preload(std::move(resources));
  }
  agent.on_change = [&](const auto& resources, const auto& keys) { state.changed(resources, keys); };
  agent.state_file_stats = [&state] { return state.stats(); };
  // A failed state write is retried on the agent's thread until it works.
  boost::asio::steady_timer state_retry_timer(io);
  std::function<void()> retry_state_writes = [&] {
    state_retry_timer.expires_after(StateWriter::kRetryInterval);
    state_retry_timer.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      state.catch_up(agent.resources());
      retry_state_writes();
    });
  };
  retry_state_writes();
  agent.on_sync = [&](const agent::SyncResult& r) { metrics.record_sync(r); };
  metrics.collect_from(agent);
  // Enforcement never depends on the metrics port: a bind failure is logged
  // (and a reload tries again).
  agent::Config running = cfg;
  if (Status s = metrics.serve(cfg.metrics_address); !s.ok()) {
    spdlog::error("{}; continuing without metrics", s.message());
    running.metrics_address = "";
  }
  agent::Reloader reloader(running, [&f](agent::Config& c) { return load_config(f, c); });

  // DNS policy learning runs beside enforcement: without it, domain rules
  // allow nothing new, everything else works.
  std::unique_ptr<agent::DnsTap> dns_tap;
  boost::asio::steady_timer dns_save_timer(io);
  std::function<void()> save_dns_cache_periodically;
  if (cfg.dns.tap_group != 0) {
    dns_tap = std::make_unique<agent::DnsTap>(agent::dns_tap_options(cfg));
    if (Status s = dns_tap->start(); !s.ok()) {
      spdlog::error("{}; domain rules allow only addresses learned before", s.message());
      dns_tap.reset();
    } else {
      agent.set_dns_tap(dns_tap.get());
      save_dns_cache_periodically = [&] {
        dns_save_timer.expires_after(std::chrono::seconds(cfg.dns.cache_save_interval_seconds));
        dns_save_timer.async_wait([&](const boost::system::error_code& ec) {
          if (ec) return;
          (void)dns_tap->save_cache();  // logs and counts its own failures
          save_dns_cache_periodically();
        });
      };
      save_dns_cache_periodically();
    }
  }

  // Flow logs run beside enforcement too: without the reader, the rules
  // still drop what they drop, only nobody writes it down.
  agent::FlowHub flow_hub;
  std::unique_ptr<agent::FlowLogger> flow_logger;
  if (cfg.flow_logs.enabled) {
    flow_logger = std::make_unique<agent::FlowLogger>(flow_log_options(cfg), agent.calculator().flow_decisions(),
                                                      flow_hub);
    if (dns_tap) flow_logger->domain_of = [&dns_tap](const IpAddr& a) { return dns_tap->domain_of(a); };
    if (Status s = flow_logger->start(); !s.ok()) {
      spdlog::error("{}; denied flows are dropped without flow logs", s.message());
      flow_logger.reset();
    } else {
      agent.set_flow_logs(&flow_hub, flow_logger.get());
      metrics.collect_flow_logs([&flow_logger] { return flow_logger->stats(); });
    }
  }

  api::ServerOptions sopts;
  sopts.socket_path = cfg.socket;
  sopts.group = cfg.socket_group;
  sopts.tcp = {cfg.listen.address,   cfg.listen.tls_cert,         cfg.listen.tls_key,
               cfg.listen.client_ca, cfg.listen.allowed_subjects, cfg.listen.insecure};
  sopts.reload = [&reloader] { return reloader.reload(); };
  api::Server server(agent, sopts);
  if (Status s = server.start(); !s.ok()) {
    spdlog::critical("cannot serve the API: {}", s.message());
    return 1;
  }
  reloader.on("logLevel", [](const agent::Config& c) {
    spdlog::set_level(spdlog::level::from_str(c.log_level));
    return Status::Ok();
  });
  reloader.on("metricsAddress", [&](const agent::Config& c) { return metrics.serve(c.metrics_address); });
  reloader.on("listen.allowedSubjects", [&](const agent::Config& c) {
    server.set_allowed_subjects(c.listen.allowed_subjects);
    return Status::Ok();
  });
  agent.start();
  // Interfaces are only observed (maps are keyed by name, so enforcement
  // does not wait for them); without link events wacd still enforces.
  agent::LinkMonitor links(io, agent);
  if (Status s = links.start(); !s.ok()) spdlog::error("link monitor: {}; interface status unavailable", s.message());
  agent::TableGuard guard(io, agent);
  if (Status s = guard.start(); !s.ok())
    spdlog::error("table guard: {}; changes to the table by other processes go unnoticed", s.message());

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int sig) {
    spdlog::info("signal {}: stopping; the ruleset stays in place", sig);
    sd_notify(0, "STOPPING=1");
    io.stop();
  });
  // Reloads run off the agent thread: replacing the metrics listener waits
  // for a scrape in progress, and a scrape waits for the agent thread.
  boost::asio::thread_pool reload_thread(1);
  boost::asio::signal_set hangup(io, SIGHUP);
  std::function<void()> reload_on_hangup = [&] {
    hangup.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      spdlog::info("SIGHUP: reloading the configuration ({})", f.config);
      if (flow_logger) flow_logger->reopen_file();  // after logrotate moved it
      boost::asio::post(reload_thread, [&] { reloader.reload(); });
      reload_on_hangup();
    });
  };
  reload_on_hangup();
  spdlog::info("wacd {} on node {}: serving on {}", "0.1.0", cfg.node_name, cfg.socket);
  // Posted after the first sync, so systemd hears READY once rules are in.
  boost::asio::post(io, [] { sd_notify(0, "READY=1"); });
  io.run();
  reload_thread.join();
  (void)metrics.serve("");  // before the agent goes: a scrape asks it
  flow_hub.shutdown();      // following watchers end now, not after the server's grace period
  server.shutdown();
  if (flow_logger) flow_logger->stop();
  if (dns_tap) dns_tap->stop();  // releases held responses, saves the cache
  return 0;
}
