#include "agent/flow_hub.h"

#include <algorithm>

namespace wac::agent {

bool FlowWatch::pop(Item& out) {
  std::lock_guard lock(mu_);
  if (queue_.empty()) {
    // Losses after the last queued record are reported once the watch ends.
    if (!ended_ || lost_pending_ == 0) return false;
    out = {std::nullopt, std::exchange(lost_pending_, 0)};
    return true;
  }
  out = std::move(queue_.front());
  queue_.pop_front();
  return true;
}

bool FlowWatch::ended() const {
  std::lock_guard lock(mu_);
  return ended_ && queue_.empty() && lost_pending_ == 0;
}

void FlowWatch::close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  wake_ = nullptr;
  queue_.clear();
}

std::function<void()> FlowWatch::push(const FlowRecord& r, std::atomic<uint64_t>& lost_total) {
  std::lock_guard lock(mu_);
  if (closed_ || ended_) return {};
  if (queue_.size() >= capacity_) {
    ++lost_pending_;
    ++lost_total;
    return {};
  }
  queue_.push_back({r, std::exchange(lost_pending_, 0)});
  return wake_;
}

std::function<void()> FlowWatch::end() {
  std::lock_guard lock(mu_);
  if (closed_ || ended_) return {};
  ended_ = true;
  return wake_;
}

FlowHub::FlowHub(size_t history, size_t queue_capacity)
    : history_limit_(history), queue_capacity_(std::max<size_t>(queue_capacity, 1)) {}

std::shared_ptr<FlowWatch> FlowHub::watch(size_t recent, bool follow, std::function<void()> wake) {
  // The watch is private until returned: no wake is needed for what it
  // holds already, and the caller reads it first.
  std::shared_ptr<FlowWatch> w(new FlowWatch(queue_capacity_, std::move(wake)));
  std::lock_guard lock(mu_);
  size_t n = std::min(recent, history_.size());
  for (auto it = history_.end() - long(n); it != history_.end(); ++it) w->queue_.push_back({*it, 0});
  w->capacity_ = queue_capacity_ + n;  // the backlog does not count against the live queue
  if (follow && !shut_down_) watches_.push_back(w);
  else w->ended_ = true;
  return w;
}

void FlowHub::publish(const FlowRecord& r) {
  std::vector<std::shared_ptr<FlowWatch>> targets;
  {
    std::lock_guard lock(mu_);
    history_.push_back(r);
    if (history_.size() > history_limit_) history_.pop_front();
    std::erase_if(watches_, [](const auto& w) {
      std::lock_guard wl(w->mu_);
      return w->closed_;
    });
    targets = watches_;
  }
  for (const auto& w : targets)
    if (auto wake = w->push(r, lost_total_)) wake();
}

void FlowHub::shutdown() {
  std::vector<std::shared_ptr<FlowWatch>> targets;
  {
    std::lock_guard lock(mu_);
    shut_down_ = true;
    targets.swap(watches_);
  }
  for (const auto& w : targets)
    if (auto wake = w->end()) wake();
}

size_t FlowHub::watchers() const {
  std::lock_guard lock(mu_);
  return size_t(std::count_if(watches_.begin(), watches_.end(), [](const auto& w) {
    std::lock_guard wl(w->mu_);
    return !w->closed_;
  }));
}

}  // namespace wac::agent
