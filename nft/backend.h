// The kernel boundary of the nftables dataplane.  The agent only talks to a
// Backend; KernelBackend drives the real kernel, FakeBackend (nft/fake.h) an
// in-memory table for unit tests.
#pragma once
#include <chrono>
#include <functional>
#include <memory>

#include "netlink/status.h"
#include "nft/ruleset.h"

namespace wac::nft {

class Backend {
 public:
  virtual ~Backend() = default;
  // Structural changes through libnftables: one atomic transaction.
  virtual Status commit(const Transaction& tx) = 0;
  // Element-only changes through libnftnl/libmnl: one atomic netlink batch.
  virtual Status commit_elements(const ElementBatch& batch) = 0;
  // Loads sets no rule uses (SetFill): not atomic, so the backend may split
  // it to bound memory.  After a failure part of it may be applied; the sets
  // are still unused, and a full sync completes them.
  virtual Status fill_sets(const SetFills& fills) = 0;
  // Reads the whole `inet wac` table (for reconcile at start and for checks).
  virtual Status read(Snapshot& out) = 0;
};

// What one kernel operation cost, reported to whoever watches (wacd's
// metrics) so nft/ needs no metrics library.  Called on the backend's thread.
struct OperationTiming {
  enum class Kind { Transaction, Elements, Read };
  Kind kind = Kind::Transaction;
  std::chrono::microseconds duration{0};
  bool ok = true;
};
using OperationObserver = std::function<void(const OperationTiming&)>;
const char* operation_name(OperationTiming::Kind k);  // "transaction", "elements", "read"

// libnftables for transactions and reads, libnftnl+libmnl for element
// batches.  Not thread-safe: use from one thread (libnftables requires it).
std::unique_ptr<Backend> make_kernel_backend(OperationObserver observer = {});

// Fast element writer on its own netlink socket, for threads other than the
// one that owns the Backend (the DNS tap).  Thread-compatible, not shared.
class ElementWriter {
 public:
  virtual ~ElementWriter() = default;
  virtual Status commit(const ElementBatch& batch) = 0;
};
std::unique_ptr<ElementWriter> make_element_writer();

}  // namespace wac::nft
