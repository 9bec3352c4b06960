// WatchFlows over a real socket: recent records, following live ones, the
// end of the stream when wacd stops, and flow logs turned off. And the
// record's round trip through its message.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "api/client.h"
#include "api/flow_format.h"
#include "api/server.h"
#include "helpers.h"

using namespace wac;
using namespace wac::api;

namespace {

// Only what WatchFlows needs; the rest answers at once.
class FlowAgent : public agent::Service {
 public:
  explicit FlowAgent(agent::FlowHub* hub) : hub_(hub) {}
  void apply(std::vector<model::Resource>, Done done) override { done({}); }
  void remove(std::vector<model::Key>, Done done) override { done({}); }
  void replace_all(std::vector<model::Resource>, uint64_t, Done done) override { done({}); }
  void list(std::optional<model::Kind>, std::string, std::string,
            std::function<void(std::vector<model::Resource>)> done) override {
    done({});
  }
  void status(std::function<void(agent::StatusReport)> done) override { done({}); }
  std::shared_ptr<agent::FlowWatch> watch_flows(size_t recent, bool follow, std::function<void()> wake) override {
    return hub_ ? hub_->watch(recent, follow, std::move(wake)) : nullptr;
  }

 private:
  agent::FlowHub* hub_;
};

agent::FlowRecord record(uint16_t port) {
  agent::FlowRecord r;
  r.time = std::chrono::system_clock::time_point(std::chrono::seconds(1717236000)) + std::chrono::microseconds(7);
  r.node = "node1";
  r.direction = "ingress";
  r.ns = "shop";
  r.pod = "db";
  r.endpoint = "node1-k8s-db-eth0";
  r.interface = "calidb";
  r.tuple.protocol = 6;
  r.tuple.src = *IpAddr::parse("10.244.1.9");
  r.tuple.dst = *IpAddr::parse("10.244.1.2");
  r.tuple.src_port = 40000;
  r.tuple.dst_port = port;
  r.reason = "policy";
  r.policy = model::Key{model::Kind::NetworkPolicy, "shop", "db"};
  r.rule_index = 1;
  r.rule_name = "no-smtp";
  r.rule_action = "Deny";
  r.domain = "x.example";
  return r;
}

struct Served {
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("wac-flows-test-" + std::to_string(::getpid()));
  FlowAgent agent;
  std::unique_ptr<Server> server;
  explicit Served(agent::FlowHub* hub) : agent(hub) {
    std::filesystem::remove_all(dir);
    ServerOptions opts;
    opts.socket_path = (dir / "wacd.sock").string();
    server = std::make_unique<Server>(agent, opts);
    REQUIRE(server->start().ok());
  }
  ~Served() {
    server->shutdown(std::chrono::milliseconds(500));
    std::filesystem::remove_all(dir);
  }
  Client client() { return Client((dir / "wacd.sock").string(), std::chrono::seconds(10)); }
};

}  // namespace

TEST_CASE("a flow record survives its message unchanged") {
  agent::FlowRecord r = record(25);
  v1::FlowRecord msg;
  to_proto(r, msg);
  agent::FlowRecord back;
  std::string why;
  REQUIRE(from_proto(msg, back, why));
  CHECK(back == r);
  CHECK(agent::to_json_line(back) == agent::to_json_line(r));

  msg.set_src("not an address");
  CHECK_FALSE(from_proto(msg, back, why));
  CHECK(why.find("not an address") != std::string::npos);
}

TEST_CASE("WatchFlows sends the recent records, then follows") {
  agent::FlowHub hub;
  for (uint16_t port : {1, 2, 3}) hub.publish(record(port));
  Served served(&hub);

  std::vector<uint32_t> ports;
  v1::WatchFlowsRequest recent;
  recent.set_recent(2);
  REQUIRE(served.client().watch_flows(recent, [&](const v1::WatchFlowsResponse& m) {
    ports.push_back(m.record().dst_port());
    return true;
  }));
  CHECK(ports == std::vector<uint32_t>{2, 3});  // and the call ended: no follow

  std::atomic<int> received{0};
  std::vector<uint32_t> live;
  std::thread watcher([&] {
    v1::WatchFlowsRequest follow;
    follow.set_follow(true);
    Status s = served.client().watch_flows(follow, [&](const v1::WatchFlowsResponse& m) {
      live.push_back(m.record().dst_port());
      return ++received < 3;
    });
    CHECK(s.ok());
  });
  for (int i = 0; i < 200 && hub.watchers() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(hub.watchers() == 1);
  for (uint16_t port : {10, 11, 12}) hub.publish(record(port));
  watcher.join();
  CHECK(live == std::vector<uint32_t>{10, 11, 12});
}

TEST_CASE("a following watch ends cleanly when wacd stops") {
  agent::FlowHub hub;
  Served served(&hub);
  Status result = Status::Error("not finished");
  std::thread watcher([&] {
    v1::WatchFlowsRequest follow;
    follow.set_follow(true);
    result = served.client().watch_flows(follow, [](const v1::WatchFlowsResponse&) { return true; });
  });
  for (int i = 0; i < 200 && hub.watchers() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  hub.shutdown();
  watcher.join();
  CHECK(result.ok());
}

TEST_CASE("WatchFlows says so when flow logs are off") {
  Served served(nullptr);
  v1::WatchFlowsRequest req;
  Status s = served.client().watch_flows(req, [](const v1::WatchFlowsResponse&) { return true; });
  CHECK(s.message() ==
        "FAILED_PRECONDITION: flow logs are off (flowLogs.enabled: false in wacd's configuration)");
}
