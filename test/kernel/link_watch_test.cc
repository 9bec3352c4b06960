// The link watcher against real rtnetlink, each test in a fresh network
// namespace.
#include <catch2/catch.hpp>

#include <chrono>
#include <set>
#include <thread>

#include "netlink/link_watch.h"
#include "test/kernel/netns.h"

using namespace wac::netlink;
using wac::test::ScopedNetns;

namespace {

// Reads events until `done` says so or two seconds passed.
std::vector<LinkEvent> read_until(LinkWatcher& w, const std::function<bool(const std::vector<LinkEvent>&)>& done) {
  std::vector<LinkEvent> events;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < deadline) {
    REQUIRE(w.read([&](const LinkEvent& e) { events.push_back(e); }).ok());
    if (done(events)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return events;
}

bool has(const std::vector<LinkEvent>& events, LinkEvent::Type type, const std::string& name) {
  return std::any_of(events.begin(), events.end(),
                     [&](const LinkEvent& e) { return e.type == type && e.link.name == name; });
}

}  // namespace

TEST_CASE("the link watcher reports existing links, then a veth created and deleted") {
  ScopedNetns ns;
  LinkWatcher w;
  REQUIRE(w.open().ok());
  auto initial = read_until(w, [](const std::vector<LinkEvent>& ev) { return !ev.empty(); });
  REQUIRE(initial.size() == 1);
  CHECK(initial[0].type == LinkEvent::Type::Added);
  CHECK(initial[0].link.name == "lo");
  CHECK(initial[0].link.admin_up);

  wac::test::create_veth("wt-veth0", "wt-veth1");
  auto created = read_until(w, [](const std::vector<LinkEvent>& ev) {
    return has(ev, LinkEvent::Type::Added, "wt-veth0") && has(ev, LinkEvent::Type::Added, "wt-veth1");
  });
  CHECK(has(created, LinkEvent::Type::Added, "wt-veth0"));
  CHECK(has(created, LinkEvent::Type::Added, "wt-veth1"));
  CHECK(w.links().size() == 3);

  wac::test::delete_link("wt-veth0");  // takes its peer with it
  auto deleted = read_until(w, [](const std::vector<LinkEvent>& ev) {
    return has(ev, LinkEvent::Type::Removed, "wt-veth0") && has(ev, LinkEvent::Type::Removed, "wt-veth1");
  });
  CHECK(has(deleted, LinkEvent::Type::Removed, "wt-veth0"));
  CHECK(has(deleted, LinkEvent::Type::Removed, "wt-veth1"));
  CHECK(w.links().size() == 1);
  CHECK(w.stats().enobufs == 0);
}

TEST_CASE("the link watcher re-dumps after an overrun so no link is missed") {
  ScopedNetns ns;
  LinkWatcher w;
  REQUIRE(w.open(/*receive_buffer=*/1).ok());
  REQUIRE(w.read([](const LinkEvent&) {}).ok());

  constexpr int kPairs = 40;
  for (int i = 0; i < kPairs; ++i) {
    wac::test::create_veth("wt-a" + std::to_string(i), "wt-b" + std::to_string(i));
  }
  std::set<std::string> added;
  auto events = read_until(w, [&](const std::vector<LinkEvent>& ev) {
    for (const auto& e : ev) {
      if (e.type == LinkEvent::Type::Added) added.insert(e.link.name);
    }
    return added.size() == 2 * kPairs;
  });
  CHECK(w.stats().enobufs > 0);
  CHECK(w.stats().resyncs > 0);
  CHECK(added.size() == 2 * kPairs);
  CHECK(w.links().size() == 2 * kPairs + 1);

  // Deletions lost in an overrun are found by the re-dump too.
  for (int i = 0; i < kPairs; ++i) wac::test::delete_link("wt-a" + std::to_string(i));
  std::set<std::string> removed;
  read_until(w, [&](const std::vector<LinkEvent>& ev) {
    for (const auto& e : ev) {
      if (e.type == LinkEvent::Type::Removed) removed.insert(e.link.name);
    }
    return removed.size() == 2 * kPairs;
  });
  CHECK(removed.size() == 2 * kPairs);
  CHECK(w.links().size() == 1);
}
