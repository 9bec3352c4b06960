#include "agent/egress.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace wac::agent::egress {

namespace {

constexpr size_t kMaxErrors = 10;

std::string dotted(std::string key) {
  std::replace(key.begin(), key.end(), '/', '.');
  return key;
}

class NetlinkKernel : public RoutingKernel {
 public:
  explicit NetlinkKernel(uint8_t protocol) : sock_(protocol) {}
  Status read_own(netlink::RoutingState& out) override { return sock_.read_own(out); }
  Status read_host(netlink::HostView& out) override { return sock_.read_host(out); }
  Status add_rule(const netlink::FwmarkRule& r) override { return sock_.add_rule(r); }
  Status remove_rule(const netlink::FwmarkRule& r) override { return sock_.remove_rule(r); }
  Status put_route(const netlink::Route& r) override { return sock_.put_route(r); }
  Status remove_route(const netlink::Route& r) override { return sock_.remove_route(r); }
  Status add_address(const netlink::Address& a) override { return sock_.add_address(a); }
  Status remove_address(const netlink::Address& a) override { return sock_.remove_address(a); }

  Status read_sysctl(const std::string& key, std::string& value) override {
    std::ifstream in("/proc/sys/" + key);
    if (!in) return Status::Error("cannot read " + dotted(key));
    std::getline(in, value);
    return Status::Ok();
  }
  Status write_sysctl(const std::string& key, const std::string& value) override {
    std::ofstream out("/proc/sys/" + key);
    out << value << "\n";
    out.flush();
    if (!out) return Status::Error("cannot write " + dotted(key));
    return Status::Ok();
  }

 private:
  netlink::RouteSocket sock_;
};

}  // namespace

std::unique_ptr<RoutingKernel> make_kernel(uint8_t route_protocol) {
  return std::make_unique<NetlinkKernel>(route_protocol);
}

Manager::Manager(boost::asio::io_context& io, Settings settings, DesiredState& desired,
                 std::unique_ptr<RoutingKernel> kernel, std::chrono::milliseconds reconcile_every)
    : io_(io),
      settings_(settings),
      planner_(std::move(settings), desired),
      kernel_(std::move(kernel)),
      prober_(io,
              [this](const MemberId& id, ProbeState state, const std::string& detail) {
                if (planner_.set_probe(id, state, detail) && on_change) on_change();
              }),
      reconcile_timer_(io),
      reconcile_every_(reconcile_every) {
  if (kernel_) schedule_reconcile();
}

Manager::~Manager() = default;

void Manager::observe(const model::Resource& r) {
  if (const auto* ns = std::get_if<model::Namespace>(&r.body)) planner_.upsert_namespace(*ns);
  else if (const auto* ep = std::get_if<model::Endpoint>(&r.body)) planner_.upsert_endpoint(*ep);
  else if (const auto* g = std::get_if<model::EgressGateway>(&r.body)) planner_.upsert_gateway(*g);
}

void Manager::forget(const model::Key& key) {
  switch (key.kind) {
    case model::Kind::Namespace: planner_.remove_namespace(key.name); break;
    case model::Kind::WorkloadEndpoint: planner_.remove_endpoint(key.ns, key.name); break;
    case model::Kind::EgressGateway: planner_.remove_gateway(key.name); break;
    default: break;
  }
}

bool Manager::involved() const { return planner_.active() || kernel_may_hold_ours_; }

void Manager::fail(const std::string& message) {
  spdlog::error("egress: {}", message);
  errors_.push_front(message);
  if (errors_.size() > kMaxErrors) errors_.pop_back();
}

void Manager::refresh_host() {
  if (!kernel_) return;
  netlink::HostView view;
  if (Status s = kernel_->read_host(view); !s.ok()) return fail("reading the host's links and routes: " + s.message());
  host_ = std::move(view);
}

void Manager::recompute() {
  errors_.clear();  // they describe the last cycle
  if (planner_.active()) {
    kernel_may_hold_ours_ = true;
    refresh_host();
  }
  planner_.recompute(host_);
}

void Manager::before_rules() {
  if (!kernel_ || !involved()) return;
  RoutingPlan plan = planner_.routing(host_);
  netlink::RoutingState present;
  if (Status s = kernel_->read_own(present); !s.ok()) return fail("reading wac's rules and routes: " + s.message());
  netlink::RoutingChanges c = netlink::diff(plan.state, present);
  for (const auto& r : c.add_rules) {
    if (Status s = kernel_->add_rule(r); !s.ok()) fail(s.message());
    else spdlog::info("egress: added rule {}", r.str());
  }
  for (const auto& r : c.put_routes) {
    if (Status s = kernel_->put_route(r); !s.ok()) fail(s.message());
    else spdlog::info("egress: route {}", r.str());
  }
  for (const auto& a : c.add_addresses) {
    if (Status s = kernel_->add_address(a); !s.ok()) fail(s.message());
    else spdlog::info("egress: added egress address {}", a.str());
  }
  apply_sysctls(plan.sysctls);
  prober_.set_targets(planner_.probe_targets());
}

bool Manager::after_rules(bool nft_synced) {
  // Until nftables has stopped marking for them, removed routes would let
  // marked packets out through the main table with the node's address.
  if (!nft_synced) return false;
  bool again = planner_.synced();
  if (!kernel_ || !involved()) return again;
  RoutingPlan plan = planner_.routing(host_);
  netlink::RoutingState present;
  if (Status s = kernel_->read_own(present); !s.ok()) {
    fail("reading wac's rules and routes: " + s.message());
    return again;
  }
  netlink::RoutingChanges c = netlink::diff(plan.state, present);
  bool all_removed = true;
  auto note = [&](const Status& s, const std::string& what) {
    if (s.ok()) return spdlog::info("egress: removed {}", what);
    all_removed = false;
    fail(s.message());
  };
  for (const auto& r : c.remove_rules) note(kernel_->remove_rule(r), "rule " + r.str());
  for (const auto& r : c.remove_routes) note(kernel_->remove_route(r), "route " + r.str());
  for (const auto& a : c.remove_addresses) note(kernel_->remove_address(a), "egress address " + a.str());
  if (!planner_.active() && all_removed) {
    kernel_may_hold_ours_ = false;
    prober_.set_targets({});
    sysctl_problems_.clear();
  }
  return again;
}

void Manager::ensure_sysctl(const std::string& key, const std::string& want, const std::string& why) {
  std::string have;
  if (Status s = kernel_->read_sysctl(key, have); !s.ok()) {
    sysctl_problems_.push_back(s.message() + " (" + why + ")");
    return;
  }
  if (have == want) return;
  if (!settings_.config.set_sysctls) {
    sysctl_problems_.push_back(dotted(key) + " is " + have + ", egress gateways need " + want + " (" + why +
                               "); set it, or let wacd with egress.setSysctls: true");
    return;
  }
  if (Status s = kernel_->write_sysctl(key, want); !s.ok()) {
    sysctl_problems_.push_back(s.message() + " (" + why + ")");
    return;
  }
  spdlog::info("egress: set {} = {} (was {}): {}", dotted(key), want, have, why);
}

// Replies of an egress flow may arrive on an interface the main table would
// not use to reach their source: strict reverse-path filtering (1) drops
// them, loose (2) does not.  The effective value is the larger of `all`
// and the interface's own.
void Manager::loosen_rp_filter(const std::string& iface) {
  std::string all, own;
  if (!kernel_->read_sysctl("net/ipv4/conf/all/rp_filter", all).ok() ||
      !kernel_->read_sysctl("net/ipv4/conf/" + iface + "/rp_filter", own).ok())
    return;
  if (std::max(all, own) != "1") return;
  ensure_sysctl("net/ipv4/conf/" + iface + "/rp_filter", "2",
                "strict reverse-path filtering drops egress traffic and its replies");
}

void Manager::apply_sysctls(const SysctlPlan& plan) {
  sysctl_problems_.clear();
  if (plan.forward4) ensure_sysctl("net/ipv4/ip_forward", "1", "gateways and clients forward pod traffic");
  if (plan.forward6) ensure_sysctl("net/ipv6/conf/all/forwarding", "1", "gateways and clients forward pod traffic");
  // Policy 0 hashes addresses only: every flow between two hosts would take
  // one gateway.  1 hashes the 5-tuple, so flows spread (each flow keeps
  // its gateway).  Custom policies (2, 3) are left as the admin set them.
  for (auto [wanted, key] : {std::pair{plan.hash_l4_v4, "net/ipv4/fib_multipath_hash_policy"},
                             std::pair{plan.hash_l4_v6, "net/ipv6/fib_multipath_hash_policy"}}) {
    std::string have;
    if (wanted && kernel_->read_sysctl(key, have).ok() && have == "0")
      ensure_sysctl(key, "1", "ECMP across gateways per flow (5-tuple), not per host pair");
  }
  for (const auto& iface : plan.loose_rp_filter) loosen_rp_filter(iface);
}

EgressReport Manager::report() const {
  EgressReport r = planner_.report(host_);
  if (!kernel_ && planner_.active())
    r.problems.push_back("routing is not programmed on this node (no kernel access)");
  for (const auto& p : sysctl_problems_) r.problems.push_back(p);
  for (const auto& e : errors_) r.problems.push_back("kernel: " + e);
  return r;
}

std::string Manager::check(const std::map<model::Key, model::Resource>& store,
                           const std::vector<model::Resource>& incoming, bool replace) const {
  std::set<std::string> changed;
  for (const auto& r : incoming) {
    if (r.key.kind != model::Kind::EgressGateway) continue;
    auto old = store.find(r.key);
    if (old == store.end() || !(old->second.body == r.body)) changed.insert(r.key.name);
  }
  if (changed.empty()) return {};
  std::map<model::Key, const model::Resource*> after;
  if (!replace)
    for (const auto& [key, r] : store) after[key] = &r;
  for (const auto& r : incoming) after[r.key] = &r;
  ClusterView view;
  for (const auto& [key, r] : after) {
    if (const auto* g = std::get_if<model::EgressGateway>(&r->body)) view.gateways.push_back(g);
    else if (const auto* ep = std::get_if<model::Endpoint>(&r->body)) view.endpoints.push_back(ep);
    else if (const auto* ns = std::get_if<model::Namespace>(&r->body)) view.namespaces[ns->name] = ns;
  }
  std::string out;
  for (const auto& p : check_gateways(view, changed, settings_)) out += (out.empty() ? "" : "\n") + p;
  return out;
}

void Manager::schedule_reconcile() {
  reconcile_timer_.expires_after(reconcile_every_);
  reconcile_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    if (involved() && on_change) on_change();
    schedule_reconcile();
  });
}

}  // namespace wac::agent::egress
