#include <catch2/catch.hpp>

#include "agent/reload.h"

using namespace wac;
using namespace wac::agent;

namespace {

Config base() {
  Config c;
  c.node_name = "n1";
  return c;
}

// A reloader whose "file" is `file`, with logLevel and metricsAddress
// changeable at runtime; `applied` records what the appliers saw.
struct Fixture {
  Config file = base();
  Status load_status;
  std::vector<std::string> applied;
  Status metrics_result;
  Reloader reloader{base(), [this](Config& c) {
                      c = file;
                      return load_status;
                    }};
  Fixture() {
    reloader.on("logLevel", [this](const Config& c) {
      applied.push_back("logLevel=" + c.log_level);
      return Status::Ok();
    });
    reloader.on("metricsAddress", [this](const Config& c) {
      applied.push_back("metricsAddress=" + c.metrics_address);
      return metrics_result;
    });
  }
};

}  // namespace

TEST_CASE("flatten names every leaf of the config by its YAML path") {
  auto flat = flatten(base());
  CHECK(flat.at("nodeName") == "n1");
  CHECK(flat.at("dns.tapGroup") == "5353");
  CHECK(flat.at("listen.allowedSubjects") == "[]");
  CHECK(flat.count("listen") == 0);  // maps are not leaves
}

TEST_CASE("a reload applies what can change and reports the rest") {
  Fixture fx;
  fx.file.log_level = "debug";
  fx.file.node_name = "n2";
  fx.file.iface_prefixes = {"cali", "tap"};
  ReloadReport r = fx.reloader.reload();
  REQUIRE(r.status.ok());
  CHECK(r.applied == std::vector<std::string>{"logLevel"});
  CHECK(r.needs_restart == std::vector<std::string>{"nodeName", "workloadInterfacePrefixes"});
  CHECK(r.failed.empty());
  CHECK(fx.applied == std::vector<std::string>{"logLevel=debug"});

  // Again, unchanged: nothing re-applied; what needs a restart still does.
  r = fx.reloader.reload();
  CHECK(r.applied.empty());
  CHECK(r.needs_restart == std::vector<std::string>{"nodeName", "workloadInterfacePrefixes"});
  CHECK(fx.applied.size() == 1);

  // Back to the running values: nothing left to report.
  fx.file.node_name = "n1";
  fx.file.iface_prefixes = {"cali"};
  r = fx.reloader.reload();
  CHECK(r.needs_restart.empty());
}

TEST_CASE("a change that cannot be applied keeps the old value and is retried next time") {
  Fixture fx;
  fx.file.metrics_address = "127.0.0.1:9999";
  fx.metrics_result = Status::Error("cannot serve metrics on 127.0.0.1:9999: in use");
  ReloadReport r = fx.reloader.reload();
  CHECK(r.applied.empty());
  CHECK(r.failed == std::vector<std::string>{"metricsAddress: cannot serve metrics on 127.0.0.1:9999: in use"});

  fx.metrics_result = Status::Ok();
  r = fx.reloader.reload();
  CHECK(r.applied == std::vector<std::string>{"metricsAddress"});
  CHECK(fx.applied == std::vector<std::string>{"metricsAddress=127.0.0.1:9999", "metricsAddress=127.0.0.1:9999"});
}

TEST_CASE("an invalid file changes nothing") {
  Fixture fx;
  fx.file.log_level = "debug";
  fx.load_status = Status::Error("/etc/wac/wacd.yaml: logLevel: expected one of ...");
  ReloadReport r = fx.reloader.reload();
  CHECK_FALSE(r.status.ok());
  CHECK(r.applied.empty());
  CHECK(fx.applied.empty());
  fx.load_status = Status::Ok();
  CHECK(fx.reloader.reload().applied == std::vector<std::string>{"logLevel"});
}
