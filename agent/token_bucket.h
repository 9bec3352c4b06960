// A token bucket: at most `burst` events at once, refilled at `rate` per
// second. Not thread-safe (one reader thread owns it).
#pragma once
#include <algorithm>
#include <chrono>
#include <optional>

namespace wac::agent {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  TokenBucket(double rate_per_second, double burst) : rate_(rate_per_second), burst_(burst), tokens_(burst) {}

  // True if an event may happen at `now` (and takes its token).
  bool take(Clock::time_point now) {
    if (last_) tokens_ = std::min(burst_, tokens_ + rate_ * std::chrono::duration<double>(now - *last_).count());
    last_ = now;
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
  }

 private:
  double rate_, burst_, tokens_;
  std::optional<Clock::time_point> last_;
};

}  // namespace wac::agent
