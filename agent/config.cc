#include "agent/config.h"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

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
                         "maxTTLSeconds", "maxAddressesPerName"})) {
    sub.unsigned_int(n, "tapGroup", d.tap_group, 65535);
    sub.addresses(n, "trustedServers", d.trusted_servers);
    sub.address(n, "clusterDNS", d.cluster_dns);
    sub.unsigned_int(n, "ttlGraceSeconds", d.ttl_grace_seconds, 86400);
    sub.unsigned_int(n, "minTTLSeconds", d.min_ttl_seconds, 86400 * 7);
    sub.unsigned_int(n, "maxTTLSeconds", d.max_ttl_seconds, 86400 * 7);
    sub.unsigned_int(n, "maxAddressesPerName", d.max_addresses_per_name, 1'000'000);
  }
  if (!sub.error.ok() && r.error.ok()) r.error = sub.error;
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
                           "endpointToHostAction", "verdictMark", "logLevel", "dns"}))
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
    if (auto dns = root["dns"]) read_dns(dns, out.dns, r);
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
  return Status::Ok();
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
  e << YAML::EndMap << YAML::EndMap;
  return e.c_str();
}

}  // namespace wac::agent
