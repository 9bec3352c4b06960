// The agent's side of the DNS tap handoff: which domain sets exist.
#include "agent/agent.h"

namespace wac::agent {

// Sets the coming sync deletes must leave the tap before they leave the
// kernel, or the tap's next write into one would fail.
void Agent::dns_before_sync() {
  if (!dns_tap_) return;
  const DomainSetMap& next = calc_.domain_sets();
  DomainSetMap surviving;
  for (const auto& [pattern, sets] : dns_published_) {
    auto it = next.find(pattern);
    if (it == next.end()) continue;
    std::pair<std::string, std::string> kept{sets.first == it->second.first ? sets.first : "",
                                             sets.second == it->second.second ? sets.second : ""};
    if (!kept.first.empty() || !kept.second.empty()) surviving[pattern] = kept;
  }
  if (surviving == dns_published_) return;
  dns_tap_->publish(surviving, false);
  dns_published_ = std::move(surviving);
}

// Sets the sync created exist now: the tap fills them from its cache. A
// full sync may have recreated sets, so the tap rewrites everything then.
void Agent::dns_after_sync(const SyncResult& r) {
  if (!dns_tap_ || !r.status.ok()) return;
  bool reconcile = r.path == SyncResult::Path::Full;
  const DomainSetMap& now = calc_.domain_sets();
  if (now == dns_published_ && !reconcile) return;
  dns_tap_->publish(now, reconcile);
  dns_published_ = now;
}

void Agent::dns_report(std::string name_filter, std::function<void(DnsReport)> done) {
  // The tap has its own lock: answered on the caller's thread.
  done(dns_tap_ ? dns_tap_->report(name_filter) : DnsReport{});
}

}  // namespace wac::agent
