#include <catch2/catch.hpp>

#include <prometheus/counter.h>
#include <prometheus/text_serializer.h>

#include <sstream>

#include "agent/metrics.h"

using namespace wac;
using namespace wac::agent;

namespace {

std::string serialize(const std::vector<prometheus::MetricFamily>& families) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

bool has_line(const std::string& text, const std::string& line) {
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (l == line) return true;
  return false;
}

}  // namespace

TEST_CASE("status families carry the agent's counts under stable names") {
  StatusReport r;
  r.counts = {{"NetworkPolicy", 3}, {"WorkloadEndpoint", 7}};
  r.local_endpoints = 5;
  r.chains = 12;
  r.sets = 4;
  r.elements = 40;
  r.sync_errors = 2;
  r.last_sync_ok = false;
  r.link_events = 9;
  r.link_resyncs = 1;
  r.endpoints_without_interface = {"default/a (cali1)"};
  r.interfaces_without_endpoint = {"cali2", "cali3"};
  r.last_sync_time = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  std::string text = serialize(status_families(r, 2));

  CHECK(has_line(text, "wac_agent_up 1"));
  CHECK(has_line(text, "wac_local_endpoints 5"));
  CHECK(has_line(text, "wac_active_policies 2"));
  CHECK(has_line(text, "wac_resources{kind=\"NetworkPolicy\"} 3"));
  CHECK(has_line(text, "wac_resources{kind=\"WorkloadEndpoint\"} 7"));
  CHECK(has_line(text, "wac_dataplane_chains 12"));
  CHECK(has_line(text, "wac_dataplane_sets 4"));
  CHECK(has_line(text, "wac_dataplane_set_elements 40"));
  CHECK(has_line(text, "wac_dataplane_errors_total 2"));
  CHECK(has_line(text, "wac_last_sync_success 0"));
  CHECK(has_line(text, "wac_last_sync_timestamp_seconds 1700000000"));
  CHECK(has_line(text, "wac_link_events_total 9"));
  CHECK(has_line(text, "wac_link_resyncs_total 1"));
  CHECK(has_line(text, "wac_endpoints_without_interface 1"));
  CHECK(has_line(text, "wac_workload_interfaces_without_endpoint 2"));
  CHECK(has_line(text, "# TYPE wac_dataplane_errors_total counter"));
  CHECK(has_line(text, "# TYPE wac_local_endpoints gauge"));
}

TEST_CASE("a never-synced agent reports no sync time rather than a bogus one") {
  std::string text = serialize(status_families(StatusReport{}, 0));
  CHECK(has_line(text, "wac_last_sync_timestamp_seconds 0"));
  CHECK(has_line(text, "wac_last_sync_success 1"));
}

TEST_CASE("syncs are counted by path and result, with their duration") {
  Metrics m("9.9.9");
  std::string before = m.text();
  // Every series exists before anything happened.
  CHECK(has_line(before, "wac_syncs_total{path=\"full\",result=\"ok\"} 0"));
  CHECK(has_line(before, "wac_syncs_total{path=\"elements\",result=\"error\"} 0"));
  CHECK(has_line(before, "wac_nft_operations_total{operation=\"transaction\",result=\"ok\"} 0"));
  CHECK(has_line(before, "wac_build_info{version=\"9.9.9\"} 1"));

  SyncResult ok;
  ok.path = SyncResult::Path::Elements;
  ok.duration = std::chrono::microseconds(300);
  m.record_sync(ok);
  m.record_sync(ok);
  SyncResult failed;
  failed.path = SyncResult::Path::Full;
  failed.status = Status::Error("nft: boom");
  failed.duration = std::chrono::milliseconds(20);
  m.record_sync(failed);
  m.record_sync(SyncResult{});  // nothing to do: not a sync

  std::string text = m.text();
  CHECK(has_line(text, "wac_syncs_total{path=\"elements\",result=\"ok\"} 2"));
  CHECK(has_line(text, "wac_syncs_total{path=\"full\",result=\"error\"} 1"));
  CHECK(has_line(text, "wac_syncs_total{path=\"full\",result=\"ok\"} 0"));
  CHECK(has_line(text, "wac_sync_duration_seconds_count{path=\"elements\"} 2"));
  CHECK(has_line(text, "wac_sync_duration_seconds_bucket{path=\"elements\",le=\"0.0005\"} 2"));
  CHECK(has_line(text, "wac_sync_duration_seconds_bucket{path=\"elements\",le=\"0.00025\"} 0"));
  CHECK(has_line(text, "wac_sync_duration_seconds_sum{path=\"full\"} 0.02"));
  // No agent attached: no agent families at all (not zeros that look real).
  CHECK(text.find("wac_local_endpoints") == std::string::npos);
}

TEST_CASE("kernel operations are timed by kind") {
  Metrics m;
  m.record_nft_operation({nft::OperationTiming::Kind::Transaction, std::chrono::milliseconds(3), true});
  m.record_nft_operation({nft::OperationTiming::Kind::Elements, std::chrono::microseconds(40), false});
  std::string text = m.text();
  CHECK(has_line(text, "wac_nft_operations_total{operation=\"transaction\",result=\"ok\"} 1"));
  CHECK(has_line(text, "wac_nft_operations_total{operation=\"elements\",result=\"error\"} 1"));
  CHECK(has_line(text, "wac_nft_operation_duration_seconds_bucket{operation=\"transaction\",le=\"0.0025\"} 0"));
  CHECK(has_line(text, "wac_nft_operation_duration_seconds_bucket{operation=\"transaction\",le=\"0.005\"} 1"));
  CHECK(has_line(text, "wac_nft_operation_duration_seconds_count{operation=\"read\"} 0"));
}

TEST_CASE("other parts of wacd register their own families on the registry") {
  Metrics m;
  auto& family = prometheus::BuildCounter().Name("wac_test_things_total").Help("things").Register(m.registry());
  family.Add({{"result", "parsed"}}).Increment(3);
  CHECK(has_line(m.text(), "wac_test_things_total{result=\"parsed\"} 3"));
}

TEST_CASE("serving metrics on a bad address fails with the address named, \"\" is off") {
  Metrics m;
  Status s = m.serve("127.0.0.1:99999");
  REQUIRE_FALSE(s.ok());
  CHECK_THAT(s.message(), Catch::Contains("127.0.0.1:99999"));
  CHECK(m.address().empty());
  CHECK(m.serve("").ok());
}

TEST_CASE("DNS families count the tap's packets by outcome and addresses per pattern") {
  DnsTapStats s;
  s.enabled = true;
  s.hold_active = true;
  s.parse.responses_seen = 10;
  s.parse.parsed = 7;
  s.parse.untrusted = 2;
  s.parse.malformed = 1;
  s.nflog_enobufs = 3;
  s.held_copies_skipped = 4;  // received, recognised, not parsed again
  s.unheld = 5;
  s.names = 2;
  s.addresses = 3;
  std::vector<LearnedName> names(2);
  names[0].name = "api.example.test";
  names[0].addresses.resize(2);
  names[0].patterns = {"api.example.test", "*.example.test"};
  names[1].name = "www.example.test";
  names[1].addresses.resize(1);
  names[1].patterns = {"*.example.test"};
  std::string text = serialize(dns_families(s, names));
  CHECK(has_line(text, "wac_dns_tap_up 1"));
  CHECK(has_line(text, "wac_dns_hold_active 1"));
  CHECK(has_line(text, "wac_dns_packets_total 14"));
  CHECK(has_line(text, "wac_dns_responses_parsed_total 7"));
  CHECK(has_line(text, "wac_dns_rejected_total{reason=\"untrusted\"} 2"));
  CHECK(has_line(text, "wac_dns_rejected_total{reason=\"malformed\"} 1"));
  CHECK(has_line(text, "wac_dns_tap_enobufs_total{path=\"log\"} 3"));
  CHECK(has_line(text, "wac_dns_hold_unheld_total 5"));
  CHECK(has_line(text, "wac_dns_learned_addresses 3"));
  CHECK(has_line(text, "wac_dns_learned_addresses_by_pattern{pattern=\"*.example.test\"} 3"));
  CHECK(has_line(text, "wac_dns_learned_addresses_by_pattern{pattern=\"api.example.test\"} 2"));
}

TEST_CASE("the DNS cache file's saves and load errors are counted") {
  DnsTapStats s;
  s.cache_saves = 4;
  s.cache_save_errors = 2;
  s.cache_load_errors = 1;
  std::string text = serialize(dns_families(s, {}));
  CHECK(has_line(text, "wac_dns_cache_saves_total{result=\"ok\"} 4"));
  CHECK(has_line(text, "wac_dns_cache_saves_total{result=\"error\"} 2"));
  CHECK(has_line(text, "wac_dns_cache_load_errors_total 1"));
}

TEST_CASE("the state file's writes, failures and backlog are metrics when there is a state file") {
  StatusReport r;
  CHECK(serialize(status_families(r, 0)).find("wac_state_file") == std::string::npos);
  r.state_file.path = "/var/lib/wac/resources.db";
  r.state_file.writes = 9;
  r.state_file.write_errors = 3;
  r.state_file.behind = true;
  std::string text = serialize(status_families(r, 0));
  CHECK(has_line(text, "wac_state_file_writes_total{result=\"ok\"} 9"));
  CHECK(has_line(text, "wac_state_file_writes_total{result=\"error\"} 3"));
  CHECK(has_line(text, "wac_state_file_load_errors_total 0"));
  CHECK(has_line(text, "wac_state_file_behind 1"));
}

TEST_CASE("egress families show each gateway's state, route membership and local pods") {
  EgressReport r;
  EgressGroupReport g;
  g.name = "prod-egress";
  g.local_pods = {"prod/p1", "prod/p2"};
  EgressMemberReport up{"node2", "192.0.2.2", "192.0.2.100", "", "Healthy", "", false, true};
  EgressMemberReport down{"node3", "192.0.2.3", "192.0.2.101", "", "Down", "no echo reply", false, false};
  g.gateways = {up, down};
  r.groups.push_back(g);
  std::string text = serialize(egress_families(r));
  CHECK(has_line(text, "wac_egress_gateway_state{group=\"prod-egress\",node=\"node2\",egress_ip=\"192.0.2.100\","
                       "state=\"Healthy\"} 1"));
  CHECK(has_line(text, "wac_egress_gateway_state{group=\"prod-egress\",node=\"node2\",egress_ip=\"192.0.2.100\","
                       "state=\"Down\"} 0"));
  CHECK(has_line(text, "wac_egress_gateway_state{group=\"prod-egress\",node=\"node3\",egress_ip=\"192.0.2.101\","
                       "state=\"Down\"} 1"));
  CHECK(has_line(text, "wac_egress_gateway_in_route{group=\"prod-egress\",node=\"node2\",egress_ip=\"192.0.2.100\"} 1"));
  CHECK(has_line(text, "wac_egress_gateway_in_route{group=\"prod-egress\",node=\"node3\",egress_ip=\"192.0.2.101\"} 0"));
  CHECK(has_line(text, "wac_egress_local_pods{group=\"prod-egress\"} 2"));
  CHECK(has_line(text, "wac_egress_problems 0"));
}
