#include "test/kernel/netns.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <nftables/libnftables.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace wac::test {

namespace {

[[noreturn]] void fail(const std::string& what, int err) {
  throw std::runtime_error(what + ": " + std::strerror(err));
}

struct NlSockFree {
  void operator()(nl_sock* s) const { nl_socket_free(s); }
};
using NlSock = std::unique_ptr<nl_sock, NlSockFree>;

NlSock route_socket() {
  NlSock sock(nl_socket_alloc());
  if (!sock || nl_connect(sock.get(), NETLINK_ROUTE) < 0) throw std::runtime_error("libnl: cannot connect");
  return sock;
}

void bring_up_loopback() {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket", errno);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0 || (ifr.ifr_flags |= IFF_UP, ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)) {
    int err = errno;
    close(fd);
    fail("bring lo up", err);
  }
  close(fd);
}

void add_test_address() {
  auto sock = route_socket();
  rtnl_addr* addr = rtnl_addr_alloc();
  nl_addr* local = nullptr;
  nl_addr_parse((std::string(kTestAddress) + "/32").c_str(), AF_INET, &local);
  rtnl_addr_set_ifindex(addr, int(if_nametoindex("lo")));
  rtnl_addr_set_local(addr, local);
  int rc = rtnl_addr_add(sock.get(), addr, 0);
  nl_addr_put(local);
  rtnl_addr_put(addr);
  if (rc < 0) throw std::runtime_error(std::string("add test address: ") + nl_geterror(rc));
}

}  // namespace

ScopedNetns::ScopedNetns() {
  original_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (original_ < 0) fail("open own network namespace", errno);
  if (unshare(CLONE_NEWNET) < 0) {
    int err = errno;
    close(original_);
    fail("unshare(CLONE_NEWNET) (kernel tests need root)", err);
  }
  bring_up_loopback();
  add_test_address();
}

ScopedNetns::~ScopedNetns() {
  // Back to where we came from; the fresh namespace dies with its last user.
  if (setns(original_, CLONE_NEWNET) < 0) std::abort();  // never run on in a test namespace
  close(original_);
}

void create_veth(const std::string& name, const std::string& peer) {
  auto sock = route_socket();
  int rc = rtnl_link_veth_add(sock.get(), name.c_str(), peer.c_str(), getpid());
  if (rc < 0) throw std::runtime_error("create veth " + name + ": " + nl_geterror(rc));
}

void delete_link(const std::string& name) {
  auto sock = route_socket();
  rtnl_link* link = rtnl_link_alloc();
  rtnl_link_set_name(link, name.c_str());
  int rc = rtnl_link_delete(sock.get(), link);
  rtnl_link_put(link);
  if (rc < 0) throw std::runtime_error("delete link " + name + ": " + nl_geterror(rc));
}

namespace {
int run_nft(const std::string& commands, bool stateless, std::string& out, std::string& err) {
  nft_ctx* ctx = nft_ctx_new(NFT_CTX_DEFAULT);
  nft_ctx_buffer_output(ctx);
  nft_ctx_buffer_error(ctx);
  if (stateless) nft_ctx_output_set_flags(ctx, NFT_CTX_OUTPUT_STATELESS);
  int rc = nft_run_cmd_from_buffer(ctx, commands.c_str());
  out = nft_ctx_get_output_buffer(ctx);
  err = nft_ctx_get_error_buffer(ctx);
  nft_ctx_free(ctx);
  return rc;
}
}  // namespace

std::string nft(const std::string& commands, bool stateless) {
  std::string out, err;
  if (run_nft(commands, stateless, out, err) != 0) throw std::runtime_error("nft failed: " + err + "\n" + commands);
  return out;
}

std::string nft_error(const std::string& commands) {
  std::string out, err;
  return run_nft(commands, false, out, err) == 0 ? std::string() : err;
}

void send_udp(uint16_t port, const std::string& payload, int count) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("udp socket", errno);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  inet_pton(AF_INET, kTestAddress, &to.sin_addr);
  for (int i = 0; i < count; ++i) {
    if (sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) {
      int err = errno;
      close(fd);
      fail("sendto", err);
    }
  }
  close(fd);
}

}  // namespace wac::test
