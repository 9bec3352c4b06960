// The wac.v1.Wac gRPC server.
//
// Requests are translated and validated on the gRPC thread (nothing reaches
// the agent unless the whole request is valid), then handed to
// agent::Service; the reply is sent from the agent's callback, on whatever
// thread it runs.  Stop the server before the agent stops answering.
// Methods whose requests carry strings parse their request bytes here, not
// in gRPC, so a string that is not UTF-8 is refused with its field named
// (api/lenient_parse.h) rather than answered UNIMPLEMENTED.
//
// Listens on a unix socket: the parent directory is created (0755) if
// missing, a stale socket file left by a previous run is removed (a live one
// is an error: another wacd is running), and the socket is made 0600, or
// 0660 owned by `group` when one is configured.  Server reflection is on, so
// grpcurl works without the .proto.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/channel.h>
#include <grpcpp/support/status.h>

#include "agent/reload.h"
#include "agent/service.h"
#include "api/tls.h"
#include "netlink/status.h"
#include "wac/v1/wac.pb.h"

namespace wac::api {

struct ServerOptions {
  std::string socket_path = "/run/wac/wacd.sock";
  std::string group;  // "" = owner only (0600); else chgrp to it and 0660
  // Large enough for a 1,000,000-CIDR network set (about 30 MB as proto)
  // many times over, and for replace-all of a big cluster's resources.
  int max_message_bytes = 256 * 1024 * 1024;
  // The optional TCP listener: mutual TLS, or plaintext only if `insecure`
  // (api/tls.h).  The unix socket is served either way.
  TcpOptions tcp;
  // wacd's configuration reload (wacctl reload); UNIMPLEMENTED when unset.
  // Runs on a gRPC thread.
  std::function<agent::ReloadReport()> reload;
};

class Server {
 public:
  Server(agent::Service& service, ServerOptions options);
  ~Server();  // shutdown()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  Status start();
  // Stops accepting calls, waits up to `grace` for calls in progress, then
  // cancels the rest; removes the socket file.  Idempotent.
  void shutdown(std::chrono::milliseconds grace = std::chrono::seconds(5));

  // Who may call over TLS from now on (config reload); the unix socket is
  // not affected.
  void set_allowed_subjects(std::vector<std::string> subjects);

  // A channel to this server that skips the socket (tests, in-process tools).
  std::shared_ptr<grpc::Channel> in_process_channel();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// How the server maps the agent's answers and reports (exposed for tests).
grpc::Status to_grpc_status(const agent::ApiError& e);
void to_proto(const agent::StatusReport& report, v1::StatusResponse& out);
void to_proto(const agent::Explanation& explanation, v1::ExplainResponse& out);
void to_proto(const agent::ReloadReport& report, v1::ReloadResponse& out);
void to_proto(const agent::EgressReport& report, v1::EgressStatusResponse& out);

}  // namespace wac::api
