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
//
// A failed append (disk full) leaves the journal without that change, so
// appending later ones would make a restart skip it: the store is then
// behind() until a compaction has written the whole state.  The caller
// compacts instead of recording while behind, and retries.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "netlink/status.h"

namespace wac::agent {

// What the store met, for status and metrics.
struct StateFileStats {
  std::string path;             // the snapshot; its journal is <path>.journal
  uint64_t writes = 0;          // journal appends and snapshots written
  uint64_t write_errors = 0;
  uint64_t load_errors = 0;     // damaged files met at start (what came before the damage is kept)
  std::string last_error;       // the latest failed write or load ("" = none since start)
  bool behind = false;          // accepted changes the files lack (retried until written)
};

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
  // Appends changes to the journal in one write; no fsync.  A failure
  // (nothing of it stays in the journal) makes the store behind(); while
  // behind, nothing is appended and the answer is an error: compact().
  Status record(const std::vector<StateChange>& changes);
  // Replaces the snapshot with these (key, bytes) records and empties the
  // journal.  Safe to crash at any point: replaying an old journal over the
  // new snapshot gives the same state.
  Status compact(const std::vector<std::pair<std::string, std::string>>& records);
  // The journal outgrew a quarter of the snapshot (and 64 KiB): compacting
  // now keeps the work per change amortised constant.
  bool wants_compaction() const;
  // The files lack an accepted change (a failed record), or were damaged at
  // load: only compact() can make them whole again.
  bool behind() const { return stats_.behind; }
  const StateFileStats& stats() const { return stats_; }

  const std::string& snapshot_path() const { return snapshot_; }
  const std::string& journal_path() const { return journal_; }

 private:
  std::string snapshot_, journal_;
  uint64_t snapshot_bytes_ = 0, journal_bytes_ = 0;
  StateFileStats stats_;

  Status counted(Status s);
  Status append(const std::vector<StateChange>& changes);
  Status write_snapshot(const std::vector<std::pair<std::string, std::string>>& records);
};

}  // namespace wac::agent
