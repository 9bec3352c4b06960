#include "agent/egress_probe.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <array>
#include <boost/asio/ip/icmp.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdio>
#include <optional>

namespace wac::agent::egress {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

namespace {

asio::ip::address to_asio(const IpAddr& a) { return asio::ip::make_address(a.str()); }

std::string elapsed_text(Clock::time_point start) {
  double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f ms", ms);
  return buf;
}

uint16_t checksum(const uint8_t* data, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += uint32_t(data[i] << 8 | data[i + 1]);
  if (len % 2) sum += uint32_t(data[len - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

}  // namespace

// ---------------------------------------------------------------- ICMP echo

// One raw socket per family, shared by every target; replies are matched
// to requests by identifier, sequence number and source address.
class Prober::Icmp {
 public:
  // ok: reply; false: no reply; nullopt: this node cannot probe at all.
  using Done = std::function<void(std::optional<bool> ok, const std::string& detail)>;

  explicit Icmp(asio::io_context& io) : io_(io), ident_(uint16_t(::getpid() & 0xffff)) {}

  void ping(const IpAddr& to, Millis timeout, Done done) {
    asio::ip::icmp::socket* sock = socket(to.family);
    if (!sock) {
      // Not the gateway's fault: never take it out of service for this.
      done(std::nullopt, "cannot probe: no raw ICMP socket (" + open_error_ + "; wacd needs CAP_NET_RAW)");
      return;
    }
    uint16_t seq = ++seq_;
    Pending& p = pending_[seq];
    p.to = to;
    p.done = std::move(done);
    p.start = Clock::now();
    p.timer = std::make_unique<asio::steady_timer>(io_, timeout);
    p.timer->async_wait([this, seq](const boost::system::error_code& ec) {
      if (!ec) complete(seq, false, "no echo reply (timeout)");
    });
    auto packet = std::make_shared<std::array<uint8_t, 16>>(request(to.family, seq));
    sock->async_send_to(asio::buffer(*packet), asio::ip::icmp::endpoint(to_asio(to), 0),
                        [this, seq, packet](const boost::system::error_code& ec, size_t) {
                          if (ec) complete(seq, false, "send: " + ec.message());
                        });
  }

 private:
  struct Pending {
    IpAddr to;
    Done done;
    Clock::time_point start;
    std::unique_ptr<asio::steady_timer> timer;
  };
  struct Socket {
    std::optional<asio::ip::icmp::socket> sock;
    std::array<uint8_t, 2048> buf{};
    asio::ip::icmp::endpoint from;
  };

  std::array<uint8_t, 16> request(Family f, uint16_t seq) const {
    std::array<uint8_t, 16> p{};
    p[0] = f == Family::V4 ? 8 : 128;  // echo request
    p[4] = uint8_t(ident_ >> 8);
    p[5] = uint8_t(ident_);
    p[6] = uint8_t(seq >> 8);
    p[7] = uint8_t(seq);
    std::copy_n("wac-egw", 7, p.begin() + 8);
    if (f == Family::V4) {  // the kernel fills in ICMPv6 checksums itself
      uint16_t sum = checksum(p.data(), p.size());
      p[2] = uint8_t(sum >> 8);
      p[3] = uint8_t(sum);
    }
    return p;
  }

  asio::ip::icmp::socket* socket(Family f) {
    Socket& s = f == Family::V4 ? v4_ : v6_;
    if (s.sock) return &*s.sock;
    boost::system::error_code ec;
    s.sock.emplace(io_);
    s.sock->open(f == Family::V4 ? asio::ip::icmp::v4() : asio::ip::icmp::v6(), ec);
    if (ec) {
      open_error_ = ec.message();
      s.sock.reset();
      return nullptr;
    }
    receive(f);
    return &*s.sock;
  }

  void receive(Family f) {
    Socket& s = f == Family::V4 ? v4_ : v6_;
    s.sock->async_receive_from(asio::buffer(s.buf), s.from, [this, f](const boost::system::error_code& ec, size_t n) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) on_packet(f, n);
      receive(f);
    });
  }

  void on_packet(Family f, size_t n) {
    Socket& s = f == Family::V4 ? v4_ : v6_;
    const uint8_t* icmp = s.buf.data();
    if (f == Family::V4) {  // IPv4 raw sockets see the IP header too
      if (n < 20) return;
      size_t header = size_t(s.buf[0] & 0x0f) * 4;
      if (n < header + 8) return;
      icmp += header;
      n -= header;
    }
    if (n < 8 || icmp[0] != (f == Family::V4 ? 0 : 129) || icmp[1] != 0) return;  // echo reply
    if (uint16_t(icmp[4] << 8 | icmp[5]) != ident_) return;
    uint16_t seq = uint16_t(icmp[6] << 8 | icmp[7]);
    auto it = pending_.find(seq);
    if (it == pending_.end() || to_asio(it->second.to) != s.from.address()) return;
    complete(seq, true, "echo reply in " + elapsed_text(it->second.start));
  }

  void complete(uint16_t seq, bool ok, const std::string& detail) {
    auto it = pending_.find(seq);
    if (it == pending_.end()) return;
    Done done = std::move(it->second.done);
    pending_.erase(it);  // cancels its timer
    done(ok, detail);
  }

  asio::io_context& io_;
  uint16_t ident_;
  uint16_t seq_ = 0;
  Socket v4_, v6_;
  std::string open_error_;
  std::map<uint16_t, Pending> pending_;
};

// ---------------------------------------------------------------- targets

struct Prober::Target {
  explicit Target(asio::io_context& io, ProbeTarget s) : spec(std::move(s)), timer(io) {}
  ProbeTarget spec;
  asio::steady_timer timer;  // the next round
  ProbeState state = ProbeState::Unknown;
  uint32_t ok_run = 0, fail_run = 0;
  bool stopped = false;
};

Prober::Prober(asio::io_context& io, Report report)
    : io_(io), report_(std::move(report)), icmp_(std::make_unique<Icmp>(io)) {}

Prober::~Prober() {
  for (auto& [id, t] : targets_) t->stopped = true;
}

void Prober::set_targets(const std::vector<ProbeTarget>& targets) {
  std::map<MemberId, const ProbeTarget*> wanted;
  for (const auto& t : targets) wanted[t.id] = &t;
  for (auto it = targets_.begin(); it != targets_.end();) {
    auto w = wanted.find(it->first);
    if (w != wanted.end() && *w->second == it->second->spec) {
      ++it;
      continue;
    }
    it->second->stopped = true;
    it->second->timer.cancel();
    it = targets_.erase(it);
  }
  for (const auto& [id, spec] : wanted) {
    if (targets_.count(id)) continue;
    auto t = std::make_shared<Target>(io_, *spec);
    targets_[id] = t;
    start_round(t);
  }
}

void Prober::start_round(const std::shared_ptr<Target>& t) {
  if (t->stopped) return;
  t->timer.expires_after(Millis(t->spec.check.interval_ms));
  t->timer.async_wait([this, w = std::weak_ptr<Target>(t)](const boost::system::error_code& ec) {
    if (auto t = w.lock(); t && !ec) start_round(t);
  });
  if (t->spec.check.protocol == model::EgressHealthCheck::Protocol::TCP) return probe_tcp(t);
  icmp_->ping(t->spec.node_ip, Millis(t->spec.check.timeout_ms),
              [this, w = std::weak_ptr<Target>(t)](std::optional<bool> ok, const std::string& detail) {
                auto t = w.lock();
                if (!t || t->stopped) return;
                if (ok) return finish_round(t, *ok, detail);
                t->state = ProbeState::Unknown;
                t->ok_run = t->fail_run = 0;
                report_(t->spec.id, ProbeState::Unknown, detail);
              });
}

void Prober::probe_tcp(const std::shared_ptr<Target>& t) {
  auto sock = std::make_shared<asio::ip::tcp::socket>(io_);
  auto timer = std::make_shared<asio::steady_timer>(io_, Millis(t->spec.check.timeout_ms));
  auto finished = std::make_shared<bool>(false);
  auto start = Clock::now();
  std::weak_ptr<Target> w = t;
  uint16_t port = t->spec.check.port;
  timer->async_wait([this, sock, finished, w, port](const boost::system::error_code& ec) {
    if (ec || *finished) return;
    *finished = true;
    boost::system::error_code ignored;
    sock->close(ignored);
    if (auto t = w.lock()) finish_round(t, false, "TCP connect to port " + std::to_string(port) + ": timeout");
  });
  sock->async_connect(asio::ip::tcp::endpoint(to_asio(t->spec.node_ip), port),
                      [this, sock, timer, finished, w, start, port](const boost::system::error_code& ec) {
                        if (*finished) return;
                        *finished = true;
                        timer->cancel();
                        boost::system::error_code ignored;
                        sock->close(ignored);
                        auto t = w.lock();
                        if (!t) return;
                        std::string what = "TCP connect to port " + std::to_string(port) + ": ";
                        finish_round(t, !ec, what + (ec ? ec.message() : "ok in " + elapsed_text(start)));
                      });
}

void Prober::finish_round(const std::shared_ptr<Target>& t, bool ok, const std::string& detail) {
  if (t->stopped) return;
  const auto& check = t->spec.check;
  ProbeState next = t->state;
  std::string why = detail;
  if (ok) {
    t->fail_run = 0;
    if (++t->ok_run >= check.success_threshold) next = ProbeState::Up;
  } else {
    t->ok_run = 0;
    if (++t->fail_run >= check.failure_threshold) {
      next = ProbeState::Down;
      why = std::to_string(t->fail_run) + " probes failed in a row, last: " + detail;
    }
  }
  // Every verdict goes to the planner (the detail shows in status); only a
  // change of state changes routes.
  if (next != ProbeState::Unknown) {
    if (next != t->state)
      spdlog::info("egress gateway {} on {} ({}): {} ({})", t->spec.id.group, t->spec.id.node, t->spec.node_ip.str(),
                   next == ProbeState::Up ? "up" : "down", why);
    t->state = next;
    report_(t->spec.id, next, why);
  }
}

}  // namespace wac::agent::egress
