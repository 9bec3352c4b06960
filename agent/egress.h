// Egress gateways on one node: the planner (egress_plan.h) fed from the
// agent's store, the kernel routing state it reconciles (fwmark rules,
// per-group routes, egress addresses, sysctls), and the health prober.
//
// The agent calls, on its own thread:
//   observe()/forget()   for every stored or erased resource;
//   recompute()          after each batch, before the nftables sync (the
//                        egress chains and sets go into the DesiredState);
//   before_rules()       just before the nftables sync: adds and replaces
//                        routing entries, so a packet that gets a mark
//                        already finds its rule and route;
//   after_rules()        just after it: removes stale entries, once no
//                        packet is marked for them any more.
// On start, before_rules()/after_rules() reconcile against what the kernel
// holds with wac's protocol: entries left by an earlier run that are still
// wanted stay untouched (established flows keep their gateway), stale ones
// go, and nobody else's are touched.  A timer repeats the reconciliation
// (repairing entries someone removed, following link and address changes).
#pragma once
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent/egress_plan.h"
#include "agent/egress_probe.h"

namespace wac::agent::egress {

// The kernel as the manager sees it; a fake in unit tests.
class RoutingKernel {
 public:
  virtual ~RoutingKernel() = default;
  virtual Status read_own(netlink::RoutingState& out) = 0;
  virtual Status read_host(netlink::HostView& out) = 0;
  virtual Status add_rule(const netlink::FwmarkRule& r) = 0;
  virtual Status remove_rule(const netlink::FwmarkRule& r) = 0;
  virtual Status put_route(const netlink::Route& r) = 0;
  virtual Status remove_route(const netlink::Route& r) = 0;
  virtual Status add_address(const netlink::Address& a) = 0;
  virtual Status remove_address(const netlink::Address& a) = 0;
  // "net/ipv4/ip_forward" (a path under /proc/sys).
  virtual Status read_sysctl(const std::string& key, std::string& value) = 0;
  virtual Status write_sysctl(const std::string& key, const std::string& value) = 0;
};

// rtnetlink (libnl-route-3) and /proc/sys of the calling thread's namespace.
std::unique_ptr<RoutingKernel> make_kernel(uint8_t route_protocol);

class Manager {
 public:
  // kernel == nullptr: plan only (nftables), never touch routing (tests).
  Manager(boost::asio::io_context& io, Settings settings, DesiredState& desired,
          std::unique_ptr<RoutingKernel> kernel,
          std::chrono::milliseconds reconcile_every = std::chrono::seconds(10));
  ~Manager();

  void observe(const model::Resource& r);
  void forget(const model::Key& key);
  void recompute();
  void before_rules();
  // True when another nftables sync is needed (sets of removed gateways).
  bool after_rules(bool nft_synced);
  EgressReport report() const;
  // Cross-resource checks of a request against the store (the gateways it
  // adds or changes; replace: the request is the whole new store).  One
  // line per problem; "" when it may be applied.
  std::string check(const std::map<model::Key, model::Resource>& store, const std::vector<model::Resource>& incoming,
                    bool replace) const;

  // Called when probes, links or addresses change what should be
  // programmed: the agent recomputes and syncs (nftables and routing).
  std::function<void()> on_change;

  Planner& planner() { return planner_; }
  const std::deque<std::string>& errors() const { return errors_; }

 private:
  bool involved() const;  // egress in use now, or entries of an earlier run may be left
  void refresh_host();
  void apply_sysctls(const SysctlPlan& plan);
  void ensure_sysctl(const std::string& key, const std::string& want, const std::string& why);
  void loosen_rp_filter(const std::string& iface);
  void fail(const std::string& message);
  void schedule_reconcile();

  boost::asio::io_context& io_;
  Settings settings_;
  Planner planner_;
  std::unique_ptr<RoutingKernel> kernel_;
  Prober prober_;
  netlink::HostView host_;
  bool kernel_may_hold_ours_ = true;  // until a reconcile finds nothing of ours
  std::deque<std::string> errors_;    // most recent first, bounded
  std::vector<std::string> sysctl_problems_;
  std::set<std::string> sysctls_written_;
  boost::asio::steady_timer reconcile_timer_;
  std::chrono::milliseconds reconcile_every_;
};

}  // namespace wac::agent::egress
