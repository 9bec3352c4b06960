// Test fixture: moves the calling thread into a fresh, empty network
// namespace (its own nftables ruleset, only a loopback link) and back on
// destruction, so kernel tests never see or touch the host's state.
#pragma once
#include <string>

namespace wac::test {

class ScopedNetns {
 public:
  // Needs root (CAP_SYS_ADMIN).  Brings `lo` up and gives it 192.0.2.1/32,
  // the one address tests send to.
  ScopedNetns();
  ~ScopedNetns();
  ScopedNetns(const ScopedNetns&) = delete;
  ScopedNetns& operator=(const ScopedNetns&) = delete;

 private:
  int original_ = -1;
};

inline constexpr const char* kTestAddress = "192.0.2.1";

// Creates / deletes a veth pair inside the current namespace (libnl).
void create_veth(const std::string& name, const std::string& peer);
void delete_link(const std::string& name);

// Runs nft commands through a fresh libnftables context in the current
// namespace; returns the output, throws with nft's error text on failure.
std::string nft(const std::string& commands, bool stateless = false);
// Same, returning nft's error text instead ("" on success).
std::string nft_error(const std::string& commands);

// Sends `count` UDP datagrams with `payload` to kTestAddress:port.
void send_udp(uint16_t port, const std::string& payload, int count = 1);

}  // namespace wac::test
