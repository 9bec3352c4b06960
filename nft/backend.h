// The kernel boundary of the nftables dataplane.  The agent only talks to a
// Backend; KernelBackend drives the real kernel, FakeBackend (nft/fake.h) an
// in-memory table for unit tests.
#pragma once
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
  // Reads the whole `inet wac` table (for reconcile at start and for checks).
  virtual Status read(Snapshot& out) = 0;
};

// libnftables for transactions and reads, libnftnl+libmnl for element
// batches.  Not thread-safe: use from one thread (libnftables requires it).
std::unique_ptr<Backend> make_kernel_backend();

// Fast element writer on its own netlink socket, for threads other than the
// one that owns the Backend (the DNS tap).  Thread-compatible, not shared.
class ElementWriter {
 public:
  virtual ~ElementWriter() = default;
  virtual Status commit(const ElementBatch& batch) = 0;
};
std::unique_ptr<ElementWriter> make_element_writer();

}  // namespace wac::nft
