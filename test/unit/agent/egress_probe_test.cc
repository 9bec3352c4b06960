// The health prober's state machine over TCP probes on the loopback
// interface (no root needed): Up after successThreshold answers, Down after
// failureThreshold failures in a row, and back.
#include <catch2/catch.hpp>

#include <algorithm>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <vector>

#include "agent/egress_probe.h"

using namespace wac;
using namespace wac::agent::egress;

namespace {

struct Verdict {
  ProbeState state;
  std::string detail;
};

ProbeTarget tcp_target(uint16_t port) {
  ProbeTarget t;
  t.id = {"gw", "node2", *IpAddr::parse("192.0.2.100")};
  t.node_ip = *IpAddr::parse("127.0.0.1");
  t.check.protocol = wac::model::EgressHealthCheck::Protocol::TCP;
  t.check.port = port;
  t.check.interval_ms = 100;
  t.check.timeout_ms = 50;
  t.check.failure_threshold = 2;
  t.check.success_threshold = 2;
  return t;
}

}  // namespace

TEST_CASE("egress prober: TCP checks go Up, then Down after the threshold, dropped targets stop") {
  boost::asio::io_context io;
  auto acceptor = std::make_unique<boost::asio::ip::tcp::acceptor>(
      io, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  uint16_t port = acceptor->local_endpoint().port();
  std::vector<Verdict> verdicts;
  Prober prober(io, [&](const MemberId& id, ProbeState s, const std::string& detail) {
    CHECK(id.group == "gw");
    verdicts.push_back({s, detail});
  });
  prober.set_targets({tcp_target(port)});
  CHECK(prober.target_count() == 1);

  io.run_for(std::chrono::milliseconds(350));
  REQUIRE_FALSE(verdicts.empty());
  CHECK(verdicts.front().state == ProbeState::Up);  // after two answers, not one
  CHECK(verdicts.front().detail.find("TCP connect to port " + std::to_string(port) + ": ok in") == 0);

  acceptor.reset();  // nobody listens any more: refused
  verdicts.clear();
  io.restart();
  io.run_for(std::chrono::milliseconds(350));
  REQUIRE_FALSE(verdicts.empty());
  CHECK(verdicts.back().state == ProbeState::Down);
  // Every round reports (the planner shows the latest detail); the first
  // Down comes with the threshold's second failure.
  auto first_down = std::find_if(verdicts.begin(), verdicts.end(),
                                 [](const Verdict& v) { return v.state == ProbeState::Down; });
  REQUIRE(first_down != verdicts.end());
  CHECK(first_down->detail.find("2 probes failed in a row, last: TCP connect to port") == 0);

  // an unchanged target keeps its state; a dropped one stops reporting
  prober.set_targets({tcp_target(port)});
  CHECK(prober.target_count() == 1);
  prober.set_targets({});
  CHECK(prober.target_count() == 0);
  verdicts.clear();
  io.restart();
  io.run_for(std::chrono::milliseconds(250));
  CHECK(verdicts.empty());
}
