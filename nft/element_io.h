// Set elements through libnftnl + libmnl: the fast path under the Backend.
//
// One commit is one nfnetlink batch (BATCH_BEGIN ... BATCH_END, sent with a
// single sendmsg), so the kernel applies all of it or none of it.  Every
// message in it asks for an ack (NLM_F_ACK) and has its own sequence
// number; with NETLINK_EXT_ACK the kernel also reports the offset of the
// element it refused, which is mapped back to the element's key so the
// error names the set and the element.
#pragma once
#include <optional>
#include <vector>

#include "netlink/mnl_socket.h"
#include "nft/backend.h"
#include "nft/element_key.h"
#include "nft/syntax.h"

namespace wac::nft {

namespace detail {
class BatchPlan;  // element_io.cc
}

// One element as it goes on the wire (what nft sends for the same text).
struct KernelElement {
  std::vector<uint8_t> key;    // 4 / 16 address bytes, or IFNAMSIZ zero-padded name
  bool interval_end = false;   // NFT_SET_ELEM_INTERVAL_END
  bool interval_open = false;  // start of an interval that runs to the top address
  std::optional<uint64_t> timeout_ms;
  std::string comment;  // sanitized
  std::optional<Verdict> verdict;
  // Upper bound of its size inside NFTA_SET_ELEM_LIST_ELEMENTS.
  size_t encoded_size() const;
};

// Checks one element against its set (key type, verdict only in maps and
// required when adding to one, timeout only with flags timeout) and parses
// its key.  Errors name the set and the element.
Status prepare_element(const SetDecl& set, const Element& e, bool adding, ElementKey& key);

// The kernel elements for one element: an interval becomes a start and an
// end element at last + 1, or an "open" start alone when last is the top
// address.  `with_data` = false for deletes (key and flags only).
std::vector<KernelElement> encode_element(const SetDecl& set, const ElementKey& key, const Element& e,
                                          bool with_data);

// Builds one NEWSETELEM (add) / DELSETELEM message for `elements` of `set`
// with libnftnl, exactly as commit() sends it (exposed for tests).
Status build_element_message(const SetDecl& set, bool add, const std::vector<KernelElement>& elements,
                             uint32_t seq, std::vector<char>& out);

class NftnlElementIo : public ElementWriter {
 public:
  // Opens the socket in the calling thread's network namespace; if that
  // fails, commit()/dump() retry and report the error.
  NftnlElementIo();

  // Per SetChange: remove, then add, then refresh (add + delete + add, so an
  // element that exists, or has expired but is still in the kernel, or is
  // absent all end up fresh).  Adds use NLM_F_CREATE without NLM_F_EXCL:
  // re-adding an identical element is a no-op.
  Status commit(const ElementBatch& batch) override;

  // Loads sets no rule uses (see SetFill): not one batch but a series of
  // bounded ones, each atomic; a failure stops the series with the earlier
  // batches applied.  Errors name the set and the element as commit's do.
  Status fill(const SetFills& fills);

  // The elements of one set as the kernel holds them: interval sets come
  // back as the CIDR / address / range text they were written as;
  // timeout_ms is the time remaining.
  Status dump(const SetDecl& set, std::vector<Element>& out);

  // Counters for tests and metrics.
  struct Stats {
    uint64_t batches = 0;
    uint64_t messages = 0;
    uint64_t failed_batches = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  Status ensure_open();
  // Builds, sends and acknowledges one planned batch.
  Status send_batch(detail::BatchPlan& plan);

  netlink::MnlSocket sock_;
  Status open_status_;
  Stats stats_;
};

}  // namespace wac::nft
