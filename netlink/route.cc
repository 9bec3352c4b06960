#include "netlink/route.h"

#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/cache.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <netlink/route/rule.h>
#include <netlink/socket.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <set>

namespace wac::netlink {

// ---------------------------------------------------------------- values

namespace {

const char* family_text(Family f) { return f == Family::V4 ? "ipv4" : "ipv6"; }

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

}  // namespace

std::string FwmarkRule::str() const {
  return std::string(family_text(family)) + " priority " + std::to_string(priority) + " fwmark " + hex32(mark) + "/" +
         hex32(mask) + " lookup " + std::to_string(table);
}

std::string Route::str() const {
  std::string out = "table " + std::to_string(table) + " " + (dst.prefix == 0 ? "default/" + dst.str() : dst.str());
  if (type == Type::Unreachable) return out + " unreachable";
  for (size_t i = 0; i < nexthops.size(); ++i) {
    const NextHop& nh = nexthops[i];
    out += i ? ", " : " ";
    out += nh.gateway ? "via " + nh.gateway->str() : std::string("on-link");
    out += " (if " + std::to_string(nh.ifindex) + ")";
  }
  return out;
}

std::string Address::str() const { return addr.str() + " on if " + std::to_string(ifindex); }

bool RoutingChanges::empty() const { return size() == 0; }

size_t RoutingChanges::size() const {
  return add_rules.size() + remove_rules.size() + put_routes.size() + remove_routes.size() + add_addresses.size() +
         remove_addresses.size();
}

RoutingChanges diff(const RoutingState& desired, const RoutingState& present) {
  RoutingChanges c;
  std::set<FwmarkRule> want_rules(desired.rules.begin(), desired.rules.end());
  std::set<FwmarkRule> have_rules(present.rules.begin(), present.rules.end());
  for (const auto& r : want_rules)
    if (!have_rules.count(r)) c.add_rules.push_back(r);
  for (const auto& r : have_rules)
    if (!want_rules.count(r)) c.remove_rules.push_back(r);

  using RouteKey = std::pair<uint32_t, Cidr>;
  std::map<RouteKey, const Route*> want_routes, have_routes;
  for (const auto& r : desired.routes) want_routes.emplace(RouteKey{r.table, r.dst}, &r);
  for (const auto& r : present.routes) {
    // The same key twice (another program's doing, or a crash between two
    // writes): keep the first, remove the rest.
    if (!have_routes.emplace(RouteKey{r.table, r.dst}, &r).second) c.remove_routes.push_back(r);
  }
  for (const auto& [key, want] : want_routes) {
    auto have = have_routes.find(key);
    if (have == have_routes.end() || !(*have->second == *want)) c.put_routes.push_back(*want);
  }
  for (const auto& [key, have] : have_routes)
    if (!want_routes.count(key)) c.remove_routes.push_back(*have);

  std::set<Address> want_addrs(desired.addresses.begin(), desired.addresses.end());
  std::set<Address> have_addrs(present.addresses.begin(), present.addresses.end());
  for (const auto& a : want_addrs)
    if (!have_addrs.count(a)) c.add_addresses.push_back(a);
  for (const auto& a : have_addrs)
    if (!want_addrs.count(a)) c.remove_addresses.push_back(a);
  return c;
}

// ---------------------------------------------------------------- host view

const HostLink* HostView::link(const std::string& name) const {
  for (const auto& l : links)
    if (l.name == name) return &l;
  return nullptr;
}

const HostLink* HostView::link(int ifindex) const {
  for (const auto& l : links)
    if (l.ifindex == ifindex) return &l;
  return nullptr;
}

const MainRoute* HostView::lookup(const Cidr& dst, int ifindex) const {
  const MainRoute* best = nullptr;
  for (const auto& r : main_routes) {
    if (r.dst.family() != dst.family() || !r.dst.contains(dst)) continue;
    if (ifindex && r.ifindex != ifindex) continue;
    if (!best || r.dst.prefix > best->dst.prefix || (r.dst.prefix == best->dst.prefix && r.metric < best->metric))
      best = &r;
  }
  return best;
}

const HostLink* HostView::default_link(Family f) const {
  const MainRoute* r = lookup(Cidr{IpAddr{f, {}}, 0});
  return r && r->dst.prefix == 0 ? link(r->ifindex) : nullptr;
}

const HostAddress* HostView::address(const IpAddr& a) const {
  for (const auto& h : addresses)
    if (h.addr == a) return &h;
  return nullptr;
}

// ---------------------------------------------------------------- libnl

namespace {

int af(Family f) { return f == Family::V4 ? AF_INET : AF_INET6; }

std::optional<Family> family_of(int af_value) {
  if (af_value == AF_INET) return Family::V4;
  if (af_value == AF_INET6) return Family::V6;
  return std::nullopt;
}

struct AddrDeleter {
  void operator()(nl_addr* a) const { nl_addr_put(a); }
};
using AddrPtr = std::unique_ptr<nl_addr, AddrDeleter>;

AddrPtr to_nl(const IpAddr& a, uint8_t prefix) {
  AddrPtr out(nl_addr_build(af(a.family), a.bytes.data(), a.size()));
  if (out) nl_addr_set_prefixlen(out.get(), prefix);
  return out;
}

std::optional<IpAddr> from_nl(nl_addr* a, Family f) {
  if (!a) return std::nullopt;
  size_t want = f == Family::V4 ? 4 : 16;
  if (nl_addr_get_len(a) == 0) return IpAddr{f, {}};  // 0.0.0.0/0 comes without bytes
  if (nl_addr_get_len(a) != want) return std::nullopt;
  return IpAddr::from_bytes(f, static_cast<const uint8_t*>(nl_addr_get_binary_addr(a)));
}

Status nl_error(const std::string& what, int err) {
  return Status::Error(what + ": " + nl_geterror(err < 0 ? -err : err));
}

struct CacheDeleter {
  void operator()(nl_cache* c) const { nl_cache_free(c); }
};
using CachePtr = std::unique_ptr<nl_cache, CacheDeleter>;

template <class T, void (*Put)(T*)>
struct ObjectDeleter {
  void operator()(T* o) const { Put(o); }
};
using RulePtr = std::unique_ptr<rtnl_rule, ObjectDeleter<rtnl_rule, rtnl_rule_put>>;
using RoutePtr = std::unique_ptr<rtnl_route, ObjectDeleter<rtnl_route, rtnl_route_put>>;
using AddrObjPtr = std::unique_ptr<rtnl_addr, ObjectDeleter<rtnl_addr, rtnl_addr_put>>;

template <class Fn>
void for_each_object(nl_cache* cache, Fn fn) {
  for (nl_object* o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) fn(o);
}

RulePtr make_rule(const FwmarkRule& r, uint8_t protocol) {
  RulePtr rule(rtnl_rule_alloc());
  if (!rule) return rule;
  rtnl_rule_set_family(rule.get(), af(r.family));
  rtnl_rule_set_prio(rule.get(), r.priority);
  rtnl_rule_set_mark(rule.get(), r.mark);
  rtnl_rule_set_mask(rule.get(), r.mask);
  rtnl_rule_set_table(rule.get(), r.table);
  rtnl_rule_set_action(rule.get(), FR_ACT_TO_TBL);
  rtnl_rule_set_protocol(rule.get(), protocol);
  return rule;
}

RoutePtr make_route(const Route& r, uint8_t protocol) {
  RoutePtr route(rtnl_route_alloc());
  if (!route) return route;
  rtnl_route_set_family(route.get(), uint8_t(af(r.family())));
  rtnl_route_set_table(route.get(), r.table);
  rtnl_route_set_protocol(route.get(), protocol);
  AddrPtr dst = to_nl(r.dst.addr, r.dst.prefix);
  rtnl_route_set_dst(route.get(), dst.get());
  if (r.type == Route::Type::Unreachable) {
    rtnl_route_set_type(route.get(), RTN_UNREACHABLE);
    rtnl_route_set_scope(route.get(), RT_SCOPE_UNIVERSE);
    return route;
  }
  rtnl_route_set_type(route.get(), RTN_UNICAST);
  bool on_link_only = r.nexthops.size() == 1 && !r.nexthops[0].gateway;
  rtnl_route_set_scope(route.get(), on_link_only ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE);
  for (const NextHop& nh : r.nexthops) {
    rtnl_nexthop* n = rtnl_route_nh_alloc();
    if (!n) return nullptr;
    rtnl_route_nh_set_ifindex(n, nh.ifindex);
    if (nh.gateway) {
      AddrPtr gw = to_nl(*nh.gateway, uint8_t(nh.gateway->size() * 8));
      rtnl_route_nh_set_gateway(n, gw.get());
    }
    rtnl_route_add_nexthop(route.get(), n);  // the route owns it now
  }
  return route;
}

AddrObjPtr make_address(const Address& a) {
  AddrObjPtr addr(rtnl_addr_alloc());
  if (!addr) return addr;
  uint8_t prefix = uint8_t(a.addr.size() * 8);
  rtnl_addr_set_ifindex(addr.get(), a.ifindex);
  rtnl_addr_set_family(addr.get(), af(a.addr.family));
  AddrPtr local = to_nl(a.addr, prefix);
  rtnl_addr_set_local(addr.get(), local.get());
  rtnl_addr_set_prefixlen(addr.get(), prefix);
  rtnl_addr_set_scope(addr.get(), RT_SCOPE_UNIVERSE);
  // Usable at once: duplicate address detection would hold an IPv6 egress
  // address back for a second or more.
  if (!a.addr.is_v4()) rtnl_addr_set_flags(addr.get(), IFA_F_NODAD);
  return addr;
}

struct AddressDump {
  std::vector<HostAddress>* out;
};

int on_address(nl_msg* msg, void* arg) {
  auto* dump = static_cast<AddressDump*>(arg);
  nlmsghdr* h = nlmsg_hdr(msg);
  if (h->nlmsg_type != RTM_NEWADDR) return NL_OK;
  auto* ifa = static_cast<ifaddrmsg*>(nlmsg_data(h));
  auto family = family_of(ifa->ifa_family);
  if (!family) return NL_OK;
  nlattr* tb[IFA_MAX + 1] = {};
  if (nlmsg_parse(h, sizeof(*ifa), tb, IFA_MAX, nullptr) < 0) return NL_OK;
  // IPv4: IFA_LOCAL is the address itself (IFA_ADDRESS the peer on
  // point-to-point links); IPv6 only has IFA_ADDRESS.
  nlattr* a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
  size_t len = *family == Family::V4 ? 4 : 16;
  if (!a || size_t(nla_len(a)) != len) return NL_OK;
  HostAddress out;
  out.ifindex = int(ifa->ifa_index);
  out.addr = IpAddr::from_bytes(*family, static_cast<const uint8_t*>(nla_data(a)));
  out.prefix = ifa->ifa_prefixlen;
  uint32_t flags = tb[IFA_FLAGS] ? nla_get_u32(tb[IFA_FLAGS]) : ifa->ifa_flags;
  out.secondary = flags & IFA_F_SECONDARY;
  out.protocol = tb[IFA_PROTO] ? nla_get_u8(tb[IFA_PROTO]) : 0;
  dump->out->push_back(out);
  return NL_OK;
}

// Gone already counts as removed.
bool is_absent(int err) {
  int e = err < 0 ? -err : err;
  return e == NLE_OBJ_NOTFOUND || e == NLE_NOADDR;
}

}  // namespace

RouteSocket::~RouteSocket() {
  if (sock_) nl_socket_free(sock_);
}

Status RouteSocket::open() {
  if (sock_) return Status::Ok();
  sock_ = nl_socket_alloc();
  if (!sock_) return Status::Error("rtnetlink: cannot allocate a libnl socket");
  if (int err = nl_connect(sock_, NETLINK_ROUTE); err < 0) {
    nl_socket_free(sock_);
    sock_ = nullptr;
    return nl_error("rtnetlink: connect", err);
  }
  return Status::Ok();
}

Status RouteSocket::read_rules(std::vector<FwmarkRule>& out) {
  nl_cache* raw = nullptr;
  if (int err = rtnl_rule_alloc_cache(sock_, AF_UNSPEC, &raw); err < 0) return nl_error("reading ip rules", err);
  CachePtr cache(raw);
  for_each_object(raw, [&](nl_object* o) {
    auto* r = reinterpret_cast<rtnl_rule*>(o);
    uint8_t proto = 0;
    auto family = family_of(rtnl_rule_get_family(r));
    if (rtnl_rule_get_protocol(r, &proto) < 0 || proto != protocol_ || !family) return;
    out.push_back({*family, rtnl_rule_get_prio(r), rtnl_rule_get_mark(r), rtnl_rule_get_mask(r),
                   rtnl_rule_get_table(r)});
  });
  return Status::Ok();
}

Status RouteSocket::read_routes(std::vector<Route>* own, std::vector<MainRoute>* main) {
  nl_cache* raw = nullptr;
  if (int err = rtnl_route_alloc_cache(sock_, AF_UNSPEC, 0, &raw); err < 0) return nl_error("reading routes", err);
  CachePtr cache(raw);
  for_each_object(raw, [&](nl_object* o) {
    auto* r = reinterpret_cast<rtnl_route*>(o);
    auto family = family_of(rtnl_route_get_family(r));
    if (!family) return;
    auto dst_addr = from_nl(rtnl_route_get_dst(r), *family);
    if (!dst_addr) return;
    Cidr dst{*dst_addr, uint8_t(rtnl_route_get_dst(r) ? nl_addr_get_prefixlen(rtnl_route_get_dst(r)) : 0)};
    dst = dst.parent(dst.prefix);  // masked, as Cidr promises
    std::vector<NextHop> hops;
    for (int i = 0; i < rtnl_route_get_nnexthops(r); ++i) {
      rtnl_nexthop* nh = rtnl_route_nexthop_n(r, i);
      NextHop hop;
      hop.ifindex = rtnl_route_nh_get_ifindex(nh);
      if (nl_addr* gw = rtnl_route_nh_get_gateway(nh)) hop.gateway = from_nl(gw, *family);
      hops.push_back(hop);
    }
    uint8_t type = rtnl_route_get_type(r);
    if (own && rtnl_route_get_protocol(r) == protocol_ && (type == RTN_UNICAST || type == RTN_UNREACHABLE)) {
      std::sort(hops.begin(), hops.end());
      own->push_back({rtnl_route_get_table(r), dst,
                      type == RTN_UNICAST ? Route::Type::Unicast : Route::Type::Unreachable,
                      type == RTN_UNICAST ? hops : std::vector<NextHop>{}});
    }
    if (main && rtnl_route_get_table(r) == RT_TABLE_MAIN && type == RTN_UNICAST)
      for (const auto& hop : hops) main->push_back({dst, hop.gateway, hop.ifindex, rtnl_route_get_priority(r)});
  });
  return Status::Ok();
}

Status RouteSocket::read_addresses(std::vector<HostAddress>& out) {
  ifaddrmsg req{};
  req.ifa_family = AF_UNSPEC;
  if (int err = nl_send_simple(sock_, RTM_GETADDR, NLM_F_DUMP, &req, sizeof req); err < 0)
    return nl_error("reading addresses", err);
  // libnl 3.7's address objects drop IFA_PROTO, which says whose an address
  // is: parse the dump ourselves.
  nl_cb* cb = nl_cb_clone(nl_socket_get_cb(sock_));
  if (!cb) return Status::Error("reading addresses: out of memory");
  AddressDump dump{&out};
  nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_address, &dump);
  int err = nl_recvmsgs(sock_, cb);
  nl_cb_put(cb);
  if (err < 0) return nl_error("reading addresses", err);
  return Status::Ok();
}

Status RouteSocket::read_links(std::vector<HostLink>& out) {
  nl_cache* raw = nullptr;
  if (int err = rtnl_link_alloc_cache(sock_, AF_UNSPEC, &raw); err < 0) return nl_error("reading links", err);
  CachePtr cache(raw);
  for_each_object(raw, [&](nl_object* o) {
    auto* l = reinterpret_cast<rtnl_link*>(o);
    unsigned flags = rtnl_link_get_flags(l);
    const char* name = rtnl_link_get_name(l);
    out.push_back({rtnl_link_get_ifindex(l), name ? name : "", (flags & IFF_UP) && (flags & IFF_RUNNING)});
  });
  return Status::Ok();
}

Status RouteSocket::read_own(RoutingState& out) {
  if (Status s = open(); !s.ok()) return s;
  RoutingState state;
  if (Status s = read_rules(state.rules); !s.ok()) return s;
  if (Status s = read_routes(&state.routes, nullptr); !s.ok()) return s;
  std::vector<HostAddress> addresses;
  if (Status s = read_addresses(addresses); !s.ok()) return s;
  for (const auto& a : addresses)
    if (a.protocol == protocol_) state.addresses.push_back({a.ifindex, a.addr});
  out = std::move(state);
  return Status::Ok();
}

Status RouteSocket::read_host(HostView& out) {
  if (Status s = open(); !s.ok()) return s;
  HostView view;
  if (Status s = read_links(view.links); !s.ok()) return s;
  if (Status s = read_addresses(view.addresses); !s.ok()) return s;
  if (Status s = read_routes(nullptr, &view.main_routes); !s.ok()) return s;
  out = std::move(view);
  return Status::Ok();
}

Status RouteSocket::add_rule(const FwmarkRule& r) {
  if (Status s = open(); !s.ok()) return s;
  RulePtr rule = make_rule(r, protocol_);
  if (!rule) return Status::Error("adding rule: out of memory");
  if (int err = rtnl_rule_add(sock_, rule.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0)
    return nl_error("adding rule " + r.str(), err);
  return Status::Ok();
}

Status RouteSocket::remove_rule(const FwmarkRule& r) {
  if (Status s = open(); !s.ok()) return s;
  RulePtr rule = make_rule(r, protocol_);
  if (!rule) return Status::Error("removing rule: out of memory");
  if (int err = rtnl_rule_delete(sock_, rule.get(), 0); err < 0 && !is_absent(err))
    return nl_error("removing rule " + r.str(), err);
  return Status::Ok();
}

Status RouteSocket::put_route(const Route& r) {
  if (Status s = open(); !s.ok()) return s;
  RoutePtr route = make_route(r, protocol_);
  if (!route) return Status::Error("writing route: out of memory");
  if (int err = rtnl_route_add(sock_, route.get(), NLM_F_CREATE | NLM_F_REPLACE); err < 0)
    return nl_error("writing route " + r.str(), err);
  return Status::Ok();
}

Status RouteSocket::remove_route(const Route& r) {
  if (Status s = open(); !s.ok()) return s;
  Route key = r;
  key.nexthops.clear();
  // An IPv6 ECMP route is a group of sibling routes, which a delete without
  // next hops may take one at a time: repeat until none is left.
  for (size_t i = 0; i <= r.nexthops.size(); ++i) {
    RoutePtr route = make_route(key, protocol_);
    if (!route) return Status::Error("removing route: out of memory");
    rtnl_route_set_type(route.get(), r.type == Route::Type::Unicast ? RTN_UNICAST : RTN_UNREACHABLE);
    int err = rtnl_route_delete(sock_, route.get(), 0);
    if (err < 0) return is_absent(err) || i > 0 ? Status::Ok() : nl_error("removing route " + r.str(), err);
  }
  return Status::Ok();
}

Status RouteSocket::add_address(const Address& a) {
  if (Status s = open(); !s.ok()) return s;
  AddrObjPtr addr = make_address(a);
  if (!addr) return Status::Error("adding address: out of memory");
  nl_msg* msg = nullptr;
  if (int err = rtnl_addr_build_add_request(addr.get(), NLM_F_CREATE | NLM_F_EXCL, &msg); err < 0)
    return nl_error("adding address " + a.str(), err);
  int err = nla_put_u8(msg, IFA_PROTO, protocol_);
  if (err >= 0) err = nl_send_auto(sock_, msg);
  nlmsg_free(msg);
  if (err >= 0) err = nl_wait_for_ack(sock_);
  if (err < 0) return nl_error("adding address " + a.str(), err);
  return Status::Ok();
}

Status RouteSocket::remove_address(const Address& a) {
  if (Status s = open(); !s.ok()) return s;
  AddrObjPtr addr = make_address(a);
  if (!addr) return Status::Error("removing address: out of memory");
  if (int err = rtnl_addr_delete(sock_, addr.get(), 0); err < 0 && !is_absent(err))
    return nl_error("removing address " + a.str(), err);
  return Status::Ok();
}

}  // namespace wac::netlink
