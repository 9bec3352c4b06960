#include "api/table.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>

#include "api/dns_format.h"
#include "api/kinds.h"

namespace wac::api {

namespace {

using Row = std::vector<std::string>;

std::string join(const google::protobuf::RepeatedPtrField<std::string>& items, size_t max = 3) {
  std::string out;
  int n = items.size();
  for (int i = 0; i < n && size_t(i) < max; ++i) out += (out.empty() ? "" : ",") + items.Get(i);
  if (size_t(n) > max) out += ",+" + std::to_string(n - int(max));
  return out.empty() ? "<none>" : out;
}

std::string labels_text(const v1::ObjectMeta& m) {
  std::map<std::string, std::string> sorted(m.labels().begin(), m.labels().end());
  std::string out;
  for (const auto& [k, v] : sorted) out += (out.empty() ? "" : ",") + k + "=" + v;
  return out.empty() ? "<none>" : out;
}

std::string order_text(bool has, double order) {
  if (!has) return "<none>";
  std::ostringstream os;
  os << order;
  return os.str();
}

std::string or_all(const std::string& s) { return s.empty() ? "all()" : s; }

std::string types_text(const google::protobuf::RepeatedPtrField<std::string>& t, int ingress, int egress) {
  if (!t.empty()) return join(t);
  // Calico's defaulting, shown so the column never lies about an empty list.
  if (egress == 0) return "Ingress";
  return ingress == 0 ? "Egress" : "Ingress,Egress";
}

struct Table {
  Row header;
  std::vector<Row> rows;
};

Row row_for(const v1::Resource& r) {
  switch (r.kind_case()) {
    case v1::Resource::kNamespace: return {labels_text(r.namespace_().metadata())};
    case v1::Resource::kWorkloadEndpoint: {
      const auto& s = r.workload_endpoint().spec();
      return {s.node().empty() ? "<none>" : s.node(), s.pod().empty() ? "<none>" : s.pod(), s.interface_name(),
              join(s.ip_networks())};
    }
    case v1::Resource::kNetworkPolicy: {
      const auto& s = r.network_policy().spec();
      return {order_text(s.has_order(), s.order()), or_all(s.selector()),
              types_text(s.types(), s.ingress_size(), s.egress_size()), std::to_string(s.ingress_size()),
              std::to_string(s.egress_size())};
    }
    case v1::Resource::kGlobalNetworkPolicy: {
      const auto& s = r.global_network_policy().spec();
      return {order_text(s.has_order(), s.order()), or_all(s.selector()),
              types_text(s.types(), s.ingress_size(), s.egress_size()), std::to_string(s.ingress_size()),
              std::to_string(s.egress_size())};
    }
    case v1::Resource::kNetworkSet:
      return {std::to_string(r.network_set().spec().nets_size()),
              std::to_string(r.network_set().spec().allowed_egress_domains_size())};
    case v1::Resource::kGlobalNetworkSet:
      return {std::to_string(r.global_network_set().spec().nets_size()),
              std::to_string(r.global_network_set().spec().allowed_egress_domains_size())};
    case v1::Resource::kK8SNetworkPolicy: {
      const auto& s = r.k8s_network_policy().spec();
      std::string types = s.policy_types().empty() ? (s.egress_size() ? "Ingress,Egress" : "Ingress") : join(s.policy_types());
      return {types, std::to_string(s.ingress_size()), std::to_string(s.egress_size())};
    }
    case v1::Resource::kSecurityGroup: {
      const auto& s = r.security_group().spec();
      return {s.group_name().empty() ? "<none>" : s.group_name(), s.vpc_id().empty() ? "<none>" : s.vpc_id(),
              std::to_string(s.ip_permissions_size()), std::to_string(s.ip_permissions_egress_size())};
    }
    case v1::Resource::kEgressGateway: {
      const auto& s = r.egress_gateway().spec();
      std::vector<std::string> egress_ips;
      for (const auto& g : s.gateways()) egress_ips.push_back(g.node() + "=" + g.egress_ip());
      std::string pods = s.namespace_selector().empty() && s.selector().empty()
                             ? "<annotations>"
                             : or_all(s.namespace_selector()) + " / " + or_all(s.selector());
      return {order_text(s.has_order(), s.order()), pods, egress_ips.empty() ? "<none>" : [&] {
                std::string out;
                for (size_t i = 0; i < egress_ips.size() && i < 3; ++i) out += (i ? "," : "") + egress_ips[i];
                if (egress_ips.size() > 3) out += ",+" + std::to_string(egress_ips.size() - 3);
                return out;
              }(),
              s.destination_cidrs().empty() ? "<all>" : join(s.destination_cidrs())};
    }
    case v1::Resource::KIND_NOT_SET: break;
  }
  return {};
}

Row header_for(v1::Resource::KindCase k) {
  switch (k) {
    case v1::Resource::kNamespace: return {"LABELS"};
    case v1::Resource::kWorkloadEndpoint: return {"NODE", "POD", "INTERFACE", "IPS"};
    case v1::Resource::kNetworkPolicy:
    case v1::Resource::kGlobalNetworkPolicy: return {"ORDER", "SELECTOR", "TYPES", "INGRESS", "EGRESS"};
    case v1::Resource::kNetworkSet:
    case v1::Resource::kGlobalNetworkSet: return {"NETS", "DOMAINS"};
    case v1::Resource::kK8SNetworkPolicy: return {"TYPES", "INGRESS", "EGRESS"};
    case v1::Resource::kSecurityGroup: return {"GROUP-NAME", "VPC", "INGRESS", "EGRESS"};
    case v1::Resource::kEgressGateway: return {"ORDER", "NAMESPACES / PODS", "GATEWAYS", "DESTINATIONS"};
    case v1::Resource::KIND_NOT_SET: break;
  }
  return {};
}

std::string render(const Table& t) {
  std::vector<size_t> width(t.header.size(), 0);
  auto measure = [&](const Row& r) {
    for (size_t i = 0; i < r.size() && i < width.size(); ++i) width[i] = std::max(width[i], r[i].size());
  };
  measure(t.header);
  for (const auto& r : t.rows) measure(r);
  std::string out;
  auto line = [&](const Row& r) {
    std::string l;
    for (size_t i = 0; i < r.size(); ++i) {
      l += r[i];
      if (i + 1 < r.size()) l += std::string(width[i] - r[i].size() + 3, ' ');
    }
    out += l + "\n";
  };
  line(t.header);
  for (const auto& r : t.rows) line(r);
  return out;
}

}  // namespace

std::string format_table(const std::vector<v1::Resource>& resources, bool show_namespace) {
  std::string out;
  for (const auto& kind : all_kinds()) {
    Table t;
    bool ns_column = show_namespace && kind.namespaced;
    if (ns_column) t.header.push_back("NAMESPACE");
    t.header.push_back("NAME");
    for (auto& h : header_for(kind.oneof)) t.header.push_back(h);
    for (const auto& r : resources) {
      if (r.kind_case() != kind.oneof) continue;
      Row row;
      if (ns_column) row.push_back(metadata_of(r)->namespace_());
      row.push_back(metadata_of(r)->name());
      for (auto& c : row_for(r)) row.push_back(c);
      t.rows.push_back(std::move(row));
    }
    if (t.rows.empty()) continue;
    if (!out.empty()) out += "\n";
    out += render(t);
  }
  return out;
}

namespace {
std::string format_state_file(const v1::StateFileStatus& f) {
  std::ostringstream os;
  os << "State file:       " << f.path() << ": " << f.writes() << " writes, " << f.write_errors() << " failed";
  if (f.load_errors() > 0) os << ", damaged at start";
  if (f.behind()) os << ", BEHIND (accepted changes not yet written; retried)";
  os << "\n";
  if (!f.last_error().empty()) os << "  last error:     " << f.last_error() << "\n";
  return os.str();
}
}  // namespace

std::string format_status(const v1::StatusResponse& s) {
  using google::protobuf::util::TimeUtil;
  std::ostringstream os;
  os << "Node:             " << (s.node_name().empty() ? "<unknown>" : s.node_name()) << "\n";
  os << "Revision:         " << s.revision() << (s.revision() == 0 ? " (no replace-all yet)" : "") << "\n";
  os << "Local endpoints:  " << s.local_endpoints() << "\n";
  os << "Resources:";
  if (s.counts().empty()) os << "        none";
  os << "\n";
  std::map<std::string, uint64_t> counts(s.counts().begin(), s.counts().end());
  for (const auto& [kind, n] : counts) os << "  " << kind << ": " << n << "\n";
  os << "Dataplane:        " << s.chains() << " chains, " << s.sets() << " sets, " << s.elements() << " elements\n";
  os << "Syncs:            " << s.syncs() << " (" << s.sync_errors() << " failed)\n";
  os << "Last sync:        " << (s.last_sync_ok() ? "ok" : "FAILED");
  if (s.has_last_sync_time()) os << " at " << TimeUtil::ToString(s.last_sync_time());
  if (s.has_last_sync_duration())
    os << ", took " << double(TimeUtil::DurationToMicroseconds(s.last_sync_duration())) / 1000.0 << " ms";
  os << "\n";
  if (!s.last_sync_ok() && !s.last_sync_error().empty()) os << "Last error:       " << s.last_sync_error() << "\n";
  if (!s.dataplane_errors().empty()) {
    os << "Recent dataplane errors:\n";
    for (const auto& e : s.dataplane_errors()) os << "  " << e << "\n";
  }
  if (!s.endpoints_without_interface().empty()) {
    os << "Endpoints waiting for their interface:\n";
    for (const auto& e : s.endpoints_without_interface()) os << "  " << e << "\n";
  }
  if (!s.interfaces_without_endpoint().empty()) {
    os << "Workload interfaces without an endpoint (traffic dropped):\n";
    for (const auto& i : s.interfaces_without_endpoint()) os << "  " << i << "\n";
  }
  if (s.foreign_changes() > 0)
    os << "Foreign changes:  " << s.foreign_changes() << " restored (last by " << s.last_foreign_change() << ")\n";
  os << "Link events:      " << s.link_events() << " (" << s.link_resyncs() << " resyncs after overruns)\n";
  if (s.has_state_file()) os << format_state_file(s.state_file());
  os << format_dns_status(s.dns());
  return os.str();
}

// One block per gateway group: its table and mark, a row per gateway, the
// local pods that use it, and what is wrong with it.
std::string format_egress_status(const v1::EgressStatusResponse& s) {
  std::string out;
  for (const auto& g : s.groups()) {
    char mark[16];
    std::snprintf(mark, sizeof mark, "0x%08x", g.mark());
    out += "EgressGateway " + g.name() + "   table " + (g.table() ? std::to_string(g.table()) : "<none>") +
           "   mark " + mark + "\n";
    Table t;
    t.header = {"NODE", "NODE-IP", "EGRESS-IP", "INTERFACE", "STATE", "IN-ROUTE", "DETAIL"};
    for (const auto& m : g.gateways())
      t.rows.push_back({m.node() + (m.local() ? " (this node)" : ""), m.node_ip(), m.egress_ip(),
                        m.interface().empty() ? "-" : m.interface(), m.state(), m.in_route() ? "yes" : "no",
                        m.detail().empty() ? "-" : m.detail()});
    std::string rows = render(t);
    for (size_t pos = 0; pos < rows.size();) {
      size_t end = rows.find('\n', pos);
      out += "  " + rows.substr(pos, end - pos + 1);
      pos = end + 1;
    }
    std::string pods;
    for (const auto& p : g.local_pods()) pods += (pods.empty() ? "" : ", ") + p;
    out += "  Local pods using it: " + (pods.empty() ? std::string("<none>") : pods) + "\n";
    for (const auto& p : g.problems()) out += "  Problem: " + p + "\n";
    out += "\n";
  }
  if (s.groups().empty()) out += "No egress gateways\n";
  for (const auto& p : s.problems()) out += "Problem: " + p + "\n";
  return out;
}

}  // namespace wac::api
