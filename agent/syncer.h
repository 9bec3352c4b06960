// Brings the kernel to the desired state: the smallest change that gets
// there, always as one atomic operation.  Element-only changes take the fast
// path (one libnftnl batch); anything structural is one libnftables
// transaction that also carries the element changes.  After a failure, or at
// start, a full sync reads the table back and reconciles everything in one
// transaction without ever flushing a working ruleset first.
#pragma once
#include <chrono>
#include <map>
#include <string>

#include "agent/calc.h"
#include "nft/backend.h"

namespace wac::agent {

struct SyncResult {
  enum class Path { Nothing, Elements, Transaction, Full };
  Path path = Path::Nothing;
  Status status;
  size_t operations = 0;  // ops in the transaction, or elements in the batch
  std::chrono::microseconds duration{0};
};
const char* path_name(SyncResult::Path p);

class Syncer {
 public:
  explicit Syncer(nft::Backend& backend) : backend_(backend) {}
  // Incremental when possible; full after start or a failure.  An
  // incremental failure is followed at once by one full attempt.
  SyncResult sync(DesiredState& desired);
  void request_full_sync() { need_full_ = true; }
  bool needs_full_sync() const { return need_full_; }
  size_t programmed_chains() const { return chains_.size(); }
  size_t programmed_sets() const { return sets_.size(); }

  // The transactions, exposed for tests and `--dry-run` style checks.
  static nft::Transaction full_transaction(const DesiredState& desired, const nft::Snapshot& kernel);

 private:
  bool structural_change(const DesiredState& desired) const;
  nft::Transaction incremental_transaction(const DesiredState& desired) const;
  nft::ElementBatch element_batch(const DesiredState& desired) const;
  SyncResult full_sync(DesiredState& desired);
  // `everything` after a full sync; else only the chains that changed.
  void mark_programmed(DesiredState& desired, bool everything);

  nft::Backend& backend_;
  bool need_full_ = true;
  std::map<std::string, nft::Chain> chains_;  // as last programmed
  std::map<std::string, nft::SetDecl> sets_;
};

}  // namespace wac::agent
