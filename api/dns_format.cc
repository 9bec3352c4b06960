#include "api/dns_format.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <sstream>
#include <vector>

namespace wac::api {

namespace {

using google::protobuf::util::TimeUtil;

std::string join(const google::protobuf::RepeatedPtrField<std::string>& items, const char* sep = ", ") {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
  return out;
}

std::string ttl_text(uint32_t seconds) {
  if (seconds < 120) return std::to_string(seconds) + "s";
  if (seconds < 7200) return std::to_string(seconds / 60) + "m" + std::to_string(seconds % 60) + "s";
  return std::to_string(seconds / 3600) + "h" + std::to_string(seconds % 3600 / 60) + "m";
}

// Left-aligned columns, two spaces apart; the last column is not padded.
std::string columns(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], row[i].size());
    }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

}  // namespace

void to_proto(const agent::DnsTapStats& s, v1::DnsStats& out) {
  out.set_enabled(s.enabled);
  out.set_hold_active(s.hold_active);
  out.set_hold_status(s.hold_status);
  out.set_nflog_group(s.nflog_group);
  out.set_hold_queue(s.hold_queue);
  for (const auto& t : s.trusted_servers) out.add_trusted_servers(t);
  out.set_packets(s.parse.responses_seen + s.held_copies_skipped);  // received, parsed or not
  out.set_responses_parsed(s.parse.parsed);
  out.set_untrusted(s.parse.untrusted);
  out.set_malformed(s.parse.malformed);
  out.set_not_response(s.parse.not_response);
  out.set_fragments(s.parse.fragments);
  out.set_packet_errors(s.parse.packet_errors);
  out.set_tcp_incomplete(s.parse.tcp_incomplete);
  out.set_cname_loops(s.parse.cname_loops);
  out.set_chains_too_long(s.parse.chains_too_long);
  out.set_answers_truncated(s.parse.answers_truncated);
  out.set_evictions(s.parse.evictions);
  out.set_answers(s.learner.answers);
  out.set_unmatched(s.learner.unmatched);
  out.set_elements_added(s.learner.elements_added);
  out.set_elements_refreshed(s.learner.elements_refreshed);
  out.set_elements_removed(s.learner.elements_removed);
  out.set_nflog_enobufs(s.nflog_enobufs);
  out.set_held_packets(s.held_packets);
  out.set_hold_enobufs(s.hold_enobufs);
  out.set_unheld(s.unheld);
  out.set_held_copies_skipped(s.held_copies_skipped);
  out.set_batches(s.batches);
  out.set_write_errors(s.write_errors);
  out.set_last_write_error(s.last_write_error);
  out.set_names(s.names);
  out.set_addresses(s.addresses);
  out.set_patterns(s.patterns);
  out.set_cache_saves(s.cache_saves);
  out.set_cache_save_errors(s.cache_save_errors);
  out.set_cache_load_errors(s.cache_load_errors);
  out.set_last_cache_error(s.last_cache_error);
  *out.mutable_last_commit() = TimeUtil::MicrosecondsToDuration(s.last_commit.count());
  *out.mutable_max_commit() = TimeUtil::MicrosecondsToDuration(s.max_commit.count());
}

void to_proto(const agent::DnsReport& r, v1::DnsResponse& out) {
  to_proto(r.stats, *out.mutable_stats());
  for (const auto& n : r.names) {
    auto* name = out.add_names();
    name->set_name(n.name);
    for (const auto& a : n.addresses) {
      auto* addr = name->add_addresses();
      addr->set_address(a.addr.str());
      addr->set_remaining_seconds(uint32_t(std::max<int64_t>(0, a.remaining.count())));
    }
    for (const auto& p : n.patterns) name->add_patterns(p);
  }
  for (const auto& p : r.patterns) {
    auto* pat = out.add_patterns();
    pat->set_pattern(p.pattern);
    pat->set_set_ipv4(p.set4);
    pat->set_set_ipv6(p.set6);
    pat->set_addresses_ipv4(p.elements4);
    pat->set_addresses_ipv6(p.elements6);
  }
}

std::string format_dns(const v1::DnsResponse& dns) {
  std::ostringstream os;
  if (!dns.stats().enabled()) os << "The DNS tap is not running (see wacctl status and wacd's log).\n";
  if (dns.names().empty()) {
    os << "No learned names.\n";
  } else {
    std::vector<std::vector<std::string>> rows{{"NAME", "ADDRESS", "TTL", "PATTERNS"}};
    for (const auto& n : dns.names()) {
      std::string patterns = n.patterns().empty() ? "<none>" : join(n.patterns());
      for (int i = 0; i < n.addresses_size(); ++i)
        rows.push_back({i == 0 ? n.name() : "", n.addresses(i).address(), ttl_text(n.addresses(i).remaining_seconds()),
                        i == 0 ? patterns : ""});
    }
    os << columns(rows);
  }
  if (!dns.patterns().empty()) {
    os << "\n";
    std::vector<std::vector<std::string>> rows{{"PATTERN", "IPV4 SET", "ADDRS", "IPV6 SET", "ADDRS"}};
    for (const auto& p : dns.patterns())
      rows.push_back({p.pattern(), p.set_ipv4().empty() ? "-" : p.set_ipv4(), std::to_string(p.addresses_ipv4()),
                      p.set_ipv6().empty() ? "-" : p.set_ipv6(), std::to_string(p.addresses_ipv6())});
    os << columns(rows);
  }
  return os.str();
}

std::string format_dns_status(const v1::DnsStats& s) {
  std::ostringstream os;
  if (!s.enabled()) return "DNS tap:          not running\n";
  os << "DNS tap:          nflog group " << s.nflog_group() << ", hold "
     << (s.hold_active() ? "on (NFQUEUE " + std::to_string(s.hold_queue()) + ")" : "off: " + s.hold_status()) << "\n";
  os << "  trusted:        " << (s.trusted_servers().empty() ? "(none: nothing is learned)" : join(s.trusted_servers()))
     << "\n";
  os << "  learned:        " << s.names() << " names, " << s.addresses() << " addresses, " << s.patterns()
     << " patterns in use\n";
  os << "  packets:        " << s.packets() << " (" << s.held_packets() << " held), " << s.responses_parsed()
     << " responses parsed, " << s.untrusted() << " untrusted, " << s.malformed() << " malformed, "
     << s.fragments() + s.packet_errors() << " bad packets, " << s.tcp_incomplete() << " incomplete TCP\n";
  os << "  elements:       " << s.elements_added() << " added, " << s.elements_refreshed() << " refreshed, "
     << s.elements_removed() << " removed, " << s.evictions() << " evictions, " << s.batches() << " batches (last "
     << TimeUtil::DurationToMicroseconds(s.last_commit()) << " us, max "
     << TimeUtil::DurationToMicroseconds(s.max_commit()) << " us)\n";
  os << "  losses:         " << s.nflog_enobufs() << " nflog overruns, " << s.hold_enobufs() << " hold overruns, "
     << s.unheld() << " responses unheld (hold queue full), "
     << s.write_errors() << " write errors" << (s.last_write_error().empty() ? "" : " (last: " + s.last_write_error() + ")")
     << "\n";
  os << "  cache file:     " << s.cache_saves() << " saves, " << s.cache_save_errors() << " failed, "
     << s.cache_load_errors() << " damaged at start"
     << (s.last_cache_error().empty() ? "" : " (last error: " + s.last_cache_error() + ")") << "\n";
  return os.str();
}

}  // namespace wac::api
