// Explain and reload as the API carries and prints them; TLS credentials
// and the subject check of the control channel.
#include <catch2/catch.hpp>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "api/client.h"
#include "api/control_format.h"
#include "api/server.h"
#include "api/tls.h"

using namespace wac;
using namespace wac::api;

namespace {

agent::Explanation sample_explanation() {
  agent::Explanation e;
  e.ns = "shop";
  e.pod = "web";
  e.endpoint = "node1-k8s-web-eth0";
  e.interface_name = "caliweb";
  e.addresses = {"10.244.1.5"};
  e.ingress.direction = model::Direction::Ingress;
  e.ingress.map = "to-pod";
  e.ingress.chain = "pod-shop/web-ingress";
  agent::ExplainedPolicy early;
  early.key = {model::Kind::GlobalNetworkPolicy, "", "early"};
  early.order = 5;
  early.chain = "gnp-early-ingress";
  early.rules = {{0, "Allow", "from-clients", "tcp from selector role == 'client' to ports 80"}, {1, "Pass", "", ""}};
  early.nft_rules = {"meta l4proto tcp ip saddr @sel4-x th dport 80 counter ... return"};
  agent::ExplainedPolicy late;
  late.key = {model::Kind::NetworkPolicy, "shop", "late"};
  late.chain = "np-shop/late-ingress";
  e.ingress.policies = {early, late};
  e.ingress.otherwise = "dropped: no policy allowed it (default deny)";
  e.egress.direction = model::Direction::Egress;
  e.egress.map = "from-pod";
  e.egress.chain = "pod-shop/web-egress";
  e.egress.otherwise = "allowed: no policy selects this pod for egress";
  return e;
}

}  // namespace

TEST_CASE("an explanation prints every step in order") {
  v1::ExplainResponse proto;
  to_proto(sample_explanation(), proto);
  CHECK(proto.ingress().policies(0).has_order());
  CHECK_FALSE(proto.ingress().policies(1).has_order());
  CHECK(format_explanation(proto) ==
        "Pod shop/web (endpoint node1-k8s-web-eth0, interface caliweb, 10.244.1.5)\n"
        "\n"
        "Ingress: to-pod map -> chain pod-shop/web-ingress\n"
        "  1. GlobalNetworkPolicy early (order 5) -> chain gnp-early-ingress\n"
        "       rule 0 \"from-clients\": Allow tcp from selector role == 'client' to ports 80\n"
        "       rule 1: Pass everything\n"
        "  2. NetworkPolicy shop/late (no order) -> chain np-shop/late-ingress\n"
        "       (no Ingress rules: allows nothing)\n"
        "  otherwise dropped: no policy allowed it (default deny)\n"
        "\n"
        "Egress: from-pod map -> chain pod-shop/web-egress\n"
        "  no policy applies\n"
        "  otherwise allowed: no policy selects this pod for egress\n");
  CHECK_THAT(format_explanation(proto, /*with_nft=*/true),
             Catch::Contains("       rule 1: Pass everything\n"
                             "         nft: meta l4proto tcp ip saddr @sel4-x th dport 80 counter ... return\n"));
}

TEST_CASE("a reload report says what changed and how") {
  agent::ReloadReport r;
  r.applied = {"logLevel"};
  r.needs_restart = {"nodeName"};
  r.failed = {"metricsAddress: cannot serve metrics on 127.0.0.1:1: denied"};
  v1::ReloadResponse proto;
  to_proto(r, proto);
  CHECK(format_reload(proto) ==
        "applied: logLevel\n"
        "needs restart (running value kept): nodeName\n"
        "failed (running value kept): metricsAddress: cannot serve metrics on 127.0.0.1:1: denied\n");
  CHECK(format_reload(v1::ReloadResponse{}) == "configuration unchanged\n");
}

TEST_CASE("reload and explain over the API") {
  class ExplainingAgent : public agent::Service {
   public:
    void apply(std::vector<model::Resource>, Done done) override { done({}); }
    void remove(std::vector<model::Key>, Done done) override { done({}); }
    void replace_all(std::vector<model::Resource>, uint64_t, Done done) override { done({}); }
    void list(std::optional<model::Kind>, std::string, std::string,
              std::function<void(std::vector<model::Resource>)> done) override {
      done({});
    }
    void status(std::function<void(agent::StatusReport)> done) override { done({}); }
    void explain(std::string ns, std::string pod,
                 std::function<void(agent::ApiError, agent::Explanation)> done) override {
      if (ns == "shop" && pod == "web") return done({}, sample_explanation());
      done({agent::ApiError::Code::NotFound, "no endpoint of pod " + ns + "/" + pod + " on this node"}, {});
    }
  } agent;
  std::string socket = std::filesystem::temp_directory_path() / ("wac-control-" + std::to_string(::getpid()) + ".sock");
  ServerOptions opts;
  opts.socket_path = socket;
  int reloads = 0;
  opts.reload = [&] {
    ++reloads;
    agent::ReloadReport r;
    r.applied = {"logLevel"};
    return r;
  };
  Server server(agent, opts);
  REQUIRE(server.start().ok());
  Client client(server.in_process_channel());

  v1::ExplainResponse e;
  REQUIRE(client.explain("shop", "web", e).ok());
  CHECK(e.ingress().policies_size() == 2);
  Status missing = client.explain("", "nope", e);
  CHECK(missing.message() == "NOT_FOUND: no endpoint of pod default/nope on this node");
  CHECK(client.explain("shop", "", e).message() == "INVALID_ARGUMENT: pod: required");
  CHECK_THAT(client.explain("Shop!", "web", e).message(), Catch::StartsWith("INVALID_ARGUMENT: namespace: invalid"));

  v1::ReloadResponse r;
  REQUIRE(client.reload(r).ok());
  CHECK(reloads == 1);
  CHECK(r.applied(0) == "logLevel");
  server.shutdown();

  Server without_reload(agent, ServerOptions{socket});
  REQUIRE(without_reload.start().ok());
  Client c2(without_reload.in_process_channel());
  CHECK_THAT(c2.reload(r).message(), Catch::StartsWith("UNIMPLEMENTED"));
}

TEST_CASE("allowed subjects match a common name or the whole subject") {
  CHECK(subject_allowed({}, {"anyone"}, "CN=anyone"));
  CHECK(subject_allowed({"controller"}, {"controller"}, "CN=controller,O=ops"));
  CHECK(subject_allowed({"CN=controller,O=ops"}, {"controller"}, "CN=controller,O=ops"));
  CHECK_FALSE(subject_allowed({"CN=controller,O=dev"}, {"controller"}, "CN=controller,O=ops"));
  CHECK_FALSE(subject_allowed({"controller"}, {"intruder"}, "CN=intruder"));
  CHECK_FALSE(subject_allowed({"controller"}, {}, ""));
  CHECK_FALSE(subject_allowed({"O=ops"}, {"controller"}, "CN=controller,O=ops"));  // no partial matches
}

namespace {

struct TempFiles {
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("wac-tls-" + std::to_string(::getpid()));
  TempFiles() { std::filesystem::create_directories(dir); }
  ~TempFiles() { std::filesystem::remove_all(dir); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return dir / name;
  }
};

std::string pem_of_key(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, n);
  BIO_free(bio);
  return out;
}

// A self-signed certificate for `key`, PEM.
std::string self_signed(EVP_PKEY* key, const char* cn) {
  X509* x = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509_sign(x, key, EVP_sha256());
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, x);
  char* data;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, n);
  BIO_free(bio);
  X509_free(x);
  return out;
}

}  // namespace

TEST_CASE("TLS files are checked up front and errors name the config key") {
  TempFiles t;
  EVP_PKEY* key = EVP_EC_gen("P-256");
  EVP_PKEY* other = EVP_EC_gen("P-256");
  REQUIRE(key);
  REQUIRE(other);
  TcpOptions o;
  o.address = "127.0.0.1:9476";
  o.cert_file = t.write("server.crt", self_signed(key, "wacd"));
  o.key_file = t.write("server.key", pem_of_key(key));
  o.client_ca_file = t.write("ca.crt", self_signed(other, "ca"));
  auto filter = std::make_shared<SubjectFilter>(std::vector<std::string>{});
  std::shared_ptr<grpc::ServerCredentials> creds;

  CHECK(make_server_credentials(o, filter, creds).ok());
  CHECK(creds);

  TcpOptions wrong_key = o;
  wrong_key.key_file = t.write("other.key", pem_of_key(other));
  Status s = make_server_credentials(wrong_key, filter, creds);
  CHECK(s.message() == "listen.tlsKey: " + wrong_key.key_file + " is not the key of the certificate in " + o.cert_file +
                           " (listen.tlsCert)");

  TcpOptions missing = o;
  missing.client_ca_file = (t.dir / "nope.crt").string();
  CHECK(make_server_credentials(missing, filter, creds).message() ==
        "listen.clientCA: cannot read " + missing.client_ca_file + ": No such file or directory");

  TcpOptions not_pem = o;
  not_pem.cert_file = t.write("garbage.crt", "hello\n");
  CHECK(make_server_credentials(not_pem, filter, creds).message() ==
        "listen.tlsCert: " + not_pem.cert_file + " contains no PEM certificate");

  TcpOptions key_as_cert = o;
  key_as_cert.key_file = o.cert_file;
  CHECK_THAT(make_server_credentials(key_as_cert, filter, creds).message(),
             Catch::StartsWith("listen.tlsKey: " + o.cert_file + " holds no unencrypted PEM private key"));

  // The client side names wacctl's flags.
  ClientTlsOptions c;
  c.ca_file = o.client_ca_file;
  c.cert_file = o.cert_file;
  std::shared_ptr<grpc::Channel> channel;
  CHECK(make_tcp_channel("127.0.0.1:9476", c, channel).message() == "--tls-key: needed with --tls-cert");
  c.key_file = wrong_key.key_file;
  CHECK_THAT(make_tcp_channel("127.0.0.1:9476", c, channel).message(), Catch::StartsWith("--tls-key: "));
  c.key_file = o.key_file;
  CHECK(make_tcp_channel("127.0.0.1:9476", c, channel).ok());
  EVP_PKEY_free(key);
  EVP_PKEY_free(other);
}

TEST_CASE("the allowed subject list can be replaced while serving") {
  SubjectFilter f({"a"});
  CHECK(f.allowed() == std::vector<std::string>{"a"});
  f.set_allowed({"b", "c"});
  CHECK(f.allowed() == std::vector<std::string>{"b", "c"});
}
