// An in-memory `inet wac` table that fails where the kernel fails, for unit
// tests of everything above the Backend.
//
// Failure rules (each one checked against kernel 6.18 / nft 1.0.6):
//  - a transaction or element batch is all-or-nothing;
//  - deleting a missing table, chain, set or element fails (ENOENT);
//  - anything inside a missing table or chain/set fails (ENOENT);
//  - a rule naming an undefined set (@name) or chain (jump/goto) fails
//    (ENOENT), as does a verdict map element jumping to an undefined chain;
//  - jumping to a base chain fails (EOPNOTSUPP);
//  - deleting a chain still referenced by a jump/goto in another chain's rule
//    or by a verdict map element fails (EBUSY);
//  - deleting a set still referenced by a rule fails (EBUSY);
//  - re-adding a chain with a different hook, type or priority fails
//    (EOPNOTSUPP); a different policy is applied; a different comment is
//    ignored, as the kernel ignores it;
//  - re-adding a set with a different declaration fails (EEXIST);
//  - `flush set` on a map (and `flush map` on a set) fails (ENOENT);
//  - adding an interval element that overlaps a different existing interval
//    fails (EEXIST); re-adding an identical element is a no-op, except a map
//    element with a different verdict, which fails (EEXIST);
//  - an element with a timeout in a set without `flags timeout` fails
//    (EINVAL); so does a key of the wrong type or a prefix in a non-interval
//    set.
// fill_sets() applies element by element, so a failure leaves a prefix
// applied (the kernel applies whole batches: a prefix of batches).  Unlike
// the kernel, it refuses (EPERM) to fill a set a rule uses: the Backend's
// contract, so unit tests catch a sync that would let packets see a
// half-loaded set.
// Deliberate simplification: re-adding an existing element leaves it as is
// (kernels >= 6.10 would also reset its timeout); wac refreshes elements with
// add + delete + add, which behaves the same on both.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "nft/backend.h"
#include "nft/element_key.h"
#include "nft/syntax.h"  // rule_references

namespace wac::nft {

class FakeBackend : public Backend {
 public:
  Status commit(const Transaction& tx) override;
  Status commit_elements(const ElementBatch& batch) override;
  Status fill_sets(const SetFills& fills) override;
  Status read(Snapshot& out) override;

  // `nft list table inet wac`-like text in a deterministic order (sets, then
  // chains, by name; elements by key), for golden tests.  Empty string when
  // the table does not exist.
  std::string render() const;

  // The next commit() / commit_elements() fails with this message and
  // changes nothing (the call is still counted).
  void fail_next_commit(std::string message = "injected commit failure");
  void fail_next_element_batch(std::string message = "injected element batch failure");
  // The `nth` commit() from now (1 = the next) fails so; the ones before succeed.
  void fail_commit(int nth, std::string message = "injected commit failure");
  // The next fill_sets() applies its first `applied` elements (removals,
  // then additions, set by set), then fails: what a kernel failure in a
  // later batch leaves behind.
  void fail_next_fill(size_t applied = 0, std::string message = "injected fill failure");

  // Elements with a timeout lose `ms` of it; those that reach zero expire.
  void advance_time(uint32_t ms);

  int commit_calls() const { return commit_calls_; }
  int element_batch_calls() const { return element_batch_calls_; }
  int fill_calls() const { return fill_calls_; }
  size_t filled_elements() const { return filled_elements_; }  // applied by fill_sets(), all calls
  // Every commit() since the backend was made: the phases of syncs.
  const std::vector<std::string>& transaction_texts() const { return transaction_texts_; }
  int failed_calls() const { return failed_calls_; }
  // The text of the last transaction passed to commit(), failed or not.
  const std::string& last_transaction_text() const { return last_transaction_text_; }

  struct FakeSet {
    SetDecl decl;
    std::map<ElementKey, Element> elements;  // Element.key is the canonical text
  };
  struct State {
    bool table = false;
    std::map<std::string, Chain> chains;
    std::map<std::string, FakeSet> sets;
  };

 private:
  Status fail_injected(std::optional<std::string>& injected);
  Status fill_one(const SetFill& fill, size_t& budget);

  struct InjectedFill {
    size_t applied = 0;
    std::string message;
  };

  State state_;
  std::optional<std::string> fail_commit_;
  int fail_commit_in_ = 0;  // commits to let through before fail_commit_
  std::optional<std::string> fail_elements_;
  std::optional<InjectedFill> fail_fill_;
  int commit_calls_ = 0;
  int element_batch_calls_ = 0;
  int fill_calls_ = 0;
  size_t filled_elements_ = 0;
  int failed_calls_ = 0;
  std::string last_transaction_text_;
  std::vector<std::string> transaction_texts_;
};

}  // namespace wac::nft
