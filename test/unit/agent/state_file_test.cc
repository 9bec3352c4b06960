#include "agent/state_file.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>

using wac::agent::StateChange;
using wac::agent::StateStore;
namespace fs = std::filesystem;

namespace {
struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/wac-state-test-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

std::vector<std::string> load(const std::string& path) {
  StateStore store(path);
  std::vector<std::string> records;
  REQUIRE(store.load(records).ok());
  return records;
}

void append_raw(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::app) << bytes;
}

std::string field(const std::string& s) {
  uint32_t n = uint32_t(s.size());
  return std::string(reinterpret_cast<const char*>(&n), sizeof n) + s;
}
}  // namespace

TEST_CASE("state store: a first start finds nothing and that is fine") {
  TempDir dir;
  CHECK(load(dir.file("resources.db")).empty());
}

TEST_CASE("state store: the journal alone carries every acknowledged change") {
  TempDir dir;
  std::string path = dir.file("resources.db");
  StateStore store(path);
  REQUIRE(store.record({{"Namespace a", "ns-a"}, {"Namespace b", "ns-b"}}).ok());
  REQUIRE(store.record({{"Namespace a", "ns-a2"}}).ok());
  REQUIRE(store.record({{"Namespace b", std::nullopt}, {"Namespace c", "ns-c"}}).ok());
  // A fresh process (nothing flushed, nothing compacted) sees the final state.
  CHECK(load(path) == std::vector<std::string>{"ns-a2", "ns-c"});
  CHECK_FALSE(fs::exists(path));
}

TEST_CASE("state store: compaction folds the journal into the snapshot") {
  TempDir dir;
  std::string path = dir.file("resources.db");
  StateStore store(path);
  REQUIRE(store.record({{"k1", "one"}, {"k2", "two"}}).ok());
  REQUIRE(store.compact({{"k1", "one"}, {"k2", "two"}}).ok());
  CHECK_FALSE(fs::exists(store.journal_path()));
  REQUIRE(store.record({{"k1", std::nullopt}}).ok());
  CHECK(load(path) == std::vector<std::string>{"two"});
}

TEST_CASE("state store: a crash between snapshot and journal removal replays to the same state") {
  TempDir dir;
  std::string path = dir.file("resources.db");
  StateStore store(path);
  REQUIRE(store.record({{"k1", "one"}, {"k2", "two"}}).ok());
  REQUIRE(store.record({{"k1", std::nullopt}, {"k3", "three"}}).ok());
  fs::copy_file(store.journal_path(), dir.file("saved-journal"));
  REQUIRE(store.compact({{"k2", "two"}, {"k3", "three"}}).ok());
  fs::copy_file(dir.file("saved-journal"), store.journal_path());  // the unlink never happened
  CHECK(load(path) == std::vector<std::string>{"two", "three"});
}

TEST_CASE("state store: a torn journal tail loses only that change") {
  TempDir dir;
  std::string path = dir.file("resources.db");
  StateStore writer(path);
  REQUIRE(writer.record({{"k1", "one"}}).ok());
  append_raw(writer.journal_path(), std::string(1, '\x01') + field("k2") + std::string("\x05\x00", 2));
  StateStore reader(path);
  std::vector<std::string> records;
  auto status = reader.load(records);
  CHECK_FALSE(status.ok());
  CHECK(status.message().find("resources.db.journal") != std::string::npos);
  CHECK(records == std::vector<std::string>{"one"});
}

TEST_CASE("state store: damaged files are reported, not trusted") {
  TempDir dir;
  std::string path = dir.file("resources.db");
  std::ofstream(path, std::ios::binary) << "NOTWAC!!garbage";
  StateStore store(path);
  std::vector<std::string> records;
  auto status = store.load(records);
  CHECK_FALSE(status.ok());
  CHECK(status.message().find("not a wac state file") != std::string::npos);

  std::ofstream(path, std::ios::binary | std::ios::trunc) << "WACSTAT2" << std::string(1, '\x07') << field("k");
  status = store.load(records);
  CHECK_FALSE(status.ok());
  CHECK(status.message().find("unknown record type 7") != std::string::npos);

  // An empty file (a crash right after creating it) is a first start.
  std::ofstream(path, std::ios::binary | std::ios::trunc);
  CHECK(store.load(records).ok());
  CHECK(records.empty());
}

TEST_CASE("state store: version 1 snapshots of older wacd are read") {
  TempDir dir;
  std::string path = dir.file("resources.db");
  std::ofstream(path, std::ios::binary) << "WACSTAT1" << field("first") << field("second");
  CHECK(load(path) == std::vector<std::string>{"first", "second"});
}

TEST_CASE("state store: compaction is wanted once the journal outgrows the snapshot's quarter") {
  TempDir dir;
  std::string path = dir.file("resources.db");
  StateStore store(path);
  std::vector<std::pair<std::string, std::string>> all;
  for (int i = 0; i < 1000; ++i) all.emplace_back("k" + std::to_string(i), std::string(1000, 'x'));
  REQUIRE(store.compact(all).ok());  // about 1 MB
  CHECK_FALSE(store.wants_compaction());
  int changes = 0;
  while (!store.wants_compaction() && changes < 1000) {
    REQUIRE(store.record({{"k1", std::string(1000, 'y')}}).ok());
    ++changes;
  }
  // About 256 KB of journal against 1 MB of snapshot.
  CHECK(changes > 200);
  CHECK(changes < 300);
}

TEST_CASE("state store: a failed append makes it behind until the whole state is written") {
  TempDir dir;
  std::string path = dir.file("resources.db");
  StateStore store(path);
  REQUIRE(store.compact({{"Namespace a", "ns-a"}}).ok());
  // Every write to the journal now fails as on a full disk.
  fs::create_symlink("/dev/full", path + ".journal");
  wac::Status failed = store.record({{"Namespace b", "ns-b"}});
  CHECK_FALSE(failed.ok());
  CHECK(failed.message() == "state file " + path + ".journal: No space left on device");
  CHECK(store.behind());
  CHECK(store.stats().write_errors == 1);
  CHECK(store.stats().last_error == failed.message());
  // Appending c now would let a restart replay c without b: refused.
  CHECK_FALSE(store.record({{"Namespace c", "ns-c"}}).ok());
  CHECK(store.stats().write_errors == 1);  // refused without trying
  REQUIRE(store.compact({{"Namespace a", "ns-a"}, {"Namespace b", "ns-b"}, {"Namespace c", "ns-c"}}).ok());
  CHECK_FALSE(store.behind());
  CHECK(store.stats().writes == 2);
  CHECK(load(path) == std::vector<std::string>{"ns-a", "ns-b", "ns-c"});
  REQUIRE(store.record({{"Namespace d", "ns-d"}}).ok());
  CHECK(load(path) == std::vector<std::string>{"ns-a", "ns-b", "ns-c", "ns-d"});
}

TEST_CASE("state store: a failed snapshot keeps the previous files whole") {
  TempDir dir;
  std::string path = dir.file("resources.db");
  StateStore store(path);
  REQUIRE(store.compact({{"Namespace a", "ns-a"}}).ok());
  REQUIRE(store.record({{"Namespace b", "ns-b"}}).ok());
  fs::create_symlink("/dev/full", path + ".tmp");  // the temp file of the next snapshot
  CHECK_FALSE(store.compact({{"Namespace a", "ns-a"}, {"Namespace b", "ns-b"}}).ok());
  CHECK_FALSE(store.behind());  // the journal still has b
  CHECK_FALSE(fs::exists(path + ".tmp"));
  CHECK(load(path) == std::vector<std::string>{"ns-a", "ns-b"});
}

TEST_CASE("state store: a damaged file at load makes it behind, so nothing is appended past the damage") {
  TempDir dir;
  std::string path = dir.file("resources.db");
  {
    StateStore store(path);
    REQUIRE(store.record({{"Namespace a", "ns-a"}}).ok());
  }
  append_raw(path + ".journal", "\x07garbage");
  StateStore store(path);
  std::vector<std::string> records;
  CHECK_FALSE(store.load(records).ok());
  CHECK(records == std::vector<std::string>{"ns-a"});
  CHECK(store.behind());
  CHECK(store.stats().load_errors == 1);
  CHECK_FALSE(store.record({{"Namespace b", "ns-b"}}).ok());
  REQUIRE(store.compact({{"Namespace a", "ns-a"}, {"Namespace b", "ns-b"}}).ok());
  CHECK(load(path) == std::vector<std::string>{"ns-a", "ns-b"});
}
