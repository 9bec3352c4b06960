#include "nft/element_io.h"

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include "nft/nftnl.h"

namespace wac::nft {

namespace {

constexpr size_t kIfnamsiz = 16;
// NFTA_SET_ELEM_LIST_ELEMENTS is one attribute with a 16-bit length; keep
// each message's elements well below 64 KiB.
constexpr size_t kMaxElementsPerMessage = 60000;
// Batch pages: a message never straddles pages, so the overrun area must
// hold the largest message.
constexpr uint32_t kBatchPageSize = 256 * 1024;
constexpr uint32_t kBatchOverrun = 64 * 1024 + 4096;
// What one queued ack costs against the receive buffer (skb truesize).
constexpr int kAckBudget = 1024;
constexpr int kAckWaitMs = 1000;
// One batch of a fill (NftnlElementIo::fill), ~17,000 /32 nets with
// comments.  Measured on kernel 6.18 (50,000 nets, wacd RSS growth / fill
// time): 4 MiB +45 MB / 0.6 s, 1 MiB +29 MB / 0.5 s, 256 KiB +24 MB / 0.65 s.
constexpr size_t kFillBatchBytes = 1 << 20;

size_t attr_size(size_t payload) { return MNL_ALIGN(MNL_ATTR_HDRLEN + payload); }

Status element_error(const SetDecl& set, const Element& e, const std::string& what, int err = EINVAL) {
  return Status::Error("set '" + set.name + "': element '" + e.key + "': " + what, err);
}

int verdict_code(const Verdict& v) {
  switch (v.kind) {
    case Verdict::Kind::Accept: return NF_ACCEPT;
    case Verdict::Kind::Drop: return NF_DROP;
    case Verdict::Kind::Continue: return NFT_CONTINUE;
    case Verdict::Kind::Return: return NFT_RETURN;
    case Verdict::Kind::Jump: return NFT_JUMP;
    case Verdict::Kind::Goto: return NFT_GOTO;
  }
  return NF_ACCEPT;
}

std::optional<Verdict> verdict_from_code(int code, const char* chain) {
  Verdict v;
  switch (code) {
    case NF_ACCEPT: v.kind = Verdict::Kind::Accept; break;
    case NF_DROP: v.kind = Verdict::Kind::Drop; break;
    case NFT_CONTINUE: v.kind = Verdict::Kind::Continue; break;
    case NFT_RETURN: v.kind = Verdict::Kind::Return; break;
    case NFT_JUMP: v.kind = Verdict::Kind::Jump; break;
    case NFT_GOTO: v.kind = Verdict::Kind::Goto; break;
    default: return std::nullopt;
  }
  if (v.kind == Verdict::Kind::Jump || v.kind == Verdict::Kind::Goto) {
    if (!chain) return std::nullopt;
    v.chain = chain;
  }
  return v;
}

std::vector<uint8_t> key_bytes(const IpAddr& a) { return {a.bytes.begin(), a.bytes.begin() + a.size()}; }

std::vector<uint8_t> ifname_bytes(const std::string& name) {
  std::vector<uint8_t> bytes(kIfnamsiz, 0);  // nft pads ifname keys to IFNAMSIZ with zeros
  std::copy(name.begin(), name.end(), bytes.begin());
  return bytes;
}

}  // namespace

size_t KernelElement::encoded_size() const {
  size_t size = attr_size(0);                          // NFTA_LIST_ELEM nest
  size += attr_size(0) + attr_size(key.size());        // NFTA_SET_ELEM_KEY { NFTA_DATA_VALUE }
  if (interval_end) size += attr_size(4);              // NFTA_SET_ELEM_FLAGS
  if (timeout_ms) size += attr_size(8);                // NFTA_SET_ELEM_TIMEOUT
  size_t udata = 0;
  if (!comment.empty()) udata += 2 + comment.size() + 1;
  if (interval_open) udata += 2 + 4;
  if (udata) size += attr_size(udata);                 // NFTA_SET_ELEM_USERDATA
  if (verdict) {
    size += 2 * attr_size(0) + attr_size(4);           // DATA { VERDICT { CODE } }
    if (!verdict->chain.empty()) size += attr_size(verdict->chain.size() + 1);
  }
  return size;
}

Status prepare_element(const SetDecl& set, const Element& e, bool adding, ElementKey& key) {
  if (auto st = parse_element_key(set, e.key, key); !st) {
    return Status::Error("set '" + set.name + "': " + st.message(), EINVAL);
  }
  if (set.verdict_map && adding && e.verdict.empty()) return element_error(set, e, "map element needs a verdict");
  if (!set.verdict_map && !e.verdict.empty()) return element_error(set, e, "verdict given for a set (not a map)");
  if (!e.verdict.empty()) {
    Verdict v;
    if (auto st = parse_verdict(e.verdict, v); !st) return element_error(set, e, st.message());
  }
  if (e.timeout_ms && !set.timeout) return element_error(set, e, "timeout given but the set has no flags timeout");
  if (e.timeout_ms && *e.timeout_ms == 0) return element_error(set, e, "timeout must be > 0");
  return Status::Ok();
}

std::vector<KernelElement> encode_element(const SetDecl& set, const ElementKey& key, const Element& e,
                                          bool with_data) {
  KernelElement start;
  if (with_data) {
    start.timeout_ms = e.timeout_ms;
    start.comment = sanitize_comment(e.comment);
    if (!e.verdict.empty()) {
      Verdict v;
      if (parse_verdict(e.verdict, v)) start.verdict = v;
    }
  }
  if (!key.ip) {
    start.key = ifname_bytes(key.ifname);
    return {start};
  }
  if (!set.interval) {
    start.key = key_bytes(key.ip->first);
    return {start};
  }
  IntervalEncoding enc = encode_interval(*key.ip);
  start.key = key_bytes(enc.start);
  if (!enc.end) {
    start.interval_open = with_data;  // userdata only, so `nft list` shows a prefix
    return {start};
  }
  KernelElement end;
  end.key = key_bytes(*enc.end);
  end.interval_end = true;
  return {start, end};
}

// Named (not anonymous) only so the header can name BatchPlan.
namespace detail {

// One NEWSETELEM / DELSETELEM message of the batch.
struct PlannedMessage {
  const SetDecl* set = nullptr;
  bool add = true;
  std::vector<KernelElement> elements;
  std::vector<const Element*> origin;  // per kernel element: the element it encodes
  size_t payload = 0;
  uint32_t seq = 0;
  std::vector<char> wire;  // the message as sent, to map an error offset back to an element
};

class BatchPlan {
 public:
  Status add_phase(const SetDecl& set, const std::vector<Element>& elements, bool add) {
    for (const auto& e : elements) {
      if (auto st = add_element(set, e, add); !st) return st;
    }
    return Status::Ok();
  }
  Status add_element(const SetDecl& set, const Element& e, bool add) {
    ElementKey key;
    if (auto st = prepare_element(set, e, add, key); !st) return st;
    auto encoded = encode_element(set, key, e, add);
    size_t size = 0;
    for (const auto& k : encoded) size += k.encoded_size();
    PlannedMessage& m = current(set, add, size);
    for (auto& k : encoded) {
      m.elements.push_back(std::move(k));
      m.origin.push_back(&e);
    }
    m.payload += size;
    payload_ += size;
    return Status::Ok();
  }
  std::vector<PlannedMessage>& messages() { return messages_; }
  size_t payload() const { return payload_; }  // bytes of elements planned so far

 private:
  PlannedMessage& current(const SetDecl& set, bool add, size_t size) {
    bool reuse = !messages_.empty() && messages_.back().set == &set && messages_.back().add == add &&
                 messages_.back().payload + size <= kMaxElementsPerMessage;
    if (!reuse) {
      messages_.emplace_back();
      messages_.back().set = &set;
      messages_.back().add = add;
    }
    return messages_.back();
  }
  std::vector<PlannedMessage> messages_;
  size_t payload_ = 0;
};

}  // namespace detail

namespace {

using detail::BatchPlan;
using detail::PlannedMessage;

NftnlSetElem to_nftnl(const KernelElement& k) {
  NftnlSetElem e(nftnl_set_elem_alloc());
  if (!e) return e;
  nftnl_set_elem_set(e.get(), NFTNL_SET_ELEM_KEY, k.key.data(), uint32_t(k.key.size()));
  if (k.interval_end) nftnl_set_elem_set_u32(e.get(), NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
  if (k.timeout_ms) nftnl_set_elem_set_u64(e.get(), NFTNL_SET_ELEM_TIMEOUT, *k.timeout_ms);
  if (!k.comment.empty() || k.interval_open) {
    // The TLVs nft itself writes, so `nft list` shows the comment and the
    // open interval as a prefix.
    NftnlUdataBuf udata(nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN));
    if (!udata) return nullptr;
    if (!k.comment.empty()) nftnl_udata_put_strz(udata.get(), NFTNL_UDATA_SET_ELEM_COMMENT, k.comment.c_str());
    if (k.interval_open) {
      nftnl_udata_put_u32(udata.get(), NFTNL_UDATA_SET_ELEM_FLAGS, NFTNL_SET_ELEM_F_INTERVAL_OPEN);
    }
    nftnl_set_elem_set(e.get(), NFTNL_SET_ELEM_USERDATA, nftnl_udata_buf_data(udata.get()),
                       nftnl_udata_buf_len(udata.get()));
  }
  if (k.verdict) {
    nftnl_set_elem_set_u32(e.get(), NFTNL_SET_ELEM_VERDICT, uint32_t(verdict_code(*k.verdict)));
    if (!k.verdict->chain.empty()) nftnl_set_elem_set_str(e.get(), NFTNL_SET_ELEM_CHAIN, k.verdict->chain.c_str());
  }
  return e;
}

// Builds the message for `m` at `buf` (room for kBatchOverrun bytes).
Status build_into(char* buf, const SetDecl& set_decl, bool add, const std::vector<KernelElement>& elements,
                  uint32_t seq, nlmsghdr*& nlh) {
  NftnlSet set(nftnl_set_alloc());
  if (!set) return Status::Error("out of memory building element batch", ENOMEM);
  nftnl_set_set_str(set.get(), NFTNL_SET_TABLE, kTable);
  nftnl_set_set_str(set.get(), NFTNL_SET_NAME, set_decl.name.c_str());
  for (const auto& k : elements) {
    NftnlSetElem e = to_nftnl(k);
    if (!e) return Status::Error("out of memory building element batch", ENOMEM);
    nftnl_set_elem_add(set.get(), e.release());  // the set owns it now
  }
  uint16_t type = add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM;
  uint16_t flags = NLM_F_ACK | (add ? NLM_F_CREATE : 0);
  nlh = nftnl_nlmsg_build_hdr(buf, type, NFPROTO_INET, flags, seq);
  nftnl_set_elems_nlmsg_build_payload(nlh, set.get());
  return Status::Ok();
}

Status build_message(nftnl_batch* batch, PlannedMessage& m) {
  nlmsghdr* nlh = nullptr;
  auto* buf = static_cast<char*>(nftnl_batch_buffer(batch));
  if (auto st = build_into(buf, *m.set, m.add, m.elements, m.seq, nlh); !st) return st;
  // encoded_size() is an upper bound; if it ever were not, the 16-bit
  // element list length would wrap and the kernel would read garbage.
  if (nlh->nlmsg_len > kMaxElementsPerMessage + 1024) {
    return Status::Error("internal error: element message of " + std::to_string(nlh->nlmsg_len) + " bytes", EMSGSIZE);
  }
  m.wire.assign(reinterpret_cast<char*>(nlh), reinterpret_cast<char*>(nlh) + nlh->nlmsg_len);
  if (nftnl_batch_update(batch) < 0) return Status::Error("out of memory building element batch", ENOMEM);
  return Status::Ok();
}

// Index of the element attribute of `wire` that contains byte `offset`.
std::optional<size_t> element_at_offset(const std::vector<char>& wire, uint32_t offset) {
  const size_t attrs_start = NLMSG_HDRLEN + MNL_ALIGN(sizeof(nfgenmsg));
  if (wire.size() <= attrs_start) return std::nullopt;
  std::optional<size_t> found;
  netlink::for_each_attr(wire.data() + attrs_start, wire.size() - attrs_start, [&](const nlattr* list) {
    if ((list->nla_type & NLA_TYPE_MASK) != NFTA_SET_ELEM_LIST_ELEMENTS) return;
    size_t index = 0;
    netlink::for_each_attr(reinterpret_cast<const char*>(list) + NLA_HDRLEN, list->nla_len - NLA_HDRLEN,
                           [&](const nlattr* elem) {
                             auto start = uint32_t(reinterpret_cast<const char*>(elem) - wire.data());
                             if (offset >= start && offset < start + elem->nla_len) found = index;
                             ++index;
                           });
  });
  return found;
}

struct Ack {
  int error = 0;
  std::string ext_message;
  std::optional<uint32_t> offset;
};

std::string describe_failure(const PlannedMessage& m, const Ack& ack) {
  std::string what = "set '" + m.set->name + "': " + (m.add ? "add" : "delete") + " element";
  std::optional<size_t> index;
  if (ack.offset) index = element_at_offset(m.wire, *ack.offset);
  if (index && *index < m.origin.size()) {
    what += " '" + m.origin[*index]->key + "'";
  } else if (!m.origin.empty()) {
    what += "s (one of " + std::to_string(m.elements.size()) + " starting at '" + m.origin.front()->key + "')";
  }
  what += ": " + std::string(std::strerror(ack.error));
  if (!ack.ext_message.empty()) what += " (" + ack.ext_message + ")";
  return what;
}

}  // namespace

Status build_element_message(const SetDecl& set, bool add, const std::vector<KernelElement>& elements,
                             uint32_t seq, std::vector<char>& out) {
  size_t bound = 1024;
  for (const auto& k : elements) bound += k.encoded_size();
  std::vector<char> buf(std::max<size_t>(bound * 2, kBatchOverrun));
  nlmsghdr* nlh = nullptr;
  if (auto st = build_into(buf.data(), set, add, elements, seq, nlh); !st) return st;
  out.assign(buf.data(), buf.data() + nlh->nlmsg_len);
  return Status::Ok();
}

NftnlElementIo::NftnlElementIo() { open_status_ = ensure_open(); }

Status NftnlElementIo::ensure_open() {
  if (sock_.is_open()) return Status::Ok();
  if (auto st = sock_.open(NETLINK_NETFILTER); !st) return st;
  // Error acks carry only the header, not our whole (large) message, plus
  // the offset of the element the kernel refused.
  sock_.enable(NETLINK_CAP_ACK);
  sock_.enable(NETLINK_EXT_ACK);
  return Status::Ok();
}

namespace {

Status check_set(const SetDecl& set) {
  if (auto st = check_name("set", set.name); !st) return st;
  if (set.interval && set.key == KeyType::Ifname) {
    return Status::Error("set '" + set.name + "': interval sets of ifname are not supported", EINVAL);
  }
  return Status::Ok();
}

}  // namespace

Status NftnlElementIo::commit(const ElementBatch& batch) {
  if (auto st = ensure_open(); !st) return st;
  BatchPlan plan;
  for (const auto& change : batch) {
    if (auto st = check_set(change.set); !st) return st;
    if (auto st = plan.add_phase(change.set, change.remove, false); !st) return st;
    if (auto st = plan.add_phase(change.set, change.add, true); !st) return st;
    if (auto st = plan.add_phase(change.set, change.refresh, true); !st) return st;
    if (auto st = plan.add_phase(change.set, change.refresh, false); !st) return st;
    if (auto st = plan.add_phase(change.set, change.refresh, true); !st) return st;
  }
  return send_batch(plan);
}

// A fill is a series of batches of about kFillBatchBytes each, every one
// planned, built, sent and acknowledged before the next is planned: memory
// stays bounded by one batch whatever the number of elements (10^6 /32 nets
// are ~64 MB on the wire, several times that as plan and libnftnl objects).
Status NftnlElementIo::fill(const SetFills& fills) {
  if (auto st = ensure_open(); !st) return st;
  BatchPlan plan;
  auto send_when_full = [&]() -> Status {
    if (plan.payload() < kFillBatchBytes) return Status::Ok();
    Status st = send_batch(plan);
    plan = BatchPlan();
    return st;
  };
  for (const auto& fill : fills) {
    if (auto st = check_set(fill.set); !st) return st;
    for (const auto& e : fill.remove) {
      if (auto st = plan.add_element(fill.set, e, false); !st) return st;
      if (auto st = send_when_full(); !st) return st;
    }
    for (const Element* e : fill.add) {
      if (auto st = plan.add_element(fill.set, *e, true); !st) return st;
      if (auto st = send_when_full(); !st) return st;
    }
  }
  return send_batch(plan);
}

Status NftnlElementIo::send_batch(detail::BatchPlan& plan) {
  auto& messages = plan.messages();
  if (messages.empty()) return Status::Ok();

  NftnlBatch nb(nftnl_batch_alloc(kBatchPageSize, kBatchOverrun));
  if (!nb) return Status::Error("out of memory building element batch", ENOMEM);
  const uint32_t begin_seq = sock_.next_seq();
  nftnl_batch_begin(static_cast<char*>(nftnl_batch_buffer(nb.get())), begin_seq);
  nftnl_batch_update(nb.get());
  std::map<uint32_t, PlannedMessage*> by_seq;
  for (auto& m : messages) {
    m.seq = sock_.next_seq();
    by_seq[m.seq] = &m;
    if (auto st = build_message(nb.get(), m); !st) return st;
  }
  const uint32_t end_seq = sock_.next_seq();
  nftnl_batch_end(static_cast<char*>(nftnl_batch_buffer(nb.get())), end_seq);
  nftnl_batch_update(nb.get());

  std::vector<iovec> iov(size_t(nftnl_batch_iovec_len(nb.get())));
  nftnl_batch_iovec(nb.get(), iov.data(), uint32_t(iov.size()));
  size_t total = 0;
  for (const auto& v : iov) total += v.iov_len;
  // The whole batch is one datagram and every message is acked while
  // sendmsg runs: size both buffers for that.
  sock_.set_send_buffer(int(total + 64 * 1024), /*grow_only=*/true);
  sock_.set_receive_buffer(int(messages.size() + 16) * kAckBudget, /*grow_only=*/true);

  // Leftovers from an earlier, interrupted commit must not be read as acks.
  // The ack buffer is kept per thread: zeroing 64 KiB per commit was a
  // visible share of the DNS tap's time at one batch per receive burst.
  static thread_local std::vector<char> buf(64 * 1024);
  for (;;) {
    auto r = sock_.receive(buf.data(), buf.size(), 0);
    if (r.err != ENOBUFS && r.len <= 0) break;
  }

  ++stats_.batches;
  stats_.messages += messages.size();
  if (auto st = sock_.send_iov(iov.data(), iov.size()); !st) {
    ++stats_.failed_batches;
    return Status::Error("element batch: " + st.message(), st.errno_value());
  }

  std::map<uint32_t, Ack> acks;
  std::optional<Ack> batch_level_error;
  bool lost_acks = false;
  // The kernel processes the batch inside sendmsg, so every ack is queued
  // by now; the timeout only guards against a kernel that never answers.
  while (acks.size() < messages.size() && !batch_level_error) {
    auto r = sock_.receive(buf.data(), buf.size(), kAckWaitMs);
    if (r.err == ENOBUFS) {
      lost_acks = true;
      continue;
    }
    if (r.err || r.len <= 0) break;
    int remaining = int(r.len);
    for (auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data()); mnl_nlmsg_ok(nlh, remaining);
         nlh = mnl_nlmsg_next(nlh, &remaining)) {
      if (nlh->nlmsg_type != NLMSG_ERROR) continue;
      auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
      Ack ack{-err->error, netlink::extack_message(nlh), std::nullopt};
      uint32_t off;
      if (netlink::extack_offset(nlh, off)) ack.offset = off;
      if (by_seq.count(nlh->nlmsg_seq)) {
        acks[nlh->nlmsg_seq] = ack;
      } else if (ack.error && nlh->nlmsg_seq >= begin_seq && nlh->nlmsg_seq <= end_seq) {
        batch_level_error = ack;  // the batch header or trailer itself was refused
      }
      // Anything else answers an earlier, abandoned commit: ignored.
    }
  }

  for (const auto& [seq, ack] : acks) {
    if (!ack.error) continue;
    ++stats_.failed_batches;
    size_t failures = 0;
    for (const auto& [s, a] : acks) failures += a.error != 0;
    std::string text = "element batch failed, nothing applied: " + describe_failure(*by_seq[seq], ack);
    if (failures > 1) text += " (and " + std::to_string(failures - 1) + " more failed messages)";
    return Status::Error(text, ack.error);
  }
  if (batch_level_error) {
    ++stats_.failed_batches;
    return Status::Error("element batch refused: " + std::string(std::strerror(batch_level_error->error)),
                         batch_level_error->error);
  }
  if (acks.size() < messages.size()) {
    ++stats_.failed_batches;
    return Status::Error("element batch: " + std::to_string(messages.size() - acks.size()) + " of " +
                             std::to_string(messages.size()) + " acks missing" +
                             (lost_acks ? " (receive buffer overrun)" : "") + "; outcome unknown",
                         lost_acks ? ENOBUFS : ETIMEDOUT);
  }
  return Status::Ok();
}

namespace {

struct DumpedElement {
  std::vector<uint8_t> key;
  bool interval_end = false;
  Element element;  // everything but the key
};

std::string udata_comment(nftnl_set_elem* e) {
  uint32_t len = 0;
  auto* data = static_cast<const char*>(nftnl_set_elem_get(e, NFTNL_SET_ELEM_USERDATA, &len));
  if (!data || !nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_USERDATA)) return {};
  std::string comment;
  // TLVs: type (1 byte), length (1 byte), value.
  for (uint32_t pos = 0; pos + 2 <= len;) {
    uint8_t type = uint8_t(data[pos]);
    uint8_t vlen = uint8_t(data[pos + 1]);
    if (pos + 2 + vlen > len) break;
    if (type == NFTNL_UDATA_SET_ELEM_COMMENT && vlen > 0 && data[pos + 2 + vlen - 1] == '\0') {
      comment.assign(data + pos + 2, vlen - 1);
    }
    pos += 2 + vlen;
  }
  return comment;
}

DumpedElement from_nftnl(nftnl_set_elem* e) {
  DumpedElement d;
  uint32_t len = 0;
  auto* key = static_cast<const uint8_t*>(nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len));
  if (key) d.key.assign(key, key + len);
  if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS)) {
    d.interval_end = nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS) & NFT_SET_ELEM_INTERVAL_END;
  }
  if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_EXPIRATION)) {
    d.element.timeout_ms = uint32_t(std::min<uint64_t>(nftnl_set_elem_get_u64(e, NFTNL_SET_ELEM_EXPIRATION), UINT32_MAX));
  } else if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_TIMEOUT)) {
    d.element.timeout_ms = uint32_t(std::min<uint64_t>(nftnl_set_elem_get_u64(e, NFTNL_SET_ELEM_TIMEOUT), UINT32_MAX));
  }
  d.element.comment = udata_comment(e);
  if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_VERDICT)) {
    const char* chain = nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_CHAIN) ? nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN) : nullptr;
    if (auto v = verdict_from_code(int(nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_VERDICT)), chain)) {
      d.element.verdict = v->str();
    }
  }
  return d;
}

Status decode_dump(const SetDecl& set, std::vector<DumpedElement>& dumped, std::vector<Element>& out) {
  // Key order (the kernel dumps hash sets in hash order), so snapshots
  // compare equal whatever the set backend.
  std::sort(dumped.begin(), dumped.end(),
            [](const DumpedElement& a, const DumpedElement& b) { return a.key < b.key; });
  const size_t addr_len = set.key == KeyType::Ipv6Addr ? 16 : 4;
  const Family family = set.key == KeyType::Ipv6Addr ? Family::V6 : Family::V4;
  if (set.key == KeyType::Ifname) {
    for (auto& d : dumped) {
      std::string name(d.key.begin(), std::find(d.key.begin(), d.key.end(), uint8_t(0)));
      d.element.key = name;
      out.push_back(std::move(d.element));
    }
    return Status::Ok();
  }
  for (const auto& d : dumped) {
    if (d.key.size() != addr_len) {
      return Status::Error("set '" + set.name + "': kernel returned a " + std::to_string(d.key.size()) +
                               "-byte key for type " + key_type_name(set.key), EPROTO);
    }
  }
  if (!set.interval) {
    for (auto& d : dumped) {
      d.element.key = IpAddr::from_bytes(family, d.key.data()).str();
      out.push_back(std::move(d.element));
    }
    return Status::Ok();
  }
  std::vector<IntervalPoint> points;
  for (size_t i = 0; i < dumped.size(); ++i) {
    points.push_back({IpAddr::from_bytes(family, dumped[i].key.data()), dumped[i].interval_end, i});
  }
  for (const auto& iv : decode_intervals(std::move(points))) {
    Element e = std::move(dumped[iv.source].element);
    e.key = interval_text(iv.interval);
    out.push_back(std::move(e));
  }
  return Status::Ok();
}

}  // namespace

Status NftnlElementIo::dump(const SetDecl& set, std::vector<Element>& out) {
  out.clear();
  if (auto st = ensure_open(); !st) return st;
  NftnlSet request(nftnl_set_alloc());
  NftnlSet reply(nftnl_set_alloc());
  if (!request || !reply) return Status::Error("out of memory", ENOMEM);
  nftnl_set_set_str(request.get(), NFTNL_SET_TABLE, kTable);
  nftnl_set_set_str(request.get(), NFTNL_SET_NAME, set.name.c_str());
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(buf.data(), NFT_MSG_GETSETELEM, NFPROTO_INET, NLM_F_DUMP, sock_.next_seq());
  nftnl_set_elems_nlmsg_build_payload(nlh, request.get());
  auto st = sock_.request(nlh, [&](const nlmsghdr* msg) {
    return nftnl_set_elems_nlmsg_parse(msg, reply.get()) < 0 ? MNL_CB_ERROR : MNL_CB_OK;
  });
  if (!st) return Status::Error("dump elements of set '" + set.name + "': " + st.message(), st.errno_value());

  std::vector<DumpedElement> dumped;
  nftnl_set_elem_foreach(
      reply.get(),
      [](nftnl_set_elem* e, void* data) {
        static_cast<std::vector<DumpedElement>*>(data)->push_back(from_nftnl(e));
        return 0;
      },
      &dumped);
  return decode_dump(set, dumped, out);
}

std::unique_ptr<ElementWriter> make_element_writer() { return std::make_unique<NftnlElementIo>(); }

}  // namespace wac::nft
