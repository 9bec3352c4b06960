// Brings the kernel to the desired state: the smallest change that gets
// there, never half applied as far as a packet can tell.  Element-only
// changes take the fast path (one libnftnl batch).  Anything structural is a
// SyncPlan of three kernel steps: a libnftables transaction declaring the
// new chains and sets, empty and unused; libnftnl batches loading the new
// sets; a second transaction with the rules that use them, the element
// changes of sets in use and the deletions.  After a failure, or at start, a
// full sync reads the table back and reconciles everything the same way
// without ever flushing a working ruleset first.
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
  size_t operations = 0;  // ops in the transactions plus elements loaded, or elements in the batch
  std::chrono::microseconds duration{0};
};
const char* path_name(SyncResult::Path p);

// One structural sync.  Only `apply` changes what packets see: `declare`
// adds objects nothing refers to, `fill` loads sets nothing uses yet.
// `fill` borrows elements of the DesiredState it was planned from.
struct SyncPlan {
  nft::Transaction declare;  // 1: table, new regular chains, new sets (all empty)
  nft::SetFills fill;        // 2: elements of sets no rule uses
  nft::Transaction apply;    // 3: rules, element changes of sets in use, deletions
  size_t operations() const;
  // The three steps as one nft script (the fill as `add element` commands):
  // what the kernel ends up with, for golden tests.
  std::string render() const;
};

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

  // The plans, exposed for tests and `--dry-run` style checks.
  static SyncPlan full_plan(const DesiredState& desired, const nft::Snapshot& kernel);

 private:
  bool structural_change(const DesiredState& desired) const;
  SyncPlan incremental_plan(const DesiredState& desired) const;
  nft::ElementBatch element_batch(const DesiredState& desired) const;
  // The three steps in order; stops at the first failure.
  Status execute(const SyncPlan& plan);
  SyncResult full_sync(DesiredState& desired);
  // `everything` after a full sync; else only the chains that changed.
  void mark_programmed(DesiredState& desired, bool everything);

  nft::Backend& backend_;
  bool need_full_ = true;
  std::map<std::string, nft::Chain> chains_;  // as last programmed
  std::map<std::string, nft::SetDecl> sets_;
};

}  // namespace wac::agent
