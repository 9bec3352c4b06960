// The calculation: from the model (namespaces, endpoints, network sets,
// policies) to the desired nftables state of this node.
//
// Only endpoints on this node get chains; endpoints and network sets of the
// whole cluster feed the selector sets that rules reference.  Only policies
// that apply to at least one local endpoint are rendered, and only the
// selector sets those policies use are kept.  Changes are incremental: an
// endpoint elsewhere in the cluster touches only the elements of the sets
// whose selectors match it.
#pragma once
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/cidr_set.h"
#include "agent/element_table.h"
#include "agent/flow_decisions.h"
#include "agent/label_index.h"
#include "agent/model.h"
#include "agent/netset_domains.h"
#include "agent/security_groups.h"
#include "agent/selector.h"
#include "nft/ruleset.h"

namespace wac::agent {

struct CalcConfig {
  std::string node_name;
  std::vector<std::string> iface_prefixes{"cali"};
  // Mark bit a policy sets on Allow/Pass before returning to the pod chain.
  uint32_t verdict_mark = 0x10000;
  // What happens to pod -> host traffic after the pod's egress policy.
  bool endpoint_to_host_allow = true;
  // nfnetlink_log group of the DNS tap chain (agent/dns_rules.h); 0: no tap.
  uint16_t dns_tap_group = 5353;
  // Flow logs: denies (and optionally allows) log their decision id.
  FlowLogRender flow_logs;
};

struct DesiredSet {
  nft::SetDecl decl;
  ElementTable elements;
  // Elements programmed by someone else (the DNS tap, with kernel timeouts):
  // the syncer creates the set but never diffs its elements.
  bool external_elements = false;
};

// The desired chains, remembering which names changed since the syncer
// last programmed them, so a sync costs the size of the change, not of the
// ruleset.  Read like a map; write through put() and erase().
class ChainMap {
 public:
  using Map = std::map<std::string, nft::Chain>;
  const Map& all() const { return map_; }
  Map::const_iterator begin() const { return map_.begin(); }
  Map::const_iterator end() const { return map_.end(); }
  Map::const_iterator find(const std::string& name) const { return map_.find(name); }
  size_t size() const { return map_.size(); }
  size_t count(const std::string& name) const { return map_.count(name); }
  const nft::Chain& at(const std::string& name) const { return map_.at(name); }
  bool operator==(const ChainMap& o) const { return map_ == o.map_; }

  // Nothing is recorded when the chain is already exactly so.
  void put(nft::Chain chain);
  void erase(const std::string& name);

  // Names put or erased since clear_changed() (the syncer's bookkeeping).
  const std::set<std::string>& changed() const { return changed_; }
  void clear_changed() { changed_.clear(); }

 private:
  Map map_;
  std::set<std::string> changed_;
};

struct DesiredState {
  ChainMap chains;
  std::map<std::string, DesiredSet> sets;
};

// Which policies apply to a local endpoint, in evaluation order.
struct EndpointPolicies {
  std::vector<model::Key> ingress;
  std::vector<model::Key> egress;
};

class Calculator {
 public:
  explicit Calculator(CalcConfig cfg);
  ~Calculator();

  void upsert_namespace(const model::Namespace& ns);
  void remove_namespace(const std::string& name);
  void upsert_endpoint(const model::Endpoint& ep);
  void remove_endpoint(const std::string& ns, const std::string& name);
  void upsert_network_set(const model::NetworkSet& set);
  void remove_network_set(const std::string& ns, const std::string& name);
  void upsert_policy(const model::Key& key, const model::Policy& p);
  void remove_policy(const model::Key& key);
  // AWS security groups (calc_security_groups.cc).  A local endpoint in at
  // least one group passes a security group stage before its policies.
  void upsert_security_group(const model::SecurityGroup& sg);
  void remove_security_group(const std::string& group_id);

  // Brings desired() up to date after a batch of the calls above.
  void recompute();
  DesiredState& desired() { return desired_; }
  const CalcConfig& config() const { return cfg_; }

  // Introspection for status and `wacctl explain`.
  size_t local_endpoint_count() const { return local_.size(); }
  // Local endpoints, in key order ("ns/name").
  std::vector<const model::Endpoint*> local_endpoints() const;
  size_t active_policy_count() const;
  size_t selector_set_count() const { return ipsets_.size(); }
  std::optional<EndpointPolicies> policies_for(const std::string& ns, const std::string& name) const;
  const model::Policy* policy(const model::Key& key) const;
  // Decision ids of the rules that log flows (shared with the flow log reader).
  std::shared_ptr<const FlowDecisions> flow_decisions() const { return flow_decisions_; }
  // Domain patterns referenced by rendered rules -> their set names (v4, v6).
  const std::map<std::string, std::pair<std::string, std::string>>& domain_sets() const { return domain_names_; }

 private:
  struct Source;
  struct IpSet;
  struct PolicyState;
  struct LocalEndpoint;

  void install_static_objects();
  // "counter drop", or with flow logs the verdict that logs decision `slot`
  // of `chain` and drops.
  std::string drop_verdict(const std::string& chain, const std::string& slot, const FlowDecision& d) const;
  void retire_erased_chain_decisions();
  void netset_domains_changed();
  void relabel(Source& src);
  void add_source(const std::string& id, Source src);
  void drop_source(const std::string& id);
  void join_ipsets(const Source& src);
  void leave_ipsets(const Source& src);
  void add_members(IpSet& set, const Source& src);
  void remove_members(IpSet& set, const Source& src);

  std::string acquire_ipset(const selector::Selector& sel, Family f, std::vector<std::string>& held);
  void release_ipsets(std::vector<std::string>& held);
  std::string acquire_domain_set(const std::string& domain, Family f, std::vector<std::string>& held);
  selector::Selector rule_selector(const std::string& sel, const std::string& ns_sel, const std::string& policy_ns) const;

  void match_policy_to_endpoints(PolicyState& p, const model::Key& key);
  void match_endpoint_to_policies(const std::string& ep_key);
  void render_policy(const model::Key& key, PolicyState& p);
  void unrender_policy(PolicyState& p);
  void render_endpoint(LocalEndpoint& le);
  void unrender_endpoint(const model::Endpoint& ep);
  std::vector<model::Key> ordered_policies(const std::string& ep_key, model::Direction d) const;

  // Security groups (calc_security_groups.cc).
  void append_security_group_stage(const model::Endpoint& ep, model::Direction d,
                                   std::vector<std::string>& rules) const;
  void sync_security_group_chains();
  void render_security_group(const std::string& group_id, RenderedSecurityGroup& r);
  void unrender_security_group(const std::string& group_id, RenderedSecurityGroup& r);

  CalcConfig cfg_;
  std::shared_ptr<FlowDecisions> flow_decisions_ = std::make_shared<FlowDecisions>();
  DesiredState desired_;
  std::map<std::string, model::Namespace> namespaces_;
  std::map<std::string, std::unique_ptr<Source>> sources_;  // "ep:ns/name", "set:ns/name"
  std::map<std::string, std::set<std::string>> sources_by_ns_;
  std::unordered_map<std::string, std::unique_ptr<IpSet>> ipsets_;  // by nft set name
  SelectorIndex<IpSet*> ipset_index_;   // ipsets_ by their selectors' index hints
  LabelsIndex<Source*> source_index_;    // sources_ by their effective labels
  std::map<std::string, int> domain_refs_;                          // by nft set name
  std::map<std::string, std::pair<std::string, std::string>> domain_names_;
  NetsetDomains netset_domains_;  // allowedEgressDomains, by source id
  std::map<model::Key, std::unique_ptr<PolicyState>> policies_;
  std::map<std::string, std::unique_ptr<LocalEndpoint>> local_;  // "ns/name"
  std::set<model::Key> dirty_policies_;
  std::set<model::Key> removed_policies_;
  std::set<std::string> dirty_endpoints_;
  std::map<std::string, model::SecurityGroup> security_groups_;         // applied, by GroupId
  std::map<std::string, RenderedSecurityGroup> rendered_groups_;        // used by a local endpoint
  std::set<std::string> dirty_groups_;                                  // changed since recompute()
};

}  // namespace wac::agent
