// HeldCopies: recognising the passive copy of a held DNS response.
#include <catch2/catch.hpp>

#include <vector>

#include "agent/held_copies.h"

using wac::agent::HeldCopies;
using Bytes = std::vector<uint8_t>;
using Clock = std::chrono::steady_clock;

namespace {
std::span<const uint8_t> view(const Bytes& b) { return {b.data(), b.size()}; }
}  // namespace

TEST_CASE("held copies: a remembered packet is taken once, others never") {
  HeldCopies copies;
  Bytes a{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  Bytes b = a;
  b.back() = 12;  // differs in the tail only
  Bytes shorter(a.begin(), a.end() - 1);
  copies.remember(view(a));
  CHECK_FALSE(copies.take(view(b)));
  CHECK_FALSE(copies.take(view(shorter)));
  CHECK(copies.take(view(a)));
  CHECK_FALSE(copies.take(view(a)));
  CHECK(copies.size() == 0);
}

TEST_CASE("held copies: the same bytes held twice are taken twice") {
  HeldCopies copies;
  Bytes a(100, 0x42);
  copies.remember(view(a));
  copies.remember(view(a));
  CHECK(copies.take(view(a)));
  CHECK(copies.take(view(a)));
  CHECK_FALSE(copies.take(view(a)));
}

TEST_CASE("held copies: a copy that never comes is forgotten after two generations") {
  HeldCopies copies;
  Bytes lost{9, 9, 9}, late{7, 7, 7};
  auto t = Clock::now();
  copies.expire(t);  // starts the first generation
  copies.remember(view(lost));
  copies.remember(view(late));
  copies.expire(t + HeldCopies::kGeneration);  // one generation old: still known
  CHECK(copies.take(view(late)));
  copies.expire(t + 2 * HeldCopies::kGeneration);
  CHECK(copies.size() == 0);
  CHECK_FALSE(copies.take(view(lost)));
}

TEST_CASE("held copies: memory stays bounded when copies are lost in bulk") {
  HeldCopies copies;
  for (uint32_t i = 0; i < 3 * HeldCopies::kMaxPerGeneration; ++i) {
    Bytes p{uint8_t(i), uint8_t(i >> 8), uint8_t(i >> 16), uint8_t(i >> 24)};
    copies.remember(view(p));
  }
  CHECK(copies.size() <= 2 * HeldCopies::kMaxPerGeneration);
}

TEST_CASE("held copies: fingerprints depend on a per-process seed and the empty packet is fine") {
  HeldCopies one, two;
  Bytes p{1, 2, 3};
  CHECK(one.fingerprint(view(p)) != two.fingerprint(view(p)));  // 2^-64 to fail
  Bytes empty;
  one.remember(view(empty));
  CHECK(one.take(view(empty)));
}
