// Fans flow records out to WatchFlows callers, and keeps the most recent
// ones for a watcher that asks for them first.
//
// Each watcher has a bounded queue: when it reads too slowly, new records
// for it are dropped and counted, and the next record it does get says how
// many it lost. Publishing never waits for a watcher.
//
// Thread-safe. `wake` (a watcher's "records are queued" callback) runs on
// the publishing thread, outside every lock of the hub.
#pragma once
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "agent/flow_record.h"

namespace wac::agent {

class FlowWatch {
 public:
  struct Item {
    std::optional<FlowRecord> record;  // none: only a count of lost records (at the end)
    uint64_t lost_before = 0;          // records dropped for this watcher just before this one
  };

  // The next item, or false when none is queued now.
  bool pop(Item& out);
  // No more items will come (the hub stopped, or the watch does not
  // follow) and everything queued was popped.
  bool ended() const;
  // The watcher is gone: nothing more is queued and `wake` is not called again.
  void close();

 private:
  friend class FlowHub;
  FlowWatch(size_t capacity, std::function<void()> wake) : capacity_(capacity), wake_(std::move(wake)) {}
  // Returns the wake callback to call (outside the lock), or an empty one.
  std::function<void()> push(const FlowRecord& r, std::atomic<uint64_t>& lost_total);
  std::function<void()> end();

  mutable std::mutex mu_;
  std::deque<Item> queue_;
  size_t capacity_;
  uint64_t lost_pending_ = 0;  // dropped since the last queued item
  bool ended_ = false;
  bool closed_ = false;
  std::function<void()> wake_;
};

class FlowHub {
 public:
  explicit FlowHub(size_t history = 1000, size_t queue_capacity = 1000);

  // Queues up to `recent` of the latest records, then (if `follow`) every
  // new one. `wake` is called when records are queued (any thread).
  std::shared_ptr<FlowWatch> watch(size_t recent, bool follow, std::function<void()> wake);
  void publish(const FlowRecord& r);
  // Every watch ends (wacd is stopping); later watches end at once.
  void shutdown();

  size_t watchers() const;
  uint64_t lost() const { return lost_total_; }  // records dropped for slow watchers, all time
  size_t history_size() const { return history_limit_; }

 private:
  mutable std::mutex mu_;
  std::deque<FlowRecord> history_;
  size_t history_limit_;
  size_t queue_capacity_;
  std::vector<std::shared_ptr<FlowWatch>> watches_;
  bool shut_down_ = false;
  std::atomic<uint64_t> lost_total_{0};
};

}  // namespace wac::agent
