#include "agent/dns_servers.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace wac::agent {

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool is_loopback(const IpAddr& a) {
  if (a.is_v4()) return a.bytes[0] == 127;
  return a == *IpAddr::parse("::1");
}

void add_unique(std::vector<IpAddr>& to, const IpAddr& a) {
  if (std::find(to.begin(), to.end(), a) == to.end()) to.push_back(a);
}

}  // namespace

std::vector<IpAddr> parse_nameservers(const std::string& text) {
  std::vector<IpAddr> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string keyword, value;
    if (!(words >> keyword >> value) || keyword != "nameserver") continue;
    if (auto a = IpAddr::parse(value)) add_unique(out, *a);
  }
  return out;
}

std::vector<IpAddr> trusted_dns_servers(const TrustedServerSources& s) {
  std::vector<IpAddr> out;
  if (!s.configured.empty()) {
    out = s.configured;
  } else {
    out = parse_nameservers(read_text(s.resolv_conf));
    if (std::all_of(out.begin(), out.end(), is_loopback))
      for (const IpAddr& a : parse_nameservers(read_text(s.stub_upstream))) add_unique(out, a);
    if (s.cluster_dns) add_unique(out, *s.cluster_dns);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace wac::agent
