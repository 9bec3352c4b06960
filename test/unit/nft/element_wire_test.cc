// The netlink messages the element writer builds, decoded with libnftnl:
// byte for byte what nft 1.0.6 sends for the same elements (keys, interval
// end flags, userdata TLVs as seen with `nft --debug=netlink`).
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <catch2/catch.hpp>
#include <memory>

#include "nft/element_io.h"

using namespace wac::nft;

namespace {

struct Decoded {
  std::string key_hex;
  uint32_t flags = 0;
  std::optional<uint64_t> timeout;
  std::string udata;
  std::optional<uint32_t> verdict;
  std::string chain;
};

std::string hex(const void* data, uint32_t len) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (uint32_t i = 0; i < len; ++i) {
    auto b = static_cast<const uint8_t*>(data)[i];
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

struct Message {
  uint16_t type = 0;
  uint16_t flags = 0;
  std::string set_name;
  std::vector<Decoded> elements;
};

// libnftnl numbers the element attributes it builds 1, 2, 3, ... (the
// kernel ignores the type) but its parser only takes NFTA_LIST_ELEM, which
// is what kernel dumps use: renumber before parsing.
void renumber_elements(std::vector<char>& wire) {
  const size_t start = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg));
  wac::netlink::for_each_attr(wire.data() + start, wire.size() - start, [&](const nlattr* list) {
    if ((list->nla_type & NLA_TYPE_MASK) != NFTA_SET_ELEM_LIST_ELEMENTS) return;
    wac::netlink::for_each_attr(reinterpret_cast<const char*>(list) + NLA_HDRLEN, list->nla_len - NLA_HDRLEN,
                                [](const nlattr* elem) {
                                  const_cast<nlattr*>(elem)->nla_type =
                                      uint16_t((elem->nla_type & ~NLA_TYPE_MASK) | NFTA_LIST_ELEM);
                                });
  });
}

Message decode(std::vector<char> wire) {
  renumber_elements(wire);
  auto* nlh = reinterpret_cast<const nlmsghdr*>(wire.data());
  Message m;
  m.type = nlh->nlmsg_type;
  m.flags = nlh->nlmsg_flags;
  std::unique_ptr<nftnl_set, void (*)(const nftnl_set*)> set(nftnl_set_alloc(), nftnl_set_free);
  REQUIRE(nftnl_set_elems_nlmsg_parse(nlh, set.get()) >= 0);
  m.set_name = nftnl_set_get_str(set.get(), NFTNL_SET_NAME);
  nftnl_set_elem_foreach(
      set.get(),
      [](nftnl_set_elem* e, void* data) {
        Decoded d;
        uint32_t len = 0;
        auto* key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);
        d.key_hex = hex(key, len);
        if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS)) d.flags = nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS);
        if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_TIMEOUT)) d.timeout = nftnl_set_elem_get_u64(e, NFTNL_SET_ELEM_TIMEOUT);
        if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_USERDATA)) {
          auto* u = static_cast<const char*>(nftnl_set_elem_get(e, NFTNL_SET_ELEM_USERDATA, &len));
          d.udata.assign(u, len);
        }
        if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_VERDICT)) d.verdict = nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_VERDICT);
        if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_CHAIN)) d.chain = nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN);
        static_cast<std::vector<Decoded>*>(data)->push_back(d);
        return 0;
      },
      &m.elements);
  return m;
}

SetDecl interval_set() {
  SetDecl s;
  s.name = "sel-1";
  s.interval = true;
  s.timeout = true;
  return s;
}

Message build(const SetDecl& set, bool add, const std::vector<Element>& elements) {
  std::vector<KernelElement> kernel;
  for (const auto& e : elements) {
    wac::nft::ElementKey key;
    auto st = prepare_element(set, e, add, key);
    INFO(st.message());
    REQUIRE(st.ok());
    for (auto& k : encode_element(set, key, e, add)) kernel.push_back(std::move(k));
  }
  std::vector<char> wire;
  REQUIRE(build_element_message(set, add, kernel, 42, wire).ok());
  return decode(wire);
}

Element elem(const std::string& key, const std::string& comment = "", std::optional<uint32_t> timeout = {}) {
  Element e;
  e.key = key;
  e.comment = comment;
  e.timeout_ms = timeout;
  return e;
}

}  // namespace

TEST_CASE("an interval element is a start and an end-flagged element at last + 1") {
  Message m = build(interval_set(), true, {elem("10.0.0.0/8", "hi", 30000)});
  CHECK(m.type == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM));
  CHECK(m.flags == (NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK));
  CHECK(m.set_name == "sel-1");
  REQUIRE(m.elements.size() == 2);
  const Decoded& start = m.elements[0];
  CHECK(start.key_hex == "0a000000");
  CHECK(start.flags == 0);
  CHECK(start.timeout == 30000u);
  CHECK(start.udata == std::string("\x00\x03hi\x00", 5));  // NFTNL_UDATA_SET_ELEM_COMMENT, strz
  const Decoded& end = m.elements[1];
  CHECK(end.key_hex == "0b000000");
  CHECK(end.flags == NFT_SET_ELEM_INTERVAL_END);
  CHECK_FALSE(end.timeout);
  CHECK(end.udata.empty());
}

TEST_CASE("an interval reaching the top address has no end element and is marked open") {
  for (const char* key : {"255.255.255.255", "0.0.0.0/0", "240.0.0.0/4"}) {
    Message m = build(interval_set(), true, {elem(key)});
    INFO(key);
    REQUIRE(m.elements.size() == 1);
    CHECK(m.elements[0].flags == 0);
    // NFTNL_UDATA_SET_ELEM_FLAGS = NFTNL_SET_ELEM_F_INTERVAL_OPEN, as nft writes it.
    CHECK(m.elements[0].udata == std::string("\x01\x04\x01\x00\x00\x00", 6));
  }
  SetDecl v6 = interval_set();
  v6.key = KeyType::Ipv6Addr;
  Message m = build(v6, true, {elem("::/0", "all")});
  REQUIRE(m.elements.size() == 1);
  CHECK(m.elements[0].key_hex == std::string(32, '0'));
  CHECK(m.elements[0].udata == std::string("\x00\x04""all\x00\x01\x04\x01\x00\x00\x00", 12));
}

TEST_CASE("a host address in an interval set is a one-address interval") {
  Message m = build(interval_set(), true, {elem("192.0.2.7")});
  REQUIRE(m.elements.size() == 2);
  CHECK(m.elements[0].key_hex == "c0000207");
  CHECK(m.elements[1].key_hex == "c0000208");
  CHECK(m.elements[1].flags == NFT_SET_ELEM_INTERVAL_END);
}

TEST_CASE("deletes carry keys and interval flags only") {
  Message m = build(interval_set(), false, {elem("10.0.0.0/8", "ignored", 30000), elem("0.0.0.0/0")});
  CHECK(m.type == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_DELSETELEM));
  CHECK(m.flags == (NLM_F_REQUEST | NLM_F_ACK));
  REQUIRE(m.elements.size() == 3);
  for (const auto& e : m.elements) {
    CHECK_FALSE(e.timeout);
    CHECK(e.udata.empty());
  }
  CHECK(m.elements[1].flags == NFT_SET_ELEM_INTERVAL_END);
}

TEST_CASE("verdict map elements: IFNAMSIZ zero-padded ifname key, jump + chain") {
  SetDecl map;
  map.name = "from-pod";
  map.key = KeyType::Ifname;
  map.verdict_map = true;
  Element e = elem("cali12ab");
  e.verdict = "jump pod-default/web-7f9c-egress";
  Element d = elem("cali99");
  d.verdict = "drop";
  Message m = build(map, true, {e, d});
  REQUIRE(m.elements.size() == 2);
  CHECK(m.elements[0].key_hex == "63616c69313261620000000000000000");
  CHECK(m.elements[0].verdict == uint32_t(NFT_JUMP));
  CHECK(m.elements[0].chain == "pod-default/web-7f9c-egress");
  CHECK(m.elements[1].verdict == uint32_t(NF_DROP));
  CHECK(m.elements[1].chain.empty());
}

TEST_CASE("prepare_element refuses what the kernel would refuse, naming set and element") {
  SetDecl plain;
  plain.name = "plain";
  wac::nft::ElementKey key;
  CHECK_THAT(prepare_element(plain, elem("192.0.2.1", "", 1000), true, key).message(),
             Catch::Contains("set 'plain'") && Catch::Contains("'192.0.2.1'") && Catch::Contains("no flags timeout"));
  Element v = elem("192.0.2.1");
  v.verdict = "accept";
  CHECK_THAT(prepare_element(plain, v, true, key).message(), Catch::Contains("verdict given for a set"));
  SetDecl map;
  map.name = "m";
  map.key = KeyType::Ifname;
  map.verdict_map = true;
  CHECK_THAT(prepare_element(map, elem("eth0"), true, key).message(), Catch::Contains("needs a verdict"));
  CHECK(prepare_element(map, elem("eth0"), false, key).ok());  // deleting needs the key only
}

TEST_CASE("encoded_size() bounds the real size even for the largest element") {
  SetDecl v6 = interval_set();
  v6.key = KeyType::Ipv6Addr;
  std::vector<KernelElement> worst(2);
  worst[0].key.assign(16, 0xab);
  worst[0].timeout_ms = 1;
  worst[0].comment = std::string(128, 'c');
  worst[0].interval_open = true;
  worst[1].key.assign(16, 0xcd);
  worst[1].interval_end = true;
  worst[1].timeout_ms = 1;
  SetDecl map;
  map.name = "m";
  map.key = KeyType::Ifname;
  map.verdict_map = true;
  KernelElement jump;
  jump.key.assign(16, 'x');
  jump.comment = std::string(128, 'c');
  jump.verdict = Verdict{Verdict::Kind::Jump, std::string(255, 'j')};

  for (auto [set, elements] : {std::pair{v6, worst}, std::pair{map, std::vector<KernelElement>{jump}}}) {
    std::vector<char> empty_wire, wire;
    REQUIRE(build_element_message(set, true, {}, 1, empty_wire).ok());
    REQUIRE(build_element_message(set, true, elements, 1, wire).ok());
    size_t bound = 0;
    for (const auto& k : elements) bound += k.encoded_size();
    // The element list attribute header appears only once there are elements.
    CHECK(wire.size() - empty_wire.size() <= bound + 4);
  }
}
