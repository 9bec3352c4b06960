// The nftables objects wac owns, as plain data, and the transaction that
// changes them.  Everything lives in one table: `inet wac`.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace wac::nft {

inline constexpr const char* kFamily = "inet";
inline constexpr const char* kTable = "wac";

enum class KeyType { Ipv4Addr, Ipv6Addr, Ifname };
const char* key_type_name(KeyType k);  // "ipv4_addr", "ipv6_addr", "ifname"

struct SetDecl {
  std::string name;
  KeyType key = KeyType::Ipv4Addr;
  bool verdict_map = false;  // `type KEY : verdict` map instead of a set
  bool interval = false;     // `flags interval` (CIDR elements)
  bool timeout = false;      // `flags timeout` (elements expire in the kernel)
  std::string comment;       // shown by `nft list`; the selector / domain / purpose
  bool operator==(const SetDecl&) const = default;
};

struct Element {
  std::string key;      // canonical text: "10.1.2.3", "10.0.0.0/8", "2001:db8::/32", "cali12ab"
  std::string verdict;  // maps only: "jump pod-default/web-7f9c-egress"
  std::string comment;  // optional, shown by `nft list`
  std::optional<uint32_t> timeout_ms;  // sets with flags timeout
  bool operator==(const Element&) const = default;
};

struct BaseHook {
  std::string type = "filter";  // filter | nat
  std::string hook;             // prerouting | input | forward | output | postrouting
  int priority = 0;
  std::string policy = "accept";
  bool operator==(const BaseHook&) const = default;
};

struct Chain {
  std::string name;
  std::string comment;
  std::optional<BaseHook> hook;
  std::vector<std::string> rules;  // nft rule text, e.g. "ip saddr @sel4-1a2b3c4d counter accept"
  bool operator==(const Chain&) const = default;
};

// One atomic change to the table.  Operations apply in order; if any fails,
// none does (libnftables sends them as one netlink batch).
struct Op {
  enum class Type {
    AddTable,       // idempotent
    AddChain,       // idempotent; declares hook/comment; does not touch rules
    FlushChain,
    DeleteChain,
    AddRule,        // chain, rule
    AddSet,         // idempotent for an identical declaration
    FlushSet,
    DeleteSet,
    AddElement,     // set, element (no-op if present)
    DeleteElement,  // set, element (fails if absent)
    DeleteTable,
  };
  Type type;
  std::string name;  // chain or set name
  std::optional<Chain> chain{};      // AddChain
  std::optional<SetDecl> set{};      // AddSet (and FlushSet when the declaration is known)
  std::string rule{};                // AddRule
  std::optional<Element> element{};  // Add/DeleteElement
};

// nft 1.0.6 quirk: elements added to an *interval* map declared in the same
// transaction are sent together with the map's declaration, so the chains
// they jump to must be added before the map (ENOENT otherwise).
class Transaction {
 public:
  void add_table() { ops_.push_back({Op::Type::AddTable, kTable}); }
  void delete_table() { ops_.push_back({Op::Type::DeleteTable, kTable}); }
  void add_chain(const Chain& c);          // declaration only
  void replace_chain(const Chain& c);      // add + flush + every rule
  void delete_chain(const std::string& name);
  void add_set(const SetDecl& s);
  void flush_set(const std::string& name);
  // Same, knowing the declaration: nft needs `flush map` for maps, and the
  // name-only form renders `flush set`.
  void flush_set(const SetDecl& s);
  void delete_set(const std::string& name);
  void add_element(const std::string& set, const Element& e);
  void delete_element(const std::string& set, const Element& e);
  // add + delete + add: leaves a fresh element (new timeout) whether or not
  // it was present, in one batch.
  void refresh_element(const std::string& set, const Element& e);

  bool empty() const { return ops_.empty(); }
  const std::vector<Op>& ops() const { return ops_; }
  // nft script text (`nft -f` syntax), one command per line.
  std::string render() const;

 private:
  std::vector<Op> ops_;
};

// Element changes to sets that already exist: the fast path.  Per set the
// kernel applies `remove`, then `add`, then `refresh`, so a map element's
// verdict is changed by listing it in both remove (old) and add (new).
struct SetChange {
  SetDecl set;
  std::vector<Element> add;
  std::vector<Element> remove;
  std::vector<Element> refresh;  // re-added with a new timeout
};
using ElementBatch = std::vector<SetChange>;

// Elements for a set that no rule uses (yet): a sync declares its new sets
// empty in one transaction, loads them with fills, and only then commits the
// rules that use them.  No packet can see such a set half loaded, so fills
// need not be atomic, which lets them go through bounded libnftnl batches
// instead of the libnftables text transaction.  Per set: remove, then add.
struct SetFill {
  SetDecl set;
  // Borrowed from the caller (the desired state): no copy of a large set.
  std::vector<const Element*> add;
  // Stale elements of a set a failed sync left behind, read from the kernel.
  std::vector<Element> remove;
};
using SetFills = std::vector<SetFill>;

// What the kernel holds in `inet wac`, as read back at start or for checks.
struct Snapshot {
  bool table_exists = false;
  std::map<std::string, Chain> chains;     // rules as nft prints them (may differ textually from what we wrote)
  std::map<std::string, SetDecl> sets;
  std::map<std::string, std::vector<Element>> elements;  // per set; timeout_ms = time remaining
};

}  // namespace wac::nft
