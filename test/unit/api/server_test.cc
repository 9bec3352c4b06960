// The gRPC server over a real unix socket, against a fake agent that
// answers from its own thread (as the real agent does).
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>

#include "api/client.h"
#include "api/kinds.h"
#include "api/server.h"
#include "helpers.h"

using namespace wac;
using namespace wac::api;
using namespace wac::api::test;

namespace {

// Runs posted work on one thread, like the agent's io_context.
class Worker {
 public:
  Worker() : thread_([this] { run(); }) {}
  ~Worker() {
    {
      std::lock_guard l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void post(std::function<void()> f) {
    {
      std::lock_guard l(mu_);
      work_.push_back(std::move(f));
    }
    cv_.notify_all();
  }

 private:
  void run() {
    std::unique_lock l(mu_);
    while (true) {
      cv_.wait(l, [&] { return stop_ || !work_.empty(); });
      if (work_.empty()) return;
      auto f = std::move(work_.front());
      work_.pop_front();
      l.unlock();
      f();
      l.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> work_;
  bool stop_ = false;
  std::thread thread_;
};

class FakeAgent : public agent::Service {
 public:
  void apply(std::vector<model::Resource> resources, Done done) override {
    worker_.post([this, resources = std::move(resources), done] {
      std::lock_guard l(mu);
      applied.push_back(resources);
      for (auto& r : resources) store[r.key] = r;
      done({});
    });
  }
  void remove(std::vector<model::Key> keys, Done done) override {
    worker_.post([this, keys = std::move(keys), done] {
      std::lock_guard l(mu);
      removed.push_back(keys);
      for (auto& k : keys)
        if (!store.erase(k)) return done({agent::ApiError::Code::NotFound, k.name + " not found"});
      done({});
    });
  }
  void replace_all(std::vector<model::Resource> resources, uint64_t rev, Done done) override {
    worker_.post([this, resources = std::move(resources), rev, done] {
      std::lock_guard l(mu);
      if (rev < revision) return done({agent::ApiError::Code::FailedPrecondition, "stale revision"});
      revision = rev;
      replaced = resources;
      done({});
    });
  }
  void list(std::optional<model::Kind> kind, std::string ns, std::string name,
            std::function<void(std::vector<model::Resource>)> done) override {
    worker_.post([=, this] {
      std::lock_guard l(mu);
      std::vector<model::Resource> out;
      for (auto& [k, r] : store)
        if ((!kind || k.kind == *kind) && (ns.empty() || k.ns == ns) && (name.empty() || k.name == name)) out.push_back(r);
      done(out);
    });
  }
  void status(std::function<void(agent::StatusReport)> done) override {
    worker_.post([done] {
      agent::StatusReport r;
      r.node_name = "node1";
      r.revision = 7;
      r.counts["NetworkPolicy"] = 3;
      r.last_sync_ok = false;
      r.last_sync_error = "nft: boom";
      r.last_sync_duration = std::chrono::microseconds(1500);
      r.dataplane_errors = {"e1"};
      done(r);
    });
  }

  std::mutex mu;
  std::vector<std::vector<model::Resource>> applied;
  std::vector<std::vector<model::Key>> removed;
  std::vector<model::Resource> replaced;
  std::map<model::Key, model::Resource> store;
  uint64_t revision = 0;

 private:
  Worker worker_;
};

struct TempDir {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("wac-api-test-" + std::to_string(::getpid()));
  TempDir() { std::filesystem::remove_all(path); }
  ~TempDir() { std::filesystem::remove_all(path); }
};

mode_t mode_of(const std::filesystem::path& p) {
  struct stat st;
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode;
}

std::vector<v1::Resource> yaml_resources(const std::string& yaml) {
  std::vector<v1::Resource> out;
  for (auto& d : documents(yaml)) out.push_back(d.resource);
  return out;
}

// One unary call with request bytes made by hand, as a client that bypasses
// wacctl (and any protobuf library's checks) sends them: "CODE: message".
std::string raw_call(const std::string& socket, const std::string& method, const std::string& bytes) {
  grpc::GenericStub stub(grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials()));
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1), response;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, "/wac.v1.Wac/" + method, grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status s) { done.set_value(s); });
  grpc::Status s = done.get_future().get();
  if (s.ok()) return "OK: " + std::to_string(response.Length()) + " bytes";
  static const char* names[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
                                "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
                                "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"};
  int code = int(s.error_code());
  return std::string(code >= 0 && code < 16 ? names[code] : "?") + ": " + s.error_message();
}

}  // namespace

TEST_CASE("server: apply, get, list, delete, replace-all, status over the socket") {
  TempDir dir;
  FakeAgent agent;
  ServerOptions opts;
  opts.socket_path = (dir.path / "run" / "wacd.sock").string();
  Server server(agent, opts);
  Status started = server.start();
  INFO(started.message());
  REQUIRE(started.ok());

  // Parent directory created 0755, socket 0600.
  CHECK((mode_of(dir.path / "run") & 07777) == 0755);
  CHECK(S_ISSOCK(mode_of(opts.socket_path)));
  CHECK((mode_of(opts.socket_path) & 07777) == 0600);

  Client client(opts.socket_path, std::chrono::seconds(10));
  auto good = yaml_resources(fixture("calico_policies.yaml"));

  SECTION("valid apply reaches the agent as the model") {
    REQUIRE(client.apply(good).ok());
    std::lock_guard l(agent.mu);
    REQUIRE(agent.applied.size() == 1);
    REQUIRE(agent.applied[0].size() == 2);
    CHECK(agent.applied[0][0].key == model::Key{model::Kind::NetworkPolicy, "production", "allow-tcp-6379"});
    CHECK(std::get<model::Policy>(agent.applied[0][1].body).order == 100.5);
  }

  SECTION("invalid apply: INVALID_ARGUMENT naming the field, and nothing applied") {
    auto bad = good;
    bad.push_back(yaml_resources(policy("  ingress:\n    - action: Allow\n      source: {nets: [10.0.0.0/8, 10.0.0.300/8]}\n"))[0]);
    Status s = client.apply(bad);
    CHECK(s.message() ==
          "INVALID_ARGUMENT: NetworkPolicy default/p: spec.ingress[0].source.nets[1]: invalid CIDR \"10.0.0.300/8\"");
    std::lock_guard l(agent.mu);
    CHECK(agent.applied.empty());
  }

  SECTION("duplicates in one request are refused") {
    auto dup = good;
    dup.push_back(good[0]);
    Status s = client.apply(dup);
    CHECK(s.message().starts_with("INVALID_ARGUMENT: NetworkPolicy production/allow-tcp-6379: duplicate"));
    std::lock_guard l(agent.mu);
    CHECK(agent.applied.empty());
  }

  SECTION("get and list return what was applied") {
    REQUIRE(client.apply(good).ok());
    std::vector<v1::Resource> found;
    REQUIRE(client.get("GlobalNetworkPolicy", "", "deny-blue", found).ok());
    REQUIRE(found.size() == 1);
    CHECK(found[0].SerializeAsString() == good[1].SerializeAsString());

    Status missing = client.get("GlobalNetworkPolicy", "", "nope", found);
    CHECK(missing.message() == "NOT_FOUND: GlobalNetworkPolicy nope not found");
    CHECK(client.get("NetworkPolicy", "", "x", found).message() ==
          "INVALID_ARGUMENT: NetworkPolicy x: namespace: required for NetworkPolicy");

    REQUIRE(client.list("", "", found).ok());
    CHECK(found.size() == 2);
    REQUIRE(client.list("NetworkPolicy", "production", found).ok());
    CHECK(found.size() == 1);
    REQUIRE(client.list("NetworkPolicy", "other", found).ok());
    CHECK(found.empty());
    CHECK(client.list("Bogus", "", found).message() == "INVALID_ARGUMENT: kind: unknown kind \"Bogus\"");
    CHECK(client.list("GlobalNetworkPolicy", "x", found).message() ==
          "INVALID_ARGUMENT: namespace: must be empty: GlobalNetworkPolicy is cluster-scoped");
  }

  SECTION("delete") {
    REQUIRE(client.apply(good).ok());
    CHECK(client.remove({ref_of(good[0])}).ok());
    CHECK(client.remove({ref_of(good[0])}).message() == "NOT_FOUND: allow-tcp-6379 not found");
    v1::ResourceRef bad;
    bad.set_kind("NetworkPolicy");
    bad.set_name("x");
    CHECK(client.remove({bad}).message() == "INVALID_ARGUMENT: NetworkPolicy x: namespace: required for NetworkPolicy");
    std::lock_guard l(agent.mu);
    CHECK(agent.removed.size() == 2);  // the invalid one never reached the agent
  }

  SECTION("replace-all with a stale revision fails the precondition") {
    REQUIRE(client.replace_all(good, 5).ok());
    CHECK(client.replace_all(good, 4).message() == "FAILED_PRECONDITION: stale revision");
    std::lock_guard l(agent.mu);
    CHECK(agent.replaced.size() == 2);
    CHECK(agent.revision == 5);
  }

  SECTION("status") {
    v1::StatusResponse st;
    REQUIRE(client.status(st).ok());
    CHECK(st.node_name() == "node1");
    CHECK(st.revision() == 7);
    CHECK(st.counts().at("NetworkPolicy") == 3);
    CHECK_FALSE(st.last_sync_ok());
    CHECK(st.last_sync_error() == "nft: boom");
    CHECK(st.last_sync_duration().nanos() == 1'500'000);
    CHECK_FALSE(st.has_last_sync_time());
    CHECK(st.dataplane_errors_size() == 1);
  }

  SECTION("in-process channel") {
    Client direct(server.in_process_channel());
    REQUIRE(direct.apply(good).ok());
  }

  server.shutdown();
  CHECK_FALSE(std::filesystem::exists(opts.socket_path));
}

TEST_CASE("server: a request with invalid UTF-8 is refused naming the field, not as UNIMPLEMENTED") {
  TempDir dir;
  FakeAgent agent;
  ServerOptions opts;
  opts.socket_path = (dir.path / "wacd.sock").string();
  Server server(agent, opts);
  REQUIRE(server.start().ok());
  const std::string bad = "\xff\xfe";
  auto call = [&](const std::string& method, const std::string& bytes) { return raw_call(opts.socket_path, method, bytes); };

  SECTION("the mutating methods") {
    std::string apply = wire::apply_request({wire::namespace_resource("fine"), wire::namespace_resource("u", {{"a", bad}})});
    CHECK(call("Apply", apply) == "INVALID_ARGUMENT: Namespace u: metadata.labels[\"a\"]: invalid UTF-8");
    CHECK(call("ReplaceAll", apply + wire::varint(2 << 3) + wire::varint(9)) ==
          "INVALID_ARGUMENT: Namespace u: metadata.labels[\"a\"]: invalid UTF-8");
    CHECK(call("Delete", wire::ld(1, wire::resource_ref("Namespace", "", "n" + bad))) ==
          "INVALID_ARGUMENT: Namespace \"n\\xff\\xfe\": name: invalid UTF-8");
    std::lock_guard l(agent.mu);
    CHECK(agent.applied.empty());
    CHECK(agent.removed.empty());
    CHECK(agent.revision == 0);
  }

  SECTION("the reading methods") {
    CHECK(call("Get", wire::resource_ref("Namespace", "", "n" + bad)) ==
          "INVALID_ARGUMENT: Namespace \"n\\xff\\xfe\": name: invalid UTF-8");
    CHECK(call("List", wire::ld(1, "Name" + bad)) == "INVALID_ARGUMENT: kind: unknown kind \"Name\\xff\\xfe\"");
    CHECK(call("Dns", wire::ld(1, "a" + bad)) == "INVALID_ARGUMENT: name: invalid UTF-8");
    CHECK(call("Explain", wire::ld(2, "p" + bad)) == "INVALID_ARGUMENT: pod: invalid UTF-8");
  }

  SECTION("bytes that are no request at all") {
    CHECK(call("Apply", std::string("\x0a\xff\xff\xff\xff\x0f", 6)) ==
          "INVALID_ARGUMENT: ApplyRequest: not a wac.v1.ApplyRequest in protobuf wire format");
    std::lock_guard l(agent.mu);
    CHECK(agent.applied.empty());
  }

  SECTION("valid requests still answer with their (empty) response") {
    CHECK(call("Apply", wire::apply_request({wire::namespace_resource("fine")})) == "OK: 0 bytes");
    CHECK(call("Apply", "") == "OK: 0 bytes");
    CHECK(call("Get", wire::resource_ref("Namespace", "", "fine")).starts_with("OK: "));
    CHECK(call("Get", wire::resource_ref("Namespace", "", "gone")) == "NOT_FOUND: Namespace gone not found");
    CHECK(call("Delete", wire::ld(1, wire::resource_ref("Namespace", "", "fine"))) == "OK: 0 bytes");
  }
}

TEST_CASE("server: socket file handling") {
  TempDir dir;
  std::filesystem::create_directories(dir.path);
  FakeAgent agent;
  ServerOptions opts;
  opts.socket_path = (dir.path / "wacd.sock").string();

  SECTION("a stale socket from a crash is replaced") {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, opts.socket_path.c_str());
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    ::close(fd);  // bound, never listening: what a crashed server leaves
    Server server(agent, opts);
    Status s = server.start();
    INFO(s.message());
    CHECK(s.ok());
  }

  SECTION("a live socket is not stolen") {
    Server first(agent, opts);
    REQUIRE(first.start().ok());
    Server second(agent, opts);
    CHECK(second.start().message() == opts.socket_path + " is in use by a running server (another wacd?)");
    // The first server still answers.
    v1::StatusResponse st;
    CHECK(Client(opts.socket_path).status(st).ok());
  }

  SECTION("a regular file is not removed") {
    std::ofstream(opts.socket_path) << "precious";
    Server server(agent, opts);
    CHECK(server.start().message() == opts.socket_path + " exists and is not a socket; not removing it");
    CHECK(std::filesystem::is_regular_file(opts.socket_path));
  }

  SECTION("with a group the socket is 0660") {
    struct group* g = ::getgrgid(::getegid());
    REQUIRE(g != nullptr);
    opts.group = g->gr_name;
    Server server(agent, opts);
    REQUIRE(server.start().ok());
    CHECK((mode_of(opts.socket_path) & 07777) == 0660);
  }

  SECTION("an unknown group fails the start and leaves no socket") {
    opts.group = "no-such-group-wac-test";
    Server server(agent, opts);
    CHECK(server.start().message() == "unknown group \"no-such-group-wac-test\" for " + opts.socket_path);
    CHECK_FALSE(std::filesystem::exists(opts.socket_path));
  }
}

TEST_CASE("server: agent errors map to gRPC codes") {
  using C = agent::ApiError::Code;
  CHECK(to_grpc_status({C::Ok, ""}).ok());
  CHECK(to_grpc_status({C::InvalidArgument, "x"}).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(to_grpc_status({C::NotFound, "x"}).error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK(to_grpc_status({C::FailedPrecondition, "x"}).error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  CHECK(to_grpc_status({C::Internal, "x"}).error_code() == grpc::StatusCode::INTERNAL);
}
