// Health probes from a client node to its egress gateways: ICMP echo (raw
// socket, so wacd needs CAP_NET_RAW) or a TCP connect, every interval, on
// the agent's Asio thread.  A gateway is reported Down after
// failureThreshold failures in a row and Up again after successThreshold
// successes; until the first verdict it is Unknown, which the planner
// treats as usable, so a restarted wacd keeps the routes it had.
#pragma once
#include <boost/asio/io_context.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/egress_plan.h"

namespace wac::agent::egress {

class Prober {
 public:
  using Report = std::function<void(const MemberId& id, ProbeState state, const std::string& detail)>;
  Prober(boost::asio::io_context& io, Report report);
  ~Prober();
  Prober(const Prober&) = delete;
  Prober& operator=(const Prober&) = delete;

  // Starts probing new targets, stops the ones no longer listed; a target
  // whose address and check are unchanged keeps its counters and state.
  void set_targets(const std::vector<ProbeTarget>& targets);
  size_t target_count() const { return targets_.size(); }

 private:
  struct Target;
  class Icmp;
  void start_round(const std::shared_ptr<Target>& t);
  void finish_round(const std::shared_ptr<Target>& t, bool ok, const std::string& detail);
  void probe_tcp(const std::shared_ptr<Target>& t);

  boost::asio::io_context& io_;
  Report report_;
  std::map<MemberId, std::shared_ptr<Target>> targets_;
  std::unique_ptr<Icmp> icmp_;
};

}  // namespace wac::agent::egress
