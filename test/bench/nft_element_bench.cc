// Element batch cost: libnftnl + libmnl (wac's fast path) against
// libnftables (`nft_run_cmd_from_buffer("add element ...")`).
//
// Also times reading a 100k-interval set back.  Needs root: runs in a
// private network namespace it creates, so the host ruleset is untouched.  Usage: nft_element_bench [rounds-for-1] [rounds-for-1000]
#include <nftables/libnftables.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "nft/element_io.h"

using namespace wac::nft;
using Clock = std::chrono::steady_clock;

namespace {

std::string address(uint32_t n) {
  return "10." + std::to_string((n >> 16) & 255) + "." + std::to_string((n >> 8) & 255) + "." +
         std::to_string(n & 255);
}

struct Result {
  double median_us = 0;
  double mean_us = 0;
};

Result measure(int rounds, const std::function<bool(int round)>& one_batch) {
  std::vector<double> us;
  for (int r = 0; r < rounds; ++r) {
    auto start = Clock::now();
    if (!one_batch(r)) std::exit(1);
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  std::sort(us.begin(), us.end());
  double sum = 0;
  for (double u : us) sum += u;
  return {us[us.size() / 2], sum / double(us.size())};
}

bool run_nft(nft_ctx* ctx, const std::string& cmd) {
  if (nft_run_cmd_from_buffer(ctx, cmd.c_str()) == 0) return true;
  std::fprintf(stderr, "nft failed: %s\n", nft_ctx_get_error_buffer(ctx));
  return false;
}

void compare(nft_ctx* ctx, NftnlElementIo& io, int batch_size, int rounds, uint32_t& next) {
  SetDecl decl;
  decl.name = "bench-nftnl";
  decl.timeout = true;
  Result nftnl = measure(rounds, [&](int) {
    SetChange change{decl, {}, {}, {}};
    for (int i = 0; i < batch_size; ++i) {
      Element e;
      e.key = address(next++);
      e.timeout_ms = 600000;
      change.add.push_back(std::move(e));
    }
    wac::Status st = io.commit({change});
    if (!st) std::fprintf(stderr, "libnftnl batch failed: %s\n", st.message().c_str());
    return st.ok();
  });
  Result nft = measure(rounds, [&](int) {
    std::string cmd = "add element inet wac bench-nft { ";
    for (int i = 0; i < batch_size; ++i) cmd += (i ? ", " : "") + address(next++) + " timeout 600s";
    return run_nft(ctx, cmd + " }");
  });
  std::printf("batch of %5d element(s), %4d rounds: libnftnl median %9.1f us (mean %9.1f) | "
              "libnftables median %9.1f us (mean %9.1f) | libnftables/libnftnl = %.1fx\n",
              batch_size, rounds, nftnl.median_us, nftnl.mean_us, nft.median_us, nft.mean_us,
              nft.median_us / nftnl.median_us);
}

// Reading a large set back: libnftnl dump (what Backend::read uses) against
// `nft list set`.  Both pay the kernel's dump cost, which for rbtree
// (interval) sets grows with the square of the size.
void compare_read(nft_ctx* ctx, NftnlElementIo& io, int elements, bool interval) {
  SetDecl decl;
  decl.name = interval ? "bench-read-interval" : "bench-read-hash";
  decl.interval = interval;
  decl.timeout = !interval;
  std::string declaration = "add set inet wac " + decl.name + " { type ipv4_addr; flags " +
                            (interval ? "interval" : "timeout") + "; }";
  if (!run_nft(ctx, declaration)) std::exit(1);
  SetChange fill{decl, {}, {}, {}};
  for (int i = 0; i < elements; ++i) {
    Element e;
    // Disjoint /31s for the interval set (two kernel elements each).
    e.key = interval ? address(uint32_t(i) * 4) + "/31" : address(uint32_t(i));
    if (!interval) e.timeout_ms = 3600000;
    fill.add.push_back(std::move(e));
  }
  if (auto st = io.commit({fill}); !st) {
    std::fprintf(stderr, "fill failed: %s\n", st.message().c_str());
    std::exit(1);
  }
  std::vector<Element> out;
  Result dump = measure(3, [&](int) { return io.dump(decl, out).ok() && out.size() == size_t(elements); });
  Result list = measure(3, [&](int) { return run_nft(ctx, "list set inet wac " + decl.name); });
  std::printf("read %d-element %s set, 3 rounds: libnftnl dump median %8.1f ms | nft list median %8.1f ms | "
              "nft list/libnftnl = %.1fx\n",
              elements, interval ? "interval" : "timeout (hash)", dump.median_us / 1000, list.median_us / 1000,
              list.median_us / dump.median_us);
}

}  // namespace

int main(int argc, char** argv) {
  int rounds_small = argc > 1 ? std::atoi(argv[1]) : 500;
  int rounds_large = argc > 2 ? std::atoi(argv[2]) : 50;
  if (unshare(CLONE_NEWNET) != 0) {
    std::perror("unshare(CLONE_NEWNET) (run as root)");
    return 1;
  }
  nft_ctx* ctx = nft_ctx_new(NFT_CTX_DEFAULT);
  nft_ctx_buffer_output(ctx);
  nft_ctx_buffer_error(ctx);
  if (!run_nft(ctx, "add table inet wac\n"
                    "add set inet wac bench-nftnl { type ipv4_addr; flags timeout; }\n"
                    "add set inet wac bench-nft { type ipv4_addr; flags timeout; }\n")) {
    return 1;
  }
  NftnlElementIo io;
  uint32_t next = 1;
  compare(ctx, io, 1, rounds_small, next);
  compare(ctx, io, 1000, rounds_large, next);
  compare_read(ctx, io, 100000, false);
  compare_read(ctx, io, 100000, true);
  nft_ctx_free(ctx);
  return 0;
}
