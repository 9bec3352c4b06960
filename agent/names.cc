#include "agent/names.h"

#include <cstdio>

namespace wac::agent::names {

std::string hash12(std::string_view text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%012llx", static_cast<unsigned long long>(h >> 16));
  return buf;
}

const char* direction_name(model::Direction d) {
  return d == model::Direction::Ingress ? "ingress" : "egress";
}

std::string endpoint_label(const model::Endpoint& ep) {
  return ep.ns + "/" + (ep.pod.empty() ? ep.name : ep.pod);
}

std::string pod_chain(const model::Endpoint& ep, model::Direction d) {
  return "pod-" + endpoint_label(ep) + "-" + direction_name(d);
}

std::string policy_label(const model::Policy& p) {
  static constexpr std::string_view kK8sPrefix = "knp.default.";
  if (p.from_k8s) {
    std::string_view name = p.name;
    if (name.starts_with(kK8sPrefix)) name.remove_prefix(kK8sPrefix.size());
    return "knp " + p.ns + "/" + std::string(name);
  }
  if (p.ns.empty()) return "gnp " + p.name;
  return "np " + p.ns + "/" + p.name;
}

std::string policy_chain(const model::Policy& p, model::Direction d) {
  std::string label = policy_label(p);
  label[label.find(' ')] = '-';
  return label + "-" + direction_name(d);
}

std::string selector_set(std::string_view canonical, Family f) {
  return std::string(f == Family::V4 ? "sel4-" : "sel6-") + hash12(canonical);
}

std::string comment(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (out.size() >= 117) {
      out += "...";
      break;
    }
    if (c == '"') out += '\'';
    else if (c == '\\' || c < 0x20 || c >= 0x7f) out += '?';
    else out += char(c);
  }
  return out;
}

}  // namespace wac::agent::names
