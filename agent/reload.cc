#include "agent/reload.h"

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <set>

namespace wac::agent {

namespace {

void flatten_node(const YAML::Node& node, const std::string& prefix, std::map<std::string, std::string>& out) {
  if (node.IsMap()) {
    for (const auto& kv : node) {
      std::string key = kv.first.as<std::string>();
      flatten_node(kv.second, prefix.empty() ? key : prefix + "." + key, out);
    }
    return;
  }
  YAML::Emitter e;
  e << YAML::Flow << node;
  out[prefix] = e.c_str();
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

}  // namespace

std::map<std::string, std::string> flatten(const Config& c) {
  std::map<std::string, std::string> out;
  flatten_node(YAML::Load(c.to_yaml()), "", out);
  return out;
}

Reloader::Reloader(const Config& running, Loader load) : load_(std::move(load)), effective_(flatten(running)) {}

void Reloader::on(const std::string& key, Applier apply) {
  std::lock_guard lock(mu_);
  appliers_[key] = std::move(apply);
}

ReloadReport Reloader::reload() {
  std::lock_guard lock(mu_);
  ReloadReport report;
  Config wanted;
  if (Status s = load_(wanted); !s.ok()) {
    report.status = s;
    spdlog::error("reload: invalid configuration, nothing changed: {}", s.message());
    return report;
  }
  std::map<std::string, std::string> next = flatten(wanted);
  std::set<std::string> keys;
  for (const auto& [k, v] : effective_) keys.insert(k);
  for (const auto& [k, v] : next) keys.insert(k);
  for (const auto& key : keys) {
    const std::string& now = effective_[key];
    const std::string& want = next[key];
    if (now == want) continue;
    auto applier = appliers_.find(key);
    if (applier == appliers_.end()) {
      report.needs_restart.push_back(key);
      continue;
    }
    if (Status s = applier->second(wanted); !s.ok()) {
      report.failed.push_back(key + ": " + s.message());
      continue;
    }
    spdlog::info("reload: {} is now {} (was {})", key, want, now);
    effective_[key] = want;
    report.applied.push_back(key);
  }
  if (!report.needs_restart.empty())
    spdlog::warn("reload: {} changed but only take effect at restart; still using the running values",
                 join(report.needs_restart));
  for (const auto& f : report.failed) spdlog::error("reload: {}; keeping the running value", f);
  if (report.applied.empty() && report.needs_restart.empty() && report.failed.empty())
    spdlog::info("reload: configuration unchanged");
  return report;
}

}  // namespace wac::agent
