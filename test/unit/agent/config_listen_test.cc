// The configuration keys of the metrics endpoint and the TCP listener.
#include <catch2/catch.hpp>

#include "agent/config.h"

using namespace wac;
using namespace wac::agent;

namespace {

std::string error_of(const std::string& yaml) {
  Config c;
  c.node_name = "n1";
  Status s = Config::from_yaml(yaml, c);
  return s.ok() ? "" : s.message();
}

}  // namespace

TEST_CASE("metrics default to loopback and can be moved or turned off") {
  Config c;
  c.node_name = "n1";
  CHECK(c.metrics_address == "127.0.0.1:9475");
  REQUIRE(Config::from_yaml("metricsAddress: 0.0.0.0:9100\n", c).ok());
  CHECK(c.metrics_address == "0.0.0.0:9100");
  CHECK(error_of("metricsAddress: \"[::1]:9100\"\n") ==
        "metricsAddress: must be an IPv4 address (the metrics server, civetweb as Debian builds it, has no IPv6), "
        "got \"[::1]:9100\"");
  REQUIRE(Config::from_yaml("metricsAddress: \"\"\n", c).ok());
  CHECK(c.metrics_address.empty());
  CHECK(error_of("metricsAddress: localhost:9475\n") ==
        "metricsAddress: expected IP:PORT or [IPv6]:PORT, got \"localhost:9475\": \"localhost\" is not an IP address");
}

TEST_CASE("the TCP listener needs all three TLS files unless insecure") {
  const std::string tls =
      "listen:\n  address: 0.0.0.0:9476\n  tlsCert: /etc/wac/tls/server.crt\n"
      "  tlsKey: /etc/wac/tls/server.key\n  clientCA: /etc/wac/tls/ca.crt\n";
  Config c;
  c.node_name = "n1";
  REQUIRE(Config::from_yaml(tls + "  allowedSubjects: [controller, \"CN=ops,O=example\"]\n", c).ok());
  CHECK(c.listen.address == "0.0.0.0:9476");
  CHECK(c.listen.client_ca == "/etc/wac/tls/ca.crt");
  CHECK(c.listen.allowed_subjects == std::vector<std::string>{"controller", "CN=ops,O=example"});
  CHECK_FALSE(c.listen.insecure);

  CHECK(error_of("listen: {address: 0.0.0.0:9476}\n") ==
        "listen.tlsCert: required for the TCP listener (mutual TLS); or set listen.insecure: true for plaintext");
  CHECK(error_of("listen: {address: 0.0.0.0:9476, tlsCert: /a, tlsKey: /b}\n").starts_with("listen.clientCA: required"));
  CHECK(error_of("listen: {address: 0.0.0.0:9476, tlsCert: a.crt, tlsKey: /b, clientCA: /c}\n") ==
        "listen.tlsCert: must be an absolute path");
  CHECK(error_of("listen: {address: 0.0.0.0:9476, insecure: true}\n").empty());
  CHECK(error_of("listen: {address: 0.0.0.0:9476, insecure: true, tlsCert: /a}\n") ==
        "listen.tlsCert: cannot be combined with listen.insecure: true");
  CHECK(error_of("listen: {address: 0.0.0.0:9476, insecure: true, allowedSubjects: [x]}\n") ==
        "listen.allowedSubjects: needs client certificates, which listen.insecure: true turns off");
  CHECK(error_of("listen: {address: 0.0.0.0:9476, insecure: yes}\n") ==
        "listen.insecure: expected true or false, got \"yes\"");
  CHECK(error_of(tls + "  allowedSubjects: [\"\"]\n") == "listen.allowedSubjects[0]: must not be empty");
  CHECK(error_of("listen: {address: \"9476\", insecure: true}\n").starts_with("listen.address: expected IP:PORT"));
  CHECK(error_of("listen: {port: 1}\n") == "listen.port: unknown key");
}

TEST_CASE("the listener and metrics settings survive to_yaml and back") {
  Config a;
  a.node_name = "n1";
  a.metrics_address = "";
  a.listen.address = "[::]:9476";
  a.listen.tls_cert = "/c";
  a.listen.tls_key = "/k";
  a.listen.client_ca = "/ca";
  a.listen.allowed_subjects = {"ctl"};
  Config b;
  REQUIRE(Config::from_yaml(a.to_yaml(), b).ok());
  CHECK(b.listen == a.listen);
  CHECK(b.metrics_address.empty());
}

TEST_CASE("flowLogs: defaults, every key, and errors that name the key") {
  Config c;
  c.node_name = "n1";
  CHECK_FALSE(c.flow_logs.enabled);
  CHECK(c.flow_log_file() == "/var/lib/wac/flows.log");  // under the state directory
  REQUIRE(Config::from_yaml("flowLogs:\n  enabled: true\n  nflogGroup: 77\n  file: /var/log/wac/flows.log\n"
                            "  maxFileSizeMB: 5\n  logAllowed: true\n  rateLimit: 10\n  burst: 20\n"
                            "  kernelRateLimit: 50\n",
                            c)
              .ok());
  CHECK(c.flow_logs == FlowLogConfig{true, 77, "/var/log/wac/flows.log", 5, true, 10, 20, 50});
  CHECK(c.flow_log_file() == "/var/log/wac/flows.log");
  Config back;
  REQUIRE(Config::from_yaml(c.to_yaml(), back).ok());
  CHECK(back.flow_logs == c.flow_logs);

  CHECK(error_of("flowLogs:\n  nflogGroup: 5353\n") ==
        "flowLogs.nflogGroup: must differ from dns.tapGroup (5353): one nflog group has one reader");
  CHECK(error_of("flowLogs:\n  nflogGroup: 5353\ndns:\n  tapGroup: 0\n").empty());  // no tap, no conflict
  CHECK(error_of("flowLogs:\n  file: flows.log\n") == "flowLogs.file: must be an absolute path");
  CHECK(error_of("flowLogs:\n  rateLimit: 0\n") == "flowLogs.rateLimit: must be at least 1 record per second");
  CHECK(error_of("flowLogs:\n  burst: 0\n") == "flowLogs.burst: must be at least 1");
  CHECK(error_of("flowLogs:\n  maxFileSizeMB: 0\n") == "flowLogs.maxFileSizeMB: must be at least 1");
  CHECK(error_of("flowLogs:\n  rateLimit: 500\n  kernelRateLimit: 100\n") ==
        "flowLogs.kernelRateLimit: must be at least flowLogs.rateLimit (500), or wacd would never see what it is "
        "allowed to write");
  CHECK(error_of("flowLogs:\n  enabled: yes please\n") == "flowLogs.enabled: expected true or false, got \"yes please\"");
  CHECK(error_of("flowLogs:\n  rate: 5\n") == "flowLogs.rate: unknown key");
  CHECK(error_of("flowLogs:\n  nflogGroup: 70000\n") == "flowLogs.nflogGroup: must be at most 65535");
}
