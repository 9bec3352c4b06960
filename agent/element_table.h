// Desired elements of one nftables set or map, plus what changed since the
// last successful sync.  The syncer drains the changes into a transaction or
// an element batch; after a failure it diffs the whole table against the
// kernel instead.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "nft/ruleset.h"

namespace wac::agent {

class ElementTable {
 public:
  void put(const nft::Element& e);
  void erase(const std::string& key);
  const std::map<std::string, nft::Element>& elements() const { return desired_; }
  size_t size() const { return desired_.size(); }

  bool has_changes() const { return !changed_.empty(); }
  // Changes since the last mark_synced(): elements to add (new or changed)
  // and elements to remove (gone, or changed and must be replaced).
  void changes(std::vector<nft::Element>& add, std::vector<nft::Element>& remove) const;
  void mark_synced();

 private:
  std::map<std::string, nft::Element> desired_;
  // key -> what the kernel had before the first unsynced change (nullopt: absent)
  std::map<std::string, std::optional<nft::Element>> changed_;
};

}  // namespace wac::agent
