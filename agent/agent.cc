#include "agent/agent.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

namespace wac::agent {

using model::Kind;

Agent::Agent(boost::asio::io_context& io, AgentOptions opts, nft::Backend& backend)
    : io_(io),
      opts_(std::move(opts)),
      calc_(opts_.calc),
      syncer_(backend),
      retry_timer_(io),
      retry_delay_(opts_.retry_min) {
  report_.node_name = opts_.calc.node_name;
  egress_ = std::make_unique<egress::Manager>(
      io, egress::Settings{opts_.calc.node_name, opts_.egress, opts_.calc.iface_prefixes}, calc_.desired(),
      opts_.egress_routing ? egress::make_kernel(opts_.egress.route_protocol) : nullptr);
  egress_->on_change = [this] { egress_changed(); };
}

void Agent::store(const model::Resource& r) {
  resources_[r.key] = r;
  touched_.push_back(r.key);
  egress_->observe(r);
  std::visit(
      [&](const auto& body) {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, model::Namespace>) calc_.upsert_namespace(body);
        else if constexpr (std::is_same_v<T, model::Endpoint>) calc_.upsert_endpoint(body);
        else if constexpr (std::is_same_v<T, model::NetworkSet>) calc_.upsert_network_set(body);
        else if constexpr (std::is_same_v<T, model::Policy>) calc_.upsert_policy(r.key, body);
        else if constexpr (std::is_same_v<T, model::SecurityGroup>) calc_.upsert_security_group(body);
      },
      r.body);
}

void Agent::erase(const model::Key& key) {
  if (!resources_.erase(key)) return;
  touched_.push_back(key);
  egress_->forget(key);
  switch (key.kind) {
    case Kind::Namespace: calc_.remove_namespace(key.name); break;
    case Kind::WorkloadEndpoint: calc_.remove_endpoint(key.ns, key.name); break;
    case Kind::NetworkSet:
    case Kind::GlobalNetworkSet: calc_.remove_network_set(key.ns, key.name); break;
    case Kind::NetworkPolicy:
    case Kind::GlobalNetworkPolicy:
    case Kind::K8sNetworkPolicy: calc_.remove_policy(key); break;
    case Kind::SecurityGroup: calc_.remove_security_group(key.name); break;
    default: break;
  }
}

void Agent::preload(std::vector<model::Resource> resources) {
  for (const auto& r : resources) store(r);
  touched_.clear();  // already persisted
  recompute();
  spdlog::info("agent: loaded {} resources from the state file", resources.size());
}

void Agent::start() {
  boost::asio::post(io_, [this] { run_sync(); });
}

void Agent::recompute() {
  calc_.recompute();
  egress_->recompute();
  publish_flow_endpoints();
}

// Every change is answered after the sync that programs it, so a client that
// gets OK can rely on the kernel enforcing it.
void Agent::changed(Done done) {
  recompute();
  if (on_change) on_change(resources_, touched_);
  touched_.clear();
  waiting_.push_back(std::move(done));
  if (sync_posted_) return;
  sync_posted_ = true;
  boost::asio::post(io_, [this] { run_sync(); });  // coalesces changes queued meanwhile
}

void Agent::apply(std::vector<model::Resource> resources, Done done) {
  boost::asio::post(io_, [this, resources = std::move(resources), done = std::move(done)]() mutable {
    if (std::string problems = egress_->check(resources_, resources, false); !problems.empty())
      return done({ApiError::Code::InvalidArgument, problems});
    for (const auto& r : resources) store(r);
    changed(std::move(done));
  });
}

void Agent::remove(std::vector<model::Key> keys, Done done) {
  boost::asio::post(io_, [this, keys = std::move(keys), done = std::move(done)]() mutable {
    std::string missing;
    for (const auto& k : keys)
      if (!resources_.count(k)) missing += (missing.empty() ? "" : ", ") + k.str();
    if (!missing.empty()) {  // all or nothing
      done({ApiError::Code::NotFound, "not found: " + missing});
      return;
    }
    for (const auto& k : keys) erase(k);
    changed(std::move(done));
  });
}

void Agent::replace_all(std::vector<model::Resource> resources, uint64_t revision, Done done) {
  boost::asio::post(io_, [this, resources = std::move(resources), revision, done = std::move(done)]() mutable {
    if (revision < revision_) {
      done({ApiError::Code::FailedPrecondition, "stale snapshot: revision " + std::to_string(revision) +
                                                    " is older than the current revision " +
                                                    std::to_string(revision_)});
      return;
    }
    if (std::string problems = egress_->check(resources_, resources, true); !problems.empty())
      return done({ApiError::Code::InvalidArgument, problems});
    std::map<model::Key, const model::Resource*> wanted;
    for (const auto& r : resources) wanted[r.key] = &r;
    std::vector<model::Key> gone;
    for (const auto& [key, r] : resources_)
      if (!wanted.count(key)) gone.push_back(key);
    for (const auto& key : gone) erase(key);
    for (const auto& [key, r] : wanted) {
      auto it = resources_.find(key);
      if (it == resources_.end() || !(it->second.body == r->body)) store(*r);
      else if (it->second.source != r->source) {
        it->second.source = r->source;  // same meaning, new bytes (metadata): persisted too
        touched_.push_back(key);
      }
    }
    revision_ = revision;
    report_.revision = revision;
    changed(std::move(done));
  });
}

void Agent::list(std::optional<model::Kind> kind, std::string ns, std::string name,
                 std::function<void(std::vector<model::Resource>)> done) {
  boost::asio::post(io_, [this, kind, ns = std::move(ns), name = std::move(name), done = std::move(done)] {
    std::vector<model::Resource> out;
    for (const auto& [key, r] : resources_) {
      if (kind && key.kind != *kind) continue;
      if (!ns.empty() && key.ns != ns) continue;
      if (!name.empty() && key.name != name) continue;
      out.push_back(r);
    }
    done(std::move(out));
  });
}

void Agent::status(std::function<void(StatusReport)> done) {
  boost::asio::post(io_, [this, done = std::move(done)] {
    StatusReport r = report_;
    r.counts.clear();
    for (const auto& [key, res] : resources_) ++r.counts[model::kind_name(key.kind)];
    r.local_endpoints = calc_.local_endpoint_count();
    r.chains = calc_.desired().chains.size();
    r.sets = calc_.desired().sets.size();
    r.elements = 0;
    for (const auto& [name, s] : calc_.desired().sets) r.elements += s.elements.size();
    report_interfaces(r);
    if (dns_tap_) r.dns = dns_tap_->stats();
    if (state_file_stats) r.state_file = state_file_stats();
    done(std::move(r));
  });
}

bool Agent::is_workload_interface(const std::string& name) const {
  for (const auto& prefix : opts_.calc.iface_prefixes)
    if (name.starts_with(prefix)) return true;
  return false;
}

void Agent::report_interfaces(StatusReport& r) const {
  if (!interfaces_known_) return;
  std::set<std::string> claimed;
  for (const model::Endpoint* ep : calc_.local_endpoints()) {
    claimed.insert(ep->interface_name);
    if (!interfaces_.count(ep->interface_name))
      r.endpoints_without_interface.push_back(ep->ns + "/" + ep->name + " (" + ep->interface_name + ")");
  }
  for (const auto& name : interfaces_)
    if (is_workload_interface(name) && !claimed.count(name)) r.interfaces_without_endpoint.push_back(name);
}

void Agent::interface_added(const std::string& name) {
  interfaces_known_ = true;
  if (!interfaces_.insert(name).second || !is_workload_interface(name)) return;
  for (const model::Endpoint* ep : calc_.local_endpoints()) {
    if (ep->interface_name != name) continue;
    spdlog::info("interface {} of endpoint {}/{} appeared; its policy applies", name, ep->ns, ep->name);
    return;
  }
  spdlog::warn("workload interface {} has no endpoint: its traffic is dropped until one is applied", name);
}

void Agent::foreign_change(const std::string& who) {
  ++report_.foreign_changes;
  report_.last_foreign_change = who;
  spdlog::warn("dataplane: {} changed table inet wac; restoring it with a full sync", who);
  syncer_.request_full_sync();
  if (sync_posted_) return;
  sync_posted_ = true;
  boost::asio::post(io_, [this] { run_sync(); });
}

void Agent::interface_removed(const std::string& name) {
  if (interfaces_.erase(name) && is_workload_interface(name)) spdlog::info("interface {} went away", name);
}

void Agent::record(const SyncResult& r) {
  ++report_.syncs;
  report_.last_sync_ok = r.status.ok();
  report_.last_sync_error = r.status.ok() ? "" : r.status.message();
  report_.last_sync_duration = r.duration;
  report_.last_sync_time = std::chrono::system_clock::now();
  if (r.status.ok()) {
    spdlog::debug("dataplane: {} sync, {} operations, {} us", path_name(r.path), r.operations, r.duration.count());
    return;
  }
  ++report_.sync_errors;
  report_.dataplane_errors.insert(report_.dataplane_errors.begin(), r.status.message());
  if (report_.dataplane_errors.size() > 10) report_.dataplane_errors.pop_back();
  spdlog::error("dataplane: sync failed: {}", r.status.message());
}

void Agent::run_sync() {
  sync_posted_ = false;
  egress_->before_rules();  // routes first: a packet that gets a mark finds them
  dns_before_sync();
  SyncResult r = syncer_.sync(calc_.desired());
  dns_after_sync(r);
  if (r.path != SyncResult::Path::Nothing) {
    record(r);
    if (on_sync) on_sync(r);
  }
  if (egress_->after_rules(r.status.ok())) egress_changed();  // stale routes once unmarked
  ApiError answer;
  if (!r.status.ok()) answer.message = "applied; the dataplane sync failed and will be retried: " + r.status.message();
  for (auto& done : std::exchange(waiting_, {})) done(answer);
  if (r.status.ok()) {
    retry_delay_ = opts_.retry_min;
    return;
  }
  schedule_retry();
}

void Agent::egress_changed() {
  recompute();
  if (sync_posted_) return;
  sync_posted_ = true;
  boost::asio::post(io_, [this] { run_sync(); });
}

void Agent::egress_status(std::function<void(EgressReport)> done) {
  boost::asio::post(io_, [this, done = std::move(done)] { done(egress_->report()); });
}

void Agent::schedule_retry() {
  retry_timer_.expires_after(retry_delay_);
  retry_delay_ = std::min(retry_delay_ * 2, opts_.retry_max);
  retry_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec && syncer_.needs_full_sync()) run_sync();
  });
}

}  // namespace wac::agent

namespace wac::agent {

void Agent::set_flow_logs(FlowHub* hub, FlowLogger* logger) {
  flow_hub_ = hub;
  flow_logger_ = logger;
  publish_flow_endpoints();
}

// Policy chains are shared by pods: the flow logger tells which pod a
// logged packet concerns by its address.
void Agent::publish_flow_endpoints() {
  if (!flow_logger_) return;
  std::unordered_map<IpAddr, FlowEndpoint> by_address;
  for (const model::Endpoint* ep : calc_.local_endpoints())
    for (const Cidr& c : ep->ip_networks)
      if (c.is_host()) by_address[c.addr] = {ep->ns, ep->pod.empty() ? ep->name : ep->pod, ep->name};
  flow_logger_->set_endpoints(std::move(by_address));
}

std::shared_ptr<FlowWatch> Agent::watch_flows(size_t recent, bool follow, std::function<void()> wake) {
  if (!flow_hub_) return nullptr;
  return flow_hub_->watch(recent, follow, std::move(wake));
}

}  // namespace wac::agent
