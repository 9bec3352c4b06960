// The Backend that drives the kernel: structural changes and listings
// through libnftables, element batches and element dumps through libnftnl.
#include <nftables/libnftables.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>

#include "nft/backend.h"
#include "nft/element_io.h"
#include "nft/listing.h"
#include "nft/syntax.h"

namespace wac::nft {

namespace {

struct NftCtxFree {
  void operator()(nft_ctx* ctx) const { nft_ctx_free(ctx); }
};
using NftCtx = std::unique_ptr<nft_ctx, NftCtxFree>;

std::string trim_trailing_newlines(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// libnftables reports errors as text only; recover the errno for the cases
// callers branch on.
int errno_from_nft_text(const std::string& text) {
  static const std::pair<const char*, int> known[] = {
      {"No such file or directory", ENOENT}, {"File exists", EEXIST},
      {"Device or resource busy", EBUSY},    {"Operation not supported", EOPNOTSUPP},
      {"Invalid argument", EINVAL},          {"Operation not permitted", EPERM},
      {"syntax error", EINVAL},
  };
  for (const auto& [needle, err] : known) {
    if (text.find(needle) != std::string::npos) return err;
  }
  return EIO;
}

using Clock = std::chrono::steady_clock;

std::chrono::microseconds since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
}

class KernelBackend : public Backend {
 public:
  explicit KernelBackend(OperationObserver observer)
      : ctx_(nft_ctx_new(NFT_CTX_DEFAULT)), observer_(std::move(observer)) {
    if (!ctx_) return;
    nft_ctx_buffer_output(ctx_.get());
    nft_ctx_buffer_error(ctx_.get());
    // Terse: no set elements in listings (read through libnftnl instead);
    // stateless: no counter values in rule text; numeric priorities.
    nft_ctx_output_set_flags(ctx_.get(),
                             NFT_CTX_OUTPUT_TERSE | NFT_CTX_OUTPUT_STATELESS | NFT_CTX_OUTPUT_NUMERIC_PRIO);
  }

  Status commit(const Transaction& tx) override {
    if (tx.empty()) return Status::Ok();
    if (auto st = validate(tx); !st) return st;
    std::string output;
    std::string text = tx.render();
    auto start = Clock::now();
    Status st = run(text, output);
    auto us = since(start);
    observe(OperationTiming::Kind::Transaction, us, st.ok());
    spdlog::debug("nft: transaction of {} ops ({} bytes) took {} us", tx.ops().size(), text.size(), us.count());
    spdlog::trace("nft: transaction text:\n{}", text);
    return st;
  }

  Status commit_elements(const ElementBatch& batch) override {
    auto start = Clock::now();
    Status st = elements_.commit(batch);
    observe(OperationTiming::Kind::Elements, since(start), st.ok());
    return st;
  }

  // Reported as element operations: it is the same libnftnl path.
  Status fill_sets(const SetFills& fills) override {
    auto start = Clock::now();
    Status st = elements_.fill(fills);
    auto us = since(start);
    observe(OperationTiming::Kind::Elements, us, st.ok());
    size_t elements = 0;
    for (const auto& f : fills) elements += f.add.size() + f.remove.size();
    spdlog::debug("nft: fill of {} elements in {} sets took {} us", elements, fills.size(), us.count());
    return st;
  }

  Status read(Snapshot& out) override {
    auto start = Clock::now();
    Status st = read_table(out);
    observe(OperationTiming::Kind::Read, since(start), st.ok());
    return st;
  }

 private:
  void observe(OperationTiming::Kind kind, std::chrono::microseconds duration, bool ok) {
    if (observer_) observer_({kind, duration, ok});
  }

  Status read_table(Snapshot& out) {
    out = {};
    std::string listing;
    Status st = run(std::string("list table ") + kFamily + " " + kTable, listing);
    if (!st) {
      if (st.errno_value() == ENOENT) return Status::Ok();  // no table: an empty snapshot
      return st;
    }
    if (auto parsed = parse_table_listing(listing, out); !parsed) return parsed;
    for (const auto& [name, decl] : out.sets) {
      if (auto dumped = elements_.dump(decl, out.elements[name]); !dumped) return dumped;
    }
    return Status::Ok();
  }

  Status run(const std::string& commands, std::string& output) {
    if (!ctx_) return Status::Error("libnftables: nft_ctx_new failed", ENOMEM);
    int rc = nft_run_cmd_from_buffer(ctx_.get(), commands.c_str());
    // Reading a buffer also rewinds it, so the next run starts clean.
    output = nft_ctx_get_output_buffer(ctx_.get());
    std::string errors = trim_trailing_newlines(nft_ctx_get_error_buffer(ctx_.get()));
    if (rc == 0) return Status::Ok();
    if (errors.empty()) errors = "nft command failed";
    return Status::Error("nft: " + errors, errno_from_nft_text(errors));
  }

  NftCtx ctx_;
  NftnlElementIo elements_;
  OperationObserver observer_;
};

}  // namespace

const char* operation_name(OperationTiming::Kind k) {
  switch (k) {
    case OperationTiming::Kind::Transaction: return "transaction";
    case OperationTiming::Kind::Elements: return "elements";
    case OperationTiming::Kind::Read: return "read";
  }
  return "?";
}

std::unique_ptr<Backend> make_kernel_backend(OperationObserver observer) {
  return std::make_unique<KernelBackend>(std::move(observer));
}

}  // namespace wac::nft
