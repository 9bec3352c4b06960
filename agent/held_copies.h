// Recognises the passive (nflog) copy of a DNS response the tap already
// held and parsed, so each response is parsed once.
//
// The hold chain (priority 101) runs before the log tap in `inet wac`, and
// a held response only reaches the log rule after wacd's verdict: its
// passive copy always arrives after the held packet was read. The tap
// remembers a fingerprint of every held packet; a passive copy with a
// remembered fingerprint is skipped, and one without is a response the
// kernel let through unheld (queue full or overrun: fail-open), which is
// counted and parsed. Skipping can only make the tap learn less, never
// more: the skipped bytes were parsed, with the same trusted-source check,
// on the held path. The fingerprint is seeded per process so a sender
// cannot aim a collision at another response.
//
// A copy the kernel never delivers (nflog overrun) would leave its
// fingerprint behind: fingerprints live in two generations of
// kGeneration each, so none outlives 2 * kGeneration. A generation is long
// against the lag of the passive copies (a copy that came later would be
// counted unheld and parsed again: harmless, but a false alarm).
#pragma once
#include <chrono>
#include <cstdint>
#include <cstring>
#include <random>
#include <span>
#include <unordered_map>

namespace wac::agent {

class HeldCopies {
 public:
  // Fingerprints kept per generation at most: beyond it (copies lost in
  // bulk), the older generation is dropped early, bounding memory.
  static constexpr size_t kMaxPerGeneration = 1 << 18;
  static constexpr std::chrono::seconds kGeneration{5};

  HeldCopies() : seed_(std::random_device{}() | (uint64_t(std::random_device{}()) << 32)) {}

  // A held packet, read from the queue before its verdict.
  void remember(std::span<const uint8_t> packet) {
    if (current_.size() >= kMaxPerGeneration) forget_older();
    ++current_[fingerprint(packet)];
  }

  // A passive copy: true (and forgotten) when it is a held packet's copy.
  bool take(std::span<const uint8_t> packet) {
    uint64_t key = fingerprint(packet);
    return take_from(current_, key) || take_from(previous_, key);
  }

  // Called periodically: drops the older generation once the current one
  // has lasted kGeneration.
  void expire(std::chrono::steady_clock::time_point now) {
    if (now - generation_start_ < kGeneration) return;
    forget_older();
    generation_start_ = now;
  }
  void clear() {
    current_.clear();
    previous_.clear();
  }
  size_t size() const { return current_.size() + previous_.size(); }

  // Seeded 64-bit hash of the bytes and their length (multiply-xorshift
  // over 8-byte words; not cryptographic, but unpredictable without the seed).
  uint64_t fingerprint(std::span<const uint8_t> bytes) const {
    uint64_t h = seed_ ^ (bytes.size() * 0x9e3779b97f4a7c15ull);
    size_t i = 0;
    for (; i + 8 <= bytes.size(); i += 8) {
      uint64_t word;
      std::memcpy(&word, bytes.data() + i, 8);
      h = mix(h ^ word);
    }
    uint64_t tail = 0;
    if (i < bytes.size()) std::memcpy(&tail, bytes.data() + i, bytes.size() - i);
    return mix(h ^ tail ^ (uint64_t(bytes.size() - i) << 56));
  }

 private:
  using Counts = std::unordered_map<uint64_t, uint32_t>;

  void forget_older() {
    previous_ = std::move(current_);
    current_.clear();
  }

  static uint64_t mix(uint64_t x) {
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 29;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 32);
  }
  static bool take_from(Counts& counts, uint64_t key) {
    auto it = counts.find(key);
    if (it == counts.end()) return false;
    if (--it->second == 0) counts.erase(it);
    return true;
  }

  uint64_t seed_;
  Counts current_, previous_;
  std::chrono::steady_clock::time_point generation_start_{};
};

}  // namespace wac::agent
