#include "dns/cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace wac::dns {

namespace {

constexpr int kFileVersion = 1;

// Remaining lifetime rounded up, so an entry with 0.3 s left is reported
// (and re-programmed) as 1 s rather than 0 (which nft would read as "no
// timeout").
Seconds remaining(SteadyTime expires, SteadyTime now) {
  return std::chrono::ceil<Seconds>(expires - now);
}

int64_t epoch_seconds(WallTime t) {
  return std::chrono::duration_cast<Seconds>(t.time_since_epoch()).count();
}

Status errno_status(const std::string& what, const std::string& path) {
  int e = errno;
  return Status::Error(what + " " + path + ": " + std::strerror(e), e);
}

Status write_all(int fd, const std::string& data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_status("cannot write", path);
    done += size_t(n);
  }
  return Status::Ok();
}

// Makes the rename itself durable.
void fsync_parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

Seconds timeout_for(const CacheConfig& c, uint32_t ttl) {
  // 64-bit arithmetic: ttl + grace cannot overflow for any 32-bit ttl.
  int64_t want = int64_t(ttl) + c.grace.count();
  return Seconds(std::clamp<int64_t>(want, c.min_timeout.count(), std::max(c.min_timeout, c.max_timeout).count()));
}

const char* to_string(LearnOutcome o) {
  switch (o) {
    case LearnOutcome::New: return "new";
    case LearnOutcome::Refreshed: return "refreshed";
    case LearnOutcome::Unchanged: return "unchanged";
  }
  return "unknown";
}

void FqdnCache::evict_earliest(Entries& list, LearnResult& result) {
  auto victim = std::min_element(list.begin(), list.end(),
                                 [](const Entry& a, const Entry& b) { return a.expires < b.expires; });
  result.evicted = true;
  result.evicted_addr = victim->addr;
  *victim = list.back();
  list.pop_back();
}

LearnResult FqdnCache::learn(std::string_view key, const IpAddr& addr, uint32_t ttl, SteadyTime now) {
  LearnResult result;
  result.timeout = timeout_for(config_, ttl);
  SteadyTime expires = now + result.timeout;

  auto it = entries_.find(key);
  if (it == entries_.end()) it = entries_.emplace(std::string(key), Entries{}).first;
  Entries& list = it->second;

  for (Entry& e : list) {
    if (e.addr != addr) continue;
    if (expires > e.expires + config_.refresh_threshold) {
      e.expires = expires;
      result.outcome = LearnOutcome::Refreshed;
    } else {
      result.outcome = LearnOutcome::Unchanged;
      result.timeout = remaining(e.expires, now);  // what the kernel already has
    }
    return result;
  }
  if (config_.max_addrs_per_key == 0) {  // degenerate config: nothing may be cached
    result.evicted = true;
    result.evicted_addr = addr;
    if (list.empty()) entries_.erase(it);
    if (stats_) ++stats_->evictions;
    return result;
  }
  if (list.size() >= config_.max_addrs_per_key) {
    evict_earliest(list, result);
    if (stats_) ++stats_->evictions;
  }
  list.push_back({addr, expires});
  result.outcome = LearnOutcome::New;
  return result;
}

size_t FqdnCache::expire(SteadyTime now) {
  size_t removed = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    Entries& list = it->second;
    size_t before = list.size();
    std::erase_if(list, [now](const Entry& e) { return e.expires <= now; });
    removed += before - list.size();
    it = list.empty() ? entries_.erase(it) : std::next(it);
  }
  return removed;
}

bool FqdnCache::erase(std::string_view key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return false;
  entries_.erase(it);
  return true;
}

size_t FqdnCache::addr_count() const {
  size_t n = 0;
  for (const auto& [key, list] : entries_) n += list.size();
  return n;
}

std::vector<std::string> FqdnCache::keys() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& [key, list] : entries_) out.push_back(key);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<CachedAddr> FqdnCache::addresses(std::string_view key, SteadyTime now) const {
  std::vector<CachedAddr> out;
  auto it = entries_.find(key);
  if (it == entries_.end()) return out;
  for (const Entry& e : it->second)
    if (e.expires > now) out.push_back({e.addr, remaining(e.expires, now)});
  std::sort(out.begin(), out.end(), [](const CachedAddr& a, const CachedAddr& b) { return a.addr < b.addr; });
  return out;
}

std::vector<CachedName> FqdnCache::snapshot(SteadyTime now) const {
  std::vector<CachedName> out;
  for (const std::string& key : keys()) {
    auto addrs = addresses(key, now);
    if (!addrs.empty()) out.push_back({key, std::move(addrs)});
  }
  return out;
}

// File format (version 1):
//   {"version":1,"saved_at":<epoch s>,
//    "entries":[{"key":"api.example.com","addrs":[{"addr":"192.0.2.1","expires":<epoch s>}]}]}
Status FqdnCache::save(const std::string& path, Now now) const {
  nlohmann::json entries = nlohmann::json::array();
  for (const CachedName& name : snapshot(now.steady)) {
    nlohmann::json addrs = nlohmann::json::array();
    for (const CachedAddr& a : name.addrs)
      addrs.push_back({{"addr", a.addr.str()}, {"expires", epoch_seconds(now.wall + a.remaining)}});
    entries.push_back({{"key", name.key}, {"addrs", std::move(addrs)}});
  }
  nlohmann::json doc = {{"version", kFileVersion}, {"saved_at", epoch_seconds(now.wall)}, {"entries", std::move(entries)}};
  std::string text = doc.dump() + "\n";

  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return errno_status("cannot create", tmp);
  Status st = write_all(fd, text, tmp);
  if (st && ::fsync(fd) != 0) st = errno_status("cannot fsync", tmp);
  if (::close(fd) != 0 && st) st = errno_status("cannot close", tmp);
  if (st && ::rename(tmp.c_str(), path.c_str()) != 0) st = errno_status("cannot rename over", path);
  if (!st) {
    ::unlink(tmp.c_str());
    return st;
  }
  fsync_parent_dir(path);
  return Status::Ok();
}

namespace {

// Parses and checks the whole document before anything is used, so a bad
// file changes nothing. Throws std::runtime_error / nlohmann exceptions
// with a message naming the offending element.
template <typename AddFn>
void read_cache_doc(const std::string& text, AddFn add) {
  auto doc = nlohmann::json::parse(text);
  if (!doc.is_object()) throw std::runtime_error("top level is not an object");
  if (!doc.contains("version") || !doc["version"].is_number_integer())
    throw std::runtime_error("missing integer \"version\"");
  if (doc["version"].get<int64_t>() != kFileVersion)
    throw std::runtime_error("unsupported version " + doc["version"].dump());
  const auto& entries = doc.at("entries");
  if (!entries.is_array()) throw std::runtime_error("\"entries\" is not an array");
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    std::string where = "entries[" + std::to_string(i) + "]";
    if (!e.is_object() || !e.contains("key") || !e["key"].is_string() || !e.contains("addrs") ||
        !e["addrs"].is_array())
      throw std::runtime_error(where + " needs a string \"key\" and an array \"addrs\"");
    std::string key = e["key"].get<std::string>();
    if (key.empty()) throw std::runtime_error(where + ".key is empty");
    const auto& addrs = e["addrs"];
    for (size_t j = 0; j < addrs.size(); ++j) {
      const auto& a = addrs[j];
      std::string at = where + ".addrs[" + std::to_string(j) + "]";
      if (!a.is_object() || !a.contains("addr") || !a["addr"].is_string() || !a.contains("expires") ||
          !a["expires"].is_number_integer())
        throw std::runtime_error(at + " needs a string \"addr\" and an integer \"expires\"");
      auto ip = IpAddr::parse(a["addr"].get<std::string>());
      if (!ip) throw std::runtime_error(at + ".addr " + a["addr"].dump() + " is not an IP address");
      add(key, *ip, a["expires"].get<int64_t>());
    }
  }
}

}  // namespace

Status FqdnCache::load(const std::string& path, Now now) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return errno_status("cannot open DNS cache file", path);
  std::stringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return errno_status("cannot read DNS cache file", path);

  int64_t now_epoch = epoch_seconds(now.wall);
  decltype(entries_) loaded;
  size_t evicted = 0;
  try {
    read_cache_doc(buf.str(), [&](const std::string& key, const IpAddr& addr, int64_t expires) {
      int64_t left = expires - now_epoch;
      if (left <= 0) return;
      left = std::min<int64_t>(left, config_.max_timeout.count());
      Entries& list = loaded[key];
      SteadyTime when = now.steady + Seconds(left);
      for (Entry& e : list) {
        if (e.addr == addr) {
          e.expires = std::max(e.expires, when);
          return;
        }
      }
      if (config_.max_addrs_per_key == 0) return;
      if (list.size() >= config_.max_addrs_per_key) {
        LearnResult ignored;
        evict_earliest(list, ignored);
        ++evicted;
      }
      list.push_back({addr, when});
    });
  } catch (const std::exception& e) {
    return Status::Error("DNS cache file " + path + " is corrupt or truncated, ignoring it: " + e.what());
  }
  std::erase_if(loaded, [](const auto& kv) { return kv.second.empty(); });
  entries_ = std::move(loaded);
  if (stats_) stats_->evictions += evicted;
  return Status::Ok();
}

}  // namespace wac::dns
