// The resources the agent last accepted, kept in the state directory so a
// restarted wacd reconciles the kernel to the last known state rather than
// to nothing.
//
// Two files: a snapshot (written atomically: temp file, fsync, rename) and a
// journal beside it.  Every accepted change is appended to the journal with
// one write(2) before the client hears OK, so a wacd killed at any moment
// restarts with everything it acknowledged (the page cache outlives the
// process; only a crash of the whole machine can lose the last moments, and
// the controller re-sends its snapshot then).  Compaction folds the journal
// into a new snapshot once the journal has grown, so the cost per change
// stays small at any cluster size.
//
// Records are keyed by an opaque string (the caller's resource key) and
// carry the exact bytes clients sent (a wac.v1.Resource).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "netlink/status.h"

namespace wac::agent {

struct StateChange {
  std::string key;
  std::optional<std::string> bytes;  // nullopt: the resource was deleted
};

class StateStore {
 public:
  explicit StateStore(std::string snapshot_path);

  // The snapshot with the journal replayed over it.  Missing files are a
  // first start, not an error.  A damaged file is reported, and what was
  // read before the damage is kept (a torn journal tail after a disk-full
  // write loses only that change).
  Status load(std::vector<std::string>& records);
  // Appends changes to the journal in one write; no fsync.
  Status record(const std::vector<StateChange>& changes);
  // Replaces the snapshot with these (key, bytes) records and empties the
  // journal.  Safe to crash at any point: replaying an old journal over the
  // new snapshot gives the same state.
  Status compact(const std::vector<std::pair<std::string, std::string>>& records);
  // The journal outgrew a quarter of the snapshot (and 64 KiB): compacting
  // now keeps the work per change amortised constant.
  bool wants_compaction() const;

  const std::string& snapshot_path() const { return snapshot_; }
  const std::string& journal_path() const { return journal_; }

 private:
  std::string snapshot_, journal_;
  uint64_t snapshot_bytes_ = 0, journal_bytes_ = 0;
};

}  // namespace wac::agent
