#include "agent/state_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>

namespace wac::agent {

namespace {
constexpr char kMagic[8] = {'W', 'A', 'C', 'S', 'T', 'A', 'T', '1'};
constexpr uint32_t kMaxRecord = 512u << 20;

bool write_all(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= size_t(w);
  }
  return true;
}
}  // namespace

Status write_state_file(const std::string& path, const std::vector<std::string>& records) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Error("state file " + tmp + ": " + std::strerror(errno), errno);
  bool ok = write_all(fd, kMagic, sizeof kMagic);
  for (const auto& r : records) {
    uint32_t len = uint32_t(r.size());
    ok = ok && write_all(fd, &len, sizeof len) && write_all(fd, r.data(), r.size());
  }
  int err = errno;
  ok = ok && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    err = errno ? errno : err;
    ::unlink(tmp.c_str());
    return Status::Error("state file " + path + ": " + std::strerror(err), err);
  }
  return Status::Ok();
}

Status read_state_file(const std::string& path, std::vector<std::string>& records) {
  records.clear();
  std::ifstream in(path, std::ios::binary);
  if (!in) return errno == ENOENT ? Status::Ok() : Status::Error("state file " + path + ": " + std::strerror(errno));
  char magic[sizeof kMagic];
  if (!in.read(magic, sizeof magic)) return in.gcount() == 0 ? Status::Ok() : Status::Error("state file " + path + ": truncated header");
  if (std::memcmp(magic, kMagic, sizeof kMagic) != 0) return Status::Error("state file " + path + ": not a wac state file");
  uint32_t len = 0;
  while (in.read(reinterpret_cast<char*>(&len), sizeof len)) {
    if (len > kMaxRecord) return Status::Error("state file " + path + ": corrupt record length");
    std::string r(len, '\0');
    if (!in.read(r.data(), len)) return Status::Error("state file " + path + ": truncated record");
    records.push_back(std::move(r));
  }
  if (in.gcount() != 0) return Status::Error("state file " + path + ": truncated record length");
  return Status::Ok();
}

}  // namespace wac::agent
