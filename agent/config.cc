#include "agent/config.h"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "agent/host_port.h"

namespace wac::agent {

namespace {

struct Reader {
  std::string prefix;
  Status error;

  std::string where(const std::string& key) const { return prefix.empty() ? key : prefix + "." + key; }
  void fail(const std::string& key, const std::string& what) {
    if (error.ok()) error = Status::Error(where(key) + ": " + what);
  }

  bool check_keys(const YAML::Node& map, const std::set<std::string>& known) {
    if (!map.IsMap()) {
      fail("", "expected a mapping");
      return false;
    }
    for (const auto& kv : map) {
      std::string k = kv.first.as<std::string>();
      if (!known.count(k)) fail(k, "unknown key");
    }
    return error.ok();
  }

  void string(const YAML::Node& map, const char* key, std::string& out) {
    if (auto n = map[key]) {
      if (!n.IsScalar()) return fail(key, "expected a string");
      out = n.as<std::string>();
    }
  }

  template <class T>
  void unsigned_int(const YAML::Node& map, const char* key, T& out, uint64_t max) {
    auto n = map[key];
    if (!n) return;
    std::string text = n.IsScalar() ? n.as<std::string>() : "";
    try {
      size_t used = 0;
      unsigned long long v = std::stoull(text, &used, 0);
      if (used != text.size() || text.empty() || text[0] == '-') throw std::invalid_argument("");
      if (v > max) return fail(key, "must be at most " + std::to_string(max));
      out = T(v);
    } catch (const std::exception&) {
      fail(key, "expected an unsigned integer, got \"" + text + "\"");
    }
  }

  void boolean(const YAML::Node& map, const char* key, bool& out) {
    auto n = map[key];
    if (!n) return;
    std::string t = n.IsScalar() ? n.as<std::string>() : "";
    if (t == "true") out = true;
    else if (t == "false") out = false;
    else fail(key, "expected true or false, got \"" + t + "\"");
  }

  void strings(const YAML::Node& map, const char* key, std::vector<std::string>& out) {
    auto n = map[key];
    if (!n) return;
    if (!n.IsSequence()) return fail(key, "expected a list of strings");
    out.clear();
    for (const auto& item : n) out.push_back(item.as<std::string>());
  }

  void address(const YAML::Node& map, const char* key, std::optional<IpAddr>& out) {
    std::string text;
    string(map, key, text);
    if (text.empty()) return;
    out = IpAddr::parse(text);
    if (!out) fail(key, "invalid IP address \"" + text + "\"");
  }

  void addresses(const YAML::Node& map, const char* key, std::vector<IpAddr>& out) {
    std::vector<std::string> texts;
    strings(map, key, texts);
    out.clear();
    for (size_t i = 0; i < texts.size(); ++i) {
      auto a = IpAddr::parse(texts[i]);
      if (!a) return fail(std::string(key) + "[" + std::to_string(i) + "]", "invalid IP address \"" + texts[i] + "\"");
      out.push_back(*a);
    }
  }
};

void read_dns(const YAML::Node& n, DnsConfig& d, Reader& r) {
  Reader sub{r.where("dns"), {}};
  if (sub.check_keys(n, {"tapGroup", "trustedServers", "clusterDNS", "ttlGraceSeconds", "minTTLSeconds",
                         "maxTTLSeconds", "maxAddressesPerName", "holdResponses", "holdQueue",
                         "cacheSaveIntervalSeconds"})) {
    sub.unsigned_int(n, "tapGroup", d.tap_group, 65535);
    sub.addresses(n, "trustedServers", d.trusted_servers);
    sub.address(n, "clusterDNS", d.cluster_dns);
    sub.unsigned_int(n, "ttlGraceSeconds", d.ttl_grace_seconds, 86400);
    sub.unsigned_int(n, "minTTLSeconds", d.min_ttl_seconds, 86400 * 7);
    sub.unsigned_int(n, "maxTTLSeconds", d.max_ttl_seconds, 86400 * 7);
    sub.unsigned_int(n, "maxAddressesPerName", d.max_addresses_per_name, 1'000'000);
    sub.boolean(n, "holdResponses", d.hold_responses);
    sub.unsigned_int(n, "holdQueue", d.hold_queue, 65535);
    sub.unsigned_int(n, "cacheSaveIntervalSeconds", d.cache_save_interval_seconds, 86400);
  }
  if (!sub.error.ok() && r.error.ok()) r.error = sub.error;
}

// "20000-20999": a first and a last table ID.
void read_table_range(const YAML::Node& n, EgressConfig& e, Reader& r) {
  std::string text;
  r.string(n, "tableRange", text);
  if (text.empty()) return;
  auto dash = text.find('-');
  try {
    if (dash == std::string::npos) throw std::invalid_argument("");
    size_t used1 = 0, used2 = 0;
    std::string first = text.substr(0, dash), last = text.substr(dash + 1);
    unsigned long long a = std::stoull(first, &used1), b = std::stoull(last, &used2);
    if (used1 != first.size() || used2 != last.size() || a > 0xffffffffull || b > 0xffffffffull)
      throw std::invalid_argument("");
    e.table_first = uint32_t(a);
    e.table_last = uint32_t(b);
  } catch (const std::exception&) {
    r.fail("tableRange", "expected FIRST-LAST table IDs, e.g. 20000-20999, got \"" + text + "\"");
  }
}

void read_egress(const YAML::Node& n, EgressConfig& e, Reader& r) {
  Reader sub{r.where("egress"), {}};
  if (sub.check_keys(n, {"clusterCIDRs", "tableRange", "rulePriority", "markMask", "routeProtocol", "setSysctls",
                         "gatewayNodes"})) {
    std::vector<std::string> cidrs;
    sub.strings(n, "clusterCIDRs", cidrs);
    if (n["clusterCIDRs"]) e.cluster_cidrs.clear();
    for (size_t i = 0; i < cidrs.size(); ++i) {
      auto c = Cidr::parse(cidrs[i], /*allow_host_bits=*/false);
      if (!c) sub.fail("clusterCIDRs[" + std::to_string(i) + "]", "invalid CIDR \"" + cidrs[i] + "\"");
      else e.cluster_cidrs.push_back(*c);
    }
    read_table_range(n, e, sub);
    sub.unsigned_int(n, "rulePriority", e.rule_priority, 0xffffffffu);
    sub.unsigned_int(n, "markMask", e.mark_mask, 0xffffffffu);
    sub.unsigned_int(n, "routeProtocol", e.route_protocol, 255);
    sub.boolean(n, "setSysctls", e.set_sysctls);
    sub.strings(n, "gatewayNodes", e.gateway_nodes);
  }
  if (!sub.error.ok() && r.error.ok()) r.error = sub.error;
}

Status validate_egress(const EgressConfig& e, uint32_t verdict_mark) {
  if (e.table_first == 0 || e.table_first > e.table_last)
    return Status::Error("egress.tableRange: FIRST must be at least 1 and not above LAST");
  if (e.table_first <= 255 && e.table_last >= 253)
    return Status::Error("egress.tableRange: must not include the kernel's tables 253-255 (default, main, local)");
  if (e.rule_priority == 0 || e.rule_priority >= 32766)
    return Status::Error("egress.rulePriority: must be 1-32765 (before the main table's rule)");
  uint32_t m = e.mark_mask;
  if (m == 0 || ((m >> __builtin_ctz(m)) & ((m >> __builtin_ctz(m)) + 1)) != 0)
    return Status::Error("egress.markMask: must be one run of contiguous bits, e.g. 0x0ff00000");
  if (m & verdict_mark) return Status::Error("egress.markMask: overlaps verdictMark");
  if (e.route_protocol <= 4)
    return Status::Error("egress.routeProtocol: 0-4 are the kernel's own (unspec, redirect, kernel, boot, static)");
  for (size_t i = 0; i < e.gateway_nodes.size(); ++i)
    if (e.gateway_nodes[i].empty()) return Status::Error("egress.gatewayNodes[" + std::to_string(i) + "]: empty");
  return Status::Ok();
}

void read_flow_logs(const YAML::Node& n, FlowLogConfig& f, Reader& r) {
  Reader sub{r.where("flowLogs"), {}};
  if (sub.check_keys(n, {"enabled", "nflogGroup", "file", "maxFileSizeMB", "logAllowed", "rateLimit", "burst",
                         "kernelRateLimit"})) {
    sub.boolean(n, "enabled", f.enabled);
    sub.unsigned_int(n, "nflogGroup", f.nflog_group, 65535);
    sub.string(n, "file", f.file);
    sub.unsigned_int(n, "maxFileSizeMB", f.max_file_size_mb, 1024 * 1024);
    sub.boolean(n, "logAllowed", f.log_allowed);
    sub.unsigned_int(n, "rateLimit", f.rate_limit, 1'000'000);
    sub.unsigned_int(n, "burst", f.burst, 1'000'000);
    sub.unsigned_int(n, "kernelRateLimit", f.kernel_rate_limit, 1'000'000);
  }
  if (!sub.error.ok() && r.error.ok()) r.error = sub.error;
}

// The kernel limit is the coarse guard (a flood never reaches wacd beyond
// it); wacd's own limit below it decides what is written, and counts the rest.
Status validate_flow_logs(const FlowLogConfig& f, const DnsConfig& dns) {
  if (dns.tap_group != 0 && f.nflog_group == dns.tap_group)
    return Status::Error("flowLogs.nflogGroup: must differ from dns.tapGroup (" + std::to_string(dns.tap_group) +
                         "): one nflog group has one reader");
  if (!f.file.empty() && f.file[0] != '/') return Status::Error("flowLogs.file: must be an absolute path");
  if (f.max_file_size_mb == 0) return Status::Error("flowLogs.maxFileSizeMB: must be at least 1");
  if (f.rate_limit == 0) return Status::Error("flowLogs.rateLimit: must be at least 1 record per second");
  if (f.burst == 0) return Status::Error("flowLogs.burst: must be at least 1");
  if (f.kernel_rate_limit < f.rate_limit)
    return Status::Error("flowLogs.kernelRateLimit: must be at least flowLogs.rateLimit (" +
                         std::to_string(f.rate_limit) + "), or wacd would never see what it is allowed to write");
  return Status::Ok();
}

void read_listen(const YAML::Node& n, ListenConfig& l, Reader& r) {
  Reader sub{r.where("listen"), {}};
  if (sub.check_keys(n, {"address", "tlsCert", "tlsKey", "clientCA", "allowedSubjects", "insecure"})) {
    sub.string(n, "address", l.address);
    sub.string(n, "tlsCert", l.tls_cert);
    sub.string(n, "tlsKey", l.tls_key);
    sub.string(n, "clientCA", l.client_ca);
    sub.strings(n, "allowedSubjects", l.allowed_subjects);
    sub.boolean(n, "insecure", l.insecure);
  }
  if (!sub.error.ok() && r.error.ok()) r.error = sub.error;
}

Status validate_address(const char* key, const std::string& text) {
  std::string why;
  if (!text.empty() && !parse_host_port(text, &why))
    return Status::Error(std::string(key) + ": expected IP:PORT or [IPv6]:PORT, got \"" + text + "\": " + why);
  return Status::Ok();
}

// Plaintext only when asked for by name; TLS needs all three files.
Status validate_listen(const ListenConfig& l) {
  if (Status s = validate_address("listen.address", l.address); !s.ok()) return s;
  const std::pair<const char*, const std::string*> files[] = {
      {"listen.tlsCert", &l.tls_cert}, {"listen.tlsKey", &l.tls_key}, {"listen.clientCA", &l.client_ca}};
  for (const auto& [key, path] : files) {
    if (!path->empty() && (*path)[0] != '/') return Status::Error(std::string(key) + ": must be an absolute path");
    if (l.insecure && !path->empty())
      return Status::Error(std::string(key) + ": cannot be combined with listen.insecure: true");
    if (!l.address.empty() && !l.insecure && path->empty())
      return Status::Error(std::string(key) + ": required for the TCP listener (mutual TLS); "
                           "or set listen.insecure: true for plaintext");
  }
  for (size_t i = 0; i < l.allowed_subjects.size(); ++i)
    if (l.allowed_subjects[i].empty())
      return Status::Error("listen.allowedSubjects[" + std::to_string(i) + "]: must not be empty");
  if (l.insecure && !l.allowed_subjects.empty())
    return Status::Error("listen.allowedSubjects: needs client certificates, which listen.insecure: true turns off");
  return Status::Ok();
}

}  // namespace

Status Config::from_yaml(const std::string& text, Config& out) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return Status::Error(std::string("invalid YAML: ") + e.what());
  }
  if (root.IsNull()) return out.validate();
  Reader r;
  if (!r.check_keys(root, {"nodeName", "socket", "socketGroup", "stateDir", "workloadInterfacePrefixes",
                           "endpointToHostAction", "verdictMark", "logLevel", "metricsAddress", "listen", "dns", "egress",
                           "flowLogs"}))
    return r.error;
  try {
    r.string(root, "nodeName", out.node_name);
    r.string(root, "socket", out.socket);
    r.string(root, "socketGroup", out.socket_group);
    r.string(root, "stateDir", out.state_dir);
    r.strings(root, "workloadInterfacePrefixes", out.iface_prefixes);
    std::string action = out.endpoint_to_host_allow ? "Accept" : "Drop";
    r.string(root, "endpointToHostAction", action);
    if (action == "Accept") out.endpoint_to_host_allow = true;
    else if (action == "Drop") out.endpoint_to_host_allow = false;
    else r.fail("endpointToHostAction", "expected Accept or Drop, got \"" + action + "\"");
    r.unsigned_int(root, "verdictMark", out.verdict_mark, 0xffffffffu);
    r.string(root, "logLevel", out.log_level);
    r.string(root, "metricsAddress", out.metrics_address);
    if (auto listen = root["listen"]) read_listen(listen, out.listen, r);
    if (auto dns = root["dns"]) read_dns(dns, out.dns, r);
    if (auto egress = root["egress"]) read_egress(egress, out.egress, r);
    if (auto flows = root["flowLogs"]) read_flow_logs(flows, out.flow_logs, r);
  } catch (const YAML::Exception& e) {
    r.fail("", std::string("invalid value: ") + e.what());
  }
  if (!r.error.ok()) return r.error;
  return out.validate();
}

Status Config::from_file(const std::string& path, Config& out) {
  std::ifstream in(path);
  if (!in) return Status::Error("cannot read config file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  Status s = from_yaml(ss.str(), out);
  if (!s.ok()) return Status::Error(path + ": " + s.message());
  return s;
}

Status Config::validate() const {
  if (node_name.empty()) return Status::Error("nodeName: must not be empty");
  if (socket.empty() || socket[0] != '/') return Status::Error("socket: must be an absolute path");
  if (state_dir.empty() || state_dir[0] != '/') return Status::Error("stateDir: must be an absolute path");
  if (iface_prefixes.empty()) return Status::Error("workloadInterfacePrefixes: at least one prefix is needed");
  for (size_t i = 0; i < iface_prefixes.size(); ++i) {
    const auto& p = iface_prefixes[i];
    bool ok = !p.empty() && p.size() < 15;
    for (char c : p) ok &= std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    if (!ok)
      return Status::Error("workloadInterfacePrefixes[" + std::to_string(i) + "]: \"" + p +
                           "\" is not an interface name prefix (1-14 of [A-Za-z0-9._-])");
  }
  if (verdict_mark == 0 || (verdict_mark & (verdict_mark - 1)) != 0)
    return Status::Error("verdictMark: must be a single bit");
  static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error"};
  if (!levels.count(log_level)) return Status::Error("logLevel: expected one of trace, debug, info, warn, error");
  if (dns.min_ttl_seconds > dns.max_ttl_seconds)
    return Status::Error("dns.minTTLSeconds: must not exceed dns.maxTTLSeconds");
  if (dns.max_addresses_per_name == 0) return Status::Error("dns.maxAddressesPerName: must be at least 1");
  if (dns.cache_save_interval_seconds == 0) return Status::Error("dns.cacheSaveIntervalSeconds: must be at least 1");
  if (Status s = validate_egress(egress, verdict_mark); !s.ok()) return s;
  if (Status s = validate_address("metricsAddress", metrics_address); !s.ok()) return s;
  if (auto a = parse_host_port(metrics_address); a && !a->host.is_v4())
    return Status::Error("metricsAddress: must be an IPv4 address (the metrics server, civetweb as Debian builds "
                         "it, has no IPv6), got \"" + metrics_address + "\"");
  if (Status s = validate_listen(listen); !s.ok()) return s;
  if (Status s = validate_flow_logs(flow_logs, dns); !s.ok()) return s;
  return Status::Ok();
}

std::string Config::flow_log_file() const {
  return flow_logs.file.empty() ? state_dir + "/flows.log" : flow_logs.file;
}

std::string Config::to_yaml() const {
  YAML::Emitter e;
  e << YAML::BeginMap;
  e << YAML::Key << "nodeName" << YAML::Value << node_name;
  e << YAML::Key << "socket" << YAML::Value << socket;
  e << YAML::Key << "socketGroup" << YAML::Value << socket_group;
  e << YAML::Key << "stateDir" << YAML::Value << state_dir;
  e << YAML::Key << "workloadInterfacePrefixes" << YAML::Value << YAML::Flow << iface_prefixes;
  e << YAML::Key << "endpointToHostAction" << YAML::Value << (endpoint_to_host_allow ? "Accept" : "Drop");
  e << YAML::Key << "verdictMark" << YAML::Value << YAML::Hex << verdict_mark << YAML::Dec;
  e << YAML::Key << "logLevel" << YAML::Value << log_level;
  e << YAML::Key << "metricsAddress" << YAML::Value << metrics_address;
  e << YAML::Key << "listen" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "address" << YAML::Value << listen.address;
  e << YAML::Key << "tlsCert" << YAML::Value << listen.tls_cert;
  e << YAML::Key << "tlsKey" << YAML::Value << listen.tls_key;
  e << YAML::Key << "clientCA" << YAML::Value << listen.client_ca;
  e << YAML::Key << "allowedSubjects" << YAML::Value << YAML::Flow << listen.allowed_subjects;
  e << YAML::Key << "insecure" << YAML::Value << listen.insecure;
  e << YAML::EndMap;
  e << YAML::Key << "dns" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "tapGroup" << YAML::Value << dns.tap_group;
  std::vector<std::string> trusted;
  for (const auto& a : dns.trusted_servers) trusted.push_back(a.str());
  e << YAML::Key << "trustedServers" << YAML::Value << YAML::Flow << trusted;
  if (dns.cluster_dns) e << YAML::Key << "clusterDNS" << YAML::Value << dns.cluster_dns->str();
  e << YAML::Key << "ttlGraceSeconds" << YAML::Value << dns.ttl_grace_seconds;
  e << YAML::Key << "minTTLSeconds" << YAML::Value << dns.min_ttl_seconds;
  e << YAML::Key << "maxTTLSeconds" << YAML::Value << dns.max_ttl_seconds;
  e << YAML::Key << "maxAddressesPerName" << YAML::Value << dns.max_addresses_per_name;
  e << YAML::Key << "holdResponses" << YAML::Value << dns.hold_responses;
  e << YAML::Key << "holdQueue" << YAML::Value << dns.hold_queue;
  e << YAML::Key << "cacheSaveIntervalSeconds" << YAML::Value << dns.cache_save_interval_seconds;
  e << YAML::EndMap;
  e << YAML::Key << "egress" << YAML::Value << YAML::BeginMap;
  std::vector<std::string> cluster;
  for (const auto& c : egress.cluster_cidrs) cluster.push_back(c.str());
  e << YAML::Key << "clusterCIDRs" << YAML::Value << YAML::Flow << cluster;
  e << YAML::Key << "tableRange" << YAML::Value
    << std::to_string(egress.table_first) + "-" + std::to_string(egress.table_last);
  e << YAML::Key << "rulePriority" << YAML::Value << egress.rule_priority;
  e << YAML::Key << "markMask" << YAML::Value << YAML::Hex << egress.mark_mask << YAML::Dec;
  e << YAML::Key << "routeProtocol" << YAML::Value << unsigned(egress.route_protocol);
  e << YAML::Key << "setSysctls" << YAML::Value << egress.set_sysctls;
  e << YAML::Key << "gatewayNodes" << YAML::Value << YAML::Flow << egress.gateway_nodes;
  e << YAML::EndMap;
  e << YAML::Key << "flowLogs" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "enabled" << YAML::Value << flow_logs.enabled;
  e << YAML::Key << "nflogGroup" << YAML::Value << flow_logs.nflog_group;
  e << YAML::Key << "file" << YAML::Value << flow_logs.file;
  e << YAML::Key << "maxFileSizeMB" << YAML::Value << flow_logs.max_file_size_mb;
  e << YAML::Key << "logAllowed" << YAML::Value << flow_logs.log_allowed;
  e << YAML::Key << "rateLimit" << YAML::Value << flow_logs.rate_limit;
  e << YAML::Key << "burst" << YAML::Value << flow_logs.burst;
  e << YAML::Key << "kernelRateLimit" << YAML::Value << flow_logs.kernel_rate_limit;
  e << YAML::EndMap << YAML::EndMap;
  return e.c_str();
}

}  // namespace wac::agent
