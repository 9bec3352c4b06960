// The control channel over TCP: mutual TLS for a remote controller.
//
// The server side requires a client certificate signed by the configured CA
// (GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY), and then, on
// every call, checks the certificate's subject against an optional allow
// list (SubjectFilter, replaceable while serving so a config reload applies
// it to the next call).  Plaintext TCP exists only when asked for by name.
// Certificate and key files are checked with OpenSSL before gRPC sees them,
// so a wrong file is reported with its config key instead of as a failed
// handshake later.
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/channel.h>
#include <grpcpp/security/auth_metadata_processor.h>
#include <grpcpp/security/server_credentials.h>

#include "netlink/status.h"

namespace wac::api {

struct TcpOptions {
  std::string address;         // "IP:PORT" / "[IPv6]:PORT"; "" = no TCP listener
  std::string cert_file;       // server certificate chain (PEM)
  std::string key_file;        // its private key (PEM)
  std::string client_ca_file;  // CA(s) that sign client certificates (PEM)
  std::vector<std::string> allowed_subjects;  // empty: any client the CA signed
  bool insecure = false;       // plaintext, no client authentication
};

// Whether a client may call: `allowed` empty, or one entry equal to one of
// the certificate's common names or to its whole subject as gRPC reports it
// (RFC 2253, e.g. "CN=controller,O=ops").
bool subject_allowed(const std::vector<std::string>& allowed, const std::vector<std::string>& common_names,
                     const std::string& subject);

// Runs on every call over the TLS port (never on the unix socket).
class SubjectFilter : public grpc::AuthMetadataProcessor {
 public:
  explicit SubjectFilter(std::vector<std::string> allowed) : allowed_(std::move(allowed)) {}
  void set_allowed(std::vector<std::string> allowed);
  std::vector<std::string> allowed() const;

  bool IsBlocking() const override { return false; }  // a lookup: decide inline
  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata, OutputMetadata* response_metadata) override;

 private:
  mutable std::mutex mu_;
  std::vector<std::string> allowed_;
};

// Server credentials for `options` (mutual TLS, or insecure).  Errors name
// the config key: "listen.tlsKey: /etc/wac/k.pem does not match listen.tlsCert".
Status make_server_credentials(const TcpOptions& options, std::shared_ptr<SubjectFilter> filter,
                               std::shared_ptr<grpc::ServerCredentials>& out);

// The client side (wacctl --server).
struct ClientTlsOptions {
  std::string cert_file;    // client certificate (PEM); "" = none (the server will refuse)
  std::string key_file;     // its key
  std::string ca_file;      // CA that signed the server's certificate
  std::string server_name;  // expected name in the server certificate; "" = the host of the address
  bool insecure = false;    // plaintext
};
// Errors name the wacctl flag: "--tls-key: cannot read /x: No such file or directory".
Status make_tcp_channel(const std::string& address, const ClientTlsOptions& options,
                        std::shared_ptr<grpc::Channel>& out);

}  // namespace wac::api
