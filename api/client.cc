#include "api/client.h"

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "api/server.h"

namespace wac::api {

namespace {

const char* code_name(grpc::StatusCode c) {
  switch (c) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

std::shared_ptr<grpc::Channel> unix_channel(const std::string& path) {
  grpc::ChannelArguments args;
  ServerOptions defaults;
  args.SetMaxReceiveMessageSize(defaults.max_message_bytes);
  args.SetMaxSendMessageSize(defaults.max_message_bytes);
  return grpc::CreateCustomChannel("unix:" + path, grpc::InsecureChannelCredentials(), args);
}

}  // namespace

Client::Client(const std::string& socket_path, std::chrono::milliseconds timeout)
    : target_(socket_path), stub_(v1::Wac::NewStub(unix_channel(socket_path))), timeout_(timeout) {}

Client::Client(std::shared_ptr<grpc::Channel> channel, std::chrono::milliseconds timeout, std::string target)
    : target_(std::move(target)), stub_(v1::Wac::NewStub(std::move(channel))), timeout_(timeout) {}

std::unique_ptr<grpc::ClientContext> Client::context() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + timeout_);
  return ctx;
}

Status Client::result(const grpc::Status& s) const {
  if (s.ok()) return Status::Ok();
  std::string msg = std::string(code_name(s.error_code())) + ": " + s.error_message();
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) msg += " (is wacd running and listening on " + target_ + "?)";
  return Status::Error(msg);
}

Status Client::apply(const std::vector<v1::Resource>& resources) {
  v1::ApplyRequest req;
  for (const auto& r : resources) *req.add_resources() = r;
  v1::ApplyResponse resp;
  return result(stub_->Apply(context().get(), req, &resp));
}

Status Client::remove(const std::vector<v1::ResourceRef>& refs) {
  v1::DeleteRequest req;
  for (const auto& r : refs) *req.add_refs() = r;
  v1::DeleteResponse resp;
  return result(stub_->Delete(context().get(), req, &resp));
}

Status Client::replace_all(const std::vector<v1::Resource>& resources, uint64_t revision) {
  v1::ReplaceAllRequest req;
  for (const auto& r : resources) *req.add_resources() = r;
  req.set_revision(revision);
  v1::ReplaceAllResponse resp;
  return result(stub_->ReplaceAll(context().get(), req, &resp));
}

Status Client::get(const std::string& kind, const std::string& ns, const std::string& name,
                   std::vector<v1::Resource>& out) {
  v1::GetRequest req;
  req.set_kind(kind);
  req.set_namespace_(ns);
  req.set_name(name);
  v1::GetResponse resp;
  Status s = result(stub_->Get(context().get(), req, &resp));
  if (s) out.assign(resp.resources().begin(), resp.resources().end());
  return s;
}

Status Client::list(const std::string& kind, const std::string& ns, std::vector<v1::Resource>& out) {
  v1::ListRequest req;
  req.set_kind(kind);
  req.set_namespace_(ns);
  v1::ListResponse resp;
  Status s = result(stub_->List(context().get(), req, &resp));
  if (s) out.assign(resp.resources().begin(), resp.resources().end());
  return s;
}

Status Client::status(v1::StatusResponse& out) { return result(stub_->Status(context().get(), v1::StatusRequest{}, &out)); }

Status Client::egress_status(v1::EgressStatusResponse& out) {
  return result(stub_->EgressStatus(context().get(), v1::EgressStatusRequest{}, &out));
}

Status Client::dns(const std::string& name, v1::DnsResponse& out) {
  v1::DnsRequest req;
  req.set_name(name);
  return result(stub_->Dns(context().get(), req, &out));
}

Status Client::reload(v1::ReloadResponse& out) { return result(stub_->Reload(context().get(), v1::ReloadRequest{}, &out)); }

Status Client::explain(const std::string& ns, const std::string& pod, v1::ExplainResponse& out) {
  v1::ExplainRequest req;
  req.set_namespace_(ns);
  req.set_pod(pod);
  return result(stub_->Explain(context().get(), req, &out));
}

Status Client::watch_flows(const v1::WatchFlowsRequest& req,
                           const std::function<bool(const v1::WatchFlowsResponse&)>& on_message) {
  auto ctx = req.follow() ? std::make_unique<grpc::ClientContext>() : context();
  auto reader = stub_->WatchFlows(ctx.get(), req);
  v1::WatchFlowsResponse msg;
  bool stopped = false;
  while (reader->Read(&msg)) {
    if (!on_message(msg)) {
      stopped = true;
      ctx->TryCancel();
      break;
    }
  }
  grpc::Status s = reader->Finish();
  if (stopped && s.error_code() == grpc::StatusCode::CANCELLED) return Status::Ok();
  return result(s);
}

}  // namespace wac::api
