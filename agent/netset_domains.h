// allowedEgressDomains of (Global)NetworkSets, for the calculator.
//
// A network set with domains is selected by label like any other; an egress
// Allow rule whose destination selector matches it also allows the
// addresses learned for its domains (Calico Enterprise semantics; domains in
// network sets count in egress Allow rules only). The calculator renders
// that as one extra rule per domain, the rule's other matches unchanged and
// its destination the domain's learned-address set, so the dataplane shape
// is the same as for `destination.domains`.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace wac::agent {

class NetsetDomains {
 public:
  // Records the domains of one network set (by the calculator's source id),
  // called on every upsert. Returns true when rules may render differently:
  // the set has domains now or had them before (its labels, and so the
  // selectors matching it, may have changed too).
  bool update(const std::string& source_id, const std::string& ns, std::vector<std::string> domains);
  bool remove(const std::string& source_id);
  // Whether a network set with domains lives in namespace `ns` (its
  // namespace labels feed namespaceSelectors).
  bool in_namespace(const std::string& ns) const;
  bool empty() const { return sets_.empty(); }

  // The domains of every network set `selected` accepts (by source id),
  // sorted and without duplicates.
  std::vector<std::string> matching(const std::function<bool(const std::string& source_id)>& selected) const;

 private:
  struct Entry {
    std::string ns;
    std::vector<std::string> domains;
  };
  std::map<std::string, Entry> sets_;  // only sets with at least one domain
};

}  // namespace wac::agent
