#include "api/server.h"

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>

#include <google/protobuf/util/time_util.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <spdlog/spdlog.h>

#include "api/dns_format.h"
#include "api/flow_format.h"
#include "api/kinds.h"
#include "api/lenient_parse.h"
#include "api/translate.h"
#include "api/validate.h"
#include "wac/v1/wac.grpc.pb.h"

namespace wac::api {

namespace {

// gRPC carries the status message in a header; keep it well under the
// default 8 KiB metadata limit.
constexpr size_t kMaxStatusMessage = 4000;

grpc::Status invalid(const std::string& message) {
  std::string m = message.size() > kMaxStatusMessage ? message.substr(0, kMaxStatusMessage) + "..." : message;
  return {grpc::StatusCode::INVALID_ARGUMENT, m};
}

// A newer client's request-level option (a dry run, say) must not be
// silently dropped and the request carried out as if it were not there.
bool has_unknown_fields(const google::protobuf::Message& req, grpc::Status& status) {
  std::string unknown = unknown_field_numbers(req);
  if (unknown.empty()) return false;
  status = invalid(req.GetDescriptor()->name() + ": " + unknown_fields_message(unknown));
  return true;
}

std::string sys_error(const std::string& what, int err) { return what + ": " + std::strerror(err); }

// ------------------------------------------------------------ flow watch

// Streams one WatchFlows call. The flow hub wakes it from the flow log
// thread, gRPC calls OnWriteDone/OnCancel/OnDone from its own: one mutex
// orders them, and the state shared with the wake callback lets a late wake
// find the reactor gone. One write at a time; the watch's queue absorbs the
// rest (and counts what it cannot).
class FlowWatchReactor final : public grpc::ServerWriteReactor<v1::WatchFlowsResponse> {
 public:
  FlowWatchReactor(agent::Service& agent, const v1::WatchFlowsRequest& req) : shared_(std::make_shared<Shared>()) {
    shared_->reactor = this;
    std::weak_ptr<Shared> weak = shared_;
    watch_ = agent.watch_flows(req.recent(), req.follow(), [weak] {
      if (auto s = weak.lock()) {
        std::lock_guard lock(s->mu);
        if (s->reactor) s->reactor->next_locked();
      }
    });
    std::lock_guard lock(shared_->mu);
    if (!watch_) {
      finish_locked({grpc::StatusCode::FAILED_PRECONDITION,
                     "flow logs are off (flowLogs.enabled: false in wacd's configuration)"});
      return;
    }
    next_locked();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(shared_->mu);
    writing_ = false;
    if (!ok) ending_ = grpc::Status(grpc::StatusCode::CANCELLED, "the watcher went away");
    next_locked();
  }

  void OnCancel() override {
    std::lock_guard lock(shared_->mu);
    ending_ = grpc::Status::CANCELLED;
    next_locked();
  }

  void OnDone() override {
    {
      std::lock_guard lock(shared_->mu);
      shared_->reactor = nullptr;
    }
    if (watch_) watch_->close();
    delete this;
  }

 private:
  struct Shared {
    std::recursive_mutex mu;  // recursive: a write may complete inline
    FlowWatchReactor* reactor = nullptr;
  };

  void next_locked() {
    if (writing_ || finished_) return;
    if (ending_) return finish_locked(*ending_);
    agent::FlowWatch::Item item;
    if (!watch_->pop(item)) {
      if (watch_->ended()) finish_locked(grpc::Status::OK);
      return;
    }
    response_.Clear();
    if (item.record) to_proto(*item.record, *response_.mutable_record());
    response_.set_lost(item.lost_before);
    writing_ = true;
    StartWrite(&response_);
  }

  void finish_locked(const grpc::Status& status) {
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  std::shared_ptr<Shared> shared_;
  std::shared_ptr<agent::FlowWatch> watch_;
  v1::WatchFlowsResponse response_;
  bool writing_ = false;
  bool finished_ = false;
  std::optional<grpc::Status> ending_;  // finish once the write in flight is done
};

// ------------------------------------------------------------ raw requests

// A unary call whose request reaches the service as bytes and is parsed
// here, not by gRPC: gRPC answers a request the protobuf runtime refuses
// (a proto3 string that is not UTF-8) with UNIMPLEMENTED and an empty
// message, while parsing it again leniently lets the usual validation name
// the field.  The response is serialized when the call finishes.
template <class Request, class Response>
class RawUnaryCall final : public grpc::ServerUnaryReactor {
 public:
  explicit RawUnaryCall(grpc::ByteBuffer* out) : out_(out) {}

  Request request;
  Response response;

  // Once, from any thread.
  void finish(const grpc::Status& status) {
    bool own_buffer = false;
    grpc::Status serialized =
        status.ok() ? grpc::SerializationTraits<Response>::Serialize(response, out_, &own_buffer) : status;
    Finish(serialized.ok() ? status : serialized);
  }

  void OnDone() override { delete this; }

 private:
  grpc::ByteBuffer* out_;
};

// Strict first, so a valid request costs what it did when gRPC parsed it;
// bytes that are not the request's wire format at all are a bad request.
bool read_request(const grpc::ByteBuffer& raw, google::protobuf::Message& out, grpc::Status& refusal) {
  grpc::ByteBuffer bytes(raw);  // shares the slices
  {
    grpc::ProtoBufferReader reader(&bytes);
    if (reader.status().ok() && out.ParseFromZeroCopyStream(&reader)) return true;
  }
  grpc::ProtoBufferReader again(&bytes);
  if (again.status().ok() && parse_allowing_invalid_utf8(again, out)) return true;
  const auto* type = out.GetDescriptor();
  refusal = invalid(type->name() + ": not a " + type->full_name() + " in protobuf wire format");
  return false;
}

template <class Request, class Response, class Handler>
grpc::ServerUnaryReactor* serve_raw(const grpc::ByteBuffer* in, grpc::ByteBuffer* out, Handler handle) {
  auto* call = new RawUnaryCall<Request, Response>(out);
  grpc::Status refusal;
  if (read_request(*in, call->request, refusal)) handle(*call);
  else call->finish(refusal);
  return call;
}

// ------------------------------------------------------------ the service

// Every method whose request carries strings the client chooses takes its
// request as bytes (RawUnaryCall); Status, EgressStatus, Reload and
// WatchFlows carry none and are served as generated.
using WacServiceBase = v1::Wac::WithRawCallbackMethod_Apply<
    v1::Wac::WithRawCallbackMethod_Delete<v1::Wac::WithRawCallbackMethod_ReplaceAll<
        v1::Wac::WithRawCallbackMethod_Get<v1::Wac::WithRawCallbackMethod_List<v1::Wac::WithRawCallbackMethod_Dns<
            v1::Wac::WithRawCallbackMethod_Explain<v1::Wac::CallbackService>>>>>>>;

using ApplyCall = RawUnaryCall<v1::ApplyRequest, v1::ApplyResponse>;
using DeleteCall = RawUnaryCall<v1::DeleteRequest, v1::DeleteResponse>;
using ReplaceAllCall = RawUnaryCall<v1::ReplaceAllRequest, v1::ReplaceAllResponse>;
using GetCall = RawUnaryCall<v1::GetRequest, v1::GetResponse>;
using ListCall = RawUnaryCall<v1::ListRequest, v1::ListResponse>;
using DnsCall = RawUnaryCall<v1::DnsRequest, v1::DnsResponse>;
using ExplainCall = RawUnaryCall<v1::ExplainRequest, v1::ExplainResponse>;

class WacService final : public WacServiceBase {
 public:
  WacService(agent::Service& agent, std::function<agent::ReloadReport()> reload)
      : agent_(agent), reload_(std::move(reload)) {}

  grpc::ServerUnaryReactor* Apply(grpc::CallbackServerContext*, const grpc::ByteBuffer* in,
                                  grpc::ByteBuffer* out) override {
    return serve_raw<v1::ApplyRequest, v1::ApplyResponse>(in, out, [this](ApplyCall& call) { apply(call); });
  }
  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext*, const grpc::ByteBuffer* in,
                                   grpc::ByteBuffer* out) override {
    return serve_raw<v1::DeleteRequest, v1::DeleteResponse>(in, out, [this](DeleteCall& call) { remove(call); });
  }
  grpc::ServerUnaryReactor* ReplaceAll(grpc::CallbackServerContext*, const grpc::ByteBuffer* in,
                                       grpc::ByteBuffer* out) override {
    return serve_raw<v1::ReplaceAllRequest, v1::ReplaceAllResponse>(
        in, out, [this](ReplaceAllCall& call) { replace_all(call); });
  }
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext*, const grpc::ByteBuffer* in,
                                grpc::ByteBuffer* out) override {
    return serve_raw<v1::GetRequest, v1::GetResponse>(in, out, [this](GetCall& call) { get(call); });
  }
  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext*, const grpc::ByteBuffer* in,
                                 grpc::ByteBuffer* out) override {
    return serve_raw<v1::ListRequest, v1::ListResponse>(in, out, [this](ListCall& call) { list(call); });
  }
  grpc::ServerUnaryReactor* Dns(grpc::CallbackServerContext*, const grpc::ByteBuffer* in,
                                grpc::ByteBuffer* out) override {
    return serve_raw<v1::DnsRequest, v1::DnsResponse>(in, out, [this](DnsCall& call) { dns(call); });
  }
  grpc::ServerUnaryReactor* Explain(grpc::CallbackServerContext*, const grpc::ByteBuffer* in,
                                    grpc::ByteBuffer* out) override {
    return serve_raw<v1::ExplainRequest, v1::ExplainResponse>(in, out, [this](ExplainCall& call) { explain(call); });
  }

  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* ctx, const v1::StatusRequest*,
                                   v1::StatusResponse* resp) override {
    auto* reactor = ctx->DefaultReactor();
    agent_.status([reactor, resp](agent::StatusReport report) {
      to_proto(report, *resp);
      reactor->Finish(grpc::Status::OK);
    });
    return reactor;
  }

  grpc::ServerWriteReactor<v1::WatchFlowsResponse>* WatchFlows(grpc::CallbackServerContext*,
                                                               const v1::WatchFlowsRequest* req) override {
    return new FlowWatchReactor(agent_, *req);
  }

  grpc::ServerUnaryReactor* EgressStatus(grpc::CallbackServerContext* ctx, const v1::EgressStatusRequest*,
                                         v1::EgressStatusResponse* resp) override {
    auto* reactor = ctx->DefaultReactor();
    agent_.egress_status([reactor, resp](agent::EgressReport report) {
      to_proto(report, *resp);
      reactor->Finish(grpc::Status::OK);
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* Reload(grpc::CallbackServerContext* ctx, const v1::ReloadRequest*,
                                   v1::ReloadResponse* resp) override {
    auto* reactor = ctx->DefaultReactor();
    if (!reload_) {
      reactor->Finish({grpc::StatusCode::UNIMPLEMENTED, "this server has no configuration to reload"});
      return reactor;
    }
    agent::ReloadReport report = reload_();
    if (!report.status.ok()) reactor->Finish({grpc::StatusCode::FAILED_PRECONDITION, report.status.message()});
    else {
      to_proto(report, *resp);
      reactor->Finish(grpc::Status::OK);
    }
    return reactor;
  }

 private:
  void apply(ApplyCall& call) {
    if (grpc::Status unknown; has_unknown_fields(call.request, unknown)) return call.finish(unknown);
    std::vector<model::Resource> resources;
    Problems problems = translate_all(call.request.resources(), resources);
    if (!problems.ok()) call.finish(invalid(problems.str()));
    else if (resources.empty()) call.finish(grpc::Status::OK);
    else agent_.apply(std::move(resources), [&call](agent::ApiError e) { call.finish(to_grpc_status(e)); });
  }

  void remove(DeleteCall& call) {
    if (grpc::Status unknown; has_unknown_fields(call.request, unknown)) return call.finish(unknown);
    std::vector<model::Key> keys;
    Problems problems = translate_refs(call.request.refs(), keys);
    if (!problems.ok()) call.finish(invalid(problems.str()));
    else if (keys.empty()) call.finish(grpc::Status::OK);
    else agent_.remove(std::move(keys), [&call](agent::ApiError e) { call.finish(to_grpc_status(e)); });
  }

  void replace_all(ReplaceAllCall& call) {
    if (grpc::Status unknown; has_unknown_fields(call.request, unknown)) return call.finish(unknown);
    std::vector<model::Resource> resources;
    Problems problems = translate_all(call.request.resources(), resources);
    if (!problems.ok()) call.finish(invalid(problems.str()));
    else
      agent_.replace_all(std::move(resources), call.request.revision(),
                         [&call](agent::ApiError e) { call.finish(to_grpc_status(e)); });
  }

  void get(GetCall& call) {
    const v1::GetRequest& req = call.request;
    v1::ResourceRef ref;
    ref.set_kind(req.kind());
    ref.set_namespace_(req.namespace_());
    ref.set_name(req.name());
    model::Key key;
    Problems problems = translate_ref(ref, key);
    if (!problems.ok()) return call.finish(invalid(problems.str()));
    std::string what = describe(req.kind(), req.namespace_(), req.name());
    agent_.list(key.kind, key.ns, key.name, [&call, key, what](std::vector<model::Resource> found) {
      grpc::Status st =
          add_sources(found, [&](const model::Resource& r) { return r.key == key; }, *call.response.mutable_resources());
      if (st.ok() && call.response.resources_size() == 0) st = {grpc::StatusCode::NOT_FOUND, what + " not found"};
      call.finish(st);
    });
  }

  void list(ListCall& call) {
    const v1::ListRequest& req = call.request;
    std::optional<model::Kind> kind;
    if (!req.kind().empty()) {
      const KindInfo* info = kind_by_name(req.kind());
      if (!info) return call.finish(invalid("kind: unknown kind " + check::quoted(req.kind())));
      if (!info->namespaced && !req.namespace_().empty())
        return call.finish(invalid(std::string("namespace: must be empty: ") + info->name + " is cluster-scoped"));
      kind = info->kind;
    }
    if (!req.namespace_().empty())
      if (std::string why = check::dns1123_label(req.namespace_()); !why.empty())
        return call.finish(invalid("namespace: invalid namespace " + check::quoted(req.namespace_()) + ": " + why));
    std::string ns = req.namespace_();
    agent_.list(kind, ns, "", [&call, kind, ns](std::vector<model::Resource> found) {
      auto wanted = [&](const model::Resource& r) {
        return (!kind || r.key.kind == *kind) && (ns.empty() || r.key.ns == ns);
      };
      call.finish(add_sources(found, wanted, *call.response.mutable_resources()));
    });
  }

  void dns(DnsCall& call) {
    const std::string& name = call.request.name();
    if (name.size() > check::kMaxNameLength)
      return call.finish(invalid("name: longer than " + std::to_string(check::kMaxNameLength) +
                                 " characters, so no DNS name contains it"));
    if (!check::valid_utf8(name)) return call.finish(invalid("name: invalid UTF-8"));
    agent_.dns_report(name, [&call](agent::DnsReport report) {
      to_proto(report, call.response);
      call.finish(grpc::Status::OK);
    });
  }

  void explain(ExplainCall& call) {
    const v1::ExplainRequest& req = call.request;
    std::string ns = req.namespace_().empty() ? "default" : req.namespace_();
    if (std::string why = check::dns1123_label(ns); !why.empty())
      return call.finish(invalid("namespace: invalid namespace " + check::quoted(ns) + ": " + why));
    if (req.pod().empty()) return call.finish(invalid("pod: required"));
    if (!check::valid_utf8(req.pod())) return call.finish(invalid("pod: invalid UTF-8"));
    agent_.explain(ns, req.pod(), [&call](agent::ApiError e, agent::Explanation found) {
      if (e.ok()) to_proto(found, call.response);
      call.finish(to_grpc_status(e));
    });
  }

  // Resources go back exactly as they were applied: their stored source.
  template <class Pred>
  static grpc::Status add_sources(const std::vector<model::Resource>& found, Pred wanted,
                                  google::protobuf::RepeatedPtrField<v1::Resource>& out) {
    for (const auto& r : found) {
      if (!wanted(r)) continue;
      if (!out.Add()->ParseFromString(r.source))
        return {grpc::StatusCode::INTERNAL, "stored source of " + r.key.name + " does not parse"};
    }
    return grpc::Status::OK;
  }

  agent::Service& agent_;
  std::function<agent::ReloadReport()> reload_;
};

// ------------------------------------------------------------ the socket

Status make_parent_dir(const std::filesystem::path& socket) {
  std::filesystem::path dir = socket.parent_path();
  if (dir.empty() || std::filesystem::exists(dir)) return Status::Ok();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::Error("cannot create " + dir.string() + ": " + ec.message());
  if (::chmod(dir.c_str(), 0755) != 0) return Status::Error(sys_error("chmod " + dir.string(), errno));
  return Status::Ok();
}

// A socket file nobody listens on is left from a crash; one somebody
// listens on means another wacd is running, and must not be stolen.
Status remove_stale_socket(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return Status::Error(sys_error("stat " + path, errno));
  }
  if (!S_ISSOCK(st.st_mode)) return Status::Error(path + " exists and is not a socket; not removing it");
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Error(sys_error("socket", errno));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int err = errno;
  ::close(fd);
  if (rc == 0) return Status::Error(path + " is in use by a running server (another wacd?)");
  if (err != ECONNREFUSED && err != ENOENT) return Status::Error(sys_error("probing " + path, err));
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Status::Error(sys_error("removing stale " + path, errno));
  return Status::Ok();
}

Status set_socket_access(const std::string& path, const std::string& group) {
  if (group.empty()) {
    if (::chmod(path.c_str(), 0600) != 0) return Status::Error(sys_error("chmod " + path, errno));
    return Status::Ok();
  }
  std::vector<char> buf(16384);
  struct group g{};
  struct group* found = nullptr;
  int rc = ::getgrnam_r(group.c_str(), &g, buf.data(), buf.size(), &found);
  if (rc != 0 || !found) return Status::Error("unknown group " + check::quoted(group) + " for " + path);
  if (::chown(path.c_str(), uid_t(-1), found->gr_gid) != 0) return Status::Error(sys_error("chown " + path, errno));
  if (::chmod(path.c_str(), 0660) != 0) return Status::Error(sys_error("chmod " + path, errno));
  return Status::Ok();
}

void enable_reflection_once() {
  static std::once_flag once;
  std::call_once(once, [] { grpc::reflection::InitProtoReflectionServerBuilderPlugin(); });
}

}  // namespace

grpc::Status to_grpc_status(const agent::ApiError& e) {
  using C = agent::ApiError::Code;
  switch (e.code) {
    case C::Ok: return grpc::Status::OK;
    case C::InvalidArgument: return {grpc::StatusCode::INVALID_ARGUMENT, e.message};
    case C::NotFound: return {grpc::StatusCode::NOT_FOUND, e.message};
    case C::FailedPrecondition: return {grpc::StatusCode::FAILED_PRECONDITION, e.message};
    case C::Internal: break;
  }
  return {grpc::StatusCode::INTERNAL, e.message};
}

void to_proto(const agent::EgressReport& r, v1::EgressStatusResponse& out) {
  for (const auto& g : r.groups) {
    v1::EgressGroupStatus* pg = out.add_groups();
    pg->set_name(g.name);
    pg->set_table(g.table);
    pg->set_mark(g.mark);
    for (const auto& m : g.gateways) {
      v1::EgressMemberStatus* pm = pg->add_gateways();
      pm->set_node(m.node);
      pm->set_node_ip(m.node_ip);
      pm->set_egress_ip(m.egress_ip);
      pm->set_interface(m.interface);
      pm->set_state(m.state);
      pm->set_detail(m.detail);
      pm->set_local(m.local);
      pm->set_in_route(m.in_route);
    }
    for (const auto& p : g.local_pods) pg->add_local_pods(p);
    for (const auto& p : g.problems) pg->add_problems(p);
  }
  for (const auto& p : r.problems) out.add_problems(p);
}

namespace {

void to_proto(const agent::ExplainedDirection& d, v1::ExplainDirection& out) {
  out.set_direction(d.direction == model::Direction::Ingress ? "Ingress" : "Egress");
  out.set_map(d.map);
  out.set_chain(d.chain);
  for (const auto& c : d.security_group_chains) out.add_security_group_chains(c);
  for (const auto& p : d.policies) {
    v1::ExplainPolicy* pp = out.add_policies();
    pp->set_kind(model::kind_name(p.key.kind));
    pp->set_namespace_(p.key.ns);
    pp->set_name(p.key.name);
    if (p.order) pp->set_order(*p.order);
    pp->set_chain(p.chain);
    for (const auto& r : p.rules) {
      v1::ExplainRule* pr = pp->add_rules();
      pr->set_index(uint32_t(r.index));
      pr->set_action(r.action);
      pr->set_name(r.name);
      pr->set_match(r.match);
    }
    for (const auto& rule : p.nft_rules) pp->add_nft_rules(rule);
  }
  out.set_otherwise(d.otherwise);
}

}  // namespace

void to_proto(const agent::Explanation& e, v1::ExplainResponse& out) {
  out.set_namespace_(e.ns);
  out.set_pod(e.pod);
  out.set_endpoint(e.endpoint);
  out.set_interface(e.interface_name);
  for (const auto& a : e.addresses) out.add_addresses(a);
  for (const auto& g : e.security_groups) out.add_security_groups(g);
  to_proto(e.ingress, *out.mutable_ingress());
  to_proto(e.egress, *out.mutable_egress());
}

void to_proto(const agent::ReloadReport& r, v1::ReloadResponse& out) {
  for (const auto& k : r.applied) out.add_applied(k);
  for (const auto& k : r.needs_restart) out.add_needs_restart(k);
  for (const auto& k : r.failed) out.add_failed(k);
}

void to_proto(const agent::StatusReport& r, v1::StatusResponse& out) {
  using google::protobuf::util::TimeUtil;
  out.set_node_name(r.node_name);
  out.set_revision(r.revision);
  for (const auto& [kind, n] : r.counts) (*out.mutable_counts())[kind] = n;
  out.set_local_endpoints(r.local_endpoints);
  out.set_syncs(r.syncs);
  out.set_sync_errors(r.sync_errors);
  out.set_last_sync_ok(r.last_sync_ok);
  out.set_last_sync_error(r.last_sync_error);
  *out.mutable_last_sync_duration() = TimeUtil::MicrosecondsToDuration(r.last_sync_duration.count());
  if (r.last_sync_time.time_since_epoch().count() != 0)
    *out.mutable_last_sync_time() = TimeUtil::MicrosecondsToTimestamp(
        std::chrono::duration_cast<std::chrono::microseconds>(r.last_sync_time.time_since_epoch()).count());
  for (const auto& e : r.dataplane_errors) out.add_dataplane_errors(e);
  out.set_chains(r.chains);
  out.set_sets(r.sets);
  out.set_elements(r.elements);
  for (const auto& e : r.endpoints_without_interface) out.add_endpoints_without_interface(e);
  for (const auto& i : r.interfaces_without_endpoint) out.add_interfaces_without_endpoint(i);
  out.set_link_events(r.link_events);
  out.set_link_resyncs(r.link_resyncs);
  out.set_foreign_changes(r.foreign_changes);
  out.set_last_foreign_change(r.last_foreign_change);
  to_proto(r.dns, *out.mutable_dns());
  if (!r.state_file.path.empty()) {
    v1::StateFileStatus& state = *out.mutable_state_file();
    state.set_path(r.state_file.path);
    state.set_writes(r.state_file.writes);
    state.set_write_errors(r.state_file.write_errors);
    state.set_load_errors(r.state_file.load_errors);
    state.set_last_error(r.state_file.last_error);
    state.set_behind(r.state_file.behind);
  }
}

struct Server::Impl {
  Impl(agent::Service& agent, ServerOptions opts)
      : service(agent, opts.reload),
        options(std::move(opts)),
        subjects(std::make_shared<SubjectFilter>(options.tcp.allowed_subjects)) {}
  WacService service;
  ServerOptions options;
  std::shared_ptr<SubjectFilter> subjects;  // checked on every TLS call
  std::unique_ptr<grpc::Server> server;
  std::mutex mu;
};

Server::Server(agent::Service& service, ServerOptions options)
    : impl_(std::make_unique<Impl>(service, std::move(options))) {}

Server::~Server() { shutdown(); }

Status Server::start() {
  std::lock_guard lock(impl_->mu);
  if (impl_->server) return Status::Error("server already started");
  const std::string& path = impl_->options.socket_path;
  if (path.empty()) return Status::Error("no socket path configured");
  if (path.size() >= sizeof(sockaddr_un::sun_path))
    return Status::Error("socket path " + path + " is too long (at most " +
                         std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes)");
  if (Status s = make_parent_dir(path); !s) return s;
  if (Status s = remove_stale_socket(path); !s) return s;

  enable_reflection_once();
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + path, grpc::InsecureServerCredentials());
  const TcpOptions& tcp = impl_->options.tcp;
  int tcp_port = 0;
  if (!tcp.address.empty()) {
    std::shared_ptr<grpc::ServerCredentials> creds;
    if (Status s = make_server_credentials(tcp, impl_->subjects, creds); !s) return s;
    builder.AddListeningPort(tcp.address, creds, &tcp_port);
  }
  builder.RegisterService(&impl_->service);
  builder.SetMaxReceiveMessageSize(impl_->options.max_message_bytes);
  builder.SetMaxSendMessageSize(impl_->options.max_message_bytes);
  impl_->server = builder.BuildAndStart();
  if (!impl_->server)
    return Status::Error("cannot listen on unix:" + path + (tcp.address.empty() ? "" : " and " + tcp.address));
  if (!tcp.address.empty() && tcp_port == 0) {
    impl_->server->Shutdown();
    impl_->server.reset();
    ::unlink(path.c_str());
    return Status::Error("listen.address: cannot listen on " + tcp.address +
                         " (in use, or not an address of this host?)");
  }
  if (tcp.insecure && !tcp.address.empty())
    spdlog::warn("api: listening on {} WITHOUT TLS or client authentication (listen.insecure: true): "
                 "anyone who can reach it controls this node's network policy",
                 tcp.address);
  else if (!tcp.address.empty())
    spdlog::info("api: listening on {} (mutual TLS; clients: {})", tcp.address,
                 tcp.allowed_subjects.empty() ? "any the client CA signed" : "listen.allowedSubjects");
  // The socket was created under the process umask (connecting needs write
  // permission, so a 022 umask already keeps others out); tighten it now.
  if (Status s = set_socket_access(path, impl_->options.group); !s) {
    impl_->server->Shutdown();
    impl_->server.reset();
    ::unlink(path.c_str());
    return s;
  }
  return Status::Ok();
}

void Server::shutdown(std::chrono::milliseconds grace) {
  std::lock_guard lock(impl_->mu);
  if (!impl_->server) return;
  impl_->server->Shutdown(std::chrono::system_clock::now() + grace);
  impl_->server->Wait();
  impl_->server.reset();
  ::unlink(impl_->options.socket_path.c_str());
}

void Server::set_allowed_subjects(std::vector<std::string> subjects) {
  impl_->subjects->set_allowed(std::move(subjects));
}

std::shared_ptr<grpc::Channel> Server::in_process_channel() {
  std::lock_guard lock(impl_->mu);
  if (!impl_->server) return nullptr;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(impl_->options.max_message_bytes);
  args.SetMaxSendMessageSize(impl_->options.max_message_bytes);
  return impl_->server->InProcessChannel(args);
}

}  // namespace wac::api
