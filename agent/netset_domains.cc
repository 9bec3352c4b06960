#include "agent/netset_domains.h"

#include <algorithm>

namespace wac::agent {

bool NetsetDomains::update(const std::string& source_id, const std::string& ns, std::vector<std::string> domains) {
  if (domains.empty()) return remove(source_id);
  std::sort(domains.begin(), domains.end());
  domains.erase(std::unique(domains.begin(), domains.end()), domains.end());
  sets_[source_id] = {ns, std::move(domains)};
  return true;
}

bool NetsetDomains::remove(const std::string& source_id) { return sets_.erase(source_id) > 0; }

bool NetsetDomains::in_namespace(const std::string& ns) const {
  return std::any_of(sets_.begin(), sets_.end(), [&](const auto& kv) { return kv.second.ns == ns; });
}

std::vector<std::string> NetsetDomains::matching(const std::function<bool(const std::string&)>& selected) const {
  std::vector<std::string> out;
  for (const auto& [id, entry] : sets_)
    if (selected(id)) out.insert(out.end(), entry.domains.begin(), entry.domains.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace wac::agent
