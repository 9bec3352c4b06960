#include "api/flow_format.h"

#include <google/protobuf/util/time_util.h>

namespace wac::api {

using google::protobuf::util::TimeUtil;

void to_proto(const agent::FlowRecord& r, v1::FlowRecord& out) {
  *out.mutable_time() = TimeUtil::MicrosecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::microseconds>(r.time.time_since_epoch()).count());
  out.set_node(r.node);
  out.set_action(r.allowed ? "allow" : "deny");
  out.set_direction(r.direction);
  out.set_namespace_(r.ns);
  out.set_pod(r.pod);
  out.set_endpoint(r.endpoint);
  out.set_interface(r.interface);
  out.set_protocol(agent::flow_protocol_name(r.tuple.protocol));
  out.set_src(r.tuple.src.str());
  out.set_dst(r.tuple.dst.str());
  if (r.tuple.src_port) out.set_src_port(*r.tuple.src_port);
  if (r.tuple.dst_port) out.set_dst_port(*r.tuple.dst_port);
  if (r.tuple.icmp_type) out.set_icmp_type(*r.tuple.icmp_type);
  if (r.tuple.icmp_code) out.set_icmp_code(*r.tuple.icmp_code);
  out.set_fragment(r.tuple.fragment);
  out.set_reason(r.reason);
  if (r.policy) {
    out.set_policy_kind(model::kind_name(r.policy->kind));
    out.set_policy_namespace(r.policy->ns);
    out.set_policy_name(r.policy->name);
  }
  if (r.rule_index) out.set_rule_index(uint32_t(*r.rule_index));
  out.set_rule_name(r.rule_name);
  out.set_rule_action(r.rule_action);
  out.set_domain(r.domain);
}

bool from_proto(const v1::FlowRecord& in, agent::FlowRecord& out, std::string& why) {
  out = {};
  out.time = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::microseconds(TimeUtil::TimestampToMicroseconds(in.time()))));
  out.node = in.node();
  out.allowed = in.action() == "allow";
  out.direction = in.direction();
  out.ns = in.namespace_();
  out.pod = in.pod();
  out.endpoint = in.endpoint();
  out.interface = in.interface();
  auto proto = agent::flow_protocol_number(in.protocol());
  auto src = IpAddr::parse(in.src()), dst = IpAddr::parse(in.dst());
  if (!proto || !src || !dst) {
    why = "unreadable protocol or address (" + in.protocol() + " " + in.src() + " -> " + in.dst() + ")";
    return false;
  }
  out.tuple.protocol = *proto;
  out.tuple.src = *src;
  out.tuple.dst = *dst;
  if (in.has_src_port()) out.tuple.src_port = uint16_t(in.src_port());
  if (in.has_dst_port()) out.tuple.dst_port = uint16_t(in.dst_port());
  if (in.has_icmp_type()) out.tuple.icmp_type = uint8_t(in.icmp_type());
  if (in.has_icmp_code()) out.tuple.icmp_code = uint8_t(in.icmp_code());
  out.tuple.fragment = in.fragment();
  out.reason = in.reason();
  if (!in.policy_kind().empty()) {
    auto kind = model::kind_from_name(in.policy_kind());
    if (!kind) {
      why = "unknown policy kind " + in.policy_kind();
      return false;
    }
    out.policy = model::Key{*kind, in.policy_namespace(), in.policy_name()};
  }
  if (in.has_rule_index()) out.rule_index = in.rule_index();
  out.rule_name = in.rule_name();
  out.rule_action = in.rule_action();
  out.domain = in.domain();
  return true;
}

}  // namespace wac::api
