#include "agent/state_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>

namespace wac::agent {

namespace {
// Version 1 snapshots (length-prefixed resources, no keys) are still read,
// so an upgraded wacd keeps what the old one accepted.
constexpr char kSnapshotV1[8] = {'W', 'A', 'C', 'S', 'T', 'A', 'T', '1'};
constexpr char kSnapshotV2[8] = {'W', 'A', 'C', 'S', 'T', 'A', 'T', '2'};
constexpr char kJournal[8] = {'W', 'A', 'C', 'J', 'R', 'N', 'L', '1'};
constexpr uint32_t kMaxField = 512u << 20;
constexpr uint8_t kPut = 1, kDelete = 2;
constexpr uint64_t kMinCompactBytes = 64u << 10;

Status file_error(const std::string& path, const std::string& what) {
  return Status::Error("state file " + path + ": " + what);
}

Status errno_error(const std::string& path, int err) {
  return Status::Error("state file " + path + ": " + std::strerror(err), err);
}

bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= size_t(w);
  }
  return true;
}

void append_field(std::string& out, const std::string& field) {
  uint32_t len = uint32_t(field.size());
  out.append(reinterpret_cast<const char*>(&len), sizeof len);
  out += field;
}

void append_entry(std::string& out, const std::string& key, const std::optional<std::string>& bytes) {
  out.push_back(char(bytes ? kPut : kDelete));
  append_field(out, key);
  if (bytes) append_field(out, *bytes);
}

class Reader {
 public:
  Reader(const std::string& path) : path_(path), in_(path, std::ios::binary) {}
  bool missing() const { return !in_; }
  // Empty files count as missing: a crash can leave one behind.
  Status header(std::string& magic) {
    magic.assign(8, '\0');
    if (!in_.read(magic.data(), 8)) {
      if (in_.gcount() == 0) magic.clear();
      return in_.gcount() == 0 ? Status::Ok() : file_error(path_, "truncated header");
    }
    return Status::Ok();
  }
  // false at a clean end of file; status says whether the record was whole.
  bool field(std::string& out, Status& status) {
    uint32_t len = 0;
    if (!in_.read(reinterpret_cast<char*>(&len), sizeof len)) {
      if (in_.gcount() != 0) status = file_error(path_, "truncated record length");
      return false;
    }
    if (len > kMaxField) {
      status = file_error(path_, "corrupt record length");
      return false;
    }
    out.assign(len, '\0');
    if (!in_.read(out.data(), len)) {
      status = file_error(path_, "truncated record");
      return false;
    }
    return true;
  }
  bool op(uint8_t& op) {
    char c;
    if (!in_.get(c)) return false;
    op = uint8_t(c);
    return true;
  }

 private:
  std::string path_;
  std::ifstream in_;
};

using Records = std::map<std::string, std::string>;

Status read_v1(Reader& in, Records& records) {
  Status status = Status::Ok();
  std::string bytes;
  for (size_t i = 0; in.field(bytes, status); ++i) records["\x01v1#" + std::to_string(i)] = bytes;
  return status;
}

// Entries of a v2 snapshot or a journal, applied in order.
Status read_entries(Reader& in, const std::string& path, Records& records) {
  Status status = Status::Ok();
  uint8_t op = 0;
  std::string key, bytes;
  while (status.ok() && in.op(op)) {
    if (op != kPut && op != kDelete) return file_error(path, "unknown record type " + std::to_string(op));
    if (!in.field(key, status)) return status.ok() ? file_error(path, "truncated record") : status;
    if (op == kDelete) {
      records.erase(key);
      continue;
    }
    if (!in.field(bytes, status)) return status.ok() ? file_error(path, "truncated record") : status;
    records[key] = std::move(bytes);
  }
  return status;
}

Status read_snapshot(const std::string& path, Records& records) {
  Reader in(path);
  if (in.missing()) return errno == ENOENT ? Status::Ok() : errno_error(path, errno);
  std::string magic;
  if (Status s = in.header(magic); !s.ok() || magic.empty()) return s;
  if (magic == std::string(kSnapshotV1, 8)) return read_v1(in, records);
  if (magic == std::string(kSnapshotV2, 8)) return read_entries(in, path, records);
  return file_error(path, "not a wac state file");
}

Status replay_journal(const std::string& path, Records& records) {
  Reader in(path);
  if (in.missing()) return errno == ENOENT ? Status::Ok() : errno_error(path, errno);
  std::string magic;
  if (Status s = in.header(magic); !s.ok() || magic.empty()) return s;
  if (magic != std::string(kJournal, 8)) return file_error(path, "not a wac journal");
  return read_entries(in, path, records);
}

uint64_t file_size(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 ? uint64_t(st.st_size) : 0;
}

// The rename is durable only once the directory is synced.
void sync_directory_of(const std::string& path) {
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

Status write_atomically(const std::string& path, const std::string& contents) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return errno_error(tmp, errno);
  bool ok = write_all(fd, contents.data(), contents.size()) && ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    err = ok ? errno : err;
    ::unlink(tmp.c_str());
    return errno_error(path, err);
  }
  sync_directory_of(path);
  return Status::Ok();
}
}  // namespace

StateStore::StateStore(std::string snapshot_path)
    : snapshot_(std::move(snapshot_path)), journal_(snapshot_ + ".journal") {
  stats_.path = snapshot_;
}

Status StateStore::counted(Status s) {
  ++(s.ok() ? stats_.writes : stats_.write_errors);
  if (!s.ok()) stats_.last_error = s.message();
  return s;
}

Status StateStore::load(std::vector<std::string>& out) {
  Records records;
  Status status = read_snapshot(snapshot_, records);
  if (status.ok()) status = replay_journal(journal_, records);
  out.clear();
  for (auto& [key, bytes] : records) out.push_back(std::move(bytes));
  snapshot_bytes_ = file_size(snapshot_);
  journal_bytes_ = file_size(journal_);
  if (!status.ok()) {
    ++stats_.load_errors;
    stats_.last_error = status.message();
    stats_.behind = true;  // appending to a damaged journal would put changes past what a load reads
  }
  return status;
}

Status StateStore::record(const std::vector<StateChange>& changes) {
  if (changes.empty()) return Status::Ok();
  if (stats_.behind) return file_error(journal_, "behind since an earlier failed write: the whole state must be written");
  Status s = counted(append(changes));
  if (!s.ok()) stats_.behind = true;
  return s;
}

Status StateStore::append(const std::vector<StateChange>& changes) {
  int fd = ::open(journal_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return errno_error(journal_, errno);
  struct stat st{};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return errno_error(journal_, err);
  }
  std::string buf;
  if (st.st_size == 0) buf.append(kJournal, sizeof kJournal);
  for (const auto& c : changes) append_entry(buf, c.key, c.bytes);
  if (!write_all(fd, buf.data(), buf.size())) {
    int err = errno;
    // Cut a partial write off (disk full), so later entries stay readable.
    (void)::ftruncate(fd, st.st_size);
    ::close(fd);
    return errno_error(journal_, err);
  }
  ::close(fd);
  journal_bytes_ = uint64_t(st.st_size) + buf.size();
  return Status::Ok();
}

Status StateStore::compact(const std::vector<std::pair<std::string, std::string>>& records) {
  Status s = counted(write_snapshot(records));
  if (s.ok()) stats_.behind = false;
  return s;
}

Status StateStore::write_snapshot(const std::vector<std::pair<std::string, std::string>>& records) {
  std::string buf(kSnapshotV2, sizeof kSnapshotV2);
  for (const auto& [key, bytes] : records) append_entry(buf, key, bytes);
  if (Status s = write_atomically(snapshot_, buf); !s.ok()) return s;
  snapshot_bytes_ = buf.size();
  if (::unlink(journal_.c_str()) != 0 && errno != ENOENT) return errno_error(journal_, errno);
  journal_bytes_ = 0;
  return Status::Ok();
}

bool StateStore::wants_compaction() const {
  return journal_bytes_ > std::max(kMinCompactBytes, snapshot_bytes_ / 4);
}

}  // namespace wac::agent
