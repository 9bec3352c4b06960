// A small synchronous client of wac.v1.Wac over wacd's unix socket, for
// wacctl.  Errors come back as Status with the gRPC code spelled out:
// "INVALID_ARGUMENT: NetworkPolicy default/x: spec.ingress[0]...".
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/channel.h>

#include "netlink/status.h"
#include "wac/v1/wac.grpc.pb.h"

namespace wac::api {

class Client {
 public:
  // socket_path: "/run/wac/wacd.sock"; the call timeout applies per call.
  explicit Client(const std::string& socket_path, std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // Over an existing channel (tests: Server::in_process_channel(); TCP:
  // api/tls.h make_tcp_channel).  `target` names it in errors.
  explicit Client(std::shared_ptr<grpc::Channel> channel,
                  std::chrono::milliseconds timeout = std::chrono::seconds(60), std::string target = "in-process");

  Status apply(const std::vector<v1::Resource>& resources);
  Status remove(const std::vector<v1::ResourceRef>& refs);
  Status replace_all(const std::vector<v1::Resource>& resources, uint64_t revision);
  Status get(const std::string& kind, const std::string& ns, const std::string& name, std::vector<v1::Resource>& out);
  Status list(const std::string& kind, const std::string& ns, std::vector<v1::Resource>& out);
  Status status(v1::StatusResponse& out);
  Status egress_status(v1::EgressStatusResponse& out);
  // Learned DNS names containing `name` ("" = all).
  Status dns(const std::string& name, v1::DnsResponse& out);
  Status reload(v1::ReloadResponse& out);
  Status explain(const std::string& ns, const std::string& pod, v1::ExplainResponse& out);
  // WatchFlows: calls `on_message` for each message until the stream ends
  // (or, with follow, until it fails or `on_message` returns false). With
  // follow there is no deadline.
  Status watch_flows(const v1::WatchFlowsRequest& req,
                     const std::function<bool(const v1::WatchFlowsResponse&)>& on_message);

 private:
  std::unique_ptr<grpc::ClientContext> context() const;
  Status result(const grpc::Status& s) const;

  std::string target_;
  std::unique_ptr<v1::Wac::Stub> stub_;
  std::chrono::milliseconds timeout_;
};

}  // namespace wac::api
