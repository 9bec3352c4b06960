// Control-plane benchmark: a synthetic cluster applied to one node.
//
//   agent_bench [--endpoints N] [--policies N] [--netsets N] [--cidrs-per-set N] [--local N] [--fake]
//
// Runs in a private network namespace (needs root) against the real kernel
// unless --fake.  Reports: cold convergence (calculation + one full sync),
// then the median of repeated single changes: an endpoint elsewhere in the
// cluster added and removed, one policy changed, one network set changed.
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <spdlog/cfg/env.h>
#include <spdlog/spdlog.h>

#include "agent/calc.h"
#include "agent/syncer.h"
#include "nft/backend.h"
#include "nft/fake.h"

using namespace wac;
using namespace wac::agent;
using Clock = std::chrono::steady_clock;

namespace {

struct Params {
  int endpoints = 100000, policies = 2000, netsets = 500, cidrs_per_set = 200, local = 250, apps = 1000;
  bool fake = false;
};

std::string ip4(uint32_t v) { return IpAddr::v4(v).str(); }

model::Endpoint endpoint(int i, const Params& p) {
  model::Endpoint e;
  e.ns = "ns" + std::to_string(i % 100);
  e.pod = "pod" + std::to_string(i);
  e.name = "ep" + std::to_string(i);
  e.node = i < p.local ? "node0" : "node" + std::to_string(1 + i / 250);
  char ifname[16];
  std::snprintf(ifname, sizeof ifname, "cali%08x", i);
  e.interface_name = ifname;
  e.ip_networks = {Cidr::host(IpAddr::v4((10u << 24) | uint32_t(i + 1)))};
  e.labels = {{"app", "app" + std::to_string(i % p.apps)}, {"tier", i % 3 == 0 ? "web" : i % 3 == 1 ? "api" : "db"}};
  return e;
}

model::Policy policy(int i, const Params& p) {
  model::Policy pol;
  pol.ns = i % 2 ? "ns" + std::to_string(i % 100) : "";
  pol.name = "p" + std::to_string(i);
  pol.order = i % 50;
  pol.selector = "app == 'app" + std::to_string(i % p.apps) + "'";
  pol.applies_ingress = pol.applies_egress = true;
  model::Rule in;
  in.protocol = 6;
  in.source.selector = "app == 'app" + std::to_string((i * 7 + 1) % p.apps) + "' && tier in {'web', 'api'}";
  in.destination.ports = {{uint16_t(1000 + i % 100), uint16_t(1000 + i % 100), ""}};
  model::Rule out;
  out.destination.selector = "netset == 'set" + std::to_string(i % std::max(1, p.netsets)) + "'";
  if (!pol.ns.empty()) out.destination.namespace_selector = "global()";
  pol.ingress = {in};
  pol.egress = {out};
  return pol;
}

model::NetworkSet netset(int i, const Params& p, int salt) {
  model::NetworkSet s;
  s.name = "set" + std::to_string(i);
  s.labels = {{"netset", s.name}};
  for (int c = 0; c < p.cidrs_per_set; ++c) {
    uint32_t base = (100u << 24) + uint32_t(i * p.cidrs_per_set + c + salt) * 256u;
    s.nets.push_back(*Cidr::parse(ip4(base) + "/24"));
  }
  return s;
}

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::cfg::load_env_levels();  // SPDLOG_LEVEL=debug shows each nft transaction's time
  Params p;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::atoi(argv[++i]) : 0; };
    if (a == "--endpoints") p.endpoints = next();
    else if (a == "--policies") p.policies = next();
    else if (a == "--netsets") p.netsets = next();
    else if (a == "--cidrs-per-set") p.cidrs_per_set = next();
    else if (a == "--local") p.local = next();
    else if (a == "--fake") p.fake = true;
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (!p.fake && unshare(CLONE_NEWNET) != 0) {
    std::perror("unshare(CLONE_NEWNET) (run as root, or pass --fake)");
    return 1;
  }
  std::unique_ptr<nft::Backend> backend =
      p.fake ? std::unique_ptr<nft::Backend>(new nft::FakeBackend) : nft::make_kernel_backend();
  Calculator calc(CalcConfig{"node0"});
  Syncer syncer(*backend);

  auto t0 = Clock::now();
  for (int i = 0; i < 100; ++i) calc.upsert_namespace({"ns" + std::to_string(i), {{"team", "t" + std::to_string(i % 10)}}, {}});
  for (int i = 0; i < p.netsets; ++i) calc.upsert_network_set(netset(i, p, 0));
  for (int i = 0; i < p.policies; ++i) calc.upsert_policy({model::Kind::GlobalNetworkPolicy, "", "p" + std::to_string(i)}, policy(i, p));
  for (int i = 0; i < p.endpoints; ++i) calc.upsert_endpoint(endpoint(i, p));
  calc.recompute();
  double calc_ms = ms_since(t0);
  auto t1 = Clock::now();
  SyncResult cold = syncer.sync(calc.desired());
  double sync_ms = ms_since(t1);
  if (!cold.status.ok()) {
    std::fprintf(stderr, "cold sync failed: %s\n", cold.status.message().c_str());
    return 1;
  }
  size_t elements = 0;
  for (const auto& [n, s] : calc.desired().sets) elements += s.elements.size();
  std::printf("cluster: %d endpoints (%d local), %d policies (%zu active), %d network sets x %d CIDRs; backend %s\n",
              p.endpoints, p.local, p.policies, calc.active_policy_count(), p.netsets, p.cidrs_per_set,
              p.fake ? "fake" : "kernel");
  std::printf("programmed: %zu chains, %zu sets, %zu elements\n", calc.desired().chains.size(),
              calc.desired().sets.size(), elements);
  std::printf("cold convergence: %.1f ms (calculation %.1f ms + sync %.1f ms, %zu ops)\n", calc_ms + sync_ms,
              calc_ms, sync_ms, cold.operations);

  auto measure = [&](const char* what, auto&& change) {
    std::vector<double> total, calculation, sync;
    for (int r = 0; r < 21; ++r) {
      auto t = Clock::now();
      change(r);
      calc.recompute();
      calculation.push_back(ms_since(t) * 1000.0);
      SyncResult res = syncer.sync(calc.desired());
      total.push_back(ms_since(t) * 1000.0);
      sync.push_back(double(res.duration.count()));  // diff + backend call
      if (!res.status.ok()) std::fprintf(stderr, "%s: sync failed: %s\n", what, res.status.message().c_str());
    }
    std::printf("%-44s median %8.1f us (calculation %.1f, sync %.1f)\n", what, median(total), median(calculation),
                median(sync));
  };
  measure("remote endpoint added or removed", [&](int r) {
    model::Endpoint e = endpoint(p.endpoints + 1, p);
    // Matches the source selector of policy p0 (global, active on this node),
    // so each change is one element added to or removed from a kernel set.
    e.labels = {{"app", "app1"}, {"tier", "web"}};
    if (r % 2 == 0) calc.upsert_endpoint(e);
    else calc.remove_endpoint(e.ns, e.name);
  });
  measure("one policy changed (port)", [&](int r) {
    model::Policy pol = policy(0, p);
    pol.ingress[0].destination.ports = {{uint16_t(2000 + r), uint16_t(2000 + r), ""}};
    calc.upsert_policy({model::Kind::GlobalNetworkPolicy, "", "p0"}, pol);
  });
  measure("one network set changed (all CIDRs moved)", [&](int r) { calc.upsert_network_set(netset(0, p, r % 2 ? 7 : 0)); });
  return 0;
}
